"""Framework-free ASGI middleware: bearer-token authentication by path prefix.

Works on the raw ``scope``/``receive``/``send`` of any ASGI 3 app. The helpers
:func:`read_credentials`, :func:`decide_scope` and :func:`send_refusal` translate an ASGI
request for the core and its decision back; the Starlette and FastAPI adapters use them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import quote

from bearerguard.middleware._common import (
    MAX_FORM_BYTES,
    is_form_request,
    middleware_setup,
    token_params,
)
from bearerguard.paths import PathRules, route_path
from bearerguard.pipeline import Decision
from bearerguard.requirements import Requirements
from bearerguard.verifier import Verifier

__all__ = [
    "SCOPE_KEY",
    "WS_POLICY_VIOLATION",
    "ASGIApp",
    "BearerAuthASGIMiddleware",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "answer_metadata",
    "buffer_form",
    "decide_scope",
    "header_values",
    "read_credentials",
    "request_url",
    "send_refusal",
    "with_headers",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Where the verified :class:`~bearerguard.AccessToken` is put in the scope.
SCOPE_KEY = "bearerguard.access_token"
# RFC 6455 §7.4.1: 1008 = policy violation. Before ``websocket.accept`` a server
# turns any close into an HTTP 403 handshake refusal.
WS_POLICY_VIOLATION = 1008


def header_values(scope: Scope, name: bytes) -> list[str]:
    """Every value of header *name* (lower-case bytes) in an ASGI scope, decoded as latin-1."""
    n = len(name)
    return [
        v.decode("latin-1")
        for k, v in scope.get("headers", ())
        if len(k) == n and (k == name or k.lower() == name)
    ]


def request_url(scope: Scope) -> str:
    """The request URL as the server reports it (scheme, host, root path, path; no query).

    What a DPoP proof's ``htu`` must name (RFC 9449 §4.3); behind a proxy, the server's
    own proxy options (uvicorn ``--proxy-headers``) decide the scheme and host.
    """
    scheme = scope.get("scheme") or ("wss" if scope["type"] == "websocket" else "http")
    host = next(iter(header_values(scope, b"host")), "")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    raw = scope.get("raw_path")
    # raw_path keeps the percent-encoding as sent; path is decoded (quote it back).
    path = raw.decode("latin-1").split("?", 1)[0] if raw else quote(scope.get("path", "/"))
    root = scope.get("root_path", "")
    if root and not (path == root or path.startswith(root + "/")):
        path = root + path
    return f"{scheme}://{host}{path}"


async def read_credentials(
    verifier: Verifier, scope: Scope, receive: Receive, max_form_bytes: int = MAX_FORM_BYTES
) -> tuple[list[str], list[str] | None, list[str] | None, Receive]:
    """The token-bearing facts of an ASGI request: (authorization, query, form, receive).

    ``access_token`` query values are read whenever the query string names one (a token
    sent in the header and the URL is refused even where URL tokens are off); the form
    body only when ``form`` is a token location and the request is a form post (the
    returned ``receive`` replays what was read). Header values are latin-1 strings.
    """
    authorization = []
    for k, v in scope.get("headers", ()):
        if len(k) == 13 and (k == b"authorization" or k.lower() == b"authorization"):
            authorization.append(v.decode("latin-1"))
    query = form = None
    qs = scope.get("query_string", b"")
    if qs and b"access_token" in qs:
        query = token_params(qs)
    if (
        "form" in verifier.token_locations
        and scope["type"] == "http"
        and is_form_request(
            scope.get("method", "GET"), next(iter(header_values(scope, b"content-type")), None)
        )
    ):
        form, receive = await buffer_form(receive, max_form_bytes)
    return authorization, query, form, receive


async def buffer_form(
    receive: Receive, limit: int = MAX_FORM_BYTES
) -> tuple[list[str] | None, Receive]:
    """Read a form-urlencoded request body to find its ``access_token`` values.

    Returns the values (``None`` when the body is larger than *limit* or the
    client went away, so it is not searched) and a ``receive`` that replays
    every message read before handing over to the original one, so the app
    still gets the whole body.
    """
    messages: list[Message] = []
    size, complete = 0, False
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break  # http.disconnect
        size += len(message.get("body", b""))
        if size > limit:
            break
        if not message.get("more_body", False):
            complete = True
            break
    values = None
    if complete:
        values = token_params(b"".join(m.get("body", b"") for m in messages))
    pending = deque(messages)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return values, replay


async def send_refusal(
    scope: Scope,
    receive: Receive,
    send: Send,
    response: tuple[int, list[tuple[str, str]], bytes],
) -> None:
    """Send a refusal exactly as the core rendered it (status, headers, JSON body).

    For a WebSocket handshake the response is sent as a denial response when
    the server offers the ``websocket.http.response`` extension; otherwise the
    handshake is closed before it is accepted (the server answers 403).
    """
    status, headers, body = response
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode("ascii")))
    prefix = ""
    if scope["type"] == "websocket":
        message = await receive()  # websocket.connect
        if message["type"] != "websocket.connect":
            return
        if "websocket.http.response" not in (scope.get("extensions") or {}):
            await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": ""})
            return
        prefix = "websocket."
    await send({"type": prefix + "http.response.start", "status": status, "headers": raw})
    await send({"type": prefix + "http.response.body", "body": body})


async def answer_metadata(verifier: Verifier, scope: Scope, send: Send, path: str) -> bool:
    """Answer an RFC 9728 metadata request (:meth:`Verifier.metadata`); False for others.

    *path* is the path the app routes on. Only HTTP requests are answered; the response
    is sent exactly as the core built it.
    """
    if scope["type"] != "http":
        return False
    answer = verifier.metadata(scope.get("method", "GET"), path)
    if answer is None:
        return False
    status, headers, body = answer
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
    return True


async def decide_scope(
    verifier: Verifier,
    scope: Scope,
    receive: Receive,
    *,
    requirements: Requirements | None = None,
    required: bool = False,
    max_form_bytes: int = MAX_FORM_BYTES,
) -> tuple[Decision, Receive]:
    """The core's decision for an ASGI request, and the ``receive`` to pass on."""
    authorization, query, form, receive = await read_credentials(
        verifier, scope, receive, max_form_bytes
    )
    decision = await verifier.decide_async(
        authorization,
        method=scope.get("method", "GET"),
        url=lambda: request_url(scope),
        dpop=header_values(scope, b"dpop"),
        query=query,
        form=form,
        requirements=requirements,
        required=required,
    )
    return decision, receive


