"""Flask: auth.require(roles=/any_roles=), auth.protect(roles=) and claim paths in claims=."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("flask")

import httpx
from flask import Blueprint, Flask

from bearerguard import ClaimEquals, ClaimIncludes
from bearerguard.adapters.flask import BearerAuth, current_token
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
from tests.adapters.flask.conftest import serve

NESTED_ROUTES = ["/nested", "/escaped", "/url"]


def _roles() -> dict[str, Any]:
    return {"sub": current_token.subject, "roles": sorted(current_token.roles)}


@pytest.fixture
def app(make_flask: Callable[..., Flask]) -> Flask:
    app = make_flask(BEARERGUARD_ROLE_CLAIMS=ROLE_CLAIMS)
    auth = BearerAuth(app)
    app.add_url_rule("/admin", "admin", auth.require(roles=["admin"])(_roles))
    app.add_url_rule("/admin-str", "admin_str", auth.require(roles="admin staff")(_roles))
    app.add_url_rule("/any", "any", auth.require(any_roles=["admin", "editor"])(_roles))
    app.add_url_rule(
        "/scoped", "scoped", auth.require(scopes=["read:messages"], roles=["admin"])(_roles)
    )
    nested = auth.require(claims=[ClaimIncludes("realm_access.roles", "admin")])(_roles)
    app.add_url_rule("/nested", "nested", nested)
    escaped = auth.require(claims=[ClaimIncludes(("resource_access", "my.api", "roles"), "writer")])
    app.add_url_rule("/escaped", "escaped", escaped(_roles))
    url = auth.require(claims=[ClaimEquals("https://example.com/tenant", "acme")])(_roles)
    app.add_url_rule("/url", "url", url)
    admin_bp = Blueprint("adm", __name__, url_prefix="/bp")
    admin_bp.add_url_rule("/x", "x", _roles)
    auth.protect(admin_bp, any_roles=["admin"])
    app.register_blueprint(admin_bp)
    return app


def check(resp: Any, status: int, www: str | None, body: dict[str, Any]) -> None:
    assert resp.status_code == status
    assert resp.headers.getlist("WWW-Authenticate") == ([www] if www else [])
    assert resp.get_json() == body
    if status != 200:
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.headers["Cache-Control"] == "no-store"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", ["/admin", "/any", "/bp/x", "/nested"])
def test_no_token(app: Flask, path: str) -> None:
    check(app.test_client().get(path), 401, MISSING_WWW, MISSING_BODY)


@pytest.mark.parametrize("path", ["/admin", "/bp/x"])
def test_admin(app: Flask, issuer: Issuer, path: str) -> None:
    c = app.test_client()
    ok = c.get(path, headers=bearer(issuer.token(claims=keycloak("admin", "user"))))
    check(ok, 200, None, {"sub": "user-1", "roles": ["admin", "user"]})
    for claims in [keycloak("user"), keycloak(), {}, {"roles": ["admin"]}]:
        resp = c.get(path, headers=bearer(issuer.token(claims=claims)))
        check(resp, 403, ROLE_WWW, ROLE_BODY)


def test_roles_string_is_split_on_spaces(app: Flask, issuer: Issuer) -> None:
    c = app.test_client()
    ok = c.get("/admin-str", headers=bearer(issuer.token(claims=keycloak("staff", "admin"))))
    check(ok, 200, None, {"sub": "user-1", "roles": ["admin", "staff"]})
    no = c.get("/admin-str", headers=bearer(issuer.token(claims=keycloak("admin staff"))))
    check(no, 403, ROLE_WWW, ROLE_BODY)


def test_any_roles(app: Flask, issuer: Issuer) -> None:
    c = app.test_client()
    for have in [("admin",), ("editor", "x")]:
        ok = c.get("/any", headers=bearer(issuer.token(claims=keycloak(*have))))
        check(ok, 200, None, {"sub": "user-1", "roles": sorted(have)})
    no = c.get("/any", headers=bearer(issuer.token(scopes=["admin"], claims=keycloak("x"))))
    check(no, 403, ROLE_WWW, ROLE_BODY)


def test_scopes_then_roles(app: Flask, issuer: Issuer) -> None:
    c = app.test_client()
    resp = c.get("/scoped", headers=bearer(issuer.token(scopes=[], claims=keycloak("admin"))))
    assert (resp.status_code, resp.get_json()["reason"]) == (403, "insufficient_scope")
    resp = c.get("/scoped", headers=bearer(issuer.token(scopes=["read:messages"])))
    # The role refusal names the route's scope, as a claim refusal does (RFC 6750 §3).
    www = ROLE_WWW.replace(', DPoP algs="', ', scope="read:messages", DPoP algs="')
    check(resp, 403, www, ROLE_BODY)
    token = issuer.token(scopes=["read:messages"], claims=keycloak("admin"))
    assert c.get("/scoped", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("path", NESTED_ROUTES)
def test_claim_paths(app: Flask, issuer: Issuer, path: str) -> None:
    c = app.test_client()
    ok = c.get(path, headers=bearer(issuer.token(claims=NESTED_OK)))
    check(ok, 200, None, {"sub": "user-1", "roles": ["admin"]})
    for claims in NESTED_REFUSED:
        check(c.get(path, headers=bearer(issuer.token(claims=claims))), 403, CLAIM_WWW, CLAIM_BODY)


def test_bad_roles_fail_at_definition(make_flask: Callable[..., Flask]) -> None:
    auth = BearerAuth(make_flask())
    with pytest.raises(ValueError, match="roles: a role is a non-empty string"):
        auth.require(roles=[""])


def test_real_server(app: Flask, issuer: Issuer) -> None:
    with serve(app) as url:
        ok = httpx.get(url + "/admin", headers=bearer(issuer.token(claims=keycloak("admin"))))
        assert (ok.status_code, ok.json()) == (200, {"sub": "user-1", "roles": ["admin"]})
        no = httpx.get(url + "/nested", headers=bearer(issuer.token(claims=keycloak("user"))))
        assert no.status_code == 403
        assert no.headers.get_list("www-authenticate") == [CLAIM_WWW]
        assert no.json() == CLAIM_BODY
