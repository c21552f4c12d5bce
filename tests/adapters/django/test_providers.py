"""Django: provider presets and per-issuer settings from Django settings (a mapping), with
Keycloak- and Cognito-shaped tokens through the middleware, ``require_roles`` and DRF."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("django")
pytest.importorskip("rest_framework")

from django.test import Client, override_settings

from bearerguard.testing import Issuer

POOL_CLIENT = "7abc1defghij2klmno3pqrs4tu"


@pytest.fixture(scope="module")
def keycloak() -> Iterator[Issuer]:
    with Issuer(audience="orders-api", path="realms/demo") as iss:
        yield iss


@pytest.fixture(scope="module")
def cognito() -> Iterator[Issuer]:
    with Issuer(audience=POOL_CLIENT, path="eu-west-1_Ab12Cd34") as iss:
        yield iss


@pytest.fixture(autouse=True)
def _providers_project(keycloak: Issuer, cognito: Issuer) -> Iterator[None]:
    with override_settings(
        ROOT_URLCONF="tests.adapters.django.roles_urls",
        BEARERGUARD_ISSUER=keycloak.issuer,
        BEARERGUARD_AUDIENCE="orders-api",
        BEARERGUARD_JWKS_URI=None,
        BEARERGUARD_PROVIDER="keycloak",
        BEARERGUARD_ISSUER_SETTINGS={
            cognito.issuer: {"provider": "cognito", "audience": POOL_CLIENT},
        },
    ):
        yield


def get(path: str, token: str) -> Any:
    return Client().get(path, headers={"Authorization": f"Bearer {token}"})


def kc(keycloak: Issuer, realm_roles: list[str], aud: Any = ("orders-api",)) -> str:
    return keycloak.token(
        sub="alice",
        scopes=None,
        client_id=None,
        typ="JWT",
        audience=list(aud),
        claims={"typ": "Bearer", "azp": "spa", "realm_access": {"roles": realm_roles}},
    )


def cog(cognito: Issuer, groups: list[str]) -> str:
    return cognito.token(
        sub="bob",
        scopes="orders/read",
        client_id=POOL_CLIENT,
        typ=None,
        drop=("aud",),
        claims={"token_use": "access", "cognito:groups": groups},
    )


@pytest.mark.parametrize("path", ["/admin", "/admin-async", "/drf/admin"])
def test_roles_of_each_issuer_through_django(path: str, keycloak: Issuer, cognito: Issuer) -> None:
    resp = get(path, kc(keycloak, ["admin", "user"]))
    assert (resp.status_code, json.loads(resp.content)) == (
        200,
        {"sub": "alice", "roles": ["admin", "user"]},
    )
    resp = get(path, cog(cognito, ["admin"]))
    assert (resp.status_code, json.loads(resp.content)) == (200, {"sub": "bob", "roles": ["admin"]})
    resp = get(path, cog(cognito, ["readers"]))
    assert resp.status_code == 403
    assert json.loads(resp.content)["reason"] == "insufficient_role"


def test_preset_refusals_through_django(keycloak: Issuer, cognito: Issuer) -> None:
    resp = get("/admin", kc(keycloak, ["admin"], aud=["account"]))
    assert resp.status_code == 401
    assert json.loads(resp.content) == {
        "error": "invalid_token",
        "error_description": "The token's audience is Keycloak's default 'account': "
        "an audience mapper must add this API",
        "reason": "keycloak_default_audience",
    }
    id_token = cognito.token(
        sub="bob",
        scopes=None,
        client_id=None,
        typ=None,
        audience=POOL_CLIENT,
        claims={"token_use": "id", "cognito:groups": ["admin"]},
    )
    resp = get("/admin", id_token)
    assert (resp.status_code, json.loads(resp.content)["reason"]) == (401, "id_token_presented")
