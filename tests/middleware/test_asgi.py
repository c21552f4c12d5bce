"""BearerAuthASGIMiddleware: raw ASGI calls, httpx's ASGITransport (asyncio and trio) and a
real uvicorn server on 127.0.0.1 fetching keys from the test issuer over HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import websockets.sync.client
from websockets.exceptions import InvalidStatus

from bearerguard import ClaimEquals, Requirements, Verifier
from bearerguard.middleware.asgi import SCOPE_KEY, BearerAuthASGIMiddleware, Message, Scope
from bearerguard.testing import Issuer
from tests.adapters.starlette.servers import serve
from tests.asgi_clients import anyio_backend  # noqa: F401 - fixture
from tests.expect import body, challenge

pytestmark = pytest.mark.anyio
JSON_HEADERS = {"content-type": "application/json", "cache-control": "no-store"}


class Inner:
    """The protected app: echoes the caller and the body it received; handles lifespan."""

    def __init__(self) -> None:
        self.scopes: list[Scope] = []
        self.started = False

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.started = True
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        token = scope.get(SCOPE_KEY)
        sub = token.subject if token is not None else None
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": json.dumps({"sub": sub})})
            await send({"type": "websocket.close", "code": 1000})
            return
        data, more = b"", True
        while more:
            message = await receive()
            data += message.get("body", b"")
            more = message.get("more_body", False)
        out = json.dumps({"sub": sub, "path": scope["path"], "body": data.decode()}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": out})


def middleware(verifier: Verifier, **kw: Any) -> tuple[BearerAuthASGIMiddleware, Inner]:
    inner = Inner()
    kw.setdefault("protect", ["/api/private"])
    kw.setdefault("exempt", ["/api/public"])
    return BearerAuthASGIMiddleware(inner, verifier=verifier, **kw), inner


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def check(resp: httpx.Response, status: int, www: str | None, data: dict[str, Any]) -> None:
    assert resp.status_code == status
    assert resp.headers.get_list("www-authenticate") == ([www] if www else [])
    assert resp.json() == data
    if status != 200:
        assert {k: resp.headers[k] for k in JSON_HEADERS} == JSON_HEADERS


async def call(app: Any, messages: list[Any] | None = None, **overrides: Any) -> list[Message]:
    """Call *app* once with a raw scope; return every message it sent."""
    scope: Scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "",
        "headers": [], "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
    }  # fmt: skip
    scope.update(overrides)
    inbox = list(messages if messages is not None else [{"type": "http.request", "body": b""}])
    sent: list[Message] = []

    async def receive() -> Message:
        if inbox:
            message: Message = inbox.pop(0)
            return message
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def auth(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


# -- httpx ASGITransport, both backends ------------------------------------------------------


async def test_public_missing_valid(verifier: Verifier, issuer: Issuer) -> None:
    app, _ = middleware(verifier)
    async with client(app) as c:
        check(
            await c.get("/api/public"), 200, None, {"sub": None, "path": "/api/public", "body": ""}
        )
        check(await c.post("/api/private"), 401, challenge(), body(None, "missing_token"))
        r = await c.get("/api/private", headers={"Authorization": f"Bearer {issuer.token()}"})
        check(r, 200, None, {"sub": "user-1", "path": "/api/private", "body": ""})


async def test_invalid_and_malformed(verifier: Verifier, issuer: Issuer) -> None:
    app, inner = middleware(verifier)
    expired = issuer.token(expires_in=-3600)
    async with client(app) as c:
        r = await c.get("/api/private", headers={"Authorization": f"Bearer {expired}"})
        check(r, 401, challenge("invalid_token", "expired"), body("invalid_token", "expired"))
        r = await c.get("/api/private", headers={"Authorization": "Bearer a b"})
        www = challenge("invalid_request", "malformed_authorization")
        check(r, 400, www, body("invalid_request", "malformed_authorization"))
        r = await c.get("/api/private", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        check(r, 401, challenge(), body(None, "missing_token"))
    assert inner.scopes == []


async def test_segment_boundaries(verifier: Verifier) -> None:
    app, _ = middleware(verifier)
    async with client(app) as c:
        r = await c.get("/api/privatex")
        check(r, 200, None, {"sub": None, "path": "/api/privatex", "body": ""})
        for path in ("/api/private/", "/api/private/x/y"):
            check(await c.get(path), 401, challenge(), body(None, "missing_token"))


@pytest.mark.parametrize("path", ["/api/public/../private", "//api/private", "/api/./private/x"])
async def test_unnormalized_paths_are_protected(verifier: Verifier, path: str) -> None:
    app, inner = middleware(verifier)
    sent = await call(app, path=path)
    assert sent[0]["status"] == 401
    assert (b"www-authenticate", challenge().encode()) in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == body(None, "missing_token")
    assert inner.scopes == []


async def test_requirements_longest_prefix_wins(verifier: Verifier, issuer: Issuer) -> None:
    reqs = {
        "/api": Requirements(scopes=["read:messages"]),
        "/api/admin": Requirements(scopes=["admin"]),
        "/api/tenant": Requirements(claims=[ClaimEquals("tenant", "acme")]),
    }
    app, _ = middleware(verifier, protect=[], exempt=[], requirements=reqs)
    reader = {"Authorization": f"Bearer {issuer.token(scopes=['read:messages'])}"}
    async with client(app) as c:
        r = await c.get("/api/x", headers=reader)
        check(r, 200, None, {"sub": "user-1", "path": "/api/x", "body": ""})
        r = await c.get("/api/admin/x", headers=reader)
        www = challenge("insufficient_scope", scope="admin")
        check(r, 403, www, body("insufficient_scope", "insufficient_scope"))
        r = await c.get("/api/tenant", headers=reader)
        www = challenge("insufficient_scope", "claim_requirement_failed")
        check(r, 403, www, body("insufficient_scope", "claim_requirement_failed"))
        check(await c.get("/other"), 200, None, {"sub": None, "path": "/other", "body": ""})


async def test_unprotected_path_verifies_a_sent_token(verifier: Verifier, issuer: Issuer) -> None:
    # Same rule as the WSGI middleware and Django: optional there, never ignored when invalid.
    app, _ = middleware(verifier)
    expired = {"Authorization": f"Bearer {issuer.token(expires_in=-3600)}"}
    async with client(app) as c:
        check(await c.get("/other"), 200, None, {"sub": None, "path": "/other", "body": ""})
        r = await c.get("/other", headers={"Authorization": f"Bearer {issuer.token()}"})
        check(r, 200, None, {"sub": "user-1", "path": "/other", "body": ""})
        r = await c.get("/other", headers=expired)
        check(r, 401, challenge("invalid_token", "expired"), body("invalid_token", "expired"))
        r = await c.get("/api/public", headers=expired)  # exempt: passed through untouched
        check(r, 200, None, {"sub": None, "path": "/api/public", "body": ""})


async def test_requirements_apply_to_the_path_as_sent(verifier: Verifier, issuer: Issuer) -> None:
    reqs = {
        "/api": Requirements(scopes=["read:messages"]),
        "/api/admin": Requirements(scopes=["admin"]),
    }
    app, inner = middleware(verifier, protect=[], exempt=[], requirements=reqs)
    reader = auth(issuer.token(scopes=["read:messages"]))
    sent = await call(app, path="/api/admin/../x", headers=reader)
    assert sent[0]["status"] == 403
    # Both spellings' requirements apply, and the 403 names every scope needed, at once.
    needed = challenge("insufficient_scope", scope="admin read:messages").encode()
    assert (b"www-authenticate", needed) in sent[0]["headers"]
    assert inner.scopes == []


async def test_default_protects_everything_but_exempt(verifier: Verifier) -> None:
    inner = Inner()
    app = BearerAuthASGIMiddleware(inner, verifier=verifier, exempt="/health")
    async with client(app) as c:
        check(
            await c.get("/health/live"),
            200,
            None,
            {"sub": None, "path": "/health/live", "body": ""},
        )
        check(await c.get("/"), 401, challenge(), body(None, "missing_token"))


async def test_query_token_only_when_enabled(issuer: Issuer) -> None:
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience, jwks_uri=issuer.jwks_uri)
    vq = Verifier(
        issuer=issuer.issuer, audience=issuer.audience, jwks_uri=issuer.jwks_uri,
        token_locations="header,query",
    )  # fmt: skip
    url = f"/api/private?access_token={issuer.token()}"
    async with client(middleware(v)[0]) as c:
        check(await c.get(url), 401, challenge(), body(None, "missing_token"))
    async with client(middleware(vq)[0]) as c:
        check(await c.get(url), 200, None, {"sub": "user-1", "path": "/api/private", "body": ""})
        r = await c.get(url, headers={"Authorization": f"Bearer {issuer.token()}"})
        www = challenge("invalid_request", "multiple_tokens")
        check(r, 400, www, body("invalid_request", "multiple_tokens"))


@pytest.fixture
def form_verifier(issuer: Issuer) -> Verifier:
    return Verifier(
        issuer=issuer.issuer, audience=issuer.audience, jwks_uri=issuer.jwks_uri,
        token_locations=("header", "form"),
    )  # fmt: skip


async def test_form_token_body_is_replayed(form_verifier: Verifier, issuer: Issuer) -> None:
    app, _ = middleware(form_verifier)
    first, second = f"a=1&access_token={issuer.token()[:20]}", f"{issuer.token()[20:]}&b=2"
    messages = [
        {"type": "http.request", "body": first.encode(), "more_body": True},
        {"type": "http.request", "body": second.encode(), "more_body": False},
    ]
    headers = [(b"content-type", b"application/x-www-form-urlencoded; charset=utf-8")]
    sent = await call(app, messages, method="POST", path="/api/private", headers=headers)
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"])["body"] == first + second
    # ...and through httpx, the form-encoded way a browser posts it.
    async with client(app) as c:
        r = await c.post("/api/private", data={"access_token": issuer.token(), "x": "1"})
        assert r.status_code == 200
        assert r.json()["sub"] == "user-1"
        r = await c.get(
            "/api/private", headers={"content-type": "application/x-www-form-urlencoded"}
        )
        check(r, 401, challenge(), body(None, "missing_token"))  # RFC 6750 §2.2: not on GET
        r = await c.post(
            "/api/private",
            data={"access_token": issuer.token()},
            headers={"Authorization": f"Bearer {issuer.token()}"},
        )
        check(
            r,
            400,
            challenge("invalid_request", "multiple_tokens"),
            body("invalid_request", "multiple_tokens"),
        )


async def test_large_form_is_not_searched_but_passed_on(
    form_verifier: Verifier, issuer: Issuer
) -> None:
    app, _ = middleware(form_verifier, max_form_bytes=64)
    data = "access_token=" + issuer.token() + "&pad=" + "x" * 100
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    sent = await call(
        app,
        [{"type": "http.request", "body": data.encode()}],
        method="POST",
        path="/api/private",
        headers=form,
    )
    assert sent[0]["status"] == 401  # too large to be searched: no credentials
    assert json.loads(sent[1]["body"]) == body(None, "missing_token")
    messages = [
        {"type": "http.request", "body": data[:50].encode(), "more_body": True},
        {"type": "http.request", "body": data[50:].encode(), "more_body": False},
    ]
    headers = [(b"content-type", b"application/x-www-form-urlencoded"), *auth(issuer.token())]
    sent = await call(app, messages, method="PUT", path="/api/private", headers=headers)
    assert json.loads(sent[1]["body"]) == {"sub": "user-1", "path": "/api/private", "body": data}


async def test_disconnect_while_reading_form(form_verifier: Verifier) -> None:
    app, _ = middleware(form_verifier)
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    sent = await call(
        app, [{"type": "http.disconnect"}], method="POST", path="/api/private", headers=headers
    )
    assert sent[0]["status"] == 401
    assert json.loads(sent[1]["body"]) == body(None, "missing_token")


async def test_websocket_refusals(verifier: Verifier, issuer: Issuer) -> None:
    app, inner = middleware(verifier)
    connect = [{"type": "websocket.connect"}]
    ws = {"type": "websocket", "path": "/api/private"}
    ext: dict[str, Any] = {"websocket.http.response": {}}
    sent = await call(app, list(connect), **ws, extensions=ext)
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 401
    assert (b"www-authenticate", challenge().encode()) in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == body(None, "missing_token")
    sent = await call(app, list(connect), **ws, headers=auth("abc.def"))
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]
    assert inner.scopes == []
    sent = await call(app, list(connect), **ws, headers=auth(issuer.token()))
    assert sent[0] == {"type": "websocket.accept"}
    assert sent[1]["text"] == '{"sub": "user-1"}'


async def test_lifespan_and_unknown_scopes_pass_through(verifier: Verifier) -> None:
    app, inner = middleware(verifier, protect="/")
    sent = await call(
        app, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}], type="lifespan"
    )
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert inner.started


async def test_keys_unavailable_is_503(issuer: Issuer) -> None:
    with Issuer(audience=issuer.audience) as other:
        v = Verifier(issuer=other.issuer, audience=other.audience, jwks_uri=other.jwks_uri)
        token = other.token()
    app, _ = middleware(v)  # the issuer is gone: nothing listens any more
    async with client(app) as c:
        r = await c.get("/api/private", headers={"Authorization": f"Bearer {token}"})
    check(r, 503, None, body(None, "keys_unavailable"))
    assert int(r.headers["retry-after"]) >= 1


async def test_scope_is_not_mutated(verifier: Verifier, issuer: Issuer) -> None:
    app, inner = middleware(verifier)
    await call(app, path="/api/private", headers=auth(issuer.token()))
    assert inner.scopes[0][SCOPE_KEY].subject == "user-1"
    sent = await call(app, path="/api/public", headers=auth(issuer.token()))
    assert SCOPE_KEY not in inner.scopes[1]
    assert sent[0]["status"] == 200


def test_constructor_validation(issuer: Issuer) -> None:
    inner = Inner()
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience, jwks_uri=issuer.jwks_uri)
    with pytest.raises(TypeError, match="not both"):
        BearerAuthASGIMiddleware(inner, verifier=v, issuer=issuer.issuer)
    with pytest.raises(ValueError, match="protect"):
        BearerAuthASGIMiddleware(inner, verifier=v, protect=["api"])
    with pytest.raises(ValueError, match="both protected and exempt"):
        BearerAuthASGIMiddleware(inner, verifier=v, protect=["/a/"], exempt=["/a"])
    with pytest.raises(TypeError, match="Requirements"):
        BearerAuthASGIMiddleware(inner, verifier=v, requirements={"/a": ["scope"]})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="BEARERGUARD_AUDIENCE"):
        BearerAuthASGIMiddleware(inner, issuer=issuer.issuer)
    m = BearerAuthASGIMiddleware(inner, issuer=issuer.issuer, audience="https://a.example")
    assert m.verifier.settings.audience == ("https://a.example",)


# -- a real uvicorn server ---------------------------------------------------------------------


@pytest.fixture
def server(verifier: Verifier) -> Iterator[tuple[str, Inner]]:
    app, inner = middleware(verifier)
    with serve(app, lifespan="on") as url:
        yield url, inner


def test_real_server_http_and_websocket(server: tuple[str, Inner], issuer: Issuer) -> None:
    url, inner = server
    assert inner.started  # lifespan reached the inner app through the middleware
    r = httpx.get(url + "/api/private")
    check(r, 401, challenge(), body(None, "missing_token"))
    r = httpx.post(
        url + "/api/private", headers={"Authorization": f"Bearer {issuer.token()}"}, content=b"hi"
    )
    check(r, 200, None, {"sub": "user-1", "path": "/api/private", "body": "hi"})
    ws_url = url.replace("http://", "ws://") + "/api/private"
    with pytest.raises(InvalidStatus) as info:
        websockets.sync.client.connect(
            ws_url, additional_headers={"Authorization": "Bearer abc.def"}
        )
    response = info.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == challenge("invalid_token", "malformed_token")
    assert json.loads(response.body or b"") == body("invalid_token", "malformed_token")
    headers = {"Authorization": f"Bearer {issuer.token()}"}
    with websockets.sync.client.connect(ws_url, additional_headers=headers) as ws:
        assert json.loads(ws.recv()) == {"sub": "user-1"}


def test_slow_jwks_fetch_does_not_block_the_loop(server: tuple[str, Inner], issuer: Issuer) -> None:
    url, _ = server
    issuer.delay = 1.0  # the cold verifier's first key fetch takes a second
    token = issuer.token()
    results: list[int] = []
    slow = threading.Thread(
        target=lambda: results.append(
            httpx.get(
                url + "/api/private", headers={"Authorization": f"Bearer {token}"}, timeout=10
            ).status_code
        )
    )
    slow.start()
    time.sleep(0.2)  # the slow request is now waiting for the keys
    started = time.monotonic()
    r = httpx.get(url + "/api/public", timeout=10)
    elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert elapsed < 0.5, elapsed
    assert slow.is_alive()
    slow.join(10)
    assert results == [200]
    assert issuer.jwks_fetches == 1
