"""bearerguard.adapters.mcp: per-tool role and claim-path requirements (Requirements in
tool_scopes), against a real MCPServer served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("mcp")

from mcp.server.mcpserver import MCPServer

from bearerguard import Requirements, Verifier
from bearerguard.adapters.mcp import protect_mcp
from bearerguard.testing import Issuer
from tests.adapters._roles import (
    CLAIM_BODY,
    CLAIM_WWW,
    NESTED_OK,
    NESTED_REFUSED,
    ROLE_BODY,
    ROLE_CLAIMS,
    ROLE_WWW,
    keycloak,
)
from tests.adapters.starlette.servers import serve

MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
    "content-type": "application/json",
}


@pytest.fixture(scope="module")
def ran() -> list[str]:
    return []


@pytest.fixture(scope="module")
def base(issuer: Issuer, ran: list[str]) -> Iterator[str]:
    server = MCPServer("roles")

    @server.tool()
    def delete() -> str:
        ran.append("delete")
        return "deleted"

    @server.tool()
    def publish() -> str:
        ran.append("publish")
        return "published"

    @server.tool()
    def tenant() -> str:
        ran.append("tenant")
        return "acme"

    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience, role_claims=ROLE_CLAIMS)
    app = server.streamable_http_app(stateless_http=True, json_response=True)
    tools = {
        "delete": Requirements(roles=["admin"]),
        "publish": Requirements(any_roles=["admin", "editor"]),
        "tenant": Requirements.claim("https://example.com/tenant", equals="acme"),
    }
    with serve(protect_mcp(app, verifier, tool_scopes=tools)) as url:
        yield url


def call(base: str, name: str, token: str) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": {}},
    }
    headers = dict(MCP_HEADERS, authorization=f"Bearer {token}")
    return httpx.post(base + "/mcp", content=json.dumps(body), headers=headers)


def refused(resp: httpx.Response, www: str, body: dict[str, Any]) -> None:
    assert resp.status_code == 403
    assert resp.headers.get_list("www-authenticate") == [www]
    assert resp.json() == body
    assert resp.headers["cache-control"] == "no-store"


def test_a_tool_needing_a_role(base: str, issuer: Issuer, ran: list[str]) -> None:
    ran.clear()
    for claims in [keycloak("editor"), {}, {"roles": ["admin"]}]:
        refused(call(base, "delete", issuer.token(claims=claims)), ROLE_WWW, ROLE_BODY)
    assert ran == []
    ok = call(base, "delete", issuer.token(claims=keycloak("admin")))
    assert ok.status_code == 200
    assert ok.json()["result"]["structuredContent"] == {"result": "deleted"}
    assert ran == ["delete"]


def test_a_tool_needing_any_role(base: str, issuer: Issuer, ran: list[str]) -> None:
    ran.clear()
    refused(call(base, "publish", issuer.token(claims=keycloak("viewer"))), ROLE_WWW, ROLE_BODY)
    assert ran == []
    for have in ["admin", "editor"]:
        assert call(base, "publish", issuer.token(claims=keycloak(have))).status_code == 200
    assert ran == ["publish", "publish"]


def test_a_tool_needing_a_namespaced_claim(base: str, issuer: Issuer, ran: list[str]) -> None:
    ran.clear()
    for claims in NESTED_REFUSED:
        refused(call(base, "tenant", issuer.token(claims=claims)), CLAIM_WWW, CLAIM_BODY)
    assert ran == []
    assert call(base, "tenant", issuer.token(claims=NESTED_OK)).status_code == 200
    assert ran == ["tenant"]
