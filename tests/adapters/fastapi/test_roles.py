"""FastAPI: BearerToken(roles=/any_roles=) and claim paths, with Security(scopes=) beside them."""

# No ``from __future__ import annotations``: FastAPI evaluates endpoint annotations in the
# module's globals, and these endpoints are closures over a per-test verifier.

from collections.abc import Callable, Iterator
from typing import Annotated, Any

import httpx
import pytest

pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI, Security

from bearerguard import AccessToken, ClaimEquals, ClaimIncludes, Verifier
from bearerguard.adapters.fastapi import BearerToken, install_error_handler
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

NESTED_ROUTES = ["/nested", "/escaped", "/url"]


def make_app(verifier: Verifier) -> FastAPI:
    app = FastAPI()
    install_error_handler(app)

    def out(token: AccessToken) -> dict[str, Any]:
        return {"sub": token.subject, "roles": sorted(token.roles)}

    def dep(**kw: Any) -> Any:
        return Depends(BearerToken(verifier, **kw))

    @app.get("/admin")
    async def admin(token: Annotated[AccessToken, dep(roles=["admin"])]) -> dict[str, Any]:
        return out(token)

    @app.get("/admin-sync")
    def admin_sync(token: Annotated[AccessToken, dep(roles=["admin"])]) -> dict[str, Any]:
        return out(token)

    @app.get("/any")
    async def any_(
        token: Annotated[AccessToken, dep(any_roles=["admin", "editor"])],
    ) -> dict[str, Any]:
        return out(token)

    @app.get("/scoped")
    async def scoped(
        token: Annotated[
            AccessToken, Security(BearerToken(verifier, roles=["admin"]), scopes=["read:messages"])
        ],
    ) -> dict[str, Any]:
        return out(token)

    @app.get("/nested")
    async def nested(
        token: Annotated[AccessToken, dep(claims=[ClaimIncludes("realm_access.roles", "admin")])],
    ) -> dict[str, Any]:
        return out(token)

    @app.get("/escaped")
    async def escaped(
        token: Annotated[
            AccessToken, dep(claims=[ClaimIncludes("resource_access.my\\.api.roles", "writer")])
        ],
    ) -> dict[str, Any]:
        return out(token)

    @app.get("/url")
    async def url(
        token: Annotated[
            AccessToken, dep(claims=[ClaimEquals("https://example.com/tenant", "acme")])
        ],
    ) -> dict[str, Any]:
        return out(token)

    return app


@pytest.fixture
def role_verifier(issuer: Issuer) -> Verifier:
    return Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_uri=issuer.jwks_uri,
        role_claims=ROLE_CLAIMS,
    )


@pytest.fixture
def client(client_factory: Callable[..., Any], role_verifier: Verifier) -> Iterator[Any]:
    with client_factory(make_app(role_verifier)) as c:
        yield c


def check(resp: Any, status: int, www: str | None, body: dict[str, Any]) -> None:
    assert resp.status_code == status
    assert resp.headers.get_list("www-authenticate") == ([www] if www else [])
    assert resp.json() == body
    if status != 200:
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/admin", "/admin-sync", "/any", "/nested"])
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


def test_security_scopes_and_roles(client: Any, issuer: Issuer) -> None:
    no_scope = client.get(
        "/scoped", headers=bearer(issuer.token(scopes=[], claims=keycloak("admin")))
    )
    assert (no_scope.status_code, no_scope.json()["reason"]) == (403, "insufficient_scope")
    no_role = client.get("/scoped", headers=bearer(issuer.token(scopes=["read:messages"])))
    www = ROLE_WWW.replace(', DPoP algs="', ', scope="read:messages", DPoP algs="')
    check(no_role, 403, www, ROLE_BODY)
    token = issuer.token(scopes=["read:messages"], claims=keycloak("admin"))
    check(
        client.get("/scoped", headers=bearer(token)),
        200,
        None,
        {"sub": "user-1", "roles": ["admin"]},
    )


@pytest.mark.parametrize("path", NESTED_ROUTES)
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


def test_bad_role_fails_at_definition(role_verifier: Verifier) -> None:
    with pytest.raises(ValueError, match="any_roles: a role is a non-empty string"):
        BearerToken(role_verifier, any_roles=["admin", ""])


def test_real_server(role_verifier: Verifier, issuer: Issuer) -> None:
    with serve(make_app(role_verifier)) as url:
        ok = httpx.get(url + "/any", headers=bearer(issuer.token(claims=keycloak("editor"))))
        assert (ok.status_code, ok.json()) == (200, {"sub": "user-1", "roles": ["editor"]})
        no = httpx.get(url + "/any", headers=bearer(issuer.token(claims=keycloak("user"))))
        assert no.status_code == 403
        assert no.headers.get_list("www-authenticate") == [ROLE_WWW]
        assert no.json() == ROLE_BODY
