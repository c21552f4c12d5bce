"""An MCP server (official ``mcp`` SDK, streamable HTTP) protected by bearerguard (README.md).

Start it from this folder: ``uvicorn app:app --host 127.0.0.1 --port 8000``.
Every ``BEARERGUARD_*`` environment variable configures it; set ``BEARERGUARD_RESOURCE`` to
this server's MCP URL (``http://127.0.0.1:8000/mcp``) so that clients discover the
authorization server from the 401 (RFC 9728) and ask for tokens for exactly this resource.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer

from bearerguard import Settings, Verifier
from bearerguard.adapters.mcp import access_token, protect_mcp

# Fails here, at startup, when a setting is missing or wrong.
verifier = Verifier(Settings.from_env())

# No auth= here: bearerguard answers every refusal (RFC 6750, RFC 9728, RFC 9470, DPoP).
server = MCPServer("bearerguard-messages", instructions="Messages, for callers with a token.")

MESSAGES = ["Welcome to the bearerguard MCP example.", "Tokens are checked before tools run."]


@server.tool()
def whoami(ctx: Context) -> dict[str, Any]:
    """Who is calling: the subject, client and scopes of the caller's access token."""
    token = access_token(ctx)
    return {"sub": token.subject, "client_id": token.client_id, "scopes": sorted(token.scopes)}


@server.tool()
def read_messages(ctx: Context) -> list[str]:
    """The messages; needs the read:messages scope (checked before this runs)."""
    return list(MESSAGES)


app = protect_mcp(
    server.streamable_http_app(),  # the MCP endpoint is /mcp
    verifier,
    tool_scopes={"read_messages": ["read:messages"]},
)
