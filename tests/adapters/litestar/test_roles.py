"""Litestar: requires_roles guards (all / any) and requires_claim on claim paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("litestar")

from litestar import Litestar, Request, get
from litestar.testing import TestClient

from bearerguard import AccessToken, Verifier
from bearerguard.adapters.litestar import (
    BearerAuth,
    requires_claim,
    requires_roles,
    requires_scopes,
)
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
from tests.adapters.starlette.servers import serve
from tests.expect import bearer

Req = Request[Any, Any, Any]
NESTED = ["/nested", "/escaped", "/url"]


def out(request: Req) -> dict[str, Any]:
    token = request.auth
    assert isinstance(token, AccessToken)
    return {"sub": token.subject, "roles": sorted(token.roles)}


@get("/admin", guards=[requires_roles("admin")])
async def admin(request: Req) -> dict[str, Any]:
    return out(request)


@get("/admin-sync", guards=[requires_roles("admin")], sync_to_thread=False)
def admin_sync(request: Req) -> dict[str, Any]:
    return out(request)


@get("/any", guards=[requires_roles(any_of=["admin", "editor"])])
async def any_role(request: Req) -> dict[str, Any]:
    return out(request)


@get("/scoped", guards=[requires_scopes("read:messages"), requires_roles("admin")])
async def scoped(request: Req) -> dict[str, Any]:
    return out(request)


@get("/nested", guards=[requires_claim("realm_access.roles", includes="admin")])
async def nested(request: Req) -> dict[str, Any]:
    return out(request)


@get("/escaped", guards=[requires_claim("resource_access.my\\.api.roles", includes="writer")])
async def escaped(request: Req) -> dict[str, Any]:
    return out(request)


@get("/url", guards=[requires_claim("https://example.com/tenant", equals="acme")])
async def url(request: Req) -> dict[str, Any]:
    return out(request)


HANDLERS = [admin, admin_sync, any_role, scoped, nested, escaped, url]


def app(issuer: Issuer) -> Litestar:
    verifier = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_uri=issuer.jwks_uri,
        role_claims=ROLE_CLAIMS,
    )
    return Litestar(HANDLERS, on_app_init=[BearerAuth(verifier).on_app_init])


@pytest.fixture
def client(issuer: Issuer) -> Iterator[TestClient[Litestar]]:
    with TestClient(app(issuer)) as c:
        yield c


def check(resp: Any, status: int, www: str | None, data: dict[str, Any]) -> None:
    assert resp.status_code == status
    assert resp.headers.get_list("www-authenticate") == ([www] if www else [])
    assert resp.json() == data
    if status >= 400:
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/admin", "/admin-sync", "/any", *NESTED])
def test_no_token(client: Any, path: str) -> None:
    check(client.get(path), 401, MISSING_WWW, MISSING_BODY)


@pytest.mark.parametrize("path", ["/admin", "/admin-sync"])
def test_all_roles(client: Any, issuer: Issuer, path: str) -> None:
    ok = client.get(path, headers=bearer(issuer.token(claims=keycloak("admin", "user"))))
    check(ok, 200, None, {"sub": "user-1", "roles": ["admin", "user"]})
    for claims in [keycloak("user"), keycloak(), {}, {"roles": ["admin"]}]:
        check(
            client.get(path, headers=bearer(issuer.token(claims=claims))), 403, ROLE_WWW, ROLE_BODY
        )
    token = issuer.token(scopes=["admin"], claims=keycloak())  # a scope is not a role
    check(client.get(path, headers=bearer(token)), 403, ROLE_WWW, ROLE_BODY)


def test_any_roles(client: Any, issuer: Issuer) -> None:
    for have in [("admin",), ("editor", "x")]:
        ok = client.get("/any", headers=bearer(issuer.token(claims=keycloak(*have))))
        check(ok, 200, None, {"sub": "user-1", "roles": sorted(have)})
    no = client.get("/any", headers=bearer(issuer.token(claims=keycloak("viewer"))))
    check(no, 403, ROLE_WWW, ROLE_BODY)


def test_scope_guard_then_role_guard(client: Any, issuer: Issuer) -> None:
    resp = client.get("/scoped", headers=bearer(issuer.token(scopes=[], claims=keycloak("admin"))))
    assert (resp.status_code, resp.json()["reason"]) == (403, "insufficient_scope")
    resp = client.get("/scoped", headers=bearer(issuer.token(scopes=["read:messages"])))
    check(resp, 403, ROLE_WWW, ROLE_BODY)
    token = issuer.token(scopes=["read:messages"], claims=keycloak("admin"))
    check(
        client.get("/scoped", headers=bearer(token)),
        200,
        None,
        {"sub": "user-1", "roles": ["admin"]},
    )


@pytest.mark.parametrize("path", NESTED)
def test_claim_paths(client: Any, issuer: Issuer, path: str) -> None:
    ok = client.get(path, headers=bearer(issuer.token(claims=NESTED_OK)))
    check(ok, 200, None, {"sub": "user-1", "roles": ["admin"]})
    for claims in NESTED_REFUSED:
        check(
            client.get(path, headers=bearer(issuer.token(claims=claims))),
            403,
            CLAIM_WWW,
            CLAIM_BODY,
        )


def test_requires_roles_needs_a_role() -> None:
    with pytest.raises(ValueError, match="requires_roles needs at least one role"):
        requires_roles()


def test_real_server(issuer: Issuer) -> None:
    with serve(app(issuer)) as base:
        ok = httpx.get(base + "/admin", headers=bearer(issuer.token(claims=keycloak("admin"))))
        assert (ok.status_code, ok.json()) == (200, {"sub": "user-1", "roles": ["admin"]})
        no = httpx.get(base + "/escaped", headers=bearer(issuer.token(claims=keycloak("admin"))))
        assert no.status_code == 403
        assert no.headers.get_list("www-authenticate") == [CLAIM_WWW]
        assert no.json() == CLAIM_BODY
