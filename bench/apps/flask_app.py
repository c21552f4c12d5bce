"""Flask benchmark app: ``gunicorn bench.apps.flask_app:app``."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, request

from bearerguard.adapters.flask import BearerAuth, current_token

from ._controls import floor_check, verify_only
from ._pyjwt import CHALLENGE, MODE, check

app = Flask(__name__)
app.config.update({k: v for k, v in os.environ.items() if k.startswith("BEARERGUARD_")})


@app.get("/open")
def open_route() -> dict[str, Any]:
    return {"message": "public"}


if MODE == "floor":

    @app.get("/protected")
    def protected() -> Any:
        floor_check()
        return {"sub": "user-1"}

elif MODE == "verify":

    @app.get("/protected")
    def protected() -> Any:
        return {"sub": verify_only(request.environ["HTTP_AUTHORIZATION"])}

elif MODE == "pyjwt":

    @app.get("/protected")
    def protected() -> Any:
        claims = check(request.headers.get("Authorization"))
        if claims is None:
            return {"error": "invalid_token"}, 401, {"WWW-Authenticate": CHALLENGE}
        return {"sub": claims["sub"]}

else:
    auth = BearerAuth(app)

    @app.get("/protected")
    @auth.require(scopes=["read:messages"])
    def protected() -> Any:
        return {"sub": current_token.subject}
