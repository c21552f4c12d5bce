"""Django: the middleware fetches the keys when the server builds its handler (issue #19 §3).

``get_wsgi_application()`` / ``get_asgi_application()`` build the middleware chain at start-up,
before any request: that is when ``BearerAuthMiddleware`` starts the background fetch. A real
werkzeug server on 127.0.0.1 then serves the handler; a test issuer of its own counts fetches.
An issuer that is down never fails start-up, and the first request gets 503.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("django")

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from django.test.utils import override_settings

from bearerguard.adapters.django import get_verifier
from bearerguard.testing import Issuer
from tests.middleware.warm_servers import (
    assert_keys_unavailable,
    bearer,
    down_issuer,
    eventually,
    serve_wsgi,
)


@pytest.fixture
def own_issuer() -> Iterator[Issuer]:
    with Issuer() as issuer, pointed_at(issuer):
        yield issuer


def pointed_at(issuer: Issuer) -> override_settings:
    # A fresh verifier (settings changed), finding the keys by discovery.
    return override_settings(
        BEARERGUARD_ISSUER=issuer.issuer,
        BEARERGUARD_AUDIENCE=issuer.audience,
        BEARERGUARD_JWKS_URI=None,
    )


def test_the_wsgi_handler_fetches_the_keys_before_the_first_request(own_issuer: Issuer) -> None:
    assert own_issuer.discovery_fetches == 0
    app = WSGIHandler()  # what get_wsgi_application() returns: the server is starting
    assert eventually(get_verifier().ready)  # no request sent yet
    assert own_issuer.jwks_fetches == 1
    with serve_wsgi(app) as url:
        response = httpx.get(url + "/async-public", headers=bearer(own_issuer.token(sub="d1")))
    assert response.status_code == 200
    assert response.json() == {"sub": "d1"}
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_the_asgi_handler_fetches_the_keys_when_built(own_issuer: Issuer) -> None:
    ASGIHandler()  # what get_asgi_application() returns
    assert eventually(get_verifier().ready)
    assert own_issuer.jwks_fetches == 1


def test_many_handlers_fetch_once(own_issuer: Issuer) -> None:
    # Django's test client builds a handler per client: one fetch for them all.
    for _ in range(5):
        WSGIHandler()
    assert eventually(get_verifier().ready)
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_start_up_with_the_issuer_down_succeeds_and_answers_503() -> None:
    with down_issuer() as issuer, pointed_at(issuer):
        app = WSGIHandler()  # does not raise, does not wait
        assert not get_verifier().ready()
        with serve_wsgi(app) as url:
            response = httpx.get(url + "/async-public", headers=bearer(issuer.token()))
        assert_keys_unavailable(response)
