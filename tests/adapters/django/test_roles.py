"""Django: require_roles / require_claim on claim paths, and DRF HasRoles / roles_required."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("django")
pytest.importorskip("rest_framework")

from django.test import AsyncClient, Client, override_settings

from bearerguard.adapters.django import require_roles
from bearerguard.adapters.django.rest_framework import roles_required
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

ADMIN = ["/admin", "/admin-async", "/admin-class", "/drf/admin", "/drf/admin-factory"]
ANY = ["/any", "/drf/any", "/drf/any-factory"]
NESTED = ["/nested", "/escaped", "/url", "/drf/nested", "/drf/escaped", "/drf/url"]


@pytest.fixture(autouse=True)
def _roles_project() -> Iterator[None]:
    with override_settings(
        ROOT_URLCONF="tests.adapters.django.roles_urls", BEARERGUARD_ROLE_CLAIMS=ROLE_CLAIMS
    ):
        yield


def check(resp: Any, status: int, www: str | None, body: dict[str, Any]) -> None:
    assert resp.status_code == status
    assert resp.get("WWW-Authenticate") == www
    assert json.loads(resp.content) == body
    if status != 200:
        assert resp["Content-Type"] == "application/json"
        assert resp["Cache-Control"] == "no-store"


def get(path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().get(path, headers=headers)


@pytest.mark.parametrize("path", ADMIN + ANY + NESTED)
def test_no_token(path: str) -> None:
    check(get(path), 401, MISSING_WWW, MISSING_BODY)


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
        ok = get(path, issuer.token(claims=keycloak(*have)))
        check(ok, 200, None, {"sub": "user-1", "roles": sorted(have)})
    check(get(path, issuer.token(claims=keycloak("viewer"))), 403, ROLE_WWW, ROLE_BODY)


def test_scopes_then_roles(issuer: Issuer) -> None:
    resp = get("/scoped", issuer.token(scopes=[], claims=keycloak("admin")))
    assert (resp.status_code, json.loads(resp.content)["reason"]) == (403, "insufficient_scope")
    check(get("/scoped", issuer.token(scopes=["read:messages"])), 403, ROLE_WWW, ROLE_BODY)
    token = issuer.token(scopes=["read:messages"], claims=keycloak("admin"))
    check(get("/scoped", token), 200, None, {"sub": "user-1", "roles": ["admin"]})


@pytest.mark.parametrize("path", NESTED)
def test_claim_paths(issuer: Issuer, path: str) -> None:
    check(
        get(path, issuer.token(claims=NESTED_OK)), 200, None, {"sub": "user-1", "roles": ["admin"]}
    )
    for claims in NESTED_REFUSED:
        check(get(path, issuer.token(claims=claims)), 403, CLAIM_WWW, CLAIM_BODY)


@pytest.mark.parametrize("path", ["/admin", "/admin-async", "/drf/admin", "/url"])
def test_under_asgi(issuer: Issuer, path: str) -> None:
    async def run() -> None:
        client = AsyncClient()
        headers = {"Authorization": f"Bearer {issuer.token(claims=NESTED_OK)}"}
        ok = await client.get(path, headers=headers)
        check(ok, 200, None, {"sub": "user-1", "roles": ["admin"]})
        headers = {"Authorization": f"Bearer {issuer.token(claims=keycloak('user'))}"}
        refused = await client.get(path, headers=headers)
        www, body = (CLAIM_WWW, CLAIM_BODY) if path == "/url" else (ROLE_WWW, ROLE_BODY)
        check(refused, 403, www, body)

    asyncio.run(run())


def test_a_role_needs_naming() -> None:
    with pytest.raises(ValueError, match="require_roles needs at least one role"):
        require_roles()
    with pytest.raises(ValueError, match="roles_required needs at least one role"):
        roles_required()
    with pytest.raises(ValueError, match="any_roles: a role is a non-empty string"):
        roles_required(any_of=("",))
