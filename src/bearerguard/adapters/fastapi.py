"""FastAPI adapter: a bearer-token dependency that documents itself in OpenAPI.

Refusals are raised as :class:`BearerHTTPException`. Call
:func:`install_error_handler` once so they are rendered exactly per RFC 6750
(status, ``WWW-Authenticate``, ``{"error", "error_description", "reason"}``).
Without it FastAPI's own handler still sends the right status and headers,
with the body wrapped as ``{"detail": {...}}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

from fastapi import FastAPI, HTTPException, WebSocketException
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from bearerguard.errors import BearerError
from bearerguard.middleware._common import (
    MAX_FORM_BYTES,
    content_length,
    is_form_request,
    token_params,
)
from bearerguard.middleware.asgi import SCOPE_KEY, header_shortcut, header_values
from bearerguard.requirements import ClaimCheck, Requirements
from bearerguard.tokens import AccessToken
from bearerguard.verifier import Verifier, error_response

__all__ = ["BearerHTTPException", "BearerToken", "bearer_error_handler", "install_error_handler"]

# What FastAPI injects into BearerToken.__call__. Given as resolved classes: the
# annotations in this module are strings, which older FastAPI cannot resolve
# for a callable instance.
_CALL_SIGNATURE = inspect.Signature(
    [
        inspect.Parameter(
            "conn", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=HTTPConnection
        ),
        inspect.Parameter(
            "security_scopes", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=SecurityScopes
        ),
    ]
)
# RFC 6455 §7.4.1: policy violation; before accept the server answers HTTP 403.
_WS_POLICY_VIOLATION = 1008


class BearerHTTPException(HTTPException):
    """An ``HTTPException`` carrying the :class:`~bearerguard.BearerError` (``.error``)."""

    def __init__(self, error: BearerError) -> None:
        headers = {k: v for k, v in error.headers().items() if k != "Content-Type"}
        super().__init__(error.status_code, detail=error.body_dict(), headers=headers)
        self.error = error


async def bearer_error_handler(request: Request, exc: Exception) -> Response:
    """Render a :class:`BearerHTTPException` exactly as the core builds it."""
    if not isinstance(exc, BearerHTTPException):  # pragma: no cover - registered for it only
        raise exc
    status, headers, body = error_response(exc.error)
    return Response(body, status_code=status, headers=dict(headers))


def install_error_handler(app: FastAPI) -> None:
    """Register :func:`bearer_error_handler` for :class:`BearerHTTPException` on *app*."""
    app.add_exception_handler(BearerHTTPException, bearer_error_handler)


class BearerToken(SecurityBase):
    """A dependency returning the verified :class:`~bearerguard.AccessToken`.

    Example::

        app = FastAPI(); install_error_handler(app)
        bearer = BearerToken(Verifier(Settings.from_env()))
        @app.get("/messages")
        async def messages(token: AccessToken = Security(bearer, scopes=["read:messages"])):
            return {"sub": token.subject}

    Args:
        verifier: the :class:`~bearerguard.Verifier`.
        scopes: every one is needed; ``Security(..., scopes=[...])`` adds more.
        any_scopes: at least one is needed.
        claims: claim checks (``ClaimEquals``, ``ClaimIncludes``, callables).
        optional: without credentials return ``None`` instead of a 401 (a
            token that is sent must still be valid).
        scheme_name: the OpenAPI security scheme's name (``BearerToken``).
        max_form_bytes: larger form bodies are not searched for a token.

    Shows in OpenAPI as ``{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}``.
    Raises :class:`BearerHTTPException`; on a WebSocket route a refusal closes
    the handshake before it is accepted (HTTP 403).
    """

    def __init__(
        self,
        verifier: Verifier,
        *,
        scopes: Iterable[str] = (),
        any_scopes: Iterable[str] = (),
        claims: Iterable[ClaimCheck] = (),
        optional: bool = False,
        scheme_name: str | None = None,
        description: str | None = None,
        max_form_bytes: int = MAX_FORM_BYTES,
    ) -> None:
        self.verifier = verifier
        self.scopes = tuple(scopes)
        self.any_scopes = tuple(any_scopes)
        self.claims = tuple(claims)
        self.requirements = Requirements(self.scopes, self.any_scopes, self.claims)
        self._combined: dict[tuple[str, ...], Requirements] = {}
        self.optional = optional
        self.max_form_bytes = max_form_bytes
        self.model = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.__signature__ = _CALL_SIGNATURE

    async def _form(self, request: Request) -> list[str] | None:
        # RFC 6750 §2.2. Read only a declared, bounded body: Starlette caches it
        # on the request, so the endpoint can still read it.
        length = content_length(request.headers.get("content-length"))
        if length is None or length > self.max_form_bytes:
            return None
        return token_params(await request.body())

    async def _authenticate(self, conn: HTTPConnection) -> AccessToken | None:
        verifier = self.verifier
        locations = verifier.token_locations
        query = conn.query_params.getlist("access_token") if "query" in locations else None
        form = None
        if (
            "form" in locations
            and isinstance(conn, Request)
            and is_form_request(conn.method, conn.headers.get("content-type"))
        ):
            form = await self._form(conn)
        return await verifier.authenticate_async(
            header_values(conn.scope, b"authorization"), query=query, form=form
        )

    async def __call__(
        self, conn: HTTPConnection, security_scopes: SecurityScopes
    ) -> AccessToken | None:
        verifier = self.verifier
        try:
            if verifier._header_only:  # the default: one look at the header
                token, new, values = header_shortcut(verifier, conn.scope)
                if token is None and values:
                    token = await verifier._settle_async(new, values)
            else:
                token = await self._authenticate(conn)
            if token is None:
                if self.optional:
                    return None
                raise verifier.missing()  # RFC 6750 §3.1: bare challenge
            requirements = self.requirements
            if security_scopes.scopes:
                # Scopes declared in code (Security(..., scopes=...)): a handful per app.
                extra = tuple(security_scopes.scopes)
                combined = self._combined.get(extra)
                if combined is None:
                    combined = Requirements((*self.scopes, *extra), self.any_scopes, self.claims)
                    self._combined[extra] = combined
                requirements = combined
            verifier.authorize(token, requirements)
        except BearerError as err:
            if conn.scope["type"] == "websocket":
                raise WebSocketException(_WS_POLICY_VIOLATION, err.reason) from None
            raise BearerHTTPException(err) from None
        conn.scope[SCOPE_KEY] = token
        return token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scopes={self.scopes!r}, optional={self.optional!r})"
