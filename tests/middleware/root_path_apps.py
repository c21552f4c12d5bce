"""Apps deployed under a root path, for real servers (tests/middleware/test_root_path.py).

Each protects ``/api`` (``/api/public`` exempt) and requires the ``admin`` scope on
``/api/admin``; the verifier comes from ``BEARERGUARD_*``. Every endpoint answers what
its app routed on, so a test sees both the status and which route answered.

- ``asgi_app``: the generic ASGI middleware around a Starlette app, for
  ``uvicorn --root-path /v1`` (uvicorn puts ``/v1`` in ``root_path`` and ``path``).
- ``fastapi_app``: the ASGI middleware around ``FastAPI(root_path="/v1")`` (FastAPI sets
  ``root_path`` itself, inside the middleware).
- ``mounted_app``: the ASGI middleware inside a Starlette ``Mount("/v1", ...)``.
- ``wsgi_app``: the WSGI middleware around a PEP 3333 app routing on ``PATH_INFO``, for
  gunicorn with ``SCRIPT_NAME=/v1`` in its environment.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import FastAPIDeprecationWarning
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from bearerguard import Requirements, Settings, Verifier
from bearerguard.middleware.asgi import SCOPE_KEY, BearerAuthASGIMiddleware
from bearerguard.middleware.wsgi import ENVIRON_KEY, BearerAuthWSGIMiddleware, StartResponse

ROUTES = ("public", "private", "admin")
RULES: dict[str, Any] = {
    "protect": ["/api"],
    "exempt": ["/api/public"],
    "requirements": {"/api/admin": Requirements(scopes=["admin"])},
}
verifier = Verifier(Settings.from_env())


def answer(route: str, token: Any, root_path: str) -> dict[str, Any]:
    """What every endpoint answers: its route, the caller and the root path it saw."""
    return {"route": route, "sub": None if token is None else token.subject, "root": root_path}


def _endpoint(route: str) -> Any:
    async def endpoint(request: Request) -> JSONResponse:
        token = request.scope.get(SCOPE_KEY)
        return JSONResponse(answer(route, token, request.scope.get("root_path", "")))

    return endpoint


def starlette_app() -> Starlette:
    """A Starlette app routing ``/api/public``, ``/api/private`` and ``/api/admin``."""
    return Starlette(routes=[Route(f"/api/{r}", _endpoint(r), methods=["GET"]) for r in ROUTES])


asgi_app = BearerAuthASGIMiddleware(starlette_app(), verifier=verifier, **RULES)

with warnings.catch_warnings():
    # The deprecated parameter is the deployment under test (issue #11, finding 1).
    warnings.simplefilter("ignore", FastAPIDeprecationWarning)
    _fastapi = FastAPI(root_path="/v1", openapi_url=None)
for _route in ROUTES:
    _fastapi.add_api_route(f"/api/{_route}", _endpoint(_route), methods=["GET"])
fastapi_app = BearerAuthASGIMiddleware(_fastapi, verifier=verifier, **RULES)

mounted_app = Starlette(
    routes=[Mount("/v1", app=BearerAuthASGIMiddleware(starlette_app(), verifier=verifier, **RULES))]
)


def _wsgi_inner(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ["PATH_INFO"]  # PEP 3333: the part of the path the app routes on
    route = path.removeprefix("/api/")
    if path.startswith("/api/") and route in ROUTES:
        status, data = "200 OK", answer(route, environ[ENVIRON_KEY], environ["SCRIPT_NAME"])
    else:
        status, data = "404 Not Found", {"route": None, "path": path}
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(data).encode()]


wsgi_app = BearerAuthWSGIMiddleware(_wsgi_inner, verifier=verifier, **RULES)