class BearerAuthASGIMiddleware:
    """Require a valid bearer token on some path prefixes of any ASGI app.

    Example::

        app = BearerAuthASGIMiddleware(
            app, issuer="https://tenant.example.com/", audience="https://api.example.com",
            protect=["/api"], exempt=["/api/public"],
            requirements={"/api/admin": Requirements(scopes=["admin"])},
        )

    Args:
        app: the ASGI app to protect.
        verifier: a :class:`~bearerguard.Verifier`; or give its settings as keywords.
        protect: path prefixes needing a token, matched on segment boundaries
            (``/api`` covers ``/api/x``, not ``/apix``) against the path the app
            routes on: ``scope["path"]`` without ``root_path``, as Starlette computes it.
        exempt: path prefixes passed through unchecked (the longest prefix wins).
        requirements: path prefix -> :class:`~bearerguard.Requirements` (longest wins).
        max_form_bytes: form bodies larger than this are not searched for a token.
        root_path: the root path the wrapped app sets for itself, which this
            middleware cannot see in the scope (FastAPI's ``root_path=``).
            Default: the wrapped app's own ``root_path`` attribute, if any;
            otherwise ``scope["root_path"]`` is used.

    The token lands in ``scope["bearerguard.access_token"]``. Refusals are
    answered here (RFC 6750 §3). With ``BEARERGUARD_RESOURCE`` set, the RFC 9728
    metadata document is served at its path-inserted well-known path, before any
    authentication. Lifespan and other scopes pass straight through; the lifespan
    scope (the server starting) also starts fetching the issuers' keys in the
    background (:meth:`Verifier.warm`), so the first request does not wait for them.
    Raises ``ValueError``/``TypeError`` for bad arguments.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: Verifier | None = None,
        protect: str | Iterable[str] = ("/",),
        exempt: str | Iterable[str] = (),
        requirements: Mapping[str, Requirements] | None = None,
        max_form_bytes: int = MAX_FORM_BYTES,
        root_path: str | None = None,
        **settings: Any,
    ) -> None:
        self.app = app
        self.verifier, self.max_form_bytes = middleware_setup(verifier, settings, max_form_bytes)
        self.rules = PathRules(protect, exempt, requirements)
        if root_path is None:  # FastAPI(root_path=...) overrides scope["root_path"] inside
            own = getattr(app, "root_path", "")
            root_path = own if isinstance(own, str) else ""
        elif root_path and not root_path.startswith("/"):
            raise ValueError(f"root_path must be '' or start with '/', got {root_path!r}")
        self.root_path = root_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            if scope["type"] == "lifespan":
                self.verifier.warm()  # the server is starting: fetch the keys in the background
            await self.app(scope, receive, send)  # lifespan and future scope types
            return
        # Judge the path the app routes on, not the one including root_path.
        path = route_path(scope.get("path", "/"), self.root_path or scope.get("root_path", ""))
        if await answer_metadata(self.verifier, scope, send, path):
            return  # RFC 9728: the metadata document, served before any authentication
        protected, exempt, requirements = self.rules.match(path)
        if exempt:
            await self.app(scope, receive, send)
            return
        # Unprotected paths still verify a token that is sent: an invalid one is refused.
        decision, receive = await decide_scope(
            self.verifier,
            scope,
            receive,
            requirements=requirements,
            required=protected,
            max_form_bytes=self.max_form_bytes,
        )
        if decision.error is not None:
            await send_refusal(scope, receive, send, decision.response())
            return
        scope = dict(scope)
        scope[SCOPE_KEY] = decision.token
        await self.app(scope, receive, with_headers(send, decision.headers))


def with_headers(send: Send, headers: tuple[tuple[str, str], ...]) -> Send:
    """*send*, adding *headers* (a decision's, e.g. the next ``DPoP-Nonce``) to the response."""
    if not headers:
        return send
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]

    async def sender(message: Message) -> None:
        if message["type"] in ("http.response.start", "websocket.http.response.start"):
            message = dict(message)
            message["headers"] = [*message.get("headers", ()), *raw]
        await send(message)

    return sender
