"""bearerguard.adapters.ninja: BearerAuth on sync and async operations, its answers and OpenAPI."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from typing import Any

import pytest

pytest.importorskip("ninja")

from django.test import AsyncClient, Client, RequestFactory, override_settings

from bearerguard import JWKSKeySource, Verifier
from bearerguard.adapters.ninja import ANONYMOUS, BearerAuth, BearerRefusal
from bearerguard.testing import Issuer
from bearerguard.testing.dpop import DPoPKey
from tests.adapters.ninja.urls import api
from tests.expect import body, challenge

R, W = "read:messages", "write:messages"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Django's async stack runs on asyncio


def auth(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def hdr(token: str) -> dict[str, Any]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


def check(resp: Any, status: int, www: str | None, data: dict[str, Any]) -> None:
    assert resp.status_code == status
    assert resp.headers.get("WWW-Authenticate") == www
    assert json.loads(resp.content) == data
    if status >= 400:
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.headers["Cache-Control"] == "no-store"


def test_public_without_credentials_is_anonymous() -> None:
    check(Client().get("/api/public"), 200, None, {"sub": None, "anonymous": True})


def test_public_checks_a_sent_token(issuer: Issuer) -> None:
    # Issue #13.6: a token that is sent is checked, and a bad one refused, never anonymous.
    resp = Client().post("/api/public", **auth(issuer.token(expires_in=-3600)))
    check(resp, 401, challenge("invalid_token", "expired"), body("invalid_token", "expired"))
    resp = Client().get("/api/public", **auth(issuer.token(sub="alice", scopes=())))
    check(resp, 200, None, {"sub": "alice", "scopes": []})


def test_required_without_credentials_is_bare_401() -> None:
    # RFC 6750 §3.1: no error code when the request carries no credentials.
    check(Client().get("/api/private"), 401, challenge(), body(None, "missing_token"))


@pytest.mark.parametrize(
    ("header", "status", "error", "reason"),
    [
        ("Bearer", 400, "invalid_request", "empty_token"),
        ("Bearer a b", 400, "invalid_request", "malformed_authorization"),
        ("Bearer abc.def", 401, "invalid_token", "malformed_token"),
    ],
)
def test_malformed_credentials(header: str, status: int, error: str, reason: str) -> None:
    resp = Client().get("/api/private", HTTP_AUTHORIZATION=header)
    check(resp, status, challenge(error, reason), body(error, reason))


def test_valid_token_sets_request_auth(issuer: Issuer) -> None:
    resp = Client().get("/api/private", **auth(issuer.token(sub="bob", scopes=(R,))))
    check(resp, 200, None, {"sub": "bob", "scopes": [R]})


def test_scopes_all_and_any(issuer: Issuer) -> None:
    resp = Client().get("/api/scoped", **auth(issuer.token(scopes=(R,))))
    www = challenge("insufficient_scope", scope=f"{R} {W}")
    check(resp, 403, www, body("insufficient_scope", "insufficient_scope"))
    resp = Client().get("/api/scoped", **auth(issuer.token(sub="c", scopes=(R, W))))
    check(resp, 200, None, {"sub": "c", "scopes": [R, W]})
    # RFC 6750 §3: a 401 on a scoped route names the scopes it needs.
    check(
        Client().get("/api/scoped"), 401, challenge(scope=f"{R} {W}"), body(None, "missing_token")
    )


def test_claim_requirement(issuer: Issuer) -> None:
    resp = Client().get("/api/tenant", **auth(issuer.token(claims={"tenant": "other"})))
    www = challenge("insufficient_scope", "claim_requirement_failed")
    check(resp, 403, www, body("insufficient_scope", "claim_requirement_failed"))
    resp = Client().get(
        "/api/tenant", **auth(issuer.token(sub="t", scopes=(), claims={"tenant": "acme"}))
    )
    check(resp, 200, None, {"sub": "t", "scopes": []})


@override_settings(BEARERGUARD_TOKEN_LOCATIONS="header,form")
def test_form_token(issuer: Issuer) -> None:
    data = f"access_token={issuer.token(sub='f', scopes=())}"
    resp = Client().post("/api/private", data, content_type="application/x-www-form-urlencoded")
    check(resp, 200, None, {"sub": "f", "scopes": []})


def test_query_token_with_query_location_off_is_refused_beside_header(issuer: Issuer) -> None:
    # RFC 6750 §2: header and URL both carrying a token is a 400, even with URLs off.
    resp = Client().get(f"/api/private?access_token={issuer.token()}", **auth(issuer.token()))
    www = challenge("invalid_request", "multiple_tokens")
    check(resp, 400, www, body("invalid_request", "multiple_tokens"))


@pytest.mark.anyio
async def test_async_operations(issuer: Issuer) -> None:
    client = AsyncClient()
    resp = await client.get("/api/async-private", **hdr(issuer.token(sub="a", scopes=())))
    check(resp, 200, None, {"sub": "a", "scopes": []})
    resp = await client.get("/api/async-private")
    check(resp, 401, challenge(), body(None, "missing_token"))
    resp = await client.get("/api/async-scoped", **hdr(issuer.token(scopes=(W,))))
    www = challenge("insufficient_scope", scope=f"{R} admin")
    check(resp, 403, www, body("insufficient_scope", "insufficient_scope"))
    resp = await client.get("/api/async-scoped", **hdr(issuer.token(sub="b", scopes=("admin",))))
    check(resp, 200, None, {"sub": "b", "scopes": ["admin"]})


@pytest.mark.anyio
async def test_async_key_fetch_does_not_block_the_loop(issuer: Issuer) -> None:
    verifier = Verifier(
        issuer=issuer.issuer, audience=issuer.audience, key_source=JWKSKeySource(issuer.jwks_uri)
    )
    bearer_auth = BearerAuth(verifier=verifier)
    request = RequestFactory().get("/x", **auth(issuer.token(sub="slow")))
    pending = bearer_auth(request)  # in a running loop: a coroutine, awaited by Ninja
    assert inspect.iscoroutine(pending)
    issuer.delay = 0.3  # the key set is fetched slowly
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    started = time.monotonic()
    try:
        token = await pending
    finally:
        task.cancel()
    assert time.monotonic() - started >= 0.3
    assert token.subject == "slow" and request.access_token is token  # type: ignore[attr-defined]
    assert ticks >= 10  # the loop kept running during the fetch


def test_sync_call_decides_at_once(issuer: Issuer) -> None:
    request = RequestFactory().get("/x")
    assert BearerAuth(optional=True)(request) is ANONYMOUS
    with pytest.raises(BearerRefusal) as info:
        BearerAuth()(RequestFactory().get("/x", **auth("abc.def")))
    status, headers, raw = info.value.rendered
    assert status == 401
    assert dict(headers)["WWW-Authenticate"] == challenge("invalid_token", "malformed_token")
    assert json.loads(raw) == body("invalid_token", "malformed_token")
    assert "abc.def" not in str(info.value)  # the token is never in a message


def test_token_verified_by_the_middleware_is_reused(issuer: Issuer) -> None:
    # BearerAuthMiddleware already verified it (request.access_token): a DPoP proof is
    # used once, so the auth class only checks the requirements.
    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience)
    token = verifier.verify(issuer.token(scopes=(R,)))
    request = RequestFactory().get("/x")  # no Authorization header at all
    request.access_token = token  # type: ignore[attr-defined]
    assert BearerAuth(R, verifier=verifier)(request) is token
    with pytest.raises(BearerRefusal) as info:
        BearerAuth(W, verifier=verifier)(request)
    assert info.value.rendered[0] == 403


def test_without_install_the_refusal_is_not_swallowed() -> None:
    with pytest.raises(BearerRefusal):
        Client(raise_request_exception=True).get("/bare/private")


def test_openapi_bearer_scheme() -> None:
    schema = api.get_openapi_schema()
    assert schema["components"]["securitySchemes"] == {
        "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    operations = schema["paths"]["/api/private"]
    assert operations["get"]["security"] == [{"BearerAuth": []}]
    assert operations["post"]["security"] == [{"BearerAuth": []}]


@pytest.mark.parametrize(
    ("mode", "scheme"),
    [
        ("off", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}),
        # Ninja names one scheme per auth class: under "allowed" the bearer one is shown.
        ("allowed", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}),
        # RFC 9449 §7.1 registers DPoP as an HTTP authentication scheme.
        ("required", {"type": "http", "scheme": "DPoP"}),
    ],
)
def test_openapi_scheme_follows_the_dpop_mode(
    issuer: Issuer, mode: str, scheme: dict[str, Any]
) -> None:
    from ninja import NinjaAPI

    verifier = Verifier(
        issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks(), dpop=mode
    )
    with override_settings(BEARERGUARD_DPOP=mode):
        from_settings = BearerAuth()  # the Django setting, read when the auth is made
    for auth in (BearerAuth(verifier=verifier), from_settings):
        local = NinjaAPI(urls_namespace=f"dpop-{mode}-{id(auth)}")

        @local.get("/x", auth=auth)
        def x(request: Any) -> dict[str, Any]:
            return {}

        schema = local.get_openapi_schema(path_prefix="/api")  # not mounted: no reverse()
        assert schema["components"]["securitySchemes"] == {"BearerAuth": scheme}
        assert schema["paths"]["/api/x"]["get"]["security"] == [{"BearerAuth": []}]


@override_settings(BEARERGUARD_DPOP_NONCE="on", BEARERGUARD_DPOP_NONCE_SECRET="n" * 32)
def test_dpop_nonce_is_offered_on_success(issuer: Issuer) -> None:
    # RFC 9449 §8: the first proof lacks a nonce (401 use_dpop_nonce with DPoP-Nonce); an
    # accepted request's response carries the next nonce (§8.2), set by install().
    key = DPoPKey("ES256")
    token = issuer.token(sub="d", scopes=(), claims={"cnf": {"jkt": key.thumbprint}})
    url = "http://testserver/api/private"
    proof = key.proof("GET", url, access_token=token)
    resp = Client().get("/api/private", HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=proof)
    assert resp.status_code == 401
    assert json.loads(resp.content)["reason"] == "dpop_nonce_required"
    nonce = resp.headers["DPoP-Nonce"]
    proof = key.proof("GET", url, access_token=token, nonce=nonce)
    resp = Client().get("/api/private", HTTP_AUTHORIZATION=f"DPoP {token}", HTTP_DPOP=proof)
    check(resp, 200, None, {"sub": "d", "scopes": []})
    assert resp.headers["DPoP-Nonce"]
