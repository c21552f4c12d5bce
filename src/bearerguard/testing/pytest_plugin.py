"""pytest plugin: a real test authorization server and token factories for your API's tests.

Installed with bearerguard (entry point ``pytest11``), it only adds fixtures; nothing runs and
no framework is imported until a test asks for one of them.

Example::

    def test_private(client, bearer_headers):
        response = client.get("/api/private", headers=bearer_headers(scopes=["read:messages"]))
        assert response.status_code == 200

Point your app at the issuer with ``bearerguard_settings`` (``BEARERGUARD_*`` strings), the
``bearerguard_env`` fixture (the same, set in ``os.environ``), ``bearerguard_verifier``, or the
framework helpers in :mod:`bearerguard.testing.helpers`. The audience is set by the ini option
``bearerguard_audience``; override ``bearerguard_issuer`` in a conftest for more control.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from bearerguard.testing.issuer import Issuer
    from bearerguard.verifier import Verifier

__all__ = [
    "HeadersFactory",
    "TokenFactory",
    "bearer_headers",
    "bearer_token",
    "bearerguard_env",
    "bearerguard_issuer",
    "bearerguard_settings",
    "bearerguard_verifier",
]

DEFAULT_AUDIENCE = "https://api.example.com"
DEFAULT_SCOPES = ("read:messages",)


class TokenFactory(Protocol):
    """``bearer_token(scopes=..., claims=..., **issuer_token_options) -> str``."""

    def __call__(
        self,
        scopes: Sequence[str] | None = DEFAULT_SCOPES,
        claims: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> str: ...


class HeadersFactory(Protocol):
    """``bearer_headers(scopes=..., claims=..., **options) -> {"Authorization": "Bearer ..."}``."""

    def __call__(
        self,
        scopes: Sequence[str] | None = DEFAULT_SCOPES,
        claims: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> dict[str, str]: ...


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "bearerguard_audience",
        "audience (aud) of the tokens minted by the bearerguard_issuer fixture",
        default=DEFAULT_AUDIENCE,
    )


@pytest.fixture(scope="session")
def bearerguard_issuer(pytestconfig: pytest.Config) -> Iterator[Issuer]:
    """A running :class:`~bearerguard.testing.Issuer` on 127.0.0.1, shared by the session."""
    from bearerguard.testing.issuer import Issuer

    audience = str(pytestconfig.getini("bearerguard_audience") or DEFAULT_AUDIENCE)
    with Issuer(audience=audience) as issuer:
        yield issuer


@pytest.fixture(scope="session")
def bearerguard_verifier(bearerguard_issuer: Issuer) -> Verifier:
    """A :class:`~bearerguard.Verifier` trusting ``bearerguard_issuer`` (keys over real HTTP)."""
    from bearerguard.testing.helpers import starlette_verifier

    return starlette_verifier(bearerguard_issuer)


@pytest.fixture
def bearerguard_settings(bearerguard_issuer: Issuer) -> dict[str, str]:
    """``BEARERGUARD_ISSUER``/``_AUDIENCE``/``_JWKS_URI`` for the issuer (a fresh dict)."""
    from bearerguard.testing.helpers import env_settings

    return env_settings(bearerguard_issuer)


@pytest.fixture
def bearerguard_env(
    bearerguard_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """``bearerguard_settings`` set in ``os.environ`` for the test (for ``Settings.from_env()``)."""
    for name, value in bearerguard_settings.items():
        monkeypatch.setenv(name, value)
    return bearerguard_settings


@pytest.fixture
def bearer_token(bearerguard_issuer: Issuer) -> TokenFactory:
    """Factory minting access tokens: ``bearer_token(scopes=[...], claims={...}) -> str``.

    Further keywords go to :meth:`Issuer.token` (``sub=``, ``expires_in=``, ``typ=``...).
    """

    def mint(
        scopes: Sequence[str] | None = DEFAULT_SCOPES,
        claims: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> str:
        return bearerguard_issuer.token(scopes=scopes, claims=claims, **options)

    return mint


@pytest.fixture
def bearer_headers(bearer_token: TokenFactory) -> HeadersFactory:
    """Factory of request headers: ``bearer_headers(scopes=[...]) -> {"Authorization": ...}``."""

    def headers(
        scopes: Sequence[str] | None = DEFAULT_SCOPES,
        claims: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> dict[str, str]:
        return {"Authorization": "Bearer " + bearer_token(scopes, claims, **options)}

    return headers
