"""Starlette adapter: an authentication backend, its error renderer and endpoint decorators.

Authentication (verify a token when one is sent, refuse it when invalid) is the
middleware's job; authorization (``require_scopes``, ``require_claim`` or
Starlette's own ``@requires``) is the endpoint's.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
    UnauthenticatedUser,
)
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from bearerguard.errors import BearerError, MissingToken
from bearerguard.extract import HEADER
from bearerguard.middleware._common import MAX_FORM_BYTES, is_form_request
from bearerguard.middleware.asgi import (
    SCOPE_KEY,
    authenticate_scope,
    buffer_form,
    header_shortcut,
    send_refusal,
)
from bearerguard.requirements import ClaimEquals, ClaimIncludes, Requirements
from bearerguard.tokens import AccessToken
from bearerguard.verifier import Verifier, error_response

__all__ = [
    "BearerAuthBackend",
    "BearerAuthenticationError",
    "BearerAuthenticationMiddleware",
    "TokenCredentials",
    "TokenUser",
    "bearer_auth_middleware",
    "on_auth_error",
    "require_claim",
    "require_scopes",
]

F = TypeVar("F", bound=Callable[..., Any])
_VERIFIER_KEY = "bearerguard.verifier"
_FORM_KEY = "bearerguard.form"
_UNSET: Any = object()


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
    """An ``AuthenticationError`` carrying the :class:`~bearerguard.BearerError` (``.error``)."""

    def __init__(self, error: BearerError) -> None:
        super().__init__(str(error))
        self.error = error


class BearerAuthBackend(AuthenticationBackend):
    """Authenticate bearer tokens for Starlette's ``AuthenticationMiddleware``.

    Example::

        verifier = Verifier(Settings.from_env())
        app = Starlette(routes=routes, middleware=[bearer_auth_middleware(verifier)])
        # or: Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(verifier),
        #                on_error=on_auth_error)

    No credentials leave the request anonymous; an invalid token raises
    :class:`BearerAuthenticationError` (render it with :func:`on_auth_error`).
    Form-body tokens are seen only under :class:`BearerAuthenticationMiddleware`.
    """

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier

    async def authenticate(self, conn: HTTPConnection) -> tuple[TokenCredentials, TokenUser] | None:
        """Return credentials and user, ``None`` without a token; raise on a bad one."""
        conn.scope[_VERIFIER_KEY] = self.verifier  # for require_scopes / require_claim
        verifier = self.verifier
        query = (
            conn.query_params.getlist("access_token")
            if "query" in verifier.token_locations
            else None
        )
        try:
            token = await verifier.authenticate_async(
                conn.headers.getlist("authorization"), query=query, form=conn.scope.get(_FORM_KEY)
            )
        except BearerError as err:
            raise BearerAuthenticationError(err) from None
        if token is None:
            return None
        conn.scope[SCOPE_KEY] = token
        return TokenCredentials(token), TokenUser(token)


def _render(err: BearerError) -> Response:
    status, headers, body = error_response(err)
    return Response(body, status_code=status, headers=dict(headers))


def on_auth_error(conn: HTTPConnection, exc: Exception) -> Response:
    """``on_error`` for ``AuthenticationMiddleware``: the RFC 6750 refusal (not a plain 400).

    An error from another backend answers 401 with a bare challenge.
    """
    if isinstance(exc, BearerAuthenticationError):
        return _render(exc.error)
    verifier = conn.scope.get(_VERIFIER_KEY)
    return _render(verifier.missing() if isinstance(verifier, Verifier) else MissingToken())


class BearerAuthenticationMiddleware(AuthenticationMiddleware):
    """``AuthenticationMiddleware`` that also reads form-body tokens and refuses WebSockets well.

    A form-urlencoded body (RFC 6750 §2.2, when ``form`` is a token location)
    is buffered up to *max_form_bytes* and replayed to the app. A WebSocket
    handshake with a bad token gets the refusal as a denial response when the
    server supports it, else it is closed before being accepted (HTTP 403).
    """

    def __init__(
        self,
        app: ASGIApp,
        backend: AuthenticationBackend,
        on_error: Callable[[HTTPConnection, AuthenticationError], Response] | None = None,
        max_form_bytes: int = MAX_FORM_BYTES,
    ) -> None:
        super().__init__(app, backend, on_error if on_error is not None else on_auth_error)
        self.max_form_bytes = max_form_bytes
        # Our own backend (authenticate not overridden) is read straight from the
        # scope, without building a connection and its header mapping per request.
        self._own: BearerAuthBackend | None = None
        self._header_only = False
        if type(backend).authenticate is BearerAuthBackend.authenticate:
            self._own = cast(BearerAuthBackend, backend)
            self._header_only = self._own.verifier.token_locations == (HEADER,)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        result: tuple[AuthCredentials, BaseUser] | None
        own = self._own
        try:
            if own is not None:  # our backend's work, read straight from the scope
                verifier = own.verifier
                scope[_VERIFIER_KEY] = verifier
                try:
                    if self._header_only:  # one look at the header serves the usual requests
                        token, new, values = header_shortcut(verifier, scope)
                        if token is None and values:  # no await for a hit or without a token
                            token = await verifier._settle_async(new, values)
                    else:
                        token, receive = await authenticate_scope(
                            verifier, scope, receive, self.max_form_bytes
                        )
                except BearerError as err:
                    raise BearerAuthenticationError(err) from None
                result = None
                if token is not None:
                    scope[SCOPE_KEY] = token
                    result = TokenCredentials(token), TokenUser(token)
            else:
                conn, backend = HTTPConnection(scope), self.backend
                if (
                    kind == "http"
                    and isinstance(backend, BearerAuthBackend)
                    and "form" in backend.verifier.token_locations
                    and is_form_request(scope["method"], conn.headers.get("content-type"))
                ):
                    scope[_FORM_KEY], receive = await buffer_form(receive, self.max_form_bytes)
                result = await backend.authenticate(conn)
        except AuthenticationError as exc:
            if kind == "websocket":
                error = exc.error if isinstance(exc, BearerAuthenticationError) else MissingToken()
                await send_refusal(scope, receive, send, error)
            else:
                await self.on_error(HTTPConnection(scope), exc)(scope, receive, send)
            return
        scope["auth"], scope["user"] = result or (AuthCredentials(), UnauthenticatedUser())
        await self.app(scope, receive, send)


def bearer_auth_middleware(verifier: Verifier, **options: Any) -> Middleware:
    """``Middleware(BearerAuthenticationMiddleware, backend=BearerAuthBackend(verifier), ...)``."""
    return Middleware(
        BearerAuthenticationMiddleware, backend=BearerAuthBackend(verifier), **options
    )


def _connection(args: Sequence[Any], kwargs: dict[str, Any]) -> HTTPConnection:
    if args and type(args[0]) is Request:  # the usual case, without ABC isinstance checks
        return args[0]
    for value in (*args, *kwargs.values()):
        if isinstance(value, HTTPConnection):
            return value
    raise TypeError("the endpoint receives no Request or WebSocket")


def _refusal(conn: HTTPConnection, requirements: Requirements) -> BearerError | None:
    scope = conn.scope
    verifier = scope.get(_VERIFIER_KEY)
    if type(verifier) is not Verifier and not isinstance(verifier, Verifier):
        raise RuntimeError(
            "BearerAuthBackend must be installed (bearer_auth_middleware(verifier)) "
            "to use require_scopes/require_claim"
        )
    token = scope.get(SCOPE_KEY)
    if type(token) is not AccessToken and not isinstance(token, AccessToken):
        return verifier.missing()  # RFC 6750 §3.1: bare challenge
    try:
        verifier.authorize(token, requirements)
    except BearerError as err:
        return err
    return None


def _guard(requirements: Requirements) -> Callable[[F], F]:
    def decorator(func: F) -> F:
        if not inspect.iscoroutinefunction(func):
            # Starlette runs a sync endpoint in a thread; the check itself does no I/O.
            @functools.wraps(func)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                err = _refusal(_connection(args, kwargs), requirements)
                return _render(err) if err is not None else func(*args, **kwargs)

            return sync_wrapper  # type: ignore[return-value]

        met_by = requirements.met_by

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            if args and type(args[0]) is Request:  # the usual request: settled in one look
                scope = args[0].scope
                token = scope.get(SCOPE_KEY)
                if (
                    type(token) is AccessToken
                    and type(scope.get(_VERIFIER_KEY)) is Verifier
                    and met_by(token)
                ):
                    return await func(*args, **kwargs)
            conn = _connection(args, kwargs)
            err = _refusal(conn, requirements)
            if err is None:
                return await func(*args, **kwargs)
            if isinstance(conn, WebSocket):
                await send_refusal(conn.scope, conn.receive, conn.send, err)
                return None
            return _render(err)

        return async_wrapper  # type: ignore[return-value]

    return decorator


def require_scopes(*scopes: str, any_of: Sequence[str] = ()) -> Callable[[F], F]:
    """Endpoint decorator: need every scope in *scopes* and one of *any_of*.

    Works on sync and async endpoints, ``HTTPEndpoint`` methods and WebSocket
    endpoints; ``@require_scopes()`` only needs a valid token. Answers 401 (bare
    challenge) without a token and 403 ``insufficient_scope`` naming the scopes
    (RFC 6750 §3.1). Raises ``RuntimeError`` when ``BearerAuthBackend`` is not installed.
    """
    return _guard(Requirements(scopes=scopes, any_scopes=any_of))


def require_claim(name: str, *, equals: Any = _UNSET, includes: Any = _UNSET) -> Callable[[F], F]:
    """Endpoint decorator: the claim *name* ``equals`` a value, or ``includes`` one.

    Raises ``TypeError`` unless exactly one of ``equals``/``includes`` is given.
    A failed check answers 403 ``insufficient_scope`` (``claim_requirement_failed``).
    """
    if (equals is _UNSET) == (includes is _UNSET):
        raise TypeError("require_claim needs exactly one of equals= or includes=")
    check = ClaimEquals(name, equals) if equals is not _UNSET else ClaimIncludes(name, includes)
    return _guard(Requirements(claims=[check]))
