"""Starlette adapter: an authentication middleware, a backend and endpoint decorators.

Authentication (verify a token when one is sent, refuse it when invalid) is the
middleware's job; authorization (``require_scopes``, ``require_claim`` or
Starlette's own ``@requires``) is the endpoint's. Over the adapter size guide because it
serves two wirings (its own pure ASGI middleware, and a backend for Starlette's
``AuthenticationMiddleware``) and sync, async and WebSocket endpoints; it holds no policy.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
    UnauthenticatedUser,
)
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from bearerguard.claimpath import ClaimPathLike
from bearerguard.errors import BearerError, MissingToken
from bearerguard.middleware._asgi_cached import FULL_PATH, plain_header
from bearerguard.middleware._common import MAX_FORM_BYTES, token_params
from bearerguard.middleware.asgi import (
    SCOPE_KEY,
    answer_metadata,
    decide_scope,
    header_values,
    request_url,
    send_refusal,
)
from bearerguard.paths import route_path
from bearerguard.pipeline import Decision, decide_cached
from bearerguard.requirements import Requirements
from bearerguard.tokens import AccessToken
from bearerguard.verifier import Verifier

__all__ = [
    "BearerAuthBackend",
    "BearerAuthenticationError",
    "BearerAuthenticationMiddleware",
    "TokenCredentials",
    "TokenUser",
    "bearer_auth_middleware",
    "on_auth_error",
    "require_claim",
    "require_roles",
    "require_scopes",
]

F = TypeVar("F", bound=Callable[..., Any])
_new = object.__new__
Rendered = tuple[int, list[tuple[str, str]], bytes]
_VERIFIER_KEY = "bearerguard.verifier"


class TokenUser(BaseUser):
    """``request.user`` for a verified token; ``identity``/``display_name`` are ``sub``."""

    def __init__(self, token: AccessToken) -> None:
        self.token = token

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.token.subject or ""

    @property
    def identity(self) -> str:
        return self.token.subject or ""


class TokenCredentials(AuthCredentials):
    """``request.auth``: the token's scopes (so ``@requires`` works) and ``.token``."""

    def __init__(self, token: AccessToken) -> None:
        # No AuthCredentials.__init__: the scope list is made when first read (most
        # requests never read it), and per request, so no request sees another's edits.
        self.token = token

    @property
    def scopes(self) -> list[str]:
        scopes: list[str] | None = self.__dict__.get("_scopes")
        if scopes is None:
            scopes = self.__dict__["_scopes"] = sorted(self.token.scopes)
        return scopes

    @scopes.setter
    def scopes(self, value: list[str]) -> None:
        self.__dict__["_scopes"] = value


class BearerAuthenticationError(AuthenticationError):
    """An ``AuthenticationError`` carrying the refusal: ``.error`` and ``.response``."""

    def __init__(self, error: BearerError, response: Rendered) -> None:
        super().__init__(str(error))
        self.error, self.response = error, response


class BearerAuthBackend(AuthenticationBackend):
    """Authenticate bearer tokens for Starlette's own ``AuthenticationMiddleware``.

    Example::

        Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(verifier),
                   on_error=on_auth_error)

    :func:`bearer_auth_middleware` is faster and also reads form-body tokens,
    answers WebSocket refusals and serves the RFC 9728 metadata document; this
    backend is for apps that wire Starlette's middleware themselves (a backend
    cannot answer a request: serve :meth:`Verifier.metadata` from a route). No credentials leave the request anonymous; an invalid
    token raises :class:`BearerAuthenticationError` (render it with :func:`on_auth_error`).
    Construction starts fetching the keys in the background (:meth:`Verifier.warm`).
    """

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        verifier.warm()  # no start-up event reaches a backend: fetch the keys now

    async def authenticate(self, conn: HTTPConnection) -> tuple[TokenCredentials, TokenUser] | None:
        """Return credentials and user, ``None`` without a token; raise on a bad one."""
        scope, verifier = conn.scope, self.verifier
        scope[_VERIFIER_KEY] = verifier  # for require_scopes / require_claim
        qs = scope.get("query_string", b"")
        decision = await verifier.decide_async(
            header_values(scope, b"authorization"),
            method=scope.get("method", "GET"),
            url=lambda: request_url(scope),
            dpop=header_values(scope, b"dpop"),
            query=token_params(qs) if b"access_token" in qs else None,
        )
        if decision.error is not None:
            raise BearerAuthenticationError(decision.error, decision.response())
        token = decision.token
        if token is None:
            return None
        scope[SCOPE_KEY] = token
        return TokenCredentials(token), TokenUser(token)


