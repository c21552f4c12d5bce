"""Contract app: BearerAuthASGIMiddleware around a minimal raw ASGI app, from BEARERGUARD_*."""

from __future__ import annotations

import json
from typing import Any

from bearerguard import ClaimEquals, ClaimIncludes, Requirements, Settings, Verifier
from bearerguard.middleware.asgi import SCOPE_KEY, BearerAuthASGIMiddleware, Receive, Scope, Send

R, W = "read:messages", "write:messages"
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


async def _answer(send: Send, status: int, data: Any) -> None:
    body = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def inner(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:  # drain the body (replayed by the middleware when it read a form)
        message = await receive()
        more = message["type"] == "http.request" and message.get("more_body", False)
    path = scope["path"]
    if path == "/api/public":
        await _answer(send, 200, {"message": "public"})
    elif path.startswith("/api/private"):
        token = scope[SCOPE_KEY]
        data = {"sub": token.subject, "scopes": sorted(token.scopes), "claims": dict(token.claims)}
        await _answer(send, 200, data)
    else:
        await _answer(send, 404, {"error": "not_found"})


app = BearerAuthASGIMiddleware(
    inner,
    verifier=Verifier(Settings.from_env()),
    # /api/public is not exempt: a token sent there is checked too (issue #13.6).
    protect=["/api/private"],
    requirements={
        "/api/private-scoped": Requirements(scopes=[R]),
        "/api/private-scoped-rw": Requirements(scopes=[R, W]),
        "/api/private-any": Requirements(any_scopes=[R, "admin"]),
        "/api/private-permission": Requirements(claims=[ClaimIncludes("permissions", R)]),
        "/api/private-tenant": Requirements(claims=[ClaimEquals("tenant", "acme")]),
        "/api/private-roles": Requirements(claims=[ClaimIncludes("roles", "writer")]),
        "/api/private-mfa": Requirements(acr_values=[MFA], max_age=600),
    },
)
