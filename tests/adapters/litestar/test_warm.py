"""Litestar: ``BearerAuth.on_app_init`` fetches the keys at start-up (``on_startup``).

Issue #19 §3, under a real uvicorn on 127.0.0.1 with a test issuer of its own: the fetch
happens when the server starts, not when the app is built; the app's own start-up hooks
still run; an issuer that is down never fails start-up, and the first request gets 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("litestar")
pytest.importorskip("uvicorn")

from litestar import Litestar, Request, get

from bearerguard import Verifier
from bearerguard.adapters.litestar import BearerAuth, requires_scopes
from bearerguard.testing import Issuer
from tests.adapters.starlette.servers import serve
from tests.middleware.warm_servers import assert_keys_unavailable, bearer, down_issuer, eventually


@pytest.fixture
def own_issuer() -> Iterator[Issuer]:
    with Issuer() as issuer:
        yield issuer


@get("/me", guards=[requires_scopes()])
async def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"sub": request.auth.subject}


def make_app(verifier: Verifier, events: list[str]) -> Litestar:
    return Litestar(
        [me],
        on_app_init=[BearerAuth(verifier).on_app_init],
        on_startup=[lambda: events.append("startup")],
    )


def test_on_startup_fetches_the_keys_before_the_first_request(own_issuer: Issuer) -> None:
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience)
    events: list[str] = []
    app = make_app(verifier, events)
    assert own_issuer.discovery_fetches == 0  # building the app fetches nothing
    with serve(app) as url:
        assert eventually(lambda: own_issuer.jwks_fetches == 1)  # before any request
        assert events == ["startup"]  # the app's own hook ran too
        response = httpx.get(url + "/me", headers=bearer(own_issuer.token(sub="l1")))
        assert response.status_code == 200
        assert response.json() == {"sub": "l1"}
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_start_up_with_the_issuer_down_succeeds_and_answers_503() -> None:
    with down_issuer() as issuer:
        verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience)
        events: list[str] = []
        with serve(make_app(verifier, events)) as url:
            assert events == ["startup"]
            assert_keys_unavailable(httpx.get(url + "/me", headers=bearer(issuer.token())))
