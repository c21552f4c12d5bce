"""Contract app: FastAPI + BearerToken dependencies, configured from BEARERGUARD_*."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Security

from bearerguard import AccessToken, ClaimEquals, ClaimIncludes, Settings, Verifier
from bearerguard.adapters.fastapi import BearerToken, install_error_handler

verifier = Verifier(Settings.from_env())
# The one rule for optional authentication (issue #13.6): a token sent to any route,
# /api/public included, is checked and a bad one refused; no token passes where none is needed.
app = FastAPI(dependencies=[Security(BearerToken(verifier, optional=True))])
install_error_handler(app, verifier)  # and the RFC 9728 metadata route
R, W = "read:messages", "write:messages"
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"

Token = Annotated[AccessToken, Depends(BearerToken(verifier))]


def caller(token: AccessToken) -> dict[str, Any]:
    return {"sub": token.subject, "scopes": sorted(token.scopes), "claims": dict(token.claims)}


@app.get("/api/public")
@app.post("/api/public")
async def public() -> dict[str, str]:
    return {"message": "public"}


@app.get("/api/private")
@app.post("/api/private")
async def private(token: Token) -> dict[str, Any]:
    return caller(token)


@app.get("/api/private-scoped")
@app.post("/api/private-scoped")
async def private_scoped(
    token: Annotated[AccessToken, Security(BearerToken(verifier), scopes=[R])],
) -> dict[str, Any]:
    return caller(token)


@app.get("/api/private-scoped-rw")
@app.post("/api/private-scoped-rw")
def private_scoped_rw(
    token: Annotated[AccessToken, Depends(BearerToken(verifier, scopes=[R, W]))],
) -> dict[str, Any]:
    return caller(token)


@app.get("/api/private-any")
@app.post("/api/private-any")
async def private_any(
    token: Annotated[AccessToken, Depends(BearerToken(verifier, any_scopes=[R, "admin"]))],
) -> dict[str, Any]:
    return caller(token)


@app.get("/api/private-permission")
@app.post("/api/private-permission")
async def private_permission(
    token: Annotated[
        AccessToken, Depends(BearerToken(verifier, claims=[ClaimIncludes("permissions", R)]))
    ],
) -> dict[str, Any]:
    return caller(token)


@app.get("/api/private-tenant")
@app.post("/api/private-tenant")
async def private_tenant(
    token: Annotated[
        AccessToken, Depends(BearerToken(verifier, claims=[ClaimEquals("tenant", "acme")]))
    ],
) -> dict[str, Any]:
    return caller(token)


@app.get("/api/private-roles")
@app.post("/api/private-roles")
async def private_roles(
    token: Annotated[
        AccessToken, Depends(BearerToken(verifier, claims=[ClaimIncludes("roles", "writer")]))
    ],
) -> dict[str, Any]:
    return caller(token)


@app.get("/api/private-mfa")
@app.post("/api/private-mfa")
async def private_mfa(
    token: Annotated[AccessToken, Depends(BearerToken(verifier, acr_values=[MFA], max_age=600))],
) -> dict[str, Any]:
    return caller(token)
