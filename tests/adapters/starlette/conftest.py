"""Starlette tests run on both anyio backends (Starlette's TestClient takes ``backend=``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("starlette")

from bearerguard import Verifier
from bearerguard.testing import Issuer
from tests.asgi_clients import anyio_backend, client_factory  # noqa: F401 - fixtures


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
