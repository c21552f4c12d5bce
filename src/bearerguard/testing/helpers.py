"""Configuration for a test ``Issuer`` in each framework's own shape.

Nothing here imports a web framework: each helper returns plain data (or a
:class:`~bearerguard.Verifier`) that the framework's own test tools consume.

Example::

    with Issuer() as issuer, override_settings(**django_settings(issuer)):
        ...
    app.config.update(flask_config(issuer))
    backend = BearerAuthBackend(starlette_verifier(issuer))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bearerguard.settings import Settings
from bearerguard.verifier import Verifier

if TYPE_CHECKING:
    from bearerguard.testing.issuer import Issuer

__all__ = ["django_settings", "env_settings", "flask_config", "starlette_verifier"]


def _audience(issuer: Issuer) -> str:
    aud = issuer.audience
    return aud if isinstance(aud, str) else ",".join(aud)


def env_settings(issuer: Issuer, **overrides: str) -> dict[str, str]:
    """``BEARERGUARD_*`` strings pointing at a running *issuer*, as an environment holds them.

    ``overrides`` are further settings by suffix: ``token_locations="header,form"`` sets
    ``BEARERGUARD_TOKEN_LOCATIONS``. Raises RuntimeError when the issuer is not started.
    """
    settings = {
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": _audience(issuer),
        "BEARERGUARD_JWKS_URI": issuer.jwks_uri,
    }
    settings.update({f"BEARERGUARD_{k.upper()}": v for k, v in overrides.items()})
    return settings


def django_settings(issuer: Issuer, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``django.test.override_settings`` pointing at *issuer*.

    ``overrides`` by suffix, e.g. ``leeway=0`` sets ``BEARERGUARD_LEEWAY``.
    """
    settings: dict[str, Any] = {
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": issuer.audience,
        "BEARERGUARD_JWKS_URI": issuer.jwks_uri,
    }
    settings.update({f"BEARERGUARD_{k.upper()}": v for k, v in overrides.items()})
    return settings


def flask_config(issuer: Issuer, **overrides: Any) -> dict[str, Any]:
    """Entries for a Flask ``app.config.update(...)`` pointing at *issuer*.

    Apply them before ``BearerAuth(app)`` / ``init_app(app)``, which reads the config once.
    """
    return django_settings(issuer, **overrides)


def starlette_verifier(issuer: Issuer, **options: Any) -> Verifier:
    """A :class:`~bearerguard.Verifier` bound to *issuer* (keys over HTTP from its JWKS).

    ``options`` are further :class:`~bearerguard.Settings` fields (``leeway=0``, ...).
    Also suits FastAPI and the plain ASGI/WSGI middleware.
    """
    options.setdefault("jwks_uri", issuer.jwks_uri)
    aud = issuer.audience
    return Verifier(
        Settings(
            issuer=issuer.issuer, audience=aud if isinstance(aud, str) else tuple(aud), **options
        )
    )
