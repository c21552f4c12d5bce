"""Load-test app: a raw WSGI app behind BearerAuthWSGIMiddleware, configured from BEARERGUARD_*.

Started by bench/loadtest.py as ``gunicorn --pythonpath bench/loadtest_apps lt_wsgi:app``.
See lt_asgi.py for ``LOADTEST_JWKS_COOLDOWN``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from bearerguard import JWKSKeySource, Settings, Verifier
from bearerguard.middleware.wsgi import ENVIRON_KEY, BearerAuthWSGIMiddleware

settings = Settings.from_env()
source = JWKSKeySource(
    settings.jwks_uri, cooldown=float(os.environ.get("LOADTEST_JWKS_COOLDOWN", "1.0"))
)


def inner(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    token = environ.get(ENVIRON_KEY)
    data = {"sub": token.subject} if token is not None else {"message": "public"}
    body = json.dumps(data).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


app = BearerAuthWSGIMiddleware(
    inner,
    verifier=Verifier(settings, key_source=source),
    protect=["/api/private"],
    exempt=["/api/public"],
)
