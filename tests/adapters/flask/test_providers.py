"""Provider presets end to end: a Flask app under a real server (werkzeug, and the contract
app under gunicorn), configured the Flask way (``app.config``, per-issuer settings as a
mapping) and from the environment, with Keycloak- and Cognito-shaped tokens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("flask")

from flask import Flask

from bearerguard.adapters.flask import BearerAuth, current_token
from bearerguard.providers import APP_ONLY
from bearerguard.testing import Issuer
from tests.adapters.flask.conftest import serve
from tests.contract.servers import request as http_request
from tests.contract.servers import serve_app
from tests.expect import challenge
from tests.expect import check_raw as check

COGNITO_CLIENT = "7abc1defghij2klmno3pqrs4tu"


@pytest.fixture(scope="module")
def keycloak() -> Iterator[Issuer]:
    with Issuer(audience="orders-api", path="realms/demo") as iss:
        yield iss


@pytest.fixture(scope="module")
def cognito() -> Iterator[Issuer]:
    with Issuer(audience=COGNITO_CLIENT, path="us-east-1_Ab12Cd34", algs=("ES256",)) as iss:
        yield iss


def kc_token(keycloak: Issuer, aud: Any = ("orders-api", "account"), **extra: Any) -> str:
    claims = {
        "typ": "Bearer",
        "azp": "spa",
        "scope": "openid orders:read",
        "realm_access": {"roles": ["user"]},
        "resource_access": {"orders-api": {"roles": ["orders:admin"]}},
        **extra,
    }
    return keycloak.token(
        sub="alice", scopes=None, client_id=None, typ="JWT", audience=list(aud), claims=claims
    )


def cognito_token(cognito: Issuer, **extra: Any) -> str:
    claims = {
        "token_use": "access",
        "client_id": COGNITO_CLIENT,
        "scope": "orders/read",
        "cognito:groups": ["admin"],
        "username": "bob",
        "version": 2,
        **extra,
    }
    return cognito.token(
        sub="bob-sub", scopes=None, client_id=None, typ=None, claims=claims, drop=("aud",)
    )


def auth(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


@pytest.fixture(scope="module")
def server(keycloak: Issuer, cognito: Issuer) -> Iterator[str]:
    app = Flask("providers")
    app.config.update(
        BEARERGUARD_ISSUER=keycloak.issuer,
        BEARERGUARD_AUDIENCE="orders-api",
        BEARERGUARD_PROVIDER="keycloak",
        # Flask's mapping form of several issuers, each with its own settings.
        BEARERGUARD_ISSUER_SETTINGS={
            cognito.issuer: {"provider": "cognito", "audience": COGNITO_CLIENT}
        },
    )
    bearer = BearerAuth(app)

    def me() -> dict[str, Any]:
        return {
            "iss": current_token.issuer,
            "sub": current_token.subject,
            "client_id": current_token.client_id,
            "roles": sorted(current_token.roles),
            "scopes": sorted(current_token.scopes),
            "app_only": current_token.app_only,
        }

    app.add_url_rule("/me", "me", bearer.require(me))
    app.add_url_rule("/admin", "admin", bearer.require(any_roles=["orders:admin", "admin"])(me))
    app.add_url_rule("/jobs", "jobs", bearer.require(claims=[APP_ONLY])(me))
    with serve(app) as url:
        yield url


def test_keycloak_token_through_flask(server: str, keycloak: Issuer) -> None:
    status, _, raw = http_request(server, "GET", "/admin", auth(kc_token(keycloak)))
    assert (status, json.loads(raw)) == (
        200,
        {
            "iss": keycloak.issuer,
            "sub": "alice",
            "client_id": "spa",
            "roles": ["orders:admin", "user"],
            "scopes": ["openid", "orders:read"],
            "app_only": False,
        },
    )
    # The default Keycloak audience: refused, and the description says why.
    resp = http_request(server, "GET", "/me", auth(kc_token(keycloak, aud=["account"])))
    check(
        resp,
        401,
        challenge("invalid_token", "keycloak_default_audience"),
        "invalid_token",
        "keycloak_default_audience",
    )
    assert json.loads(resp[2])["error_description"] == (
        "The token's audience is Keycloak's default 'account': an audience mapper must add this API"
    )
    # An ID token sent by mistake (typ "ID" claim).
    resp = http_request(server, "GET", "/me", auth(kc_token(keycloak, typ="ID")))
    check(
        resp, 401, challenge("invalid_token", "id_token_presented"), "invalid_token",
        "id_token_presented",
    )  # fmt: skip
    # A user token where only app-only tokens may go: 403.
    resp = http_request(server, "GET", "/jobs", auth(kc_token(keycloak)))
    check(
        resp, 403, challenge("insufficient_scope", "claim_requirement_failed"),
        "insufficient_scope", "claim_requirement_failed",
    )  # fmt: skip


def test_cognito_token_through_flask(server: str, cognito: Issuer, keycloak: Issuer) -> None:
    status, _, raw = http_request(server, "GET", "/admin", auth(cognito_token(cognito)))
    assert (status, json.loads(raw)) == (
        200,
        {
            "iss": cognito.issuer,
            "sub": "bob-sub",
            "client_id": COGNITO_CLIENT,
            "roles": ["admin"],
            "scopes": ["orders/read"],
            "app_only": False,
        },
    )
    machine = cognito.token(
        sub=COGNITO_CLIENT, scopes=None, client_id=None, typ=None, drop=("aud",),
        claims={"token_use": "access", "client_id": COGNITO_CLIENT, "scope": "orders/sync"},
    )  # fmt: skip
    status, _, raw = http_request(server, "GET", "/jobs", auth(machine))
    assert (status, json.loads(raw)["app_only"]) == (200, True)
    id_token = cognito.token(
        sub="bob-sub", scopes=None, client_id=None, typ=None, audience=COGNITO_CLIENT,
        claims={"token_use": "id", "cognito:username": "bob"},
    )  # fmt: skip
    check(
        http_request(server, "GET", "/me", auth(id_token)), 401,
        challenge("invalid_token", "id_token_presented"), "invalid_token", "id_token_presented",
    )  # fmt: skip
    # Cognito-shaped token claiming the Keycloak issuer, signed by Cognito's key: refused.
    forged = cognito.token(
        sub="x", scopes=None, client_id=None, typ="JWT", issuer=keycloak.issuer,
        audience="orders-api", claims={"typ": "Bearer"},
    )  # fmt: skip
    check(
        http_request(server, "GET", "/me", auth(forged)), 401,
        challenge("invalid_token", "unknown_kid"), "invalid_token", "unknown_kid",
    )  # fmt: skip


def test_contract_app_with_a_preset_from_the_environment(keycloak: Issuer) -> None:
    env = {
        "BEARERGUARD_ISSUER": keycloak.issuer,
        "BEARERGUARD_AUDIENCE": "orders-api",
        "BEARERGUARD_PROVIDER": "keycloak",
    }
    with serve_app("wsgi", "tests.contract.apps.flask_app:app", env) as url:
        token = kc_token(keycloak, **{"scope": "read:messages"})
        status, _, raw = http_request(url, "GET", "/api/private-scoped", auth(token))
        assert status == 200
        assert json.loads(raw)["scopes"] == ["read:messages"]
        check(
            http_request(url, "GET", "/api/private", auth(kc_token(keycloak, aud=["account"]))),
            401, challenge("invalid_token", "keycloak_default_audience"), "invalid_token",
            "keycloak_default_audience",
        )  # fmt: skip
