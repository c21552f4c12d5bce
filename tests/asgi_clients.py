"""Fixtures shared by the Starlette and FastAPI suites: each test runs on both anyio backends.

Import them into a ``conftest.py`` (pytest finds fixtures there); Starlette's ``TestClient``
(FastAPI's too) takes ``backend=``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client_factory(anyio_backend: str) -> Callable[..., Any]:
    from starlette.testclient import TestClient

    def make(app: Any, **kw: Any) -> TestClient:
        return TestClient(app, backend=anyio_backend, **kw)  # type: ignore[arg-type]

    return make
