"""Django Ninja: BearerAuth(roles=/any_roles=) and claim paths, on sync and async operations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("ninja")

from django.test import Client, override_settings

from bearerguard.adapters.ninja import BearerAuth
from bearerguard.testing import Issuer
from tests.adapters._roles import (
    CLAIM_BODY,
    CLAIM_WWW,
    MISSING_BODY,
    MISSING_WWW,
    NESTED_OK,
    NESTED_REFUSED,
    ROLE_BODY,
    ROLE_CLAIMS,
    ROLE_WWW,
    keycloak,
)

ADMIN = ["/api/admin", "/api/admin-async"]
ANY = ["/api/any", "/api/any-async"]
NESTED = ["/api/nested", "/api/escaped", "/api/url"]


@pytest.fixture(autouse=True)
def _roles_api() -> Iterator[None]:
    with override_settings(
        ROOT_URLCONF="tests.adapters.ninja.roles_urls", BEARERGUARD_ROLE_CLAIMS=ROLE_CLAIMS
    ):
        yield


def check(resp: Any, status: int, www: str | None, body: dict[str, Any]) -> None:
    assert resp.status_code == status
    assert resp.headers.get("WWW-Authenticate") == www
    assert json.loads(resp.content) == body
    if status != 200:
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.headers["Cache-Control"] == "no-store"


def get(path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().get(path, headers=headers)


@pytest.mark.parametrize("path", ADMIN + ANY + NESTED + ["/api/scoped"])
def test_no_token(path: str) -> None:
    www = MISSING_WWW
    if path == "/api/scoped":  # a 401 names the route's scopes (RFC 6750 §3), in both schemes
        www = www.replace(
            '"api", DPoP ', '"api", scope="read:messages", DPoP scope="read:messages", '
        )
    check(get(path), 401, www, MISSING_BODY)


@pytest.mark.parametrize("path", ADMIN)
def test_all_roles(issuer: Issuer, path: str) -> None:
    ok = get(path, issuer.token(claims=keycloak("admin", "user")))
    check(ok, 200, None, {"sub": "user-1", "roles": ["admin", "user"]})
    for claims in [keycloak("user"), keycloak(), {}, {"roles": ["admin"]}]:
        check(get(path, issuer.token(claims=claims)), 403, ROLE_WWW, ROLE_BODY)
    check(get(path, issuer.token(scopes=["admin"])), 403, ROLE_WWW, ROLE_BODY)


@pytest.mark.parametrize("path", ANY)
def test_any_roles(issuer: Issuer, path: str) -> None:
    for have in [("admin",), ("editor", "x")]:
        check(
            get(path, issuer.token(claims=keycloak(*have))),
            200,
            None,
            {"sub": "user-1", "roles": sorted(have)},
        )
    check(get(path, issuer.token(claims=keycloak("viewer"))), 403, ROLE_WWW, ROLE_BODY)


def test_scopes_then_roles(issuer: Issuer) -> None:
    resp = get("/api/scoped", issuer.token(scopes=[], claims=keycloak("admin")))
    assert (resp.status_code, json.loads(resp.content)["reason"]) == (403, "insufficient_scope")
    www = ROLE_WWW.replace(', DPoP algs="', ', scope="read:messages", DPoP algs="')
    check(get("/api/scoped", issuer.token(scopes=["read:messages"])), 403, www, ROLE_BODY)
    token = issuer.token(scopes=["read:messages"], claims=keycloak("admin"))
    check(get("/api/scoped", token), 200, None, {"sub": "user-1", "roles": ["admin"]})


@pytest.mark.parametrize("path", NESTED)
def test_claim_paths(issuer: Issuer, path: str) -> None:
    check(
        get(path, issuer.token(claims=NESTED_OK)), 200, None, {"sub": "user-1", "roles": ["admin"]}
    )
    for claims in NESTED_REFUSED:
        check(get(path, issuer.token(claims=claims)), 403, CLAIM_WWW, CLAIM_BODY)


def test_bad_role_fails_at_definition() -> None:
    with pytest.raises(ValueError, match="roles: a role is a non-empty string"):
        BearerAuth(roles=[""])
