"""Contract app: a plain WSGI app behind ``BearerAuthWSGIMiddleware``, configured from the env."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bearerguard import AccessToken, ClaimEquals, ClaimIncludes, Requirements, Settings, Verifier
from bearerguard.middleware.wsgi import ENVIRON_KEY, BearerAuthWSGIMiddleware, StartResponse

PRIVATE = (
    "/api/private",
    "/api/private-scoped",
    "/api/private-scoped-rw",
    "/api/private-any",
    "/api/private-permission",
    "/api/private-tenant",
    "/api/private-roles",
    "/api/private-mfa",
)
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


def _json(start_response: StartResponse, status: str, body: Any) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def routes(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The contract routes; the middleware has already authenticated and authorized."""
    path = environ.get("PATH_INFO", "")
    if environ.get("REQUEST_METHOD") not in ("GET", "POST"):
        return _json(start_response, "405 Method Not Allowed", {"error": "method_not_allowed"})
    if path == "/api/public":
        return _json(start_response, "200 OK", {"message": "public"})
    token = environ.get(ENVIRON_KEY)
    if path in PRIVATE and isinstance(token, AccessToken):
        claims = dict(token.claims)
        body = {"sub": token.subject, "scopes": sorted(token.scopes), "claims": claims}
        return _json(start_response, "200 OK", body)
    return _json(start_response, "404 Not Found", {"error": "not_found"})


app = BearerAuthWSGIMiddleware(
    routes,
    verifier=Verifier(Settings.from_env()),
    protect=PRIVATE,
    requirements={
        "/api/private-scoped": Requirements(scopes=["read:messages"]),
        "/api/private-scoped-rw": Requirements(scopes=["read:messages", "write:messages"]),
        "/api/private-any": Requirements(any_scopes=["read:messages", "admin"]),
        "/api/private-permission": Requirements(
            claims=[ClaimIncludes("permissions", "read:messages")]
        ),
        "/api/private-tenant": Requirements(claims=[ClaimEquals("tenant", "acme")]),
        "/api/private-roles": Requirements(claims=[ClaimIncludes("roles", "writer")]),
        "/api/private-mfa": Requirements(acr_values=[MFA], max_age=600),
    },
)
