"""example_projects/mcp_server under uvicorn, driven by the official MCP SDK's own client.

The SDK client (``streamable_http_client`` + ``ClientCredentialsOAuthProvider``) starts from
a bare 401, follows ``resource_metadata`` (RFC 9728 §5.1) to the metadata document, finds the
authorization server (RFC 8414), gets a client-credentials token for exactly this resource
(RFC 8707) from ``bearerguard.testing.Issuer`` and calls tools. A client lacking
``read:messages`` gets a 403 naming that scope, steps up (asks for it), and is refused by
the issuer. Run once with a resource that has a path (the MCP URL) and once without.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest

pytest.importorskip("mcp")

import httpx2
from example_projects.demo import child_env, examples_dir, free_ports, running
from mcp.client.auth.exceptions import OAuthTokenError
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from bearerguard.testing import Issuer

HOST = "127.0.0.1"
READER, BASIC, API = ("reader", "reader-secret"), ("basic", "basic-secret"), ("api", "api-secret")


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:port
    resource: str  # BEARERGUARD_RESOURCE, as configured
    metadata_url: str  # RFC 9728 §3.1, path-inserted

    @property
    def mcp(self) -> str:
        return self.base + "/mcp"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience="https://unused.example.com", authorization_endpoint=True) as iss:
        iss.register_client(*READER, scopes=["read:messages"])
        iss.register_client(*BASIC, scopes=["profile"])
        iss.register_client(*API, scopes=())  # introspects
        yield iss


@pytest.fixture(scope="module", params=["with-path", "without-path"])
def server(request: pytest.FixtureRequest, issuer: Issuer) -> Iterator[Server]:
    (port,) = free_ports(1)
    base = f"http://{HOST}:{port}"
    if request.param == "with-path":
        resource, metadata = base + "/mcp", base + "/.well-known/oauth-protected-resource/mcp"
    else:
        resource, metadata = base, base + "/.well-known/oauth-protected-resource"
    env = child_env({"BEARERGUARD_ISSUER": issuer.issuer, "BEARERGUARD_RESOURCE": resource})
    # The documented command, run from the project's folder.
    argv = [str(Path(sys.executable).parent / "uvicorn"), "app:app", "--host", HOST]
    argv += ["--port", str(port)]
    spec = ("mcp_server", argv, examples_dir() / "mcp_server", base, env)
    with running([spec], ready_path=metadata[len(base) :]):
        yield Server(base, resource, metadata)


class Storage:
    """The SDK's TokenStorage, in memory; keeps the token so the test can introspect it."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@dataclass
class Run:
    exchanges: list[httpx2.Response]
    results: dict[str, Any]
    storage: Storage
    checked_resources: list[str | None]
    schemes: list[str]  # each request's Authorization scheme when it was sent ("" for none)
    error: BaseException | None = None

    def form(self, index: int) -> dict[str, list[str]]:
        return parse_qs(self.exchanges[index].request.content.decode())


