"""Contract app: Starlette + bearer_auth_middleware + require_scopes/require_claim (BEARERGUARD_*)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bearerguard import Settings, Verifier
from bearerguard.adapters.starlette import bearer_auth_middleware, require_claim, require_scopes

verifier = Verifier(Settings.from_env())
BOTH = ["GET", "POST"]
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


def caller(request: Request) -> JSONResponse:
    token = request.auth.token
    return JSONResponse(
        {"sub": token.subject, "scopes": sorted(token.scopes), "claims": dict(token.claims)}
    )


async def public(request: Request) -> JSONResponse:
    return JSONResponse({"message": "public"})


@require_scopes()
async def private(request: Request) -> JSONResponse:
    return caller(request)


@require_scopes("read:messages")
async def private_scoped(request: Request) -> JSONResponse:
    return caller(request)


@require_scopes("read:messages", "write:messages")
def private_scoped_rw(request: Request) -> JSONResponse:  # a sync endpoint (thread pool)
    return caller(request)


@require_scopes(any_of=["read:messages", "admin"])
async def private_any(request: Request) -> JSONResponse:
    return caller(request)


@require_claim("permissions", includes="read:messages")
async def private_permission(request: Request) -> JSONResponse:
    return caller(request)


class PrivateTenant(HTTPEndpoint):
    @require_claim("tenant", equals="acme")
    async def get(self, request: Request) -> JSONResponse:
        return caller(request)

    post = get


@require_claim("roles", includes="writer")
async def private_roles(request: Request) -> JSONResponse:
    return caller(request)


@require_scopes(acr_values=[MFA], max_age=600)
async def private_mfa(request: Request) -> JSONResponse:
    return caller(request)


app = Starlette(
    routes=[
        Route("/api/public", public, methods=BOTH),
        Route("/api/private", private, methods=BOTH),
        Route("/api/private-scoped", private_scoped, methods=BOTH),
        Route("/api/private-scoped-rw", private_scoped_rw, methods=BOTH),
        Route("/api/private-any", private_any, methods=BOTH),
        Route("/api/private-permission", private_permission, methods=BOTH),
        Route("/api/private-tenant", PrivateTenant),
        Route("/api/private-roles", private_roles, methods=BOTH),
        Route("/api/private-mfa", private_mfa, methods=BOTH),
    ],
    middleware=[bearer_auth_middleware(verifier)],
)
