"""Starlette tests run on both anyio backends (Starlette's TestClient takes ``backend=``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("starlette")

from starlette.testclient import TestClient

from bearerguard import Verifier
from bearerguard.testing import Issuer


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client_factory(anyio_backend: str) -> Callable[..., TestClient]:
    def make(app: Any, **kw: Any) -> TestClient:
        return TestClient(app, backend=anyio_backend, **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def locations_verifier(issuer: Issuer) -> Callable[[str], Verifier]:
    """A verifier for *issuer* accepting tokens in the given locations ("header,query,form")."""

    def make(locations: str) -> Verifier:
        return Verifier(
            issuer=issuer.issuer,
            audience=issuer.audience,
            jwks_uri=issuer.jwks_uri,
            token_locations=locations,
        )

    return make