def run_client(server: Server, issuer: Issuer, client: tuple[str, str], tools: list[str]) -> Run:
    """Connect the SDK's client with its client-credentials provider; call *tools*."""
    run = Run([], {}, Storage(), [], [])

    async def strict_resource(server_url: str, resource: str | None) -> None:
        # A strict client: the metadata names this resource byte for byte.
        run.checked_resources.append(resource)
        assert resource == server.resource

    async def record(response: httpx2.Response) -> None:
        if response.status_code >= 400 or response.request.url.path.endswith("/token"):
            await response.aread()  # never an event stream: kept for the assertions
        run.exchanges.append(response)
        # The SDK retries the same request object with the token added: look now.
        run.schemes.append(response.request.headers.get("authorization", " ").split(" ")[0])

    async def main() -> None:
        auth = ClientCredentialsOAuthProvider(
            server.mcp, run.storage, *client, issuer=issuer.issuer
        )
        # OAuthClientProvider(validate_resource_url=...), which this subclass does not forward.
        auth._validate_resource_url_callback = strict_resource
        with anyio.fail_after(30):
            async with (
                httpx2.AsyncClient(auth=auth, event_hooks={"response": [record]}) as http,
                streamable_http_client(server.mcp, http_client=http) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                for tool in tools:
                    run.results[tool] = await session.call_tool(tool, {})

    try:
        anyio.run(main)
    except BaseException as exc:  # the SDK raises an exception group from its task group
        run.error = exc
    return run


def leaves(exc: BaseException) -> list[BaseException]:
    inner = getattr(exc, "exceptions", None)
    return [leaf for e in inner for leaf in leaves(e)] if inner else [exc]


def introspect(issuer: Issuer, token: str) -> dict[str, Any]:
    basic = base64.b64encode(f"{API[0]}:{API[1]}".encode()).decode()
    response = httpx.post(
        issuer.url + "/introspect",
        data={"token": token},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def test_a_bare_401_names_the_metadata_whose_resource_is_the_setting(server: Server) -> None:
    response = httpx.post(server.mcp, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 401
    bearer = response.headers["www-authenticate"].split(", DPoP ")[0]
    # RFC 6750 §3.1: no error code without credentials; RFC 9728 §5.1: where the metadata is.
    assert bearer == f'Bearer realm="api", resource_metadata="{server.metadata_url}"'
    document = httpx.get(server.metadata_url)
    assert document.status_code == 200
    assert document.headers["content-type"] == "application/json"
    doc = json.loads(document.content)
    assert doc["resource"] == server.resource  # byte for byte, never built from Host
    assert f'"resource":"{server.resource}"'.encode() in document.content
    # The same document whichever Host the client used (RFC 9728 §3.3).
    other = httpx.get(server.metadata_url.replace(HOST, "localhost"))
    assert json.loads(other.content)["resource"] == server.resource


def test_the_sdk_client_discovers_gets_a_token_for_this_resource_and_calls_tools(
    server: Server, issuer: Issuer
) -> None:
    run = run_client(server, issuer, READER, ["whoami", "read_messages"])
    assert run.error is None, leaves(run.error)
    first, prm, asm, token = run.exchanges[:4]
    assert (first.request.method, str(first.request.url), first.status_code) == (
        "POST",
        server.mcp,
        401,
    )
    # Bare first; client_secret_basic at the token endpoint; then the bearer token.
    assert run.schemes[:5] == ["", "", "", "Basic", "Bearer"]
    assert (str(prm.request.url), prm.status_code) == (server.metadata_url, 200)
    assert (str(asm.request.url), asm.status_code) == (
        issuer.url + "/.well-known/oauth-authorization-server",
        200,
    )
    assert (str(token.request.url), token.status_code) == (issuer.url + "/token", 200)
    assert run.form(3)["grant_type"] == ["client_credentials"]
    assert run.form(3)["resource"] == [server.resource]  # RFC 8707, exactly this resource
    assert run.checked_resources == [server.resource]
    assert run.storage.tokens is not None
    answer = introspect(issuer, run.storage.tokens.access_token)
    assert (answer["active"], answer["aud"], answer["client_id"]) == (
        True,
        server.resource,
        "reader",
    )
    whoami = run.results["whoami"]
    assert whoami.is_error is False
    assert whoami.structured_content == {
        "sub": "reader",
        "client_id": "reader",
        "scopes": ["read:messages"],
    }
    messages = run.results["read_messages"]
    assert messages.is_error is False
    assert messages.structured_content == {
        "result": [
            "Welcome to the bearerguard MCP example.",
            "Tokens are checked before tools run.",
        ]
    }
    # Nothing else was refused, and the token was fetched once.
    assert [r.status_code for r in run.exchanges[4:] if r.status_code >= 400] == []


def test_a_tool_needing_a_scope_the_client_lacks_is_refused_with_403_and_its_scope(
    server: Server, issuer: Issuer
) -> None:
    run = run_client(server, issuer, BASIC, ["whoami", "read_messages"])
    assert run.results["whoami"].structured_content == {
        "sub": "basic",
        "client_id": "basic",
        "scopes": ["profile"],
    }
    assert "read_messages" not in run.results
    refused = [r for r in run.exchanges if r.status_code == 403]
    assert len(refused) == 1
    (forbidden,) = refused
    assert str(forbidden.request.url) == server.mcp
    assert json.loads(forbidden.request.content)["params"]["name"] == "read_messages"
    bearer = forbidden.headers["www-authenticate"].split(", DPoP ")[0]
    assert bearer == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token lacks a required scope", '
        f'scope="read:messages", resource_metadata="{server.metadata_url}"'
    )
    assert forbidden.json() == {
        "error": "insufficient_scope",
        "error_description": "The access token lacks a required scope",
        "reason": "insufficient_scope",
    }
    # The SDK acts on it (step-up, SEP-2350): it asks for what it had plus the named scope...
    step_up = run.exchanges[run.exchanges.index(forbidden) + 1]
    assert (str(step_up.request.url), step_up.status_code) == (issuer.url + "/token", 400)
    form = parse_qs(step_up.request.content.decode())
    assert form["scope"] == ["profile read:messages"]
    assert form["resource"] == [server.resource]
    # ...which the issuer refuses: this client may not have it. The SDK raises that.
    assert step_up.json()["error"] == "invalid_scope"
    assert run.error is not None
    errors = leaves(run.error)
    assert [type(e) for e in errors] == [OAuthTokenError]
    assert "invalid_scope" in str(errors[0])


def test_the_issuer_serves_the_authorization_endpoint_it_advertises(issuer: Issuer) -> None:
    doc = httpx.get(issuer.url + "/.well-known/oauth-authorization-server").json()
    assert doc["authorization_endpoint"] == issuer.url + "/authorize"
    assert doc["response_types_supported"] == []
    for method in ("GET", "POST"):  # RFC 6749 §3.1: GET must be supported
        response = httpx.request(method, issuer.url + "/authorize?response_type=code")
        assert response.status_code == 400
        assert response.json()["error"] == "unsupported_response_type"


def test_the_readme_dev_issuer_command_grants_the_client_its_scope() -> None:
    argv = [str(Path(sys.executable).parent / "bearerguard"), "dev-issuer", "--port", "0"]
    argv += ["--authorization-endpoint", "--client-id", "agent", "--client-secret", "s3"]
    argv += ["--client-scope", "read:messages"]
    popen = subprocess.Popen(argv, stdout=subprocess.PIPE, env=child_env({}))
    watchdog = threading.Timer(15, popen.kill)  # bounds the blocking reads below
    watchdog.start()
    try:
        assert popen.stdout is not None
        line = b""
        while not line.strip().startswith(b"issuer:"):
            line = popen.stdout.readline()
            assert line, "the dev issuer exited"
        url = line.split(b"issuer:", 1)[1].strip().decode().rstrip("/")
        doc = httpx.get(url + "/.well-known/oauth-authorization-server").json()
        assert doc["authorization_endpoint"] == url + "/authorize"
        token = httpx.post(
            url + "/token", data={"grant_type": "client_credentials"}, auth=("agent", "s3")
        )
        assert token.status_code == 200
        assert token.json()["scope"] == "read:messages"
    finally:
        watchdog.cancel()
        popen.terminate()
        try:
            popen.wait(5)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)
        if popen.stdout is not None:
            popen.stdout.close()
