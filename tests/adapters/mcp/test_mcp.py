"""bearerguard.adapters.mcp: protect_mcp (tool requirements before dispatch) and the SDK
TokenVerifier, against a real MCPServer served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("mcp")

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context, MCPServer

from bearerguard import KeysUnavailable, Requirements, Verifier
from bearerguard.adapters.mcp import BearerTokenVerifier, ToolRequirements, protect_mcp
from bearerguard.adapters.mcp import access_token as bearerguard_token
from bearerguard.testing import Issuer
from bearerguard.testing.dpop import DPoPKey
from tests.adapters.starlette.servers import serve

MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
}
LACKS = (
    'Bearer realm="api", error="insufficient_scope", '
    'error_description="The access token lacks a required scope", scope="read:secret"'
)


def build_server(ran: list[str]) -> MCPServer:
    server = MCPServer("test")

    @server.tool()
    def whoami(ctx: Context) -> dict[str, Any]:
        sdk = get_access_token()
        assert sdk is not None
        ran.append("whoami")
        return {"sdk": sdk.model_dump(exclude={"claims"}), "sub": bearerguard_token(ctx).subject}

    @server.tool()
    def secret() -> str:
        ran.append("secret")
        return "s3cret"

    @server.tool()
    def admin() -> str:
        ran.append("admin")
        return "ok"

    return server


@pytest.fixture(scope="module")
def ran() -> list[str]:
    return []


@pytest.fixture(scope="module")
def base(issuer: Issuer, ran: list[str]) -> Iterator[str]:
    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience)
    app = build_server(ran).streamable_http_app(stateless_http=True, json_response=True)
    tools = {"secret": ["read:secret"], "admin": Requirements(acr_values=["mfa"])}
    with serve(protect_mcp(app, verifier, tool_scopes=tools)) as url:
        yield url


def call(name: Any, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, **params}}


def post(base: str, body: Any, token: str | None, path: str = "/mcp") -> httpx.Response:
    headers = dict(MCP_HEADERS, **({"authorization": f"Bearer {token}"} if token else {}))
    content = body if isinstance(body, (str, bytes)) else json.dumps(body)
    headers["content-type"] = "application/json"
    return httpx.post(base + path, content=content, headers=headers)


def bearer(response: httpx.Response) -> str:
    return response.headers["www-authenticate"].split(", DPoP ")[0]


def test_no_token_is_a_bare_401(base: str) -> None:
    response = post(base, call("whoami", arguments={}), None)
    assert response.status_code == 401
    assert bearer(response) == 'Bearer realm="api"'  # RFC 6750 §3.1: no error code


def test_a_tool_lacking_its_scope_is_refused_before_it_runs(
    base: str, issuer: Issuer, ran: list[str]
) -> None:
    ran.clear()
    response = post(base, call("secret", arguments={}), issuer.token(scopes=["other"]))
    assert response.status_code == 403
    assert bearer(response) == LACKS
    assert response.json()["reason"] == "insufficient_scope"
    assert ran == []


def test_a_tool_with_its_scope_runs(base: str, issuer: Issuer, ran: list[str]) -> None:
    ran.clear()
    response = post(base, call("secret", arguments={}), issuer.token(scopes=["read:secret"]))
    assert response.status_code == 200
    assert response.json()["result"]["structuredContent"] == {"result": "s3cret"}
    assert ran == ["secret"]


def test_an_open_tool_sees_both_tokens(base: str, issuer: Issuer) -> None:
    token = issuer.token("alice", scopes=["b", "a"], client_id="agent-7")
    response = post(base, call("whoami", arguments={}), token)
    assert response.status_code == 200
    text = response.json()["result"]["content"][0]["text"]
    doc = json.loads(text)
    assert doc["sub"] == "alice"
    sdk = doc["sdk"]
    assert (sdk["subject"], sdk["client_id"], sdk["scopes"]) == ("alice", "agent-7", ["a", "b"])
    assert sdk["resource"] == "https://api.example.com"
    assert sdk["token"] == ""  # bearerguard never keeps the token string
    assert isinstance(sdk["expires_at"], int)


SECRET_LAST = (
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","name":"secret"}}'
)
WHOAMI_LAST = (
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret","name":"whoami"}}'
)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([call("whoami", arguments={}), call("secret", arguments={})], "/mcp"),  # a batch
        (SECRET_LAST, "/mcp"),  # duplicate names: the one the parsers keep is checked
        (call(None), "/mcp"),  # no usable name: every tool's requirements
        ({"jsonrpc": "2.0", "id": 1, "method": "tools/call"}, "/mcp"),
        (call("secret", arguments={}), "/mcp/"),  # another spelling of the endpoint
    ],
)
def test_no_spelling_of_a_call_escapes_the_check(
    base: str, issuer: Issuer, ran: list[str], body: Any, path: str
) -> None:
    ran.clear()
    response = post(base, body, issuer.token(scopes=["other"]), path)
    assert response.status_code == 403
    assert bearer(response).startswith('Bearer realm="api", error="insufficient_scope"')
    assert ran == []


def test_duplicate_names_run_the_tool_that_was_checked(
    base: str, issuer: Issuer, ran: list[str]
) -> None:
    ran.clear()
    response = post(base, WHOAMI_LAST, issuer.token(scopes=["other"]))
    assert response.status_code == 200
    assert ran == ["whoami"]


def test_a_dpop_bound_token_calls_a_scoped_tool_with_one_proof(
    base: str, issuer: Issuer, ran: list[str]
) -> None:
    # The proof is checked once (replay-protected), never a second time for the tool.
    ran.clear()
    key = DPoPKey()
    token = issuer.token(scopes=["read:secret"], claims={"cnf": {"jkt": key.thumbprint}})
    headers = dict(MCP_HEADERS, authorization=f"DPoP {token}")
    headers["dpop"] = key.proof("POST", base + "/mcp", access_token=token)
    response = httpx.post(base + "/mcp", json=call("secret", arguments={}), headers=headers)
    assert response.status_code == 200
    assert ran == ["secret"]
    replayed = httpx.post(base + "/mcp", json=call("secret", arguments={}), headers=headers)
    assert replayed.status_code == 401
    assert 'error="invalid_dpop_proof"' in replayed.headers["www-authenticate"]
    assert ran == ["secret"]


def test_a_step_up_requirement_answers_rfc_9470(base: str, issuer: Issuer, ran: list[str]) -> None:
    ran.clear()
    response = post(base, call("admin", arguments={}), issuer.token(claims={"acr": "pwd"}))
    assert response.status_code == 401
    challenge = bearer(response)
    assert 'error="insufficient_user_authentication"' in challenge
    assert 'acr_values="mfa"' in challenge
    assert ran == []


def test_a_path_the_app_does_not_serve_is_refused_at_startup(issuer: Issuer) -> None:
    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience)
    app = build_server([]).streamable_http_app()
    with pytest.raises(ValueError, match="no route at path='/api/mcp'"):
        protect_mcp(app, verifier, path="/api/mcp")


def asgi(app: Any, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run *app* on one POST /mcp fed *chunks*; return what it sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": [], "root_path": ""}
    asyncio.run(app(scope, receive, send))
    return sent


def test_an_oversized_body_is_413_and_a_vanished_client_gets_nothing(issuer: Issuer) -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append("app")

    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience)
    gate = ToolRequirements(app, verifier, tools={"secret": ["s"]}, max_body_bytes=10)
    sent = asgi(gate, [{"type": "http.request", "body": b"x" * 11, "more_body": True}])
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == -32600
    assert asgi(gate, [{"type": "http.request", "body": b"{", "more_body": True}]) == []
    assert reached == []


def test_the_token_verifier_maps_the_token(issuer: Issuer) -> None:
    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience)
    sdk_verifier = BearerTokenVerifier(verifier)
    token = issuer.token("bob", scopes=["x", "a"], client_id="cli")
    mapped = asyncio.run(sdk_verifier.verify_token(token))
    assert mapped is not None
    assert (mapped.token, mapped.subject, mapped.client_id) == (token, "bob", "cli")
    assert (mapped.scopes, mapped.resource) == (["a", "x"], "https://api.example.com")
    assert mapped.claims is not None and mapped.claims["iss"] == issuer.issuer
    assert mapped.expires_at == mapped.claims["exp"]
    assert asyncio.run(sdk_verifier.verify_token(token + "x")) is None
    bound = issuer.token(claims={"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}})
    assert asyncio.run(sdk_verifier.verify_token(bound)) is None  # the SDK cannot check DPoP


def test_the_token_verifier_raises_when_keys_cannot_be_had(issuer: Issuer) -> None:
    sdk_verifier = BearerTokenVerifier(Verifier(issuer=issuer.issuer, audience=issuer.audience))
    token = issuer.token()
    with issuer.outage(), pytest.raises(KeysUnavailable):
        asyncio.run(sdk_verifier.verify_token(token))


def test_the_token_verifier_inside_the_sdks_own_auth(issuer: Issuer) -> None:
    resource = "http://127.0.0.1/mcp"
    verifier = Verifier(issuer=issuer.issuer, audience=resource)
    server = MCPServer(
        "sdk-auth",
        token_verifier=BearerTokenVerifier(verifier),
        auth=AuthSettings(
            issuer_url=issuer.issuer, resource_server_url=resource, validate_token_resource=True
        ),
    )

    @server.tool()
    def ping() -> str:
        return "pong"

    with serve(server.streamable_http_app(stateless_http=True, json_response=True)) as url:
        ok = post(url, call("ping", arguments={}), issuer.token(audience=resource))
        assert ok.status_code == 200
        assert ok.json()["result"]["structuredContent"] == {"result": "pong"}
        # The trade-off: the SDK answers a missing token with an error code (RFC 6750 §3.1
        # says none) and a token for another audience alike.
        missing = post(url, call("ping", arguments={}), None)
        assert missing.status_code == 401
        assert 'error="invalid_token"' in missing.headers["www-authenticate"]
        wrong = post(url, call("ping", arguments={}), issuer.token())
        assert wrong.status_code == 401
