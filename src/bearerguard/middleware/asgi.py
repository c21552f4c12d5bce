"""Framework-free ASGI middleware: bearer-token authentication by path prefix.

Works on the raw ``scope``/``receive``/``send`` of any ASGI 3 app. The helpers
:func:`buffer_form` and :func:`send_refusal` are shared with the Starlette adapter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from bearerguard.errors import BearerError
from bearerguard.extract import HEADER
from bearerguard.middleware._common import (
    MAX_FORM_BYTES,
    PathRules,
    is_form_request,
    middleware_setup,
    route_path,
    token_params,
)
from bearerguard.requirements import Requirements
from bearerguard.tokens import AccessToken
from bearerguard.verifier import Verifier, error_response

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


def header_shortcut(
    verifier: Verifier, scope: Scope
) -> tuple[AccessToken | None, str | None, list[str]]:
    """The usual request, when the header is the only token location, settled without parsing.

    Returns (the cache hit, the lone bearer token still to verify, and the
    ``Authorization`` values). Without a hit, ``verifier._settle_async(new, values)``
    verifies the token or parses the values; no values means no credentials.
    """
    values = []
    for k, v in scope.get("headers", ()):  # header_values inline: it runs on every request
        if len(k) == 13 and (k == b"authorization" or k.lower() == b"authorization"):
            values.append(v.decode("latin-1"))
    if len(values) == 1:
        token, new = verifier._bearer(values[0])
        return token, new, values
    return None, None, values


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


async def send_refusal(scope: Scope, receive: Receive, send: Send, err: BearerError) -> None:
    """Answer a refusal exactly as the core renders it (status, headers, JSON body).

    For a WebSocket handshake the response is sent as a denial response when
    the server offers the ``websocket.http.response`` extension; otherwise the
    handshake is closed before it is accepted (the server answers 403).
    """
    status, headers, body = error_response(err)
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


async def authenticate_scope(
    verifier: Verifier, scope: Scope, receive: Receive, max_form_bytes: int = MAX_FORM_BYTES
) -> tuple[AccessToken | None, Receive]:
    """Extract (RFC 6750 §2) and verify the token of an ASGI request.

    Returns the token (``None`` without credentials) and the ``receive`` to
    pass on (a replaying one when a form body was read). Raises
    :class:`~bearerguard.BearerError`.
    """
    locations = verifier.token_locations
    if locations == (HEADER,):  # the default: nothing else to look at
        return await verifier.authenticate_async(header_values(scope, b"authorization")), receive
    query = form = None
    if "query" in locations:
        query = token_params(scope.get("query_string", b""))
    if (
        "form" in locations
        and scope["type"] == "http"
        and is_form_request(
            scope.get("method", "GET"), next(iter(header_values(scope, b"content-type")), None)
        )
    ):
        form, receive = await buffer_form(receive, max_form_bytes)
    authorization = header_values(scope, b"authorization")
    token = await verifier.authenticate_async(authorization, query=query, form=form)
    return token, receive


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
    answered here (RFC 6750 §3). Lifespan and other scopes pass straight through.
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
        self._header_only = self.verifier.token_locations == (HEADER,)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan and future scope types
            return
        # Judge the path the app routes on, not the one including root_path.
        path = route_path(scope.get("path", "/"), self.root_path or scope.get("root_path", ""))
        protected = self.rules.protects(path)
        if not protected and self.rules.exempts(path):
            await self.app(scope, receive, send)
            return
        verifier = self.verifier
        try:
            # Unprotected paths still verify a token that is sent: an invalid one is refused.
            if self._header_only:
                token, new, values = header_shortcut(verifier, scope)
                if token is None and values:
                    token = await verifier._settle_async(new, values)
            else:
                token, receive = await authenticate_scope(
                    verifier, scope, receive, self.max_form_bytes
                )
            if token is None:
                if protected:
                    raise verifier.missing()  # RFC 6750 §3.1: bare challenge
            else:
                for requirements in self.rules.requirements_for(path):
                    verifier.authorize(token, requirements)
        except BearerError as err:
            await send_refusal(scope, receive, send, err)
            return
        scope = dict(scope)
        scope[SCOPE_KEY] = token
        await self.app(scope, receive, send)
