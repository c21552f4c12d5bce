"""MCP: ``protect_mcp`` fetches the keys at start-up (the lifespan scope), under uvicorn.

Issue #19 §3 with a real MCPServer and a test issuer of its own: the SDK's own lifespan (its
session manager) still runs, so a tool call works; an issuer that is down never fails
start-up, and the first call then gets 503 ``keys_unavailable``. The SDK's TokenVerifier
(``BearerTokenVerifier``) fetches when it is built.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("mcp")
pytest.importorskip("uvicorn")

from mcp.server.mcpserver import MCPServer

from bearerguard import Verifier
from bearerguard.adapters.mcp import BearerTokenVerifier, protect_mcp
from bearerguard.testing import Issuer
from tests.adapters.starlette.servers import serve
from tests.middleware.warm_servers import assert_keys_unavailable, down_issuer, eventually

HEADERS = {
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
    "content-type": "application/json",
}
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ping"}}


@pytest.fixture
def own_issuer() -> Iterator[Issuer]:
    with Issuer() as issuer:
        yield issuer


def make_app(verifier: Verifier) -> Any:
    server = MCPServer("warm")

    @server.tool()
    def ping() -> str:
        return "pong"

    app = server.streamable_http_app(stateless_http=True, json_response=True)
    return protect_mcp(app, verifier, tool_scopes={"ping": ["read:ping"]})


def call(url: str, token: str) -> httpx.Response:
    headers = {**HEADERS, "authorization": f"Bearer {token}"}
    return httpx.post(url + "/mcp", content=json.dumps(CALL), headers=headers)


def test_protect_mcp_fetches_the_keys_at_start_up(own_issuer: Issuer) -> None:
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience)
    app = make_app(verifier)
    assert own_issuer.discovery_fetches == 0  # building the app fetches nothing
    with serve(app) as url:
        assert eventually(lambda: own_issuer.jwks_fetches == 1)  # before any request
        response = call(url, own_issuer.token(scopes=["read:ping"]))
    assert response.status_code == 200  # the SDK's session manager was started
    assert response.json()["result"]["structuredContent"] == {"result": "pong"}
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_the_sdk_token_verifier_fetches_when_built(own_issuer: Issuer) -> None:
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience)
    BearerTokenVerifier(verifier)
    assert eventually(verifier.ready)
    assert own_issuer.jwks_fetches == 1


def test_start_up_with_the_issuer_down_succeeds_and_answers_503() -> None:
    with down_issuer() as issuer:
        verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience)
        with serve(make_app(verifier)) as url:
            assert_keys_unavailable(call(url, issuer.token(scopes=["read:ping"])))
