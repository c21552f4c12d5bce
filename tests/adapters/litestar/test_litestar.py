"""bearerguard.adapters.litestar: the middleware, request.user/auth, guards and the OpenAPI scheme."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("litestar")

from litestar import Litestar, Request, get, post
from litestar.openapi import OpenAPIConfig
from litestar.testing import TestClient

from bearerguard import AccessToken, Verifier
from bearerguard.adapters.litestar import (
    BearerAuth,
    BearerAuthMiddleware,
    requires_claim,
    requires_scopes,
)
from bearerguard.testing import Issuer
from bearerguard.testing.dpop import DPoPKey
from tests.expect import bearer, body, challenge

R, W = "read:messages", "write:messages"
Req = Request[Any, Any, Any]


def who(request: Req) -> dict[str, Any]:
    user, token = request.user, request.auth
    if token is None:
        assert user is None
        return {"sub": None}
    assert isinstance(token, AccessToken)
    return {"sub": token.subject, "user": repr(user), "scopes": sorted(token.scopes)}


@get("/public")
async def public(request: Req) -> dict[str, Any]:
    return who(request)


@post("/public-post", status_code=200)
async def public_post(request: Req) -> dict[str, Any]:
    return {**who(request), "body": (await request.body()).decode()}


@get("/private", guards=[requires_scopes()])
async def private(request: Req) -> dict[str, Any]:
    return who(request)


@get("/scoped", guards=[requires_scopes(R, W)], sync_to_thread=False)
def scoped(request: Req) -> dict[str, Any]:
    return who(request)


@get("/any", guards=[requires_scopes(any_of=[R, "admin"])])
async def any_scope(request: Req) -> dict[str, Any]:
    return who(request)


@get("/tenant", guards=[requires_claim("tenant", equals="acme")])
async def tenant(request: Req) -> dict[str, Any]:
    return who(request)


@get("/health", opt={"exclude_from_auth": True})
async def health(request: Req) -> dict[str, Any]:
    return {"user": request.user}


HANDLERS = [public, public_post, private, scoped, any_scope, tenant, health]


def make(verifier: Verifier, **options: Any) -> TestClient[Litestar]:
    auth = BearerAuth(verifier, **options)
    return TestClient(Litestar(HANDLERS, on_app_init=[auth.on_app_init]))


def check(resp: Any, status: int, www: str | None, data: dict[str, Any]) -> None:
    assert resp.status_code == status
    assert resp.headers.get_list("www-authenticate") == ([www] if www else [])
    assert resp.json() == data
    if status >= 400:
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["cache-control"] == "no-store"


def test_anonymous_and_a_checked_public_route(verifier: Verifier, issuer: Issuer) -> None:
    with make(verifier) as client:
        check(client.get("/public"), 200, None, {"sub": None})
        # Issue #13.6: a token that is sent is checked, and a bad one refused.
        resp = client.get("/public", headers=bearer(issuer.token(expires_in=-3600)))
        check(resp, 401, challenge("invalid_token", "expired"), body("invalid_token", "expired"))
        resp = client.get("/public", headers=bearer(issuer.token(sub="al", scopes=())))
        check(resp, 200, None, {"sub": "al", "user": "TokenUser(id='al')", "scopes": []})


def test_guards(verifier: Verifier, issuer: Issuer) -> None:
    with make(verifier) as client:
        check(client.get("/private"), 401, challenge(), body(None, "missing_token"))
        resp = client.get("/private", headers=bearer("abc.def"))
        www = challenge("invalid_token", "malformed_token")
        check(resp, 401, www, body("invalid_token", "malformed_token"))
        resp = client.get("/scoped", headers=bearer(issuer.token(scopes=(R,))))
        www = challenge("insufficient_scope", scope=f"{R} {W}")
        check(resp, 403, www, body("insufficient_scope", "insufficient_scope"))
        # RFC 6750 §3: the bare 401 of a scoped route names its scopes
        check(client.get("/scoped"), 401, challenge(scope=f"{R} {W}"), body(None, "missing_token"))
        resp = client.get("/scoped", headers=bearer(issuer.token(sub="s", scopes=(R, W))))
        check(resp, 200, None, {"sub": "s", "user": "TokenUser(id='s')", "scopes": [R, W]})
        resp = client.get("/any", headers=bearer(issuer.token(scopes=(W,))))
        www = challenge("insufficient_scope", scope=f"{R} admin")
        check(resp, 403, www, body("insufficient_scope", "insufficient_scope"))
        resp = client.get("/any", headers=bearer(issuer.token(sub="a", scopes=("admin",))))
        check(resp, 200, None, {"sub": "a", "user": "TokenUser(id='a')", "scopes": ["admin"]})
        resp = client.get("/tenant", headers=bearer(issuer.token(claims={"tenant": "x"})))
        www = challenge("insufficient_scope", "claim_requirement_failed")
        check(resp, 403, www, body("insufficient_scope", "claim_requirement_failed"))


def test_header_errors(verifier: Verifier, issuer: Issuer) -> None:
    with make(verifier) as client:
        resp = client.get("/public", headers=[("Authorization", "Bearer"), ("X", "1")])
        www = challenge("invalid_request", "empty_token")
        check(resp, 400, www, body("invalid_request", "empty_token"))
        resp = client.get(f"/private?access_token={issuer.token()}", headers=bearer(issuer.token()))
        www = challenge("invalid_request", "multiple_tokens")
        check(resp, 400, www, body("invalid_request", "multiple_tokens"))


def test_form_token_and_the_body_replayed(issuer: Issuer) -> None:
    verifier = Verifier(
        issuer=issuer.issuer, audience=issuer.audience, token_locations=("header", "form")
    )
    form = f"access_token={issuer.token(sub='f', scopes=())}&x=1"
    with make(verifier) as client:
        resp = client.post(
            "/public-post",
            content=form,
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        expected = {"sub": "f", "user": "TokenUser(id='f')", "scopes": [], "body": form}
        check(resp, 200, None, expected)


def test_excluded_route_is_untouched(verifier: Verifier, issuer: Issuer) -> None:
    with make(verifier) as client:
        resp = client.get("/health", headers=bearer(issuer.token(expires_in=-3600)))
        check(resp, 200, None, {"user": None})


def test_retrieve_user_hook(verifier: Verifier, issuer: Issuer) -> None:
    async def load(token: AccessToken, scope: Any) -> str:
        return f"user:{token.subject}"

    with make(verifier, retrieve_user=load) as client:
        resp = client.get("/private", headers=bearer(issuer.token(sub="h", scopes=())))
        check(resp, 200, None, {"sub": "h", "user": "'user:h'", "scopes": []})


def test_guard_without_the_exception_handler_keeps_status_and_challenge(
    verifier: Verifier, issuer: Issuer
) -> None:
    app = Litestar([scoped], middleware=[BearerAuth(verifier).middleware])
    with TestClient(app) as client:
        resp = client.get("/scoped", headers=bearer(issuer.token(scopes=(R,))))
    assert resp.status_code == 403
    assert resp.headers.get_list("www-authenticate") == [
        challenge("insufficient_scope", scope=f"{R} {W}")
    ]


def test_guard_without_the_middleware_fails_loudly() -> None:
    app = Litestar([private], debug=False)
    with TestClient(app) as client:
        assert client.get("/private").status_code == 500


def test_openapi_security_scheme(verifier: Verifier) -> None:
    auth = BearerAuth(verifier)
    app = Litestar(
        HANDLERS,
        on_app_init=[auth.on_app_init],
        openapi_config=OpenAPIConfig(title="t", version="1"),
    )
    with TestClient(app) as client:
        schema = client.get("/schema/openapi.json").json()
    # BEARERGUARD_DPOP is "allowed" by default: either scheme, as alternatives.
    assert schema["components"]["securitySchemes"] == {
        "BearerToken": _BEARER_SCHEME,
        "DPoP": _DPOP_SCHEME,
    }
    assert schema["security"] == [{"BearerToken": []}, {"DPoP": []}]


_BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "OAuth 2.0 bearer access token (RFC 6750)",
}
# RFC 9449 §7.1 registers DPoP as an HTTP authentication scheme (OpenAPI has no DPoP type).
_DPOP_SCHEME = {
    "type": "http",
    "scheme": "DPoP",
    "description": "OAuth 2.0 DPoP-bound access token with its proof (RFC 9449)",
}


@pytest.mark.parametrize(
    ("mode", "schemes", "security"),
    [
        ("off", {"BearerToken": _BEARER_SCHEME}, [{"BearerToken": []}]),
        ("required", {"DPoP": _DPOP_SCHEME}, [{"DPoP": []}]),
    ],
)
def test_openapi_schemes_follow_the_dpop_mode(
    issuer: Issuer, mode: str, schemes: dict[str, Any], security: list[dict[str, Any]]
) -> None:
    verifier = Verifier(
        issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks(), dpop=mode
    )
    auth = BearerAuth(verifier)
    app = Litestar(
        HANDLERS,
        on_app_init=[auth.on_app_init],
        openapi_config=OpenAPIConfig(title="t", version="1"),
    )
    with TestClient(app) as client:
        schema = client.get("/schema/openapi.json").json()
    assert schema["components"]["securitySchemes"] == schemes
    assert schema["security"] == security
    assert auth.security_requirement == security[0]


def test_middleware_passes_other_scopes_through(verifier: Verifier) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    asyncio.run(BearerAuthMiddleware(app, verifier)({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
    assert seen == ["lifespan"]


def test_dpop_nonce_is_offered_on_success(issuer: Issuer) -> None:
    # RFC 9449 §8.2: an accepted request's response carries the next nonce.
    verifier = Verifier(
        issuer=issuer.issuer, audience=issuer.audience, dpop_nonce="on", dpop_nonce_secret="n" * 32
    )
    key = DPoPKey("ES256")
    token = issuer.token(sub="d", scopes=(), claims={"cnf": {"jkt": key.thumbprint}})
    with make(verifier) as client:
        url = str(client.base_url) + "/private"
        proof = key.proof("GET", url, access_token=token)
        resp = client.get("/private", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        assert resp.status_code == 401
        assert resp.json()["reason"] == "dpop_nonce_required"
        proof = key.proof("GET", url, access_token=token, nonce=resp.headers["DPoP-Nonce"])
        resp = client.get("/private", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        check(resp, 200, None, {"sub": "d", "user": "TokenUser(id='d')", "scopes": []})
        assert resp.headers["DPoP-Nonce"]
