"""MCP adapter: bearerguard in front of an official ``mcp`` SDK server (streamable HTTP).

Two ways, with their trade-offs:

1. :func:`protect_mcp` (recommended) wraps the SDK's streamable-HTTP ASGI app
   (``MCPServer.streamable_http_app()``, configured *without* ``auth=``) in
   :class:`~bearerguard.middleware.asgi.BearerAuthASGIMiddleware`. MCP clients get
   bearerguard's answers exactly: a bare ``401`` without ``error`` when no token is sent
   (RFC 6750 §3.1), ``400`` for a malformed request, ``resource_metadata`` in every
   challenge and the RFC 9728 document itself, RFC 9470 step-up, DPoP (RFC 9449), ``503``
   with ``Retry-After`` when keys cannot be had, and per-tool requirements checked on
   ``tools/call`` *before* the tool runs: a real ``403 insufficient_scope`` whose
   ``scope="…"`` names what the tool needs (MCP clients step up from it).
2. :class:`BearerTokenVerifier` implements the SDK's ``TokenVerifier`` for users who keep
   ``MCPServer(auth=AuthSettings(...), token_verifier=...)``. Tokens are verified by
   bearerguard, but the SDK answers: ``error="invalid_token"`` even without a token, no
   ``scope=`` on a ``401``, no ``400``/``503`` (a key outage raises, so the SDK answers
   ``500``), no DPoP (a sender-constrained token is refused), scopes only server-wide.

The verified token is available to tools either way: the SDK's ``get_access_token()``
(``mcp.server.auth.middleware.auth_context``) and the session ownership checks see an SDK
``AccessToken``; with :func:`protect_mcp`, :func:`access_token` returns bearerguard's own.
The SDK ``AccessToken.token`` is ``""`` there: bearerguard never keeps the token string.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import pydantic_core
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken as MCPAccessToken
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE
from starlette.authentication import AuthCredentials

from bearerguard.errors import BearerError, Unavailable
from bearerguard.middleware.asgi import (
    SCOPE_KEY,
    ASGIApp,
    BearerAuthASGIMiddleware,
    Message,
    Receive,
    Scope,
    Send,
    send_refusal,
)
from bearerguard.paths import normalize_path, route_path
from bearerguard.requirements import Requirements
from bearerguard.tokens import AccessToken
from bearerguard.verifier import Verifier

__all__ = ["BearerTokenVerifier", "ToolRequirements", "access_token", "protect_mcp", "to_mcp_token"]

#: JSON-RPC 2.0 §5.1: invalid request.
_INVALID_REQUEST = -32600


def to_mcp_token(token: AccessToken, verifier: Verifier, raw: str = "") -> MCPAccessToken:
    """The SDK's ``AccessToken`` for a bearerguard *token*: subject, client id, scopes,
    expiry, resource (``BEARERGUARD_RESOURCE`` when ``aud`` names it, else the accepted
    audience) and every claim. *raw* is the token string (``""`` when not kept)."""
    exp = token.claims.get("exp")
    accepted = verifier.settings.tuple_of("audience")
    resource = verifier.settings.resource
    if resource not in token.audience:
        resource = next((aud for aud in token.audience if aud in accepted), None)
    return MCPAccessToken(
        token=raw,
        client_id=token.client_id or "",
        scopes=sorted(token.scopes),
        expires_at=int(exp) if isinstance(exp, (int, float)) else None,
        resource=resource,
        subject=token.subject,
        claims=dict(token.claims),
    )


class BearerTokenVerifier:
    """The SDK's ``TokenVerifier`` protocol, backed by a bearerguard :class:`Verifier`.

    Example::

        verifier = Verifier(Settings.from_env())
        server = MCPServer("api", token_verifier=BearerTokenVerifier(verifier), auth=AuthSettings(
            issuer_url=..., resource_server_url="https://api.example.com/mcp",
            validate_token_resource=True, required_scopes=[]))

    ``verify_token`` returns ``None`` for a token that fails verification, and for a
    sender-constrained one (``cnf``: the SDK cannot check its proof). It raises
    ``KeysUnavailable`` (or another ``Unavailable``) when keys cannot be had: that is not the
    token's fault, and ``None`` would make the client throw a good token away.
    """

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        verifier.warm()  # built with the server, at start-up: fetch the keys in the background

    async def verify_token(self, token: str) -> MCPAccessToken | None:
        """Verify *token*; the SDK's ``AccessToken`` or ``None``."""
        try:
            verified = await self.verifier.verify_async(token)
            self.verifier.binding.check_bearer(verified)  # the SDK only speaks Bearer
        except Unavailable:
            raise  # keys or introspection unreachable (503): not the token's fault
        except BearerError:
            return None
        return to_mcp_token(verified, self.verifier, token)


def access_token(ctx: Any) -> AccessToken:
    """The bearerguard :class:`~bearerguard.AccessToken` of the request a tool serves.

    *ctx* is the SDK's ``Context`` (a tool's ``ctx: Context`` argument). Raises
    ``RuntimeError`` when the request did not pass :func:`protect_mcp`.
    """
    request = getattr(getattr(ctx, "request_context", None), "request", None)
    token = getattr(request, "scope", {}).get(SCOPE_KEY)
    if not isinstance(token, AccessToken):
        raise RuntimeError("no bearerguard token: wrap the app with protect_mcp(...)")
    return token


def _requirements(value: Requirements | Iterable[str] | str) -> Requirements:
    return value if isinstance(value, Requirements) else Requirements(scopes=value)


