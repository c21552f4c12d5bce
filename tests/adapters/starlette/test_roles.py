"""Starlette: require_roles (all / any) and require_claim on nested and namespaced claim paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

pytest.importorskip("starlette")

from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bearerguard import Verifier
from bearerguard.adapters.starlette import (
    bearer_auth_middleware,
    require_claim,
    require_roles,
    require_scopes,
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
    ROLE_DESCRIPTION,
    ROLE_WWW,
    keycloak,
)
from tests.adapters.starlette.servers import serve
from tests.expect import bearer

NESTED_ROUTES = ["/nested", "/escaped", "/url"]


async def roles(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity, "roles": sorted(request.auth.token.roles)})


class AdminEndpoint(HTTPEndpoint):
    @require_roles("admin")
    async def get(self, request: Request) -> JSONResponse:
        return await roles(request)


def make_app(verifier: Verifier) -> Starlette:
    return Starlette(
        routes=[
            Route("/admin", require_roles("admin")(roles)),
            Route("/admin-sync", require_roles("admin")(lambda r: JSONResponse({"ok": True}))),
            Route("/admin-endpoint", AdminEndpoint),
            Route("/any", require_roles(any_of=["admin", "editor"])(roles)),
            Route("/both", require_roles("staff", any_of=["admin", "editor"])(roles)),
            Route("/scoped", require_scopes("read:messages")(require_roles("admin")(roles))),
            Route("/nested", require_claim("realm_access.roles", includes="admin")(roles)),
            Route(
                "/escaped",
                require_claim("resource_access.my\\.api.roles", includes="writer")(roles),
            ),
            Route("/url", require_claim("https://example.com/tenant", equals="acme")(roles)),
        ],
        middleware=[bearer_auth_middleware(verifier)],
    )


@pytest.fixture
def role_verifier(issuer: Issuer) -> Verifier:
    return Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_uri=issuer.jwks_uri,
        role_claims=ROLE_CLAIMS,
    )


@pytest.fixture
def client(client_factory: Callable[..., Any], role_verifier: Verifier) -> Any:
    with client_factory(make_app(role_verifier)) as c:
        yield c


def check(resp: Any, status: int, www: str | None, body: dict[str, Any]) -> None:
    assert resp.status_code == status
    assert resp.headers.get_list("www-authenticate") == ([www] if www else [])
    assert resp.json() == body
    if status != 200:
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/admin", "/admin-sync", "/admin-endpoint", "/any"])
def test_no_token(client: Any, path: str) -> None:
    check(client.get(path), 401, MISSING_WWW, MISSING_BODY)


@pytest.mark.parametrize("path", ["/admin", "/admin-endpoint"])
def test_all_roles(client: Any, issuer: Issuer, path: str) -> None:
    ok = client.get(path, headers=bearer(issuer.token(claims=keycloak("admin", "user"))))
    check(ok, 200, None, {"sub": "user-1", "roles": ["admin", "user"]})
    for claims in [
        keycloak("user"),
        keycloak(),
        {},
        {"roles": ["admin"]},  # not a configured role claim
        {"realm_access": {"roles": ["admin staff"]}},  # one role, not split
        {"realm_access": {"roles": ["Admin", "admin "]}},
    ]:
        check(
            client.get(path, headers=bearer(issuer.token(claims=claims))), 403, ROLE_WWW, ROLE_BODY
        )


def test_sync_endpoint(client: Any, issuer: Issuer) -> None:
    ok = client.get("/admin-sync", headers=bearer(issuer.token(claims=keycloak("admin"))))
    check(ok, 200, None, {"ok": True})
    no = client.get("/admin-sync", headers=bearer(issuer.token(claims=keycloak("x"))))
    check(no, 403, ROLE_WWW, ROLE_BODY)


def test_a_scope_is_not_a_role(client: Any, issuer: Issuer) -> None:
    token = issuer.token(scopes=["admin"], claims=keycloak())
    check(client.get("/admin", headers=bearer(token)), 403, ROLE_WWW, ROLE_BODY)


def test_any_roles(client: Any, issuer: Issuer) -> None:
    for have in [("admin",), ("editor", "x")]:
        token = issuer.token(claims=keycloak(*have))
        check(
            client.get("/any", headers=bearer(token)),
            200,
            None,
            {"sub": "user-1", "roles": sorted(have)},
        )
    token = issuer.token(claims=keycloak("viewer"))
    check(client.get("/any", headers=bearer(token)), 403, ROLE_WWW, ROLE_BODY)


def test_all_and_any_roles(client: Any, issuer: Issuer) -> None:
    token = issuer.token(claims=keycloak("staff", "editor"))
    assert client.get("/both", headers=bearer(token)).status_code == 200
    for have in [("staff",), ("editor",), ("admin", "editor")]:
        token = issuer.token(claims=keycloak(*have))
        check(client.get("/both", headers=bearer(token)), 403, ROLE_WWW, ROLE_BODY)


def test_scopes_are_checked_first(client: Any, issuer: Issuer) -> None:
    # The outer decorator needs the scope: without it the scope refusal answers.
    token = issuer.token(scopes=[], claims=keycloak())
    resp = client.get("/scoped", headers=bearer(token))
    assert resp.status_code == 403
    assert resp.json()["reason"] == "insufficient_scope"
    token = issuer.token(scopes=["read:messages"], claims=keycloak())
    check(client.get("/scoped", headers=bearer(token)), 403, ROLE_WWW, ROLE_BODY)
    token = issuer.token(scopes=["read:messages"], claims=keycloak("admin"))
    assert client.get("/scoped", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("path", NESTED_ROUTES)
def test_claim_paths(client: Any, issuer: Issuer, path: str) -> None:
    ok = client.get(path, headers=bearer(issuer.token(claims=NESTED_OK)))
    check(ok, 200, None, {"sub": "user-1", "roles": ["admin"]})
    for claims in NESTED_REFUSED:
        resp = client.get(path, headers=bearer(issuer.token(claims=claims)))
        check(resp, 403, CLAIM_WWW, CLAIM_BODY)


def test_require_roles_needs_a_role() -> None:
    with pytest.raises(ValueError, match="require_roles needs at least one role"):
        require_roles()
    with pytest.raises(ValueError, match="a role is a non-empty string"):
        require_roles("")


def test_bad_claim_path_fails_at_import() -> None:
    with pytest.raises(ValueError, match="claim path"):
        require_claim("realm_access..roles", includes="admin")


def test_real_server(role_verifier: Verifier, issuer: Issuer) -> None:
    with serve(make_app(role_verifier)) as url:
        ok = httpx.get(url + "/admin", headers=bearer(issuer.token(claims=keycloak("admin"))))
        assert (ok.status_code, ok.json()) == (200, {"sub": "user-1", "roles": ["admin"]})
        no = httpx.get(url + "/admin", headers=bearer(issuer.token(claims=keycloak("user"))))
        assert no.status_code == 403
        assert no.headers.get_list("www-authenticate") == [ROLE_WWW]
        assert no.json() == ROLE_BODY
        assert ROLE_DESCRIPTION in no.headers["www-authenticate"]
