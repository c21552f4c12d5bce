"""Django Ninja: ``install(api)`` and ``BearerAuth(verifier=...)`` fetch the keys at start-up.

Issue #19 §3. The API is built when the URLconf is loaded; that is when the settings'
verifier starts its background fetch (a project without bearerguard's middleware has no
earlier hook). Requests go to a real werkzeug server on 127.0.0.1 serving Django's handler;
a test issuer of its own counts fetches. An issuer that is down never fails start-up.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx
import pytest

pytest.importorskip("ninja")

from django.core.handlers.wsgi import WSGIHandler
from django.test.utils import override_settings
from ninja import NinjaAPI

from bearerguard import Verifier
from bearerguard.adapters.django import get_verifier
from bearerguard.adapters.ninja import BearerAuth, install
from bearerguard.testing import Issuer
from tests.middleware.warm_servers import (
    assert_keys_unavailable,
    bearer,
    down_issuer,
    eventually,
    serve_wsgi,
)

_names = itertools.count()


@pytest.fixture
def own_issuer() -> Iterator[Issuer]:
    with Issuer() as issuer, pointed_at(issuer):
        yield issuer


def pointed_at(issuer: Issuer) -> override_settings:
    return override_settings(
        BEARERGUARD_ISSUER=issuer.issuer,
        BEARERGUARD_AUDIENCE=issuer.audience,
        BEARERGUARD_JWKS_URI=None,
    )


def new_api() -> NinjaAPI:
    return install(NinjaAPI(urls_namespace=f"warm-{next(_names)}"))


def test_install_fetches_the_settings_keys_before_the_first_request(own_issuer: Issuer) -> None:
    assert own_issuer.discovery_fetches == 0
    new_api()  # the URLconf is being loaded
    assert eventually(get_verifier().ready)  # no request sent yet
    assert own_issuer.jwks_fetches == 1
    with serve_wsgi(WSGIHandler()) as url:
        response = httpx.get(
            url + "/api/private", headers=bearer(own_issuer.token(sub="n1", scopes=["a"]))
        )
    assert response.status_code == 200
    assert response.json() == {"sub": "n1", "scopes": ["a"]}
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_an_auth_with_its_own_verifier_fetches_when_built() -> None:
    with Issuer() as issuer:
        verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience)
        BearerAuth("read:messages", verifier=verifier)
        BearerAuth(verifier=verifier)  # the same verifier: no second fetch
        assert eventually(verifier.ready)
        assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)


def test_install_without_usable_settings_does_not_fail() -> None:
    with override_settings(BEARERGUARD_AUDIENCE=None):
        new_api()  # the system checks report the settings; start-up goes on


def test_start_up_with_the_issuer_down_succeeds_and_answers_503() -> None:
    with down_issuer() as issuer, pointed_at(issuer):
        new_api()  # does not raise, does not wait
        assert not get_verifier().ready()
        with serve_wsgi(WSGIHandler()) as url:
            response = httpx.get(url + "/api/private", headers=bearer(issuer.token()))
        assert_keys_unavailable(response)