def _render(response: Rendered) -> Response:
    status, headers, body = response
    return Response(body, status_code=status, headers=dict(headers))


def on_auth_error(conn: HTTPConnection, exc: Exception) -> Response:
    """``on_error`` for ``AuthenticationMiddleware``: the RFC 6750 refusal (not a plain 400).

    An error from another backend answers 401 with a bare challenge.
    """
    if isinstance(exc, BearerAuthenticationError):
        return _render(exc.response)
    verifier = conn.scope.get(_VERIFIER_KEY)
    if isinstance(verifier, Verifier):
        return _render(verifier.render(MissingToken()))
    return _render(Decision(error=MissingToken()).response())


class BearerAuthenticationMiddleware:
    """Pure ASGI authentication middleware: ``request.user`` / ``request.auth`` for bearer tokens.

    A request without credentials goes on anonymous; a sent token is checked on every
    route and a bad one refused (RFC 6750 §3). A cached token is settled in one look at
    the raw headers and one cache lookup, without suspending. Sets ``scope["user"]``
    (:class:`TokenUser` or ``UnauthenticatedUser``) and ``scope["auth"]``
    (:class:`TokenCredentials`) as Starlette's ``AuthenticationMiddleware`` does, so
    ``@requires`` works. Form-body tokens (RFC 6750 §2.2, when ``form`` is a token
    location) are read up to *max_form_bytes* and replayed to the app. A refused WebSocket
    handshake gets a denial response where the server supports it, else it is closed
    before being accepted (HTTP 403). With ``BEARERGUARD_RESOURCE`` set, the RFC 9728
    metadata document is served at its well-known path, before authentication. The
    lifespan scope (the server starting) starts fetching the keys in the background
    (:meth:`Verifier.warm`) and passes on to the app's own lifespan untouched.
    """

    def __init__(
        self, app: ASGIApp, verifier: Verifier, *, max_form_bytes: int = MAX_FORM_BYTES
    ) -> None:
        self.app, self.verifier, self.max_form_bytes = app, verifier, max_form_bytes
        self._serves_metadata = verifier.metadata_path is not None  # fixed by the settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            if kind == "lifespan":
                self.verifier.warm()  # the server is starting: fetch keys in the background
            await self.app(scope, receive, send)
            return
        verifier = self.verifier
        if self._serves_metadata and await answer_metadata(
            verifier, scope, send, route_path(scope["path"], scope.get("root_path", ""))
        ):
            return  # RFC 9728: the metadata document, served before any authentication
        scope[_VERIFIER_KEY] = verifier
        value = plain_header(verifier, scope)  # the usual request, in one look
        if value is not FULL_PATH:
            # A cached token (or none) is settled without a coroutine; else the async path.
            decision = decide_cached(verifier, value)
            if decision is None:
                decision = await verifier.decide_async(
                    value.decode("latin-1") if type(value) is bytes else None
                )
        else:
            decision, receive = await decide_scope(
                verifier, scope, receive, max_form_bytes=self.max_form_bytes
            )
        token = decision.token
        if token is not None:
            scope[SCOPE_KEY] = token
            # TokenCredentials(token), TokenUser(token) without their __init__ calls (each
            # only sets .token): the cached request's path, per request so none shares them.
            auth, user = _new(TokenCredentials), _new(TokenUser)
            auth.token = user.token = token
            scope["auth"], scope["user"] = auth, user
        elif decision.error is not None:
            await send_refusal(scope, receive, send, decision.response())
            return
        else:
            scope["auth"], scope["user"] = AuthCredentials(), UnauthenticatedUser()
        if decision.headers:
            send = _adding(send, decision.headers)
        await self.app(scope, receive, send)


def _adding(send: Send, headers: tuple[tuple[str, str], ...]) -> Send:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]

    async def wrapped(message: Any) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *raw]}
        await send(message)

    return wrapped


def bearer_auth_middleware(verifier: Verifier, **options: Any) -> Middleware:
    """``Middleware(BearerAuthenticationMiddleware, verifier=verifier, **options)``."""
    return Middleware(BearerAuthenticationMiddleware, verifier=verifier, **options)


def _connection(args: Sequence[Any], kwargs: dict[str, Any]) -> HTTPConnection:
    if args and type(args[0]) is Request:  # the usual case, without ABC isinstance checks
        return args[0]
    for value in (*args, *kwargs.values()):
        if isinstance(value, HTTPConnection):
            return value
    raise TypeError("the endpoint receives no Request or WebSocket")


