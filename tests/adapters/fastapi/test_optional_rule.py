"""Issue #13.6 and #13.2 on FastAPI: the one rule for optional authentication.

With ``FastAPI(dependencies=[Security(BearerToken(verifier, optional=True))])`` bearerguard
sees every route: a token sent to a public route is checked and a bad one refused exactly as
on a private route (RFC 6750 §3.1), a request without credentials reaches it; a token sent
in the header and the URL is a 400 even where URL tokens are off (RFC 6750 §2).
"""

# No ``from __future__ import annotations`` here: FastAPI evaluates endpoint annotations
# in the module's globals, and these endpoints are closures over a per-test verifier.

from collections.abc import Callable
from typing import Annotated, Any

import pytest

pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI, Security, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from bearerguard import AccessToken, Verifier
from bearerguard.adapters.fastapi import BearerToken, install_error_handler
from bearerguard.testing import Issuer
from tests.expect import bearer, body, challenge, check

Factory = Callable[..., TestClient]


def make_app(verifier: Verifier) -> FastAPI:
    app = FastAPI(dependencies=[Security(BearerToken(verifier, optional=True))])
    install_error_handler(app)

    @app.get("/api/public")
    @app.post("/api/public")
    async def public() -> dict[str, str]:
        return {"message": "public"}

    @app.get("/api/private")
    async def private(
        token: Annotated[AccessToken, Depends(BearerToken(verifier, scopes=["read:messages"]))],
    ) -> dict[str, Any]:
        return {"sub": token.subject}

    @app.websocket("/ws-open")
    async def ws_open(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"open": True})
        await websocket.close()

    return app


def test_a_bad_token_on_a_public_route_is_refused(
    client_factory: Factory, verifier: Verifier, issuer: Issuer
) -> None:
    c = client_factory(make_app(verifier))
    check(c.get("/api/public"), 200, None, {"message": "public"})
    check(c.post("/api/public"), 200, None, {"message": "public"})
    check(
        c.get("/api/public", headers={"Authorization": "Basic eDp5"}),
        200,
        None,
        {"message": "public"},
    )
    expired = bearer(issuer.token(expires_in=-3600))
    for method in ("GET", "POST"):
        r = c.request(method, "/api/public", headers=expired)
        check(r, 401, challenge("invalid_token", "expired"), body("invalid_token", "expired"))
        assert r.content == (
            b'{"error":"invalid_token","error_description":"The access token expired",'
            b'"reason":"expired"}'
        )
    r = c.get("/api/public", headers={"Authorization": "Bearer a b"})
    check(
        r,
        400,
        challenge("invalid_request", "malformed_authorization"),
        body("invalid_request", "malformed_authorization"),
    )
    good = issuer.token(scopes=["read:messages"])
    for _ in range(2):  # the second request is settled from the token cache
        check(c.get("/api/public", headers=bearer(good)), 200, None, {"message": "public"})
        check(c.get("/api/private", headers=bearer(good)), 200, None, {"sub": "user-1"})
    # Private routes: the app-level dependency lets no-credentials through, the route's refuses.
    check(c.get("/api/private"), 401, challenge(scope="read:messages"), body(None, "missing_token"))
    r = c.get("/api/private", headers=expired)
    check(r, 401, challenge("invalid_token", "expired"), body("invalid_token", "expired"))
    r = c.get("/api/private", headers=bearer(issuer.token(scopes=())))
    check(
        r,
        403,
        challenge("insufficient_scope", scope="read:messages"),
        body("insufficient_scope", "insufficient_scope"),
    )


def test_a_bad_token_on_a_public_websocket_is_refused(
    client_factory: Factory, verifier: Verifier
) -> None:
    c = client_factory(make_app(verifier))
    with c.websocket_connect("/ws-open") as ws:
        assert ws.receive_json() == {"open": True}
    headers = {"Authorization": "Bearer abc.def"}
    with (
        pytest.raises(WebSocketDisconnect) as info,
        c.websocket_connect("/ws-open", headers=headers),
    ):
        pass  # pragma: no cover
    assert info.value.code == 1008  # closed before accept: the server answers 403


def test_header_and_query_token_with_url_tokens_off(
    client_factory: Factory, verifier: Verifier, issuer: Issuer
) -> None:
    assert verifier.token_locations == ("header",)
    c = client_factory(make_app(verifier))
    token = issuer.token(scopes=["read:messages"])
    url_token = f"?access_token={issuer.token()}"
    multiple = (
        challenge("invalid_request", "multiple_tokens"),
        body("invalid_request", "multiple_tokens"),
    )
    for _ in range(2):  # also once the header's token is cached
        check(c.get("/api/public" + url_token, headers=bearer(token)), 400, *multiple)
        check(c.get("/api/private" + url_token, headers=bearer(token)), 400, *multiple)
    # A URL token alone, with URL tokens off, is no credentials.
    check(c.get("/api/public" + url_token), 200, None, {"message": "public"})
    check(
        c.get("/api/private" + url_token),
        401,
        challenge(scope="read:messages"),
        body(None, "missing_token"),
    )
