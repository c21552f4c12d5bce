"""Starlette benchmark app: ``uvicorn bench.apps.starlette_app:app``."""

from __future__ import annotations

import os
from typing import Any

from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
    requires,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bearerguard import Settings, Verifier
from bearerguard.adapters.starlette import bearer_auth_middleware, require_scopes

from ._controls import floor_check, verify_only
from ._dict_control import DictLookupMiddleware, by_prefix
from ._pyjwt import CHALLENGE, MODE, check


async def open_route(request: Request) -> JSONResponse:
    return JSONResponse({"message": "public"})


@require_scopes("read:messages")
async def protected(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.auth.token.subject})


async def protected_pyjwt(request: Request) -> JSONResponse:
    claims = check(request.headers.get("authorization"))
    if claims is None:
        return JSONResponse(
            {"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": CHALLENGE}
        )
    return JSONResponse({"sub": claims["sub"]})


async def protected_floor(request: Request) -> JSONResponse:
    floor_check()
    return JSONResponse({"sub": "user-1"})


async def protected_verify(request: Request) -> JSONResponse:
    value = next(v for k, v in request.scope["headers"] if k == b"authorization")
    return JSONResponse({"sub": verify_only(value.decode("latin-1"))})


class AnyBearer(AuthenticationBackend):
    """``BENCH_MODE=model``: Starlette's own authentication, with a backend that verifies
    nothing (any ``Authorization`` header is a user with ``read:messages``)."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        if "authorization" not in conn.headers:
            return None
        return AuthCredentials(["read:messages"]), SimpleUser("user-1")


@requires("read:messages")
async def protected_model(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.display_name})


middleware: list[Middleware] = []
if MODE == "model":
    endpoint = protected_model
    middleware.append(Middleware(AuthenticationMiddleware, backend=AnyBearer()))
elif MODE == "floor":
    endpoint = protected_floor
elif MODE == "verify":
    endpoint = protected_verify
elif MODE == "pyjwt":
    endpoint = protected_pyjwt
else:
    endpoint = protected
    # BEARERGUARD_TOKEN_CACHE_SIZE is adapter-level (Settings ignores it); Flask and Django read it.
    size = int(os.environ.get("BEARERGUARD_TOKEN_CACHE_SIZE", "1024"))
    VERIFIER = Verifier(Settings.from_env(), token_cache_size=size)
    middleware.append(bearer_auth_middleware(VERIFIER))

app: Any = Starlette(
    routes=[Route("/open", open_route), Route("/protected", endpoint)], middleware=middleware
)
if MODE == "bearerguard":
    # The dict-lookup control (issue #19 §1) in the same server, so that it is measured in
    # the same rounds: /dict/open and /dict/protected, Starlette's own @requires.
    control = Starlette(
        routes=[Route("/dict/open", open_route), Route("/dict/protected", protected_model)],
        middleware=[Middleware(DictLookupMiddleware)],
    )
    app = by_prefix(app, control)
