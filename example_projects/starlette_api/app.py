"""A Starlette API protected by bearerguard (see README.md).

Start it from this folder: ``uvicorn app:app --host 127.0.0.1 --port 8000``.
Every ``BEARERGUARD_*`` environment variable configures it (issuer, audience, ...).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bearerguard import Settings, Verifier
from bearerguard.adapters.starlette import bearer_auth_middleware, require_claim, require_scopes

# Fails here, at startup, when a setting is missing or wrong.
verifier = Verifier(Settings.from_env())


def describe(request: Request) -> JSONResponse:
    """Who called, with which scopes, and every claim of their access token."""
    token = request.auth.token  # TokenCredentials, set by the middleware
    return JSONResponse(
        {"sub": token.subject, "scopes": sorted(token.scopes), "claims": dict(token.claims)}
    )


async def public(request: Request) -> JSONResponse:
    return JSONResponse({"message": "public"})


@require_scopes()  # no scope needed, but a valid token is
async def private(request: Request) -> JSONResponse:
    return describe(request)


@require_scopes("read:messages")
async def private_scoped(request: Request) -> JSONResponse:
    return describe(request)


@require_scopes("read:messages", "write:messages")
async def private_scoped_rw(request: Request) -> JSONResponse:
    return describe(request)


@require_claim("permissions", includes="read:messages")  # Auth0 RBAC
async def private_permission(request: Request) -> JSONResponse:
    return describe(request)


@require_claim("tenant", equals="acme")
async def private_tenant(request: Request) -> JSONResponse:
    return describe(request)


@require_claim("roles", includes="writer")
async def private_roles(request: Request) -> JSONResponse:
    return describe(request)


#: Auth0's multi-factor ``acr`` value (OpenID PAPE): RFC 9470 step-up for this route.
MULTI_FACTOR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


@require_scopes(acr_values=[MULTI_FACTOR], max_age=600)  # signed in with MFA, <= 10 min ago
async def private_mfa(request: Request) -> JSONResponse:
    return describe(request)


BOTH = ["GET", "POST"]
app = Starlette(
    routes=[
        Route("/api/public", public, methods=BOTH),
        Route("/api/private", private, methods=BOTH),
        Route("/api/private-scoped", private_scoped, methods=BOTH),
        Route("/api/private-scoped-rw", private_scoped_rw, methods=BOTH),
        Route("/api/private-permission", private_permission, methods=BOTH),
        Route("/api/private-tenant", private_tenant, methods=BOTH),
        Route("/api/private-roles", private_roles, methods=BOTH),
        Route("/api/private-mfa", private_mfa, methods=BOTH),
    ],
    # Authenticates every request (and reads form-body tokens when enabled);
    # refusals are rendered as RFC 6750 answers, not Starlette's plain 400. With
    # BEARERGUARD_RESOURCE set it also serves the RFC 9728 metadata document.
    middleware=[bearer_auth_middleware(verifier)],
)
