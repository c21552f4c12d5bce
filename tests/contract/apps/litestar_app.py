"""Contract app: Litestar with ``BearerAuth`` (middleware + guards), settings from BEARERGUARD_*.

``uvicorn tests.contract.apps.litestar_app:app``.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, route
from litestar.handlers import HTTPRouteHandler

from bearerguard import AccessToken, Settings, Verifier
from bearerguard.adapters.litestar import BearerAuth, TokenUser, requires_claim, requires_scopes

verifier = Verifier(Settings.from_env())
auth = BearerAuth(verifier)
BOTH: list[Any] = ["GET", "POST"]
Req = Request[TokenUser, AccessToken, Any]


def caller(request: Req) -> dict[str, Any]:
    token = request.auth
    assert isinstance(token, AccessToken) and request.user.token is token
    return {"sub": token.subject, "scopes": sorted(token.scopes), "claims": dict(token.claims)}


@route("/api/public", http_method=BOTH, status_code=200)
async def public() -> dict[str, Any]:
    return {"message": "public"}


@route("/api/private", http_method=BOTH, status_code=200, guards=[requires_scopes()])
async def private(request: Req) -> dict[str, Any]:
    return caller(request)


@route(
    "/api/private-scoped", http_method=BOTH, status_code=200,
    guards=[requires_scopes("read:messages")],
)  # fmt: skip
async def private_scoped(request: Req) -> dict[str, Any]:
    return caller(request)


@route(
    "/api/private-scoped-rw", http_method=BOTH, status_code=200, sync_to_thread=True,
    guards=[requires_scopes("read:messages", "write:messages")],
)  # fmt: skip
def private_scoped_rw(request: Req) -> dict[str, Any]:  # a sync handler (thread pool)
    return caller(request)


@route(
    "/api/private-any", http_method=BOTH, status_code=200,
    guards=[requires_scopes(any_of=["read:messages", "admin"])],
)  # fmt: skip
async def private_any(request: Req) -> dict[str, Any]:
    return caller(request)


@route(
    "/api/private-permission", http_method=BOTH, status_code=200,
    guards=[requires_claim("permissions", includes="read:messages")],
)  # fmt: skip
async def private_permission(request: Req) -> dict[str, Any]:
    return caller(request)


@route(
    "/api/private-tenant", http_method=BOTH, status_code=200,
    guards=[requires_claim("tenant", equals="acme")],
)  # fmt: skip
async def private_tenant(request: Req) -> dict[str, Any]:
    return caller(request)


@route(
    "/api/private-roles", http_method=BOTH, status_code=200,
    guards=[requires_claim("roles", includes="writer")],
)  # fmt: skip
async def private_roles(request: Req) -> dict[str, Any]:
    return caller(request)


MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


@route(
    "/api/private-mfa", http_method=BOTH, status_code=200,
    guards=[requires_scopes(acr_values=[MFA], max_age=600)],
)  # fmt: skip
async def private_mfa(request: Req) -> dict[str, Any]:
    return caller(request)


HANDLERS: list[HTTPRouteHandler] = [
    public, private, private_scoped, private_scoped_rw, private_any,
    private_permission, private_tenant, private_roles, private_mfa,
]  # fmt: skip

# on_app_init also serves the RFC 9728 metadata document when BEARERGUARD_RESOURCE is set.
app = Litestar(HANDLERS, on_app_init=[auth.on_app_init])
