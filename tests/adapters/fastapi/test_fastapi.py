"""bearerguard.adapters.fastapi: the BearerToken dependency, its OpenAPI scheme and its errors."""

# No ``from __future__ import annotations`` here: FastAPI evaluates endpoint annotations
# in the module's globals, and these endpoints are closures over a per-test verifier.

import threading
import time
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest

pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI, Request, Security, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from bearerguard import AccessToken, ClaimEquals, Verifier
from bearerguard.adapters.fastapi import BearerToken, install_error_handler
from bearerguard.testing import Issuer
from tests.adapters.starlette.servers import serve
from tests.expect import bearer, body, challenge, check

Factory = Callable[..., TestClient]
FORM = {"content-type": "application/x-www-form-urlencoded"}
R, W = "read:messages", "write:messages"


def make_app(verifier: Verifier, *, install: bool = True, max_form_bytes: int = 65536) -> FastAPI:
    app = FastAPI()
    if install:
        install_error_handler(app)
    token_dep = BearerToken(verifier, max_form_bytes=max_form_bytes)
    Token = Annotated[AccessToken, Depends(token_dep)]

    @app.get("/private")
    @app.post("/private")
    async def private(token: Token, request: Request) -> dict[str, Any]:
        return {"sub": token.subject, "body": (await request.body()).decode()}

    @app.get("/scoped")
    def scoped(
        token: Annotated[AccessToken, Security(BearerToken(verifier), scopes=[R])],
    ) -> dict[str, Any]:
        return {"scopes": sorted(token.scopes)}

    @app.get("/both")
    async def both(
        token: Annotated[AccessToken, Security(BearerToken(verifier, scopes=[W]), scopes=[R])],
    ) -> dict[str, Any]:
        return {"scopes": sorted(token.scopes)}

    def current_user(token: Annotated[AccessToken, Security(token_dep, scopes=[R])]) -> str:
        return token.subject or ""

    @app.get("/nested")
    async def nested(user: Annotated[str, Security(current_user, scopes=[W])]) -> dict[str, Any]:
        return {"user": user}

    @app.get("/any")
    async def any_(
        token: Annotated[AccessToken, Depends(BearerToken(verifier, any_scopes=["x", "y"]))],
    ) -> dict[str, Any]:
        return {"ok": True}

    @app.get("/tenant")
    async def tenant(
        token: Annotated[
            AccessToken, Depends(BearerToken(verifier, claims=[ClaimEquals("tenant", "acme")]))
        ],
    ) -> dict[str, Any]:
        return {"tenant": token["tenant"]}

    @app.get("/optional")
    async def optional(
        token: Annotated[AccessToken | None, Depends(BearerToken(verifier, optional=True))],
    ) -> dict[str, Any]:
        return {"sub": token.subject if token else None}

    @app.websocket("/ws")
    async def ws(
        websocket: WebSocket,
        token: Annotated[AccessToken, Depends(BearerToken(verifier, scopes=[R]))],
    ) -> None:
        await websocket.accept()
        await websocket.send_json({"sub": token.subject})
        await websocket.close()

    return app


def test_openapi_security_scheme(verifier: Verifier) -> None:
    doc = make_app(verifier).openapi()
    # BEARERGUARD_DPOP is "allowed" by default: either scheme (tests/adapters/fastapi/test_openapi.py).
    assert doc["components"]["securitySchemes"] == {
        "BearerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "DPoP": {"type": "http", "scheme": "DPoP"},
    }
    assert doc["paths"]["/private"]["get"]["security"] == [{"BearerToken": []}, {"DPoP": []}]
    # FastAPI lists Security() scopes here (older releases list none for a non-OAuth2 scheme).
    assert doc["paths"]["/scoped"]["get"]["security"] in (
        [{"BearerToken": [R]}, {"DPoP": [R]}],
        [{"BearerToken": []}, {"DPoP": []}],
    )
    # The dependency's own parameters are not documented as request parameters.
    assert "parameters" not in doc["paths"]["/private"]["get"]


def test_errors_are_rendered_per_contract(
    client_factory: Factory, verifier: Verifier, issuer: Issuer
) -> None:
    c = client_factory(make_app(verifier))
    check(c.get("/private"), 401, challenge(), body(None, "missing_token"))
    check(
        c.post("/private", headers={"Authorization": "Basic eDp5"}),
        401,
        challenge(),
        body(None, "missing_token"),
    )
    r = c.get("/private", headers=bearer(issuer.token(audience="https://other.example")))
    check(
        r,
        401,
        challenge("invalid_token", "invalid_audience"),
        body("invalid_token", "invalid_audience"),
    )
    r = c.get("/private", headers=[("Authorization", "Bearer a"), ("Authorization", "Bearer b")])
    www = challenge("invalid_request", "multiple_authorization_headers")
    check(r, 400, www, body("invalid_request", "multiple_authorization_headers"))
    check(
        c.post("/private", headers=bearer(issuer.token())), 200, None, {"sub": "user-1", "body": ""}
    )


