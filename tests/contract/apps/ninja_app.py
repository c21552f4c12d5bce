"""Contract app: Django Ninja with ``BearerAuth`` (API-wide optional, per-operation required).

Settings come from the environment (every ``BEARERGUARD_*`` variable becomes a Django
setting): ``gunicorn tests.contract.apps.ninja_app:app``. Sync and async operations.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="contract-app-not-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["ninja", "bearerguard.adapters.django"],
        # Serves the RFC 9728 metadata document when BEARERGUARD_RESOURCE is set.
        MIDDLEWARE=["bearerguard.adapters.django.middleware.ResourceMetadataMiddleware"],
        USE_TZ=True,
        **{k: v for k, v in os.environ.items() if k.startswith("BEARERGUARD_")},
    )

import django

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest  # noqa: E402
from django.urls import path  # noqa: E402
from ninja import NinjaAPI  # noqa: E402

from bearerguard import AccessToken, Requirements  # noqa: E402
from bearerguard.adapters.ninja import BearerAuth, install  # noqa: E402

# A token sent to any route is checked (issue #13.6); routes below require one.
api = install(NinjaAPI(auth=BearerAuth(optional=True), urls_namespace="contract"))
BOTH = ["GET", "POST"]


def caller(request: HttpRequest) -> dict[str, Any]:
    token = request.auth  # type: ignore[attr-defined]
    assert isinstance(token, AccessToken)
    return {"sub": token.subject, "scopes": sorted(token.scopes), "claims": dict(token.claims)}


@api.api_operation(BOTH, "/public")
def public(request: HttpRequest) -> dict[str, Any]:
    return {"message": "public"}


@api.api_operation(BOTH, "/private", auth=BearerAuth())
async def private(request: HttpRequest) -> dict[str, Any]:
    return caller(request)


@api.api_operation(BOTH, "/private-scoped", auth=BearerAuth("read:messages"))
def private_scoped(request: HttpRequest) -> dict[str, Any]:
    return caller(request)


@api.api_operation(BOTH, "/private-scoped-rw", auth=BearerAuth("read:messages", "write:messages"))
async def private_scoped_rw(request: HttpRequest) -> dict[str, Any]:
    return caller(request)


@api.api_operation(BOTH, "/private-any", auth=BearerAuth(any_of=["read:messages", "admin"]))
def private_any(request: HttpRequest) -> dict[str, Any]:
    return caller(request)


_permission = Requirements.claim("permissions", includes="read:messages")


@api.api_operation(BOTH, "/private-permission", auth=BearerAuth(requirements=_permission))
def private_permission(request: HttpRequest) -> dict[str, Any]:
    return caller(request)


_tenant = Requirements.claim("tenant", equals="acme")


@api.api_operation(BOTH, "/private-tenant", auth=BearerAuth(requirements=_tenant))
async def private_tenant(request: HttpRequest) -> dict[str, Any]:
    return caller(request)


_roles = Requirements.claim("roles", includes="writer")


@api.api_operation(BOTH, "/private-roles", auth=BearerAuth(requirements=_roles))
def private_roles(request: HttpRequest) -> dict[str, Any]:
    return caller(request)


MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


@api.api_operation(BOTH, "/private-mfa", auth=BearerAuth(acr_values=[MFA], max_age=600))
async def private_mfa(request: HttpRequest) -> dict[str, Any]:
    return caller(request)


urlpatterns = [path("api/", api.urls)]

app = get_wsgi_application()
