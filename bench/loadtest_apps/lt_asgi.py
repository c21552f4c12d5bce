"""Load-test app: a raw ASGI app behind BearerAuthASGIMiddleware, configured from BEARERGUARD_*.

Started by bench/loadtest.py as ``uvicorn lt_asgi:app --app-dir bench/loadtest_apps``.
``LOADTEST_JWKS_COOLDOWN`` shortens the key source's refetch cooldown so a rotation in the
middle of the run is picked up at the first token naming the new key.
"""

from __future__ import annotations

import json
import os

from bearerguard import JWKSKeySource, Settings, Verifier
from bearerguard.middleware.asgi import SCOPE_KEY, BearerAuthASGIMiddleware, Receive, Scope, Send

settings = Settings.from_env()
source = JWKSKeySource(
    settings.jwks_uri, cooldown=float(os.environ.get("LOADTEST_JWKS_COOLDOWN", "1.0"))
)


async def inner(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    token = scope.get(SCOPE_KEY)
    data = {"sub": token.subject} if token is not None else {"message": "public"}
    body = json.dumps(data).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = BearerAuthASGIMiddleware(
    inner,
    verifier=Verifier(settings, key_source=source),
    protect=["/api/private"],
    exempt=["/api/public"],
)