def test_scopes_and_claims(client_factory: Factory, verifier: Verifier, issuer: Issuer) -> None:
    c = client_factory(make_app(verifier))
    insufficient = body("insufficient_scope", "insufficient_scope")
    none = bearer(issuer.token(scopes=()))
    check(
        c.get("/scoped", headers=none), 403, challenge("insufficient_scope", scope=R), insufficient
    )
    check(c.get("/scoped", headers=bearer(issuer.token(scopes=[R]))), 200, None, {"scopes": [R]})
    check(
        c.get("/both", headers=bearer(issuer.token(scopes=[R]))),
        403,
        challenge("insufficient_scope", scope=f"{W} {R}"),
        insufficient,
    )
    check(
        c.get("/both", headers=bearer(issuer.token(scopes=[R, W]))), 200, None, {"scopes": [R, W]}
    )
    # SecurityScopes accumulate through sub-dependencies (outermost first).
    check(
        c.get("/nested", headers=bearer(issuer.token(scopes=[R]))),
        403,
        challenge("insufficient_scope", scope=f"{W} {R}"),
        insufficient,
    )
    check(
        c.get("/nested", headers=bearer(issuer.token(scopes=[R, W]))), 200, None, {"user": "user-1"}
    )
    check(
        c.get("/any", headers=bearer(issuer.token(scopes=[R]))),
        403,
        challenge("insufficient_scope", scope="x y"),
        insufficient,
    )
    check(c.get("/any", headers=bearer(issuer.token(scopes=["y"]))), 200, None, {"ok": True})
    claim = body("insufficient_scope", "claim_requirement_failed")
    check(
        c.get("/tenant", headers=bearer(issuer.token(claims={"tenant": "x"}))),
        403,
        challenge("insufficient_scope", "claim_requirement_failed"),
        claim,
    )
    check(
        c.get("/tenant", headers=bearer(issuer.token(claims={"tenant": "acme"}))),
        200,
        None,
        {"tenant": "acme"},
    )
    check(c.get("/tenant"), 401, challenge(), body(None, "missing_token"))


def test_optional(client_factory: Factory, verifier: Verifier, issuer: Issuer) -> None:
    c = client_factory(make_app(verifier))
    check(c.get("/optional"), 200, None, {"sub": None})
    check(c.get("/optional", headers=bearer(issuer.token())), 200, None, {"sub": "user-1"})
    r = c.get("/optional", headers=bearer(issuer.token(expires_in=-3600)))
    check(r, 401, challenge("invalid_token", "expired"), body("invalid_token", "expired"))


def test_without_install_error_handler(client_factory: Factory, verifier: Verifier) -> None:
    # FastAPI's own HTTPException handler: right status and challenge, body under "detail".
    r = client_factory(make_app(verifier, install=False)).get("/private")
    assert r.status_code == 401
    assert r.headers.get_list("www-authenticate") == [challenge()]
    assert r.headers["cache-control"] == "no-store"
    assert r.json() == {"detail": body(None, "missing_token")}


def test_query_and_form_tokens(client_factory: Factory, issuer: Issuer) -> None:
    v = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_uri=issuer.jwks_uri,
        token_locations="header,query,form",
    )
    c = client_factory(make_app(v))
    check(
        c.get(f"/private?access_token={issuer.token()}"), 200, None, {"sub": "user-1", "body": ""}
    )
    form = f"access_token={issuer.token()}&x=1"
    check(
        c.post("/private", content=form, headers=FORM), 200, None, {"sub": "user-1", "body": form}
    )
    check(
        c.request("GET", "/private", content=form, headers=FORM),
        401,
        challenge(),
        body(None, "missing_token"),
    )
    r = c.post(f"/private?access_token={issuer.token()}", content=form, headers=FORM)
    check(
        r,
        400,
        challenge("invalid_request", "multiple_tokens"),
        body("invalid_request", "multiple_tokens"),
    )
    c = client_factory(make_app(v, max_form_bytes=32))
    check(
        c.post("/private", content=form, headers=FORM),
        401,
        challenge(),
        body(None, "missing_token"),
    )
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience, jwks_uri=issuer.jwks_uri)
    c = client_factory(make_app(v))
    check(
        c.get(f"/private?access_token={issuer.token()}"),
        401,
        challenge(),
        body(None, "missing_token"),
    )
    check(
        c.post("/private", content=form, headers=FORM),
        401,
        challenge(),
        body(None, "missing_token"),
    )


def test_websocket(client_factory: Factory, verifier: Verifier, issuer: Issuer) -> None:
    c = client_factory(make_app(verifier))
    for headers in ({}, {"Authorization": "Bearer abc.def"}, bearer(issuer.token(scopes=()))):
        with (
            pytest.raises(WebSocketDisconnect) as info,
            c.websocket_connect("/ws", headers=headers),
        ):
            pass  # pragma: no cover
        assert info.value.code == 1008  # closed before accept: the server answers 403
    with c.websocket_connect("/ws", headers=bearer(issuer.token())) as ws:
        assert ws.receive_json() == {"sub": "user-1"}


def test_keys_unavailable(client_factory: Factory, issuer: Issuer) -> None:
    with Issuer(audience=issuer.audience) as gone:
        v = Verifier(issuer=gone.issuer, audience=gone.audience, jwks_uri=gone.jwks_uri)
        token = gone.token()
    r = client_factory(make_app(v)).get("/private", headers=bearer(token))
    check(r, 503, None, body(None, "keys_unavailable"))
    assert int(r.headers["retry-after"]) >= 1


def test_real_server_and_slow_jwks(verifier: Verifier, issuer: Issuer) -> None:
    issuer.delay = 1.0  # the cold verifier's first key fetch takes a second
    token = issuer.token()
    results: list[httpx.Response] = []
    with serve(make_app(verifier)) as url:
        check(httpx.get(url + "/private"), 401, challenge(), body(None, "missing_token"))

        def slow() -> None:
            results.append(
                httpx.post(url + "/private", headers=bearer(token), content=b"hi", timeout=10)
            )

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.2)  # the slow request now waits for the keys
        started = time.monotonic()
        check(httpx.get(url + "/optional", timeout=10), 200, None, {"sub": None})
        assert time.monotonic() - started < 0.5
        assert thread.is_alive()
        thread.join(10)
    check(results[0], 200, None, {"sub": "user-1", "body": "hi"})
    assert issuer.jwks_fetches == 1
