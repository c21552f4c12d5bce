"""Real servers on 127.0.0.1: the test project under uvicorn (ASGI), the contract apps under
gunicorn (WSGI); keys fetched over HTTP from the test issuer."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.expect import with_dpop

pytest.importorskip("django")
pytest.importorskip("httpx")

import httpx

from bearerguard.testing import Issuer
from tests.adapters.django.helpers import (
    CLAIM_DESCRIPTION,
    MISSING,
    MISSING_BODY,
    SCOPE_DESCRIPTION,
    body,
    insufficient,
    invalid,
)

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(command: list[str], issuer: Issuer, port: int) -> Iterator[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
        ),
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": str(issuer.audience),
        "BEARERGUARD_JWKS_URI": issuer.jwks_uri,
        "BEARERGUARD_TOKEN_LOCATIONS": "header,query,form",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {process.stderr.read()!r}") from None  # type: ignore[union-attr]
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture(scope="module")
def uvicorn_server(issuer: Issuer) -> Iterator[str]:
    port = _free_port()
    command = [
        str(BIN / "uvicorn"),
        "tests.adapters.django.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    yield from _serve(command, issuer, port)


def _gunicorn(issuer: Issuer, app: str) -> Iterator[str]:
    port = _free_port()
    command = [str(BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "--log-level", "warning", app]
    yield from _serve(command, issuer, port)


@pytest.fixture(scope="module", params=["django_app", "drf_app"])
def contract_server(request: pytest.FixtureRequest, issuer: Issuer) -> Iterator[str]:
    yield from _gunicorn(issuer, f"tests.contract.apps.{request.param}:app")


def _refused(
    response: httpx.Response, status: int, challenge: str | None, expected: Mapping[str, object]
) -> None:
    assert response.status_code == status
    assert response.headers.get("www-authenticate") == with_dpop(challenge)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.content == json.dumps(expected, separators=(",", ":")).encode()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_uvicorn_async_stack(uvicorn_server: str, issuer: Issuer) -> None:
    base = uvicorn_server
    response = httpx.get(base + "/async-private", headers=auth(issuer.token(sub="live")))
    assert response.status_code == 200
    assert response.json() == {"sub": "live", "user": "TokenUser"}
    response = httpx.get(base + "/cbv/async-method", headers=auth(issuer.token(scopes=[])))
    _refused(
        response,
        403,
        insufficient("read:messages"),
        body("insufficient_scope", SCOPE_DESCRIPTION, "insufficient_scope"),
    )
    _refused(httpx.get(base + "/protected/thing"), 401, MISSING, MISSING_BODY)
    expired = "The access token expired"
    response = httpx.get(base + "/public", headers=auth(issuer.token(expires_in=-3600)))
    _refused(response, 401, invalid(expired), body("invalid_token", expired, "expired"))
    response = httpx.get(base + "/drf/me", headers=auth(issuer.token(sub="drf")))
    assert response.status_code == 200
    assert response.json() == {"sub": "drf", "user": "TokenUser", "username": "drf"}


def test_contract_app(contract_server: str, issuer: Issuer) -> None:
    base = contract_server
    assert httpx.get(base + "/api/public").json() == {"message": "public"}
    token = issuer.token(sub="c", scopes=["read:messages"], claims={"tenant": "acme"})
    response = httpx.post(base + "/api/private", headers=auth(token))
    assert response.status_code == 200
    data = response.json()
    assert (data["sub"], data["scopes"], data["claims"]["tenant"]) == (
        "c",
        ["read:messages"],
        "acme",
    )
    for path in ("/api/private-scoped", "/api/private-any", "/api/private-tenant"):
        assert httpx.get(base + path, headers=auth(token)).status_code == 200, path
    response = httpx.get(base + "/api/private-scoped-rw", headers=auth(token))
    _refused(
        response,
        403,
        insufficient("read:messages write:messages"),
        body("insufficient_scope", SCOPE_DESCRIPTION, "insufficient_scope"),
    )
    response = httpx.get(base + "/api/private-roles", headers=auth(token))
    _refused(
        response,
        403,
        insufficient(),
        body("insufficient_scope", CLAIM_DESCRIPTION, "claim_requirement_failed"),
    )
    _refused(httpx.get(base + "/api/private"), 401, MISSING, MISSING_BODY)
    perm = issuer.token(claims={"permissions": ["read:messages"]}, scopes=())
    response = httpx.post(base + "/api/private-permission", data={"access_token": perm})
    assert response.status_code == 200
    response = httpx.get(base + "/api/private-tenant", params={"access_token": token})
    assert response.status_code == 200
