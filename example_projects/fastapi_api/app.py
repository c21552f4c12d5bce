"""A FastAPI API protected by bearerguard (see README.md).

Start it from this folder: ``uvicorn app:app --host 127.0.0.1 --port 8000``.
Every ``BEARERGUARD_*`` environment variable configures it (issuer, audience, ...).
What it adds to the Starlette example: the token is a dependency, and the security
scheme and each route's scopes show up in the OpenAPI docs at /docs.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Security

from bearerguard import AccessToken, ClaimEquals, ClaimIncludes, Settings, Verifier
from bearerguard.adapters.fastapi import BearerToken, install_error_handler

# Fails here, at startup, when a setting is missing or wrong.
verifier = Verifier(Settings.from_env())
bearer = BearerToken(verifier)

# Checks a token sent to any route (public ones included) and refuses a bad one; requests
# without a token still reach the public routes. Routes needing a token add their own.
app = FastAPI(
    title="bearerguard FastAPI example",
    dependencies=[Security(BearerToken(verifier, optional=True))],
)
# Refusals rendered per RFC 6750 (not as {"detail": ...}); with BEARERGUARD_RESOURCE set,
# the RFC 9728 metadata document is served too.
install_error_handler(app, verifier)

BOTH = ["GET", "POST"]
#: Any valid access token; ``Security(bearer, scopes=[...])`` adds required scopes.
Token = Annotated[AccessToken, Depends(bearer)]


def describe(token: AccessToken) -> dict[str, Any]:
    """Who called, with which scopes, and every claim of their access token."""
    return {"sub": token.subject, "scopes": sorted(token.scopes), "claims": dict(token.claims)}


@app.api_route("/api/public", methods=BOTH)
async def public() -> dict[str, Any]:
    return {"message": "public"}


@app.api_route("/api/private", methods=BOTH)
async def private(token: Token) -> dict[str, Any]:
    return describe(token)


@app.api_route("/api/private-scoped", methods=BOTH)
async def private_scoped(
    token: Annotated[AccessToken, Security(bearer, scopes=["read:messages"])],
) -> dict[str, Any]:
    return describe(token)


@app.api_route("/api/private-scoped-rw", methods=BOTH)
async def private_scoped_rw(
    token: Annotated[AccessToken, Security(bearer, scopes=["read:messages", "write:messages"])],
) -> dict[str, Any]:
    return describe(token)


# Claim checks are part of the dependency: one BearerToken per requirement.
needs_permission = BearerToken(verifier, claims=[ClaimIncludes("permissions", "read:messages")])
needs_acme = BearerToken(verifier, claims=[ClaimEquals("tenant", "acme")])
needs_writer = BearerToken(verifier, claims=[ClaimIncludes("roles", "writer")])


@app.api_route("/api/private-permission", methods=BOTH)
async def private_permission(
    token: Annotated[AccessToken, Depends(needs_permission)],
) -> dict[str, Any]:
    return describe(token)


@app.api_route("/api/private-tenant", methods=BOTH)
async def private_tenant(token: Annotated[AccessToken, Depends(needs_acme)]) -> dict[str, Any]:
    return describe(token)


@app.api_route("/api/private-roles", methods=BOTH)
async def private_roles(token: Annotated[AccessToken, Depends(needs_writer)]) -> dict[str, Any]:
    return describe(token)


#: Auth0's multi-factor ``acr`` value (OpenID PAPE): RFC 9470 step-up for this route.
MULTI_FACTOR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
needs_mfa = BearerToken(verifier, acr_values=[MULTI_FACTOR], max_age=600)  # MFA, <= 10 min ago


@app.api_route("/api/private-mfa", methods=BOTH)
async def private_mfa(token: Annotated[AccessToken, Depends(needs_mfa)]) -> dict[str, Any]:
    return describe(token)
