"""The pytest plugin, as a user's own test-suite uses it (run by pytester in a subprocess)."""

from __future__ import annotations

import importlib.metadata
import importlib.util

import pytest

pytest_plugins = ["pytester"]

INI = """
[pytest]
filterwarnings = error
bearerguard_audience = {audience}
"""


def plugin_args() -> list[str]:
    # Installed, the plugin loads through its pytest11 entry point; from a bare checkout,
    # name it explicitly (naming it twice would register it twice).
    installed = importlib.metadata.entry_points(group="pytest11", name="bearerguard")
    return ["-W", "error"] + ([] if installed else ["-p", "bearerguard.testing.pytest_plugin"])


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider", *args)


def needs(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")


FLASK_SUITE = """
DPOP = 'DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"'
from flask import Flask
import pytest

from bearerguard import ClaimEquals
from bearerguard.adapters.flask import BearerAuth, current_token
from bearerguard.testing.helpers import flask_config


@pytest.fixture
def client(bearerguard_issuer):
    app = Flask(__name__)
    app.config.update(flask_config(bearerguard_issuer))
    auth = BearerAuth(app)

    @app.get("/api/messages")
    @auth.require(scopes=["read:messages"], claims=[ClaimEquals("tenant", "acme")])
    def messages():
        return {"sub": current_token.subject, "scopes": sorted(current_token.scopes)}

    return app.test_client()


def test_allowed(client, bearer_headers):
    response = client.get("/api/messages", headers=bearer_headers(claims={"tenant": "acme"}))
    assert response.status_code == 200
    assert response.json == {"sub": "user-1", "scopes": ["read:messages"]}


def test_other_subject(client, bearer_token):
    token = bearer_token(scopes=["read:messages", "admin"], claims={"tenant": "acme"}, sub="bob")
    response = client.get("/api/messages", headers={"Authorization": f"Bearer {token}"})
    assert response.json == {"sub": "bob", "scopes": ["admin", "read:messages"]}


def test_missing_scope(client, bearer_headers):
    response = client.get("/api/messages", headers=bearer_headers(scopes=[], claims={"tenant": "acme"}))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token lacks a required scope", scope="read:messages", '
        + DPOP
    )


def test_no_token(client):
    response = client.get("/api/messages")
    assert response.status_code == 401
    # A 401 on a route needing a scope names it (RFC 6750 §3), in both schemes.
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", scope="read:messages", DPoP scope="read:messages", '
        + DPOP.removeprefix("DPoP ")
    )
    assert response.json["reason"] == "missing_token"


def test_expired(client, bearer_headers):
    response = client.get("/api/messages", headers=bearer_headers(expires_in=-600))
    assert response.status_code == 401
    assert response.json["reason"] == "expired"


def test_settings(bearerguard_settings, bearerguard_issuer):
    assert bearerguard_settings == {
        "BEARERGUARD_ISSUER": bearerguard_issuer.issuer,
        "BEARERGUARD_AUDIENCE": "https://messages.example.com",
        "BEARERGUARD_JWKS_URI": bearerguard_issuer.jwks_uri,
    }
"""


def test_flask_suite(pytester: pytest.Pytester) -> None:
    needs("flask")
    pytester.makeini(INI.format(audience="https://messages.example.com"))
    pytester.makepyfile(test_flask_api=FLASK_SUITE)
    run(pytester).assert_outcomes(passed=6)


STARLETTE_SUITE = """
DPOP = 'DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"'
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bearerguard import Settings, Verifier
from bearerguard.adapters.starlette import bearer_auth_middleware, require_scopes
from bearerguard.testing.helpers import starlette_verifier


@require_scopes("read:messages")
async def messages(request):
    return JSONResponse({"sub": request.user.identity})


def make_app(verifier):
    routes = [Route("/api/messages", messages)]
    return Starlette(routes=routes, middleware=[bearer_auth_middleware(verifier)])


@pytest.fixture(params=["fixture", "helper", "env"])
def client(request, bearerguard_verifier, bearerguard_issuer):
    if request.param == "fixture":
        verifier = bearerguard_verifier
    elif request.param == "helper":
        verifier = starlette_verifier(bearerguard_issuer, leeway=0)
    else:
        request.getfixturevalue("bearerguard_env")
        verifier = Verifier(Settings.from_env())
    with TestClient(make_app(verifier)) as client:
        yield client


def test_allowed(client, bearer_headers):
    response = client.get("/api/messages", headers=bearer_headers(sub="carol"))
    assert response.status_code == 200
    assert response.json() == {"sub": "carol"}


def test_missing_scope(client, bearer_headers):
    response = client.get("/api/messages", headers=bearer_headers(scopes=["write:messages"]))
    assert response.status_code == 403
    assert response.json() == {
        "error": "insufficient_scope",
        "error_description": "The access token lacks a required scope",
        "reason": "insufficient_scope",
    }


def test_wrong_audience(client, bearer_token):
    token = bearer_token(audience="https://other.example.com")
    response = client.get("/api/messages", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == (
        'Bearer realm="api", error="invalid_token", '
        'error_description="The token is not intended for this API", ' + DPOP
    )


def test_default_audience(bearerguard_issuer, bearerguard_verifier, bearer_token):
    assert bearerguard_issuer.audience == "https://api.example.com"
    assert bearerguard_verifier.verify(bearer_token()).scopes == {"read:messages"}
"""


def test_starlette_suite(pytester: pytest.Pytester) -> None:
    needs("starlette", "httpx")
    pytester.makepyfile(test_starlette_api=STARLETTE_SUITE)
    run(pytester).assert_outcomes(passed=10)


DJANGO_CONFTEST = """
import django
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

from bearerguard.adapters.django import require_scopes


@require_scopes("read:messages")
def messages(request):
    return JsonResponse({"sub": request.access_token.subject})


urlpatterns = [path("api/messages", messages)]

settings.configure(
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["testserver"],
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "bearerguard.adapters.django"],
    MIDDLEWARE=["bearerguard.adapters.django.middleware.BearerAuthMiddleware"],
    DATABASES={},
)
django.setup()
"""

DJANGO_SUITE = """
DPOP = 'DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"'
from django.test import Client, override_settings

from bearerguard.testing.helpers import django_settings


def test_allowed_and_refused(bearerguard_issuer, bearer_headers):
    with override_settings(**django_settings(bearerguard_issuer)):
        client = Client()
        response = client.get("/api/messages", headers=bearer_headers())
        assert response.status_code == 200
        assert response.json() == {"sub": "user-1"}
        response = client.get("/api/messages", headers=bearer_headers(scopes=[]))
        assert response.status_code == 403
        assert response.json()["reason"] == "insufficient_scope"


def test_overrides(bearerguard_issuer, bearer_headers):
    with override_settings(**django_settings(bearerguard_issuer, realm="messages")):
        response = Client().get("/api/messages")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="messages", scope="read:messages", DPoP scope="read:messages", '
            'algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"'
        )
"""


def test_django_suite(pytester: pytest.Pytester) -> None:
    needs("django")
    pytester.makeconftest(DJANGO_CONFTEST)
    pytester.makepyfile(test_django_api=DJANGO_SUITE)
    run(pytester).assert_outcomes(passed=2)


HARMLESS = """
import sys
import threading


def test_nothing_loaded_or_started():
    for module in ("flask", "django", "starlette", "fastapi", "werkzeug", "bearerguard.adapters"):
        assert module not in sys.modules, module
    assert not any(t.name.startswith("bearerguard-issuer") for t in threading.enumerate())
"""


def test_harmless_when_unused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain=HARMLESS)
    run(pytester).assert_outcomes(passed=1)


def test_fixtures_are_listed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_x():\n    pass\n")
    result = run(pytester, "--fixtures")
    for line in (
        "bearerguard_issuer [[]session scope[]]*",
        "*A running*Issuer*on 127.0.0.1, shared by the session.",
        "bearerguard_verifier [[]session scope[]]*",
        "bearerguard_settings -- *",
        "bearerguard_env -- *",
        "bearer_token -- *",
        "bearer_headers -- *",
    ):
        result.stdout.fnmatch_lines([line])
