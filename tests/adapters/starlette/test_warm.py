"""Starlette: the middleware fetches the keys at start-up (lifespan), under a real uvicorn.

Issue #19 §3: no cold first request; the app's own lifespan runs unchanged; an issuer that
is down never fails start-up, and the first request then gets 503 ``keys_unavailable``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bearerguard import Verifier
from bearerguard.adapters.starlette import (
    BearerAuthBackend,
    bearer_auth_middleware,
    on_auth_error,
    require_scopes,
)
from bearerguard.testing import Issuer
from tests.adapters.starlette.servers import serve
from tests.middleware.warm_servers import assert_keys_unavailable, bearer, down_issuer, eventually


@pytest.fixture
def own_issuer() -> Iterator[Issuer]:
    with Issuer() as issuer:
        yield issuer


@require_scopes()
async def me(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity, "ready": request.app.state.ready})


def make_app(verifier: Verifier, events: list[str]) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        app.state.ready = True
        yield
        events.append("shutdown")

    return Starlette(
        routes=[Route("/me", me)],
        middleware=[bearer_auth_middleware(verifier)],
        lifespan=lifespan,
    )


def test_lifespan_fetches_the_keys_before_the_first_request(own_issuer: Issuer) -> None:
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience)
    events: list[str] = []
    app = make_app(verifier, events)
    assert own_issuer.discovery_fetches == 0  # building the app fetches nothing
    with serve(app) as url:
        assert eventually(verifier.ready)  # before any request
        assert own_issuer.jwks_fetches == 1
        assert events == ["startup"]  # the app's own lifespan ran
        response = httpx.get(url + "/me", headers=bearer(own_issuer.token(sub="s1")))
        assert response.status_code == 200
        assert response.json() == {"sub": "s1", "ready": True}
    assert events == ["startup", "shutdown"]
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_a_backend_for_starlettes_own_middleware_fetches_when_built(own_issuer: Issuer) -> None:
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience)
    backend = BearerAuthBackend(verifier)  # no lifespan reaches a backend
    assert eventually(lambda: own_issuer.jwks_fetches == 1)
    app = Starlette(
        routes=[Route("/me", me)],
        middleware=[Middleware(AuthenticationMiddleware, backend=backend, on_error=on_auth_error)],
    )
    app.state.ready = False
    with serve(app) as url:
        response = httpx.get(url + "/me", headers=bearer(own_issuer.token(sub="s2")))
    assert response.status_code == 200
    assert response.json() == {"sub": "s2", "ready": False}
    assert own_issuer.jwks_fetches == 1


def test_start_up_with_the_issuer_down_succeeds_and_answers_503() -> None:
    with down_issuer() as issuer:
        verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience)
        events: list[str] = []
        with serve(make_app(verifier, events)) as url:
            assert events == ["startup"]
            assert not verifier.ready()
            assert_keys_unavailable(httpx.get(url + "/me", headers=bearer(issuer.token())))