def _refusal(conn: HTTPConnection, requirements: Requirements) -> Rendered | None:
    verifier = conn.scope.get(_VERIFIER_KEY)
    if not isinstance(verifier, Verifier):
        raise RuntimeError(
            "BearerAuthBackend must be installed (bearer_auth_middleware(verifier)) "
            "to use require_scopes/require_claim"
        )
    token = conn.scope.get(SCOPE_KEY)
    if not isinstance(token, AccessToken):
        return verifier.render(MissingToken(), requirements)  # RFC 6750 §3.1: no error code
    try:
        verifier.authorize(token, requirements)
    except BearerError as err:
        return verifier.render(err, requirements)
    return None


def _guard(requirements: Requirements) -> Callable[[F], F]:
    def decorator(func: F) -> F:
        if not inspect.iscoroutinefunction(func):
            # Starlette runs a sync endpoint in a thread; the check itself does no I/O.
            @functools.wraps(func)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                refusal = _refusal(_connection(args, kwargs), requirements)
                return _render(refusal) if refusal is not None else func(*args, **kwargs)

            return sync_wrapper  # type: ignore[return-value]

        # Step-up needs the verifier's clock and leeway: not on the one-look path.
        met_by = requirements.met_by if not requirements.step_up else lambda token: False
        # Scopes alone (every field compared, so a requirement added later is not missed):
        # one set comparison, as met_by would make it, without the call.
        need = (
            frozenset(requirements.scopes)
            if requirements == Requirements(scopes=requirements.scopes)
            else None
        )

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if args and type(args[0]) is Request:  # the usual request: settled in one look
                scope = args[0].scope
                token = scope.get(SCOPE_KEY)
                if (
                    type(token) is AccessToken
                    and type(scope.get(_VERIFIER_KEY)) is Verifier
                    and (need <= token.scopes if need is not None else met_by(token))
                ):
                    return await func(*args, **kwargs)
            conn = _connection(args, kwargs)
            refusal = _refusal(conn, requirements)
            if refusal is None:
                return await func(*args, **kwargs)
            if isinstance(conn, WebSocket):
                await send_refusal(conn.scope, conn.receive, conn.send, refusal)
                return None
            return _render(refusal)

        return async_wrapper  # type: ignore[return-value]

    return decorator


def require_scopes(
    *scopes: str,
    any_of: Sequence[str] = (),
    acr_values: Sequence[str] | str | None = None,
    max_age: int | None = None,
) -> Callable[[F], F]:
    """Endpoint decorator: need every scope in *scopes* and one of *any_of*.

    ``acr_values`` / ``max_age``: RFC 9470 step-up (the token's ``acr`` is one of these,
    its ``auth_time`` at most *max_age* seconds old), else 401
    ``insufficient_user_authentication``. ``@require_scopes(acr_values=[...])`` needs
    no scope.
    Works on sync and async endpoints, ``HTTPEndpoint`` methods and WebSocket
    endpoints; ``@require_scopes()`` only needs a valid token. Answers 401 (bare
    challenge) without a token and 403 ``insufficient_scope`` naming the scopes
    (RFC 6750 §3.1). Raises ``RuntimeError`` when the middleware is not installed.
    """
    return _guard(
        Requirements(scopes=scopes, any_scopes=any_of, acr_values=acr_values, max_age=max_age)
    )


def require_roles(
    *roles: str,
    any_of: Sequence[str] = (),
    acr_values: Sequence[str] | str | None = None,
    max_age: int | None = None,
) -> Callable[[F], F]:
    """Endpoint decorator: need every role in *roles* and one of *any_of*.

    Roles are the token's ``roles`` (``BEARERGUARD_ROLE_CLAIMS`` or the provider
    preset). A token lacking them gets 403 ``insufficient_scope`` (reason
    ``insufficient_role``); ``acr_values`` / ``max_age`` as for :func:`require_scopes`.
    Raises ``ValueError`` when no role is named.
    """
    requirements = Requirements(
        roles=roles, any_roles=any_of, acr_values=acr_values, max_age=max_age
    )
    if not (requirements.roles or requirements.any_roles):
        raise ValueError("require_roles needs at least one role")
    return _guard(requirements)


def require_claim(name: ClaimPathLike, **check: Any) -> Callable[[F], F]:
    """Endpoint decorator: the claim *name* ``equals=`` a value, or ``includes=`` one.

    *name* is a claim path (``"realm_access.roles"``; :mod:`bearerguard.claimpath`).
    Raises ``TypeError`` unless exactly one of ``equals``/``includes`` is given.
    A failed check answers 403 ``insufficient_scope`` (``claim_requirement_failed``).
    """
    return _guard(Requirements.claim(name, **check))
