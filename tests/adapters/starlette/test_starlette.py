"""bearerguard.adapters.starlette under Starlette's TestClient, on asyncio and trio."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import websockets.sync.client
from websockets.exceptions import InvalidStatus

pytest.importorskip("starlette")

from starlette.applications import Starlette
from starlette.authentication import AuthenticationError, requires
from starlette.endpoints import HTTPEndpoint
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket

from bearerguard import AccessToken, Verifier
from bearerguard.adapters.starlette import (
    BearerAuthBackend,
    TokenCredentials,
    TokenUser,
    bearer_auth_middleware,
    on_auth_error,
    require_claim,
    require_scopes,
)
from bearerguard.middleware.asgi import SCOPE_KEY
from bearerguard.testing import Issuer
from tests.adapters.starlette.servers import serve
from tests.expect import bearer, body, challenge, check

Factory = Callable[..., TestClient]
FORM = {"content-type": "application/x-www-form-urlencoded"}


async def caller(request: HTTPConnection) -> JSONResponse:
    user, creds = request.user, request.auth
    assert isinstance(user, TokenUser)
    assert isinstance(creds, TokenCredentials)
    data = {
        "sub": user.identity,
        "display": user.display_name,
        "authenticated": user.is_authenticated,
        "scopes": creds.scopes,
        "token_sub": creds.token.subject,
    }
    if isinstance(request, Request):
        data["body"] = (await request.body()).decode()
    return JSONResponse(data)


async def public(request: Request) -> JSONResponse:
    return JSONResponse({"authenticated": request.user.is_authenticated})


@require_scopes()
async def private(request: Request) -> JSONResponse:
    return await caller(request)


@require_scopes("read:messages", any_of=["x", "y"])
async def any_scope(request: Request) -> JSONResponse:
    return await caller(request)


@requires("read:messages")
async def starlette_requires(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@require_claim("tenant", equals="acme")
def sync_tenant(request: Request) -> JSONResponse:
    return JSONResponse({"tenant": request.user.token["tenant"]})


@require_claim("roles", includes="writer")
async def roles(request: Request) -> JSONResponse:
    return JSONResponse({"roles": request.user.token["roles"]})


class Writer(HTTPEndpoint):
    @require_scopes("write:messages")
    async def get(self, request: Request) -> JSONResponse:
        return JSONResponse({"write": True})

    @require_scopes("write:messages")
    def put(self, request: Request) -> JSONResponse:
        return JSONResponse({"write": "sync"})


@require_scopes("read:messages")
async def ws_private(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"sub": websocket.user.identity})
    await websocket.close()


async def ws_open(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"authenticated": websocket.user.is_authenticated})
    await websocket.close()


ROUTES = [
    Route("/public", public, methods=["GET", "POST"]),
    Route("/private", private, methods=["GET", "POST", "PUT"]),
    Route("/any", any_scope),
    Route("/requires", starlette_requires),
    Route("/tenant", sync_tenant),
    Route("/roles", roles),
    Route("/writer", Writer),
    WebSocketRoute("/ws", ws_private),
    WebSocketRoute("/ws-open", ws_open),
]


def make_app(verifier: Verifier, *, plain: bool = False, **options: Any) -> Starlette:
    if plain:  # Starlette's own middleware with our backend and renderer
        mw = Middleware(
            AuthenticationMiddleware, backend=BearerAuthBackend(verifier), on_error=on_auth_error
        )
    else:
        mw = bearer_auth_middleware(verifier, **options)
    return Starlette(routes=ROUTES, middleware=[mw])


@pytest.mark.parametrize("plain", [False, True], ids=["bearer_auth_middleware", "plain"])
def test_authentication(
    client_factory: Factory, verifier: Verifier, issuer: Issuer, plain: bool
) -> None:
    c = client_factory(make_app(verifier, plain=plain))
    check(c.get("/public"), 200, None, {"authenticated": False})
    check(c.get("/private"), 401, challenge(), body(None, "missing_token"))
    check(
        c.post("/private", headers={"Authorization": "Basic eDp5"}),
        401,
        challenge(),
        body(None, "missing_token"),
    )
    token = issuer.token(scopes=["write:messages", "read:messages"])
    expected = {
        "sub": "user-1", "display": "user-1", "authenticated": True,
        "scopes": ["read:messages", "write:messages"], "token_sub": "user-1", "body": "",
    }  # fmt: skip
    check(c.get("/private", headers=bearer(token)), 200, None, expected)
    # Authentication refuses an invalid token on every route, rendered by on_auth_error.
    expired = bearer(issuer.token(expires_in=-3600))
    for path in ("/private", "/public"):
        check(
            c.get(path, headers=expired),
            401,
            challenge("invalid_token", "expired"),
            body("invalid_token", "expired"),
        )
    r = c.get("/private", headers={"Authorization": "Bearer"})
    check(
        r, 400, challenge("invalid_request", "empty_token"), body("invalid_request", "empty_token")
    )


def test_authorization_decorators(
    client_factory: Factory, verifier: Verifier, issuer: Issuer
) -> None:
    c = client_factory(make_app(verifier))
    reader = bearer(issuer.token(scopes=["read:messages"]))
    r = c.get("/any", headers=reader)
    check(
        r,
        403,
        challenge("insufficient_scope", scope="x y"),
        body("insufficient_scope", "insufficient_scope"),
    )
    r = c.get("/any", headers=bearer(issuer.token(scopes=["read:messages", "y"])))
    assert r.status_code == 200
    for method in ("GET", "PUT"):  # HTTPEndpoint methods, async and sync
        r = c.request(method, "/writer", headers=reader)
        www = challenge("insufficient_scope", scope="write:messages")
        check(r, 403, www, body("insufficient_scope", "insufficient_scope"))
        www = challenge(scope="write:messages")
        check(c.request(method, "/writer"), 401, www, body(None, "missing_token"))
    writer = bearer(issuer.token(scopes=["write:messages"]))
    assert c.get("/writer", headers=writer).json() == {"write": True}
    assert c.put("/writer", headers=writer).json() == {"write": "sync"}
    claim_www = challenge("insufficient_scope", "claim_requirement_failed")
    claim_body = body("insufficient_scope", "claim_requirement_failed")
    check(
        c.get("/tenant", headers=bearer(issuer.token(claims={"tenant": "other"}))),
        403,
        claim_www,
        claim_body,
    )
    check(c.get("/tenant"), 401, challenge(), body(None, "missing_token"))
    check(
        c.get("/tenant", headers=bearer(issuer.token(claims={"tenant": "acme"}))),
        200,
        None,
        {"tenant": "acme"},
    )
    check(
        c.get("/roles", headers=bearer(issuer.token(claims={"roles": ["reader"]}))),
        403,
        claim_www,
        claim_body,
    )
    r = c.get("/roles", headers=bearer(issuer.token(claims={"roles": ["writer"]})))
    check(r, 200, None, {"roles": ["writer"]})


def test_starlette_requires_uses_token_scopes(
    client_factory: Factory, verifier: Verifier, issuer: Issuer
) -> None:
    c = client_factory(make_app(verifier))
    assert c.get("/requires", headers=bearer(issuer.token(scopes=["read:messages"]))).json() == {
        "ok": True
    }
    assert c.get("/requires", headers=bearer(issuer.token(scopes=["other"]))).status_code == 403


def test_credentials_scopes_are_per_request(
    client_factory: Factory, verifier: Verifier, issuer: Issuer
) -> None:
    # The cache hands every request the same AccessToken; request.auth.scopes stays a fresh
    # list each time, so an endpoint editing it changes nothing for the next request.
    async def edit(request: Request) -> JSONResponse:
        seen = list(request.auth.scopes)
        request.auth.scopes.append("admin")
        after = request.auth.scopes
        request.auth.scopes = ["replaced"]
        return JSONResponse({"seen": seen, "after": after, "set": request.auth.scopes})

    app = Starlette(routes=[Route("/edit", edit)], middleware=[bearer_auth_middleware(verifier)])
    c = client_factory(app)
    headers = bearer(issuer.token(scopes=["write:messages", "read:messages"]))
    for _ in range(2):  # the second request is a cache hit
        r = c.get("/edit", headers=headers)
        check(
            r,
            200,
            None,
            {
                "seen": ["read:messages", "write:messages"],
                "after": ["read:messages", "write:messages", "admin"],
                "set": ["replaced"],
            },
        )


def test_query_token(
    client_factory: Factory, locations_verifier: Callable[[str], Verifier], issuer: Issuer
) -> None:
    url = f"/private?access_token={issuer.token()}"
    c = client_factory(make_app(locations_verifier("header")))
    check(c.get(url), 401, challenge(), body(None, "missing_token"))
    c = client_factory(make_app(locations_verifier("header,query")))
    assert c.get(url).json()["sub"] == "user-1"
    r = c.get(url, headers=bearer(issuer.token()))
    check(
        r,
        400,
        challenge("invalid_request", "multiple_tokens"),
        body("invalid_request", "multiple_tokens"),
    )


def test_form_token(
    client_factory: Factory, locations_verifier: Callable[[str], Verifier], issuer: Issuer
) -> None:
    c = client_factory(make_app(locations_verifier("header,form")))
    form = f"x=1&access_token={issuer.token()}&y=2"
    r = c.post("/private", content=form, headers=FORM)
    assert r.status_code == 200
    assert r.json()["body"] == form  # the endpoint still reads the whole body
    check(
        c.get("/private", headers=FORM), 401, challenge(), body(None, "missing_token")
    )  # RFC 6750 §2.2
    r = c.post("/private", content=form, headers={**FORM, **bearer(issuer.token())})
    check(
        r,
        400,
        challenge("invalid_request", "multiple_tokens"),
        body("invalid_request", "multiple_tokens"),
    )
    r = c.post("/private", content=form, headers={"content-type": "text/plain"})
    check(r, 401, challenge(), body(None, "missing_token"))
    # Without form enabled the token in the body is not credentials.
    c = client_factory(make_app(locations_verifier("header")))
    check(
        c.post("/private", content=form, headers=FORM),
        401,
        challenge(),
        body(None, "missing_token"),
    )
    # A body larger than the cap is passed on unread.
    c = client_factory(make_app(locations_verifier("header,form"), max_form_bytes=64))
    check(
        c.post("/private", content=form, headers=FORM),
        401,
        challenge(),
        body(None, "missing_token"),
    )
    r = c.put("/private", content=form, headers={**FORM, **bearer(issuer.token())})
    assert r.json()["body"] == form


def test_websocket(client_factory: Factory, verifier: Verifier, issuer: Issuer) -> None:
    c = client_factory(make_app(verifier))
    with (
        pytest.raises(WebSocketDenialResponse) as info,
        c.websocket_connect("/ws", headers={"Authorization": "Bearer abc.def"}),
    ):
        pass  # pragma: no cover
    check(
        info.value,
        401,
        challenge("invalid_token", "malformed_token"),
        body("invalid_token", "malformed_token"),
    )
    with pytest.raises(WebSocketDenialResponse) as info, c.websocket_connect("/ws"):
        pass  # pragma: no cover
    check(info.value, 401, challenge(scope="read:messages"), body(None, "missing_token"))
    with (
        pytest.raises(WebSocketDenialResponse) as info,
        c.websocket_connect("/ws", headers=bearer(issuer.token(scopes=["other"]))),
    ):
        pass  # pragma: no cover
    www = challenge("insufficient_scope", scope="read:messages")
    check(info.value, 403, www, body("insufficient_scope", "insufficient_scope"))
    with c.websocket_connect("/ws", headers=bearer(issuer.token())) as ws:
        assert ws.receive_json() == {"sub": "user-1"}
    with c.websocket_connect("/ws-open") as ws:
        assert ws.receive_json() == {"authenticated": False}


@pytest.mark.anyio
async def test_websocket_without_denial_extension(verifier: Verifier) -> None:
    # Servers without the websocket.http.response extension: close before accept (HTTP 403).
    app = make_app(verifier)
    for path, headers in (("/ws", []), ("/ws-open", [(b"authorization", b"Bearer abc.def")])):
        scope: dict[str, Any] = {
            "type": "websocket",
            "path": path,
            "headers": headers,
            "query_string": b"",
            "root_path": "",
        }
        scope.update(scheme="ws", server=("testserver", 80), subprotocols=[], app=app)
        inbox: list[dict[str, Any]] = [{"type": "websocket.connect"}]
        sent: list[dict[str, Any]] = []

        async def receive(inbox: list[dict[str, Any]] = inbox) -> dict[str, Any]:
            return inbox.pop(0) if inbox else {"type": "websocket.disconnect", "code": 1000}

        async def send(message: Any, sent: list[dict[str, Any]] = sent) -> None:
            sent.append(message)

        await app(scope, receive, send)
        assert [m["type"] for m in sent] == ["websocket.close"]
        assert sent[0]["code"] == 1008


def test_websocket_query_token(
    client_factory: Factory, locations_verifier: Callable[[str], Verifier], issuer: Issuer
) -> None:
    # Browsers cannot set headers on a WebSocket: the query token (when enabled) is the way.
    c = client_factory(make_app(locations_verifier("header,query")))
    with c.websocket_connect(f"/ws?access_token={issuer.token()}") as ws:
        assert ws.receive_json() == {"sub": "user-1"}
    with (
        pytest.raises(WebSocketDenialResponse) as info,
        c.websocket_connect("/ws?access_token=a.b"),
    ):
        pass  # pragma: no cover
    check(
        info.value,
        401,
        challenge("invalid_token", "malformed_token"),
        body("invalid_token", "malformed_token"),
    )


def test_keys_unavailable(client_factory: Factory, issuer: Issuer) -> None:
    with Issuer(audience=issuer.audience) as gone:
        v = Verifier(issuer=gone.issuer, audience=gone.audience, jwks_uri=gone.jwks_uri)
        token = gone.token()
    r = client_factory(make_app(v)).get("/private", headers=bearer(token))
    check(r, 503, None, body(None, "keys_unavailable"))
    assert int(r.headers["retry-after"]) >= 1


@pytest.mark.anyio
async def test_lifespan_passes_through(verifier: Verifier) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("startup")
        yield
        events.append("shutdown")

    app = Starlette(routes=ROUTES, middleware=[bearer_auth_middleware(verifier)], lifespan=lifespan)
    inbox: list[dict[str, Any]] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["startup", "shutdown"]


@pytest.mark.anyio
async def test_misuse_fails_loudly() -> None:
    # The decorators need the backend: without it they raise instead of letting anyone in.
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    with pytest.raises(RuntimeError, match="BearerAuthBackend must be installed"):
        await private(request)
    with pytest.raises(RuntimeError, match="BearerAuthBackend must be installed"):
        sync_tenant(request)
    # A token put in the scope by something else (the generic ASGI middleware) is no backend.
    token = AccessToken({"sub": "u", "scope": "read"}, {"alg": "RS256"}, frozenset({"read"}))
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], SCOPE_KEY: token}
    with pytest.raises(RuntimeError, match="BearerAuthBackend must be installed"):
        await private(Request(scope))
    with pytest.raises(TypeError, match="exactly one"):
        require_claim("tenant")
    with pytest.raises(TypeError, match="exactly one"):
        require_claim("tenant", equals="a", includes="b")


@pytest.mark.anyio
async def test_on_auth_error_for_other_backends(verifier: Verifier) -> None:
    # Another backend's error, after ours saw the request: the verifier renders the 401.
    conn = HTTPConnection({"type": "http", "headers": [], "path": "/", "query_string": b""})
    assert await BearerAuthBackend(verifier).authenticate(conn) is None
    r = on_auth_error(conn, AuthenticationError("something else"))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == challenge()
    assert json.loads(bytes(r.body)) == body(None, "missing_token")
    # Without a bearerguard verifier in sight: a bare Bearer challenge (RFC 6750 §3.1).
    conn = HTTPConnection({"type": "http", "headers": [], "path": "/"})
    r = on_auth_error(conn, AuthenticationError("something else"))
    assert r.status_code == 401
    assert r.headers.getlist("www-authenticate") == ['Bearer realm="api"']
    assert json.loads(bytes(r.body)) == body(None, "missing_token")


# -- a real uvicorn server on 127.0.0.1 ---------------------------------------------------------


def test_real_server(verifier: Verifier, issuer: Issuer) -> None:
    with serve(make_app(verifier)) as url:
        check(httpx.get(url + "/private"), 401, challenge(), body(None, "missing_token"))
        r = httpx.get(url + "/private", headers=bearer(issuer.token()))
        assert r.status_code == 200
        assert r.json()["sub"] == "user-1"
        ws_url = url.replace("http://", "ws://")
        with pytest.raises(InvalidStatus) as info:
            websockets.sync.client.connect(
                ws_url + "/ws-open", additional_headers={"Authorization": "Bearer abc.def"}
            )
        response = info.value.response
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == challenge("invalid_token", "malformed_token")
        assert json.loads(response.body or b"") == body("invalid_token", "malformed_token")
        with pytest.raises(InvalidStatus) as info:
            websockets.sync.client.connect(ws_url + "/ws")
        assert info.value.response.status_code == 401
        www = challenge(scope="read:messages")
        assert info.value.response.headers["WWW-Authenticate"] == www
        with websockets.sync.client.connect(
            ws_url + "/ws", additional_headers=bearer(issuer.token())
        ) as ws:
            assert json.loads(ws.recv()) == {"sub": "user-1"}


def test_slow_jwks_fetch_does_not_block_the_loop(verifier: Verifier, issuer: Issuer) -> None:
    issuer.delay = 1.0  # the cold verifier's first key fetch takes a second
    token = issuer.token()
    results: list[int] = []
    with serve(make_app(verifier)) as url:

        def slow() -> None:
            results.append(
                httpx.get(url + "/private", headers=bearer(token), timeout=10).status_code
            )

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.2)  # the slow request now waits for the keys
        started = time.monotonic()
        assert httpx.get(url + "/public", timeout=10).status_code == 200
        assert time.monotonic() - started < 0.5
        assert thread.is_alive()
        thread.join(10)
    assert results == [200]
    assert issuer.jwks_fetches == 1
