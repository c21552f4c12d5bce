"""FastAPI tests run on both anyio backends (the TestClient takes ``backend=``)."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from tests.asgi_clients import anyio_backend, client_factory  # noqa: F401 - fixtures
