"""The API: ``BearerAuth`` on the whole NinjaAPI (optional) and on each protected operation."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import NinjaAPI

from bearerguard import AccessToken, Requirements
from bearerguard.adapters.ninja import BearerAuth, install

# optional=True on the API: every route sees a sent token, and a bad one is refused (an
# expired token on /api/public is a 401); requests without credentials still get through.
# install() makes refusals RFC 6750 answers instead of Ninja's {"detail": ...}.
api = install(NinjaAPI(title="bearerguard Ninja example", auth=BearerAuth(optional=True)))
BOTH = ["GET", "POST"]


def describe(request: HttpRequest) -> dict[str, Any]:
    """Who called, with which scopes, and every claim of their access token."""
    token: AccessToken = request.auth  # type: ignore[attr-defined]
    return {"sub": token.subject, "scopes": sorted(token.scopes), "claims": dict(token.claims)}


@api.api_operation(BOTH, "/public")
def public(request: HttpRequest) -> dict[str, Any]:
    return {"message": "public"}


@api.api_operation(BOTH, "/private", auth=BearerAuth())
async def private(request: HttpRequest) -> dict[str, Any]:  # async: key fetches are awaited
    return describe(request)


@api.api_operation(BOTH, "/private-scoped", auth=BearerAuth("read:messages"))
def private_scoped(request: HttpRequest) -> dict[str, Any]:
    return describe(request)


@api.api_operation(BOTH, "/private-scoped-rw", auth=BearerAuth("read:messages", "write:messages"))
def private_scoped_rw(request: HttpRequest) -> dict[str, Any]:
    return describe(request)


_permission = Requirements.claim("permissions", includes="read:messages")  # Auth0 RBAC


@api.api_operation(BOTH, "/private-permission", auth=BearerAuth(requirements=_permission))
def private_permission(request: HttpRequest) -> dict[str, Any]:
    return describe(request)


@api.api_operation(
    BOTH,
    "/private-tenant",
    auth=BearerAuth(requirements=Requirements.claim("tenant", equals="acme")),
)
def private_tenant(request: HttpRequest) -> dict[str, Any]:
    return describe(request)


@api.api_operation(
    BOTH,
    "/private-roles",
    auth=BearerAuth(requirements=Requirements.claim("roles", includes="writer")),
)
def private_roles(request: HttpRequest) -> dict[str, Any]:
    return describe(request)


#: RFC 9470 step-up: a multi-factor sign-in at most 10 minutes old.
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


@api.api_operation(BOTH, "/private-mfa", auth=BearerAuth(acr_values=[MFA], max_age=600))
def private_mfa(request: HttpRequest) -> dict[str, Any]:
    return describe(request)
