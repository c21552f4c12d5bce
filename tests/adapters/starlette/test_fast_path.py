"""Issue #19 §1: ``bearer_auth_middleware`` is a pure ASGI middleware with a cached-token path.

A cached token is settled from the cache (not verified again); an entry past its ``exp`` is
not settled from the cache and never verified synchronously on the event loop;
``request.user`` / ``request.auth`` / ``@requires`` keep working; the rules of issue #13 (a
token in the header and the URL is a 400; a token sent to a public route is checked) hold
on both paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("starlette")

from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bearerguard import Decision, Verifier
from bearerguard.adapters.starlette import (
    BearerAuthenticationMiddleware,
    bearer_auth_middleware,
    require_scopes,
)
from bearerguard.middleware.asgi import SCOPE_KEY
from bearerguard.testing import Issuer
from tests.expect import bearer, body, challenge, check

Factory = Callable[..., TestClient]


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


async def public(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse({"user": user.identity if user.is_authenticated else None})


@requires("read:messages")
async def starlette_requires(request: Request) -> JSONResponse:
    return JSONResponse(
        {"sub": request.user.identity, "scopes": request.auth.scopes, "same": _same(request)}
    )


def _same(request: Request) -> bool:
    return request.scope[SCOPE_KEY] is request.auth.token is request.user.token


@require_scopes("read:messages")
async def decorated(request: Request) -> JSONResponse:
    return JSONResponse({"sub": request.user.identity})


def make_app(verifier: Verifier) -> Starlette:
    routes = [
        Route("/public", public, methods=["GET", "POST"]),
        Route("/requires", starlette_requires),
        Route("/decorated", decorated),
    ]
    return Starlette(routes=routes, middleware=[bearer_auth_middleware(verifier)])


def test_the_middleware_is_pure_asgi(verifier: Verifier) -> None:
    assert not issubclass(BearerAuthenticationMiddleware, AuthenticationMiddleware)
    cls: object = bearer_auth_middleware(verifier).cls
    assert cls is BearerAuthenticationMiddleware


def test_a_cached_token_is_settled_from_the_cache(
    client_factory: Factory, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks())
    c = client_factory(make_app(verifier))
    token = issuer.token(scopes=["read:messages", "write:messages"])
    expected = {"sub": "user-1", "scopes": ["read:messages", "write:messages"], "same": True}
    check(c.get("/requires", headers=bearer(token)), 200, None, expected)  # verified, cached
    assert token in verifier.tokens

    def no_verify(token: str) -> Any:
        raise AssertionError("a cached token is not verified again")

    monkeypatch.setattr(verifier, "verify", no_verify)
    monkeypatch.setattr(verifier, "verify_async", no_verify)
    for path, data in (
        ("/requires", expected),
        ("/decorated", {"sub": "user-1"}),
        ("/public", {"user": "user-1"}),
    ):
        check(c.get(path, headers=bearer(token)), 200, None, data)
    monkeypatch.undo()
    # @requires on a token lacking the scope: Starlette's own 403.
    assert c.get("/requires", headers=bearer(issuer.token(scopes=["other"]))).status_code == 403


def test_an_expired_cache_entry_is_not_verified_on_the_loop(
    client_factory: Factory, issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    verifier = Verifier(
        issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks(), clock=clock, leeway=0
    )
    c = client_factory(make_app(verifier))
    token = issuer.token(iat=int(clock.now), exp=int(clock.now) + 60)
    check(c.get("/decorated", headers=bearer(token)), 200, None, {"sub": "user-1"})
    clock.now += 120  # past exp: the entry is still in the cache, but no longer served
    assert token in verifier.tokens

    def no_sync(token: str) -> Any:
        raise AssertionError("the event loop must not verify synchronously")

    monkeypatch.setattr(verifier, "verify", no_sync)
    for path in ("/decorated", "/public"):
        r = c.get(path, headers=bearer(token))
        check(r, 401, challenge("invalid_token", "expired"), body("invalid_token", "expired"))


def test_header_and_query_token_with_url_tokens_off(
    client_factory: Factory, verifier: Verifier, issuer: Issuer
) -> None:
    assert verifier.token_locations == ("header",)
    c = client_factory(make_app(verifier))
    token = issuer.token()
    url_token = f"?access_token={issuer.token()}"
    www = challenge("invalid_request", "multiple_tokens")
    for _ in range(2):  # the second time the header's token is cached
        for path in ("/public", "/decorated"):
            r = c.get(path + url_token, headers=bearer(token))
            check(r, 400, www, body("invalid_request", "multiple_tokens"))
        check(c.get("/decorated", headers=bearer(token)), 200, None, {"sub": "user-1"})
    check(c.get("/public" + url_token), 200, None, {"user": None})
    check(
        c.get("/decorated" + url_token),
        401,
        challenge(scope="read:messages"),
        body(None, "missing_token"),
    )


def test_two_authorization_headers_even_with_a_cached_token(
    client_factory: Factory, verifier: Verifier, issuer: Issuer
) -> None:
    c = client_factory(make_app(verifier))
    token = issuer.token()
    check(c.get("/public", headers=bearer(token)), 200, None, {"user": "user-1"})
    r = c.get("/public", headers=[("Authorization", f"Bearer {token}")] * 2)
    www = challenge("invalid_request", "multiple_authorization_headers")
    check(r, 400, www, body("invalid_request", "multiple_authorization_headers"))


@pytest.mark.anyio
async def test_decision_headers_are_added_to_the_response(
    verifier: Verifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def with_headers(*args: Any, **kwargs: Any) -> Decision:
        return Decision(headers=(("X-Bearerguard-Test", "1"),))

    monkeypatch.setattr(verifier, "decide_async", with_headers)
    app = make_app(verifier)
    sent: list[dict[str, Any]] = []
    inbox = [{"type": "http.request", "body": b""}]

    async def receive() -> dict[str, Any]:
        return inbox.pop(0) if inbox else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "GET", "path": "/public", "raw_path": b"/public",
        "root_path": "", "query_string": b"", "headers": [], "scheme": "http",
        "server": ("testserver", 80), "http_version": "1.1", "app": app,
    }  # fmt: skip
    await app(scope, receive, send)
    assert sent[0]["status"] == 200
    assert (b"x-bearerguard-test", b"1") in sent[0]["headers"]
    assert sent[1]["body"] == b'{"user":null}'


def test_a_form_token_beside_a_cached_header_token(
    client_factory: Factory, locations_verifier: Callable[[str], Verifier], issuer: Issuer
) -> None:
    c = client_factory(make_app(locations_verifier("header,form")))
    token = issuer.token()
    check(c.get("/decorated", headers=bearer(token)), 200, None, {"sub": "user-1"})
    form = {"content-type": "application/x-www-form-urlencoded", **bearer(token)}
    r = c.post("/public", content=f"access_token={issuer.token()}", headers=form)
    www = challenge("invalid_request", "multiple_tokens")
    check(r, 400, www, body("invalid_request", "multiple_tokens"))