def _tool_names(message: Any) -> set[str]:
    """Names of the tools a JSON-RPC message (or batch) calls; ``"*"`` for one unnamed."""
    names: set[str] = set()
    for item in message if isinstance(message, list) else [message]:
        if isinstance(item, dict) and item.get("method") == "tools/call":
            params = item.get("params")
            name = params.get("name") if isinstance(params, dict) else None
            names.add(name if isinstance(name, str) else "*")
    return names


class ToolRequirements:
    """ASGI app checking per-tool requirements on ``tools/call`` before the SDK dispatches.

    Used by :func:`protect_mcp`, inside the authentication middleware. The POST body at
    *path* is read (at most *max_body_bytes*: larger ones get ``413``, as from the SDK)
    and replayed to *app*. It is parsed as both of the SDK's parsers would (``json``
    and ``pydantic_core``), so no reading of it escapes the check; a body neither can
    parse is passed on (the SDK answers a parse error; no tool runs).
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier,
        *,
        path: str = "/mcp",
        tools: Mapping[str, Requirements | Iterable[str] | str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
    ) -> None:
        self.app, self.verifier, self.max_body_bytes = app, verifier, max_body_bytes
        self.path = normalize_path(path)
        routes = getattr(app, "routes", None)
        if isinstance(routes, list) and not any(getattr(r, "path", None) == path for r in routes):
            # A path the app does not serve would leave its real MCP endpoint unguarded.
            raise ValueError(f"the app has no route at path={path!r} (its streamable_http_path)")
        self.tools = {name: _requirements(req) for name, req in (tools or {}).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope.get("path", "/"), scope.get("root_path", ""))
        token = scope.get(SCOPE_KEY)
        if scope.get("method") == "POST" and self.tools and normalize_path(path) == self.path:
            body, receive = await _read_body(receive, self.max_body_bytes)
            if body is None:
                return  # the client went away: nobody to answer, nothing to run
            if len(body) > self.max_body_bytes:
                await _json_rpc_error(scope, receive, send, 413, _INVALID_REQUEST, "too large")
                return
            needs = Requirements.all_of(*(self._needs(name) for name in _parsed_names(body)))
            if needs is not None:
                if not isinstance(token, AccessToken):  # the endpoint is not protected
                    refusal = self.verifier.render(self.verifier.missing(), needs)
                    await send_refusal(scope, receive, send, refusal)
                    return
                # Not a second decide(): a DPoP proof is single-use, this one is spent.
                decision = self.verifier.reconsider(token, needs)
                if decision.refused:
                    await send_refusal(scope, receive, send, decision.response())
                    return
        if not isinstance(token, AccessToken):
            await self.app(scope, receive, send)
            return
        user = AuthenticatedUser(to_mcp_token(token, self.verifier))
        scope = dict(scope, user=user, auth=AuthCredentials(sorted(token.scopes)))
        reset = auth_context_var.set(user)  # what the SDK's AuthContextMiddleware does
        try:
            await self.app(scope, receive, send)
        finally:
            auth_context_var.reset(reset)

    def _needs(self, name: str) -> Requirements | None:
        if name == "*":  # a call without a usable name: the SDK refuses it; be strict anyway
            return Requirements.all_of(*self.tools.values())
        return self.tools.get(name)


def _parsed_names(body: bytes) -> set[str]:
    names: set[str] = set()
    # The SDK reads bodies with either parser (legacy and 2026-07-28 transports).
    with contextlib.suppress(ValueError, RecursionError):
        names |= _tool_names(json.loads(body))
    with contextlib.suppress(ValueError):
        names |= _tool_names(pydantic_core.from_json(body))
    return names


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """The request body (cut short once over *limit*; ``None`` when the client went away)
    and a ``receive`` replaying it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None, receive  # http.disconnect
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return b"".join(chunks), receive
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return body, replay


async def _json_rpc_error(
    scope: Scope, receive: Receive, send: Send, status: int, code: int, message: str
) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})
    headers = [("Content-Type", "application/json")]
    await send_refusal(scope, receive, send, (status, headers, body.encode()))


def protect_mcp(
    app: ASGIApp,
    verifier: Verifier,
    *,
    path: str = "/mcp",
    tool_scopes: Mapping[str, Requirements | Iterable[str] | str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
) -> BearerAuthASGIMiddleware:
    """Protect an MCP streamable-HTTP app with bearerguard.

    Example::

        server = MCPServer("messages")   # no auth=: bearerguard answers
        app = protect_mcp(server.streamable_http_app(), Verifier(Settings.from_env()),
                          tool_scopes={"read_messages": ["read:messages"]})

    Args:
        app: the SDK's ASGI app (``streamable_http_app()``), lifespan included.
        verifier: the :class:`~bearerguard.Verifier`; with ``BEARERGUARD_RESOURCE`` set,
            the RFC 9728 document is served and named in every challenge.
        path: the MCP endpoint (``streamable_http_path``); every method there needs a token.
        tool_scopes: tool name -> scopes it needs (all of them), or a
            :class:`~bearerguard.Requirements` (roles, claims, ``acr_values``/``max_age``).
        max_body_bytes: largest ``tools/call`` body read (the SDK's own limit by default).

    Other paths are not protected, but a token sent there is checked (and a bad one
    refused). Raises ``ValueError``/``TypeError`` for bad arguments.
    """
    gate = ToolRequirements(
        app, verifier, path=path, tools=tool_scopes, max_body_bytes=max_body_bytes
    )
    return BearerAuthASGIMiddleware(gate, verifier=verifier, protect=[path])
