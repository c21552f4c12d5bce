"""FastAPI: ``BearerToken`` fetches the keys when the app is built (issue #19 §3).

Served by a real uvicorn on 127.0.0.1, with a test issuer of its own counting fetches. The
app's own lifespan still runs; an issuer that is down never fails start-up, and the first
request then gets 503 ``keys_unavailable``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from fastapi import FastAPI, Security

from bearerguard import AccessToken, Verifier
from bearerguard.adapters.fastapi import BearerToken, install_error_handler
from bearerguard.adapters.starlette import bearer_auth_middleware
from bearerguard.testing import Issuer
from tests.adapters.starlette.servers import serve
from tests.middleware.warm_servers import assert_keys_unavailable, bearer, down_issuer, eventually


@pytest.fixture
def own_issuer() -> Iterator[Issuer]:
    with Issuer() as issuer:
        yield issuer


def make_app(verifier: Verifier, events: list[str], *, middleware: bool = False) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = FastAPI(
        lifespan=lifespan, middleware=[bearer_auth_middleware(verifier)] if middleware else []
    )
    install_error_handler(app, verifier)
    bearer = BearerToken(verifier)

    @app.get("/me")
    async def me(token: AccessToken = Security(bearer)) -> dict[str, Any]:  # noqa: B008
        return {"sub": token.subject}

    return app


def test_the_dependency_fetches_the_keys_before_the_first_request(own_issuer: Issuer) -> None:
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience)
    events: list[str] = []
    app = make_app(verifier, events)
    assert eventually(lambda: own_issuer.jwks_fetches == 1)  # built: fetched, no request yet
    with serve(app) as url:
        assert events == ["startup"]  # the app's own lifespan ran
        response = httpx.get(url + "/me", headers=bearer(own_issuer.token(sub="fa1")))
        assert response.status_code == 200
        assert response.json() == {"sub": "fa1"}
    assert events == ["startup", "shutdown"]
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_the_dependency_and_the_middleware_together_fetch_once(own_issuer: Issuer) -> None:
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience)
    events: list[str] = []
    with serve(make_app(verifier, events, middleware=True)) as url:
        assert eventually(verifier.ready)
        response = httpx.get(url + "/me", headers=bearer(own_issuer.token(sub="fa2")))
        assert response.json() == {"sub": "fa2"}
    assert events == ["startup", "shutdown"]
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_start_up_with_the_issuer_down_succeeds_and_answers_503() -> None:
    with down_issuer() as issuer:
        verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience)
        events: list[str] = []
        with serve(make_app(verifier, events)) as url:
            assert events == ["startup"]
            assert_keys_unavailable(httpx.get(url + "/me", headers=bearer(issuer.token())))
