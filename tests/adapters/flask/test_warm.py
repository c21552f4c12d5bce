"""Flask: ``init_app`` fetches the keys in the background (issue #19 §3, no cold first request).

A real werkzeug server on 127.0.0.1 serves the app; a test issuer of its own counts fetches.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("flask")

from flask import Flask

from bearerguard import Verifier
from bearerguard.adapters.flask import BearerAuth, current_token
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
    with Issuer() as issuer:
        yield issuer


def make_app(issuer: Issuer, auth: BearerAuth) -> Flask:
    app = Flask("warm")
    app.config.update(BEARERGUARD_ISSUER=issuer.issuer, BEARERGUARD_AUDIENCE=issuer.audience)

    @app.get("/me")
    @auth.require
    def me() -> dict[str, str | None]:
        return {"sub": current_token.subject}

    return app


def test_init_app_fetches_the_keys_before_the_first_request(own_issuer: Issuer) -> None:
    auth = BearerAuth()
    app = make_app(own_issuer, auth)
    assert own_issuer.discovery_fetches == 0
    auth.init_app(app)  # the app factory's step
    assert eventually(lambda: auth_ready(app))  # no request sent yet
    assert own_issuer.jwks_fetches == 1
    with serve_wsgi(app) as url:
        response = httpx.get(url + "/me", headers=bearer(own_issuer.token(sub="f1")))
    assert response.status_code == 200
    assert response.json() == {"sub": "f1"}
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def auth_ready(app: Flask) -> bool:
    with app.app_context():
        return bool(BearerAuth().verifier().ready())


def test_one_verifier_shared_by_apps_is_fetched_for_once(own_issuer: Issuer) -> None:
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience)
    auth = BearerAuth(verifier=verifier)
    for _ in range(5):
        auth.init_app(make_app(own_issuer, auth))
    assert eventually(verifier.ready)
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_start_up_with_the_issuer_down_succeeds_and_answers_503() -> None:
    with down_issuer() as issuer:
        auth = BearerAuth()
        app = make_app(issuer, auth)
        auth.init_app(app)  # does not raise, does not wait
        assert not auth_ready(app)
        with serve_wsgi(app) as url:
            assert_keys_unavailable(httpx.get(url + "/me", headers=bearer(issuer.token())))
