"""FastAPI tests run on both anyio backends (the TestClient takes ``backend=``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client_factory(anyio_backend: str) -> Callable[..., TestClient]:
    def make(app: Any, **kw: Any) -> TestClient:
        return TestClient(app, backend=anyio_backend, **kw)  # type: ignore[arg-type]

    return make
