"""Issue #11 finding 1: path rules judge the path the app routes on, under a root path.

ASGI's ``scope["path"]`` includes ``root_path``; apps route on the rest. Each deployment
runs under a real server (apps in ``root_path_apps.py``): ``/api`` is protected,
``/api/public`` exempt, ``/api/admin`` needs the ``admin`` scope.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette._utils import get_route_path
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bearerguard import Requirements, Verifier
from bearerguard.middleware.asgi import BearerAuthASGIMiddleware, Receive, Scope, Send
from bearerguard.paths import route_path
from bearerguard.testing import Issuer
from tests.contract.servers import Server, running
from tests.contract.servers import request as fetch
from tests.expect import challenge
from tests.expect import check_raw as refused

AUD = "https://api.example.com"
APPS = "tests.middleware.root_path_apps"
MISSING = (challenge(), None, "missing_token")
NO_ADMIN = (
    challenge("insufficient_scope", scope="admin"),
    "insufficient_scope",
    "insufficient_scope",
)


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD) as iss:
        yield iss


@pytest.fixture(scope="module")
def servers(issuer: Issuer) -> Iterator[dict[str, Server]]:
    """Every deployment under its real server, started in parallel, stopped at the end."""
    env = {"BEARERGUARD_ISSUER": issuer.issuer, "BEARERGUARD_AUDIENCE": AUD}
    specs = {
        # uvicorn's CLI reads UVICORN_* (click auto_envvar_prefix): --root-path /v1.
        "uvicorn": ("asgi", f"{APPS}:asgi_app", {**env, "UVICORN_ROOT_PATH": "/v1"}),
        "fastapi": ("asgi", f"{APPS}:fastapi_app", env),
        "mount": ("asgi", f"{APPS}:mounted_app", env),
        # gunicorn takes SCRIPT_NAME from its environment (PEP 3333 SCRIPT_NAME/PATH_INFO).
        "gunicorn": ("wsgi", f"{APPS}:wsgi_app", {**env, "SCRIPT_NAME": "/v1"}),
    }
    with running(specs) as started:
        yield started


def auth(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


def routed(resp: tuple[int, Any, bytes], route: str, sub: str | None) -> None:
    """The app answered 200 from *route*, for *sub*, having seen root path ``/v1``."""
    assert (resp[0], json.loads(resp[2])) == (200, {"route": route, "sub": sub, "root": "/v1"})


def check_deployment(url: str, issuer: Issuer, paths: tuple[str, ...]) -> None:
    """The rules hold for every spelling in *paths* (``""`` or ``"/v1"``) the app routes."""
    reader, admin = issuer.token(), issuer.token(scopes=["admin"])
    for root in paths:
        refused(fetch(url, "GET", f"{root}/api/private"), 401, *MISSING)
        www = challenge(scope="admin")
        refused(fetch(url, "GET", f"{root}/api/admin"), 401, www, None, "missing_token")
        refused(fetch(url, "GET", f"{root}/api/admin", auth(reader)), 403, *NO_ADMIN)
        routed(fetch(url, "GET", f"{root}/api/private", auth(reader)), "private", "user-1")
        routed(fetch(url, "GET", f"{root}/api/admin", auth(admin)), "admin", "user-1")
        routed(fetch(url, "GET", f"{root}/api/public"), "public", None)


def test_uvicorn_root_path(servers: dict[str, Server], issuer: Issuer) -> None:
    url = servers["uvicorn"].url
    # uvicorn --root-path /v1 serves "/api/private" with path "/v1/api/private".
    check_deployment(url, issuer, ("",))
    # "/v1/api/private" becomes path "/v1/v1/api/private": the app routes "/v1/api/private",
    # which it does not serve (Starlette's 404), so no rule applies and nothing leaks.
    resp = fetch(url, "GET", "/v1/api/private")
    assert (resp[0], resp[2]) == (404, b"Not Found")


def test_fastapi_root_path(servers: dict[str, Server], issuer: Issuer) -> None:
    # FastAPI(root_path="/v1") routes both "/v1/api/x" and "/api/x" to "/api/x".
    check_deployment(servers["fastapi"].url, issuer, ("/v1", ""))


def test_starlette_mount(servers: dict[str, Server], issuer: Issuer) -> None:
    url = servers["mount"].url
    check_deployment(url, issuer, ("/v1",))
    resp = fetch(url, "GET", "/api/private")  # outside the Mount: the outer app's 404
    assert (resp[0], resp[2]) == (404, b"Not Found")


def test_gunicorn_script_name(servers: dict[str, Server], issuer: Issuer) -> None:
    # PATH_INFO excludes SCRIPT_NAME (PEP 3333): the WSGI rules already judge the routed path.
    url = servers["gunicorn"].url
    check_deployment(url, issuer, ("/v1",))
    # gunicorn refuses a path outside SCRIPT_NAME (its ConfigurationProblem: 500) before any
    # app runs.
    status, _, raw = fetch(url, "GET", "/api/private")
    assert status == 500
    assert b"does not start with SCRIPT_NAME" in raw and b"route" not in raw


# -- in-process: the function, and a root path the middleware cannot see ----------------------


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("/api/x", "", "/api/x"),
        ("/v1/api/x", "/v1", "/api/x"),
        ("/v1", "/v1", ""),
        ("/v1/", "/v1", "/"),
        ("/v1x/api", "/v1", "/v1x/api"),  # not on a segment boundary: as is
        ("/api/x", "/v1", "/api/x"),  # does not start with the root path: as is
        ("/v1//api", "/v1/", "/api"),
        ("/a/b/api", "/a/b", "/api"),
    ],
)
def test_route_path_as_starlette(path: str, root: str, expected: str) -> None:
    assert route_path(path, root) == expected
    assert get_route_path({"type": "http", "path": path, "root_path": root}) == expected


def _sets_root_path(inner: Any) -> Any:
    """An app that, like FastAPI(root_path=...), sets its root path itself, behind a wrapper."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "root_path": "/v1"}
        await inner(scope, receive, send)

    return app


def test_explicit_root_path(issuer: Issuer) -> None:
    verifier = Verifier(issuer=issuer.issuer, audience=AUD, jwks_uri=issuer.jwks_uri)
    inner = Starlette(routes=[Route("/api/admin", lambda _: PlainTextResponse("admin"))])
    app = BearerAuthASGIMiddleware(
        _sets_root_path(inner),
        verifier=verifier,
        protect="/api",
        requirements={"/api/admin": Requirements(scopes=["admin"])},
        root_path="/v1",
    )
    with TestClient(app) as client:
        assert client.get("/v1/api/admin").status_code == 401
        r = client.get("/v1/api/admin", headers={"Authorization": f"Bearer {issuer.token()}"})
        assert r.status_code == 403
        r = client.get(
            "/v1/api/admin",
            headers={"Authorization": f"Bearer {issuer.token(scopes=['admin'])}"},
        )
        assert (r.status_code, r.text) == (200, "admin")
    with pytest.raises(ValueError, match="root_path"):
        BearerAuthASGIMiddleware(inner, verifier=verifier, root_path="v1")
