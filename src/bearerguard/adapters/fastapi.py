"""FastAPI adapter: a bearer-token dependency that documents itself in OpenAPI.

Refusals are raised as :class:`BearerHTTPException`. Call
:func:`install_error_handler` once so they are rendered exactly per RFC 6750
(status, ``WWW-Authenticate``, ``{"error", "error_description", "reason"}``).
Without it FastAPI's own handler still sends the right status and headers,
with the body wrapped as ``{"detail": {...}}``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable

from fastapi import FastAPI, HTTPException, Security, WebSocketException
from fastapi.openapi.models import HTTPBase as HTTPBaseModel
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from bearerguard.middleware._asgi_cached import FULL_PATH, plain_header
from bearerguard.middleware._common import (
    MAX_FORM_BYTES,
    content_length,
    is_form_request,
    token_params,
)
from bearerguard.middleware.asgi import SCOPE_KEY, header_values, request_url
from bearerguard.pipeline import Decision, decide_cached
from bearerguard.requirements import ClaimCheck, Requirements
from bearerguard.tokens import AccessToken
from bearerguard.verifier import Verifier

__all__ = [
    "BearerHTTPException",
    "BearerToken",
    "DPoPScheme",
    "bearer_error_handler",
    "install_error_handler",
]

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


class DPoPScheme(SecurityBase):
    """The DPoP scheme (RFC 9449) in the OpenAPI document: ``{"type": "http", "scheme": "DPoP"}``.

    OpenAPI has no DPoP type; RFC 9449 §7.1 registers ``DPoP`` as an HTTP authentication
    scheme, which is what an ``http`` security scheme names. :class:`BearerToken` adds it
    itself (per ``BEARERGUARD_DPOP``); as a dependency it checks nothing and returns ``None``.
    """

    def __init__(self, scheme_name: str = "DPoP", description: str | None = None) -> None:
        self.model = HTTPBaseModel(scheme="DPoP", description=description)
        self.scheme_name = scheme_name

    async def __call__(self) -> None:
        return None


class BearerHTTPException(HTTPException):
    """An ``HTTPException`` carrying a refusal: ``.error`` and the rendered ``.response``.

    Its status, headers and ``detail`` (the JSON body as a dict) are those of the
    rendered response, so FastAPI's own handler sends the right status and challenge.
    """

    def __init__(self, decision: Decision) -> None:
        status, headers, body = self.response = decision.response()
        super().__init__(
            status,
            detail=json.loads(body),
            headers={k: v for k, v in headers if k.lower() != "content-type"},
        )
        self.error = decision.error


async def bearer_error_handler(request: Request, exc: Exception) -> Response:
    """Render a :class:`BearerHTTPException` exactly as the core built it."""
    if not isinstance(exc, BearerHTTPException):  # pragma: no cover - registered for it only
        raise exc
    status, headers, body = exc.response
    return Response(body, status_code=status, headers=dict(headers))


def install_error_handler(app: FastAPI, verifier: Verifier | None = None) -> None:
    """Register :func:`bearer_error_handler` for :class:`BearerHTTPException` on *app*.

    With *verifier* (whose ``BEARERGUARD_RESOURCE`` is set) it also serves the RFC 9728
    metadata document at its well-known path (a plain route, outside OpenAPI and the
    app's dependencies): ``install_error_handler(app, verifier)``.
    """
    app.add_exception_handler(BearerHTTPException, bearer_error_handler)
    path = verifier.metadata_path if verifier is not None else None
    if verifier is None or path is None:
        return
    meta = verifier.metadata

    async def resource_metadata(request: Request) -> Response:
        answer = meta(request.method, path)
        if answer is None:  # pragma: no cover - the route is registered for this path only
            return Response(status_code=404)
        status, headers, body = answer
        return Response(body, status_code=status, headers=dict(headers))

    methods = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
    app.add_route(path, resource_metadata, methods=methods, include_in_schema=False)


class BearerToken(SecurityBase):
    """A dependency returning the verified :class:`~bearerguard.AccessToken`.

    Example::

        app = FastAPI(dependencies=[Security(BearerToken(verifier, optional=True))])
        install_error_handler(app, verifier)  # also serves the RFC 9728 metadata
        bearer = BearerToken(Verifier(Settings.from_env()))
        @app.get("/messages")
        async def messages(token: AccessToken = Security(bearer, scopes=["read:messages"])):
            return {"sub": token.subject}

    Optional authentication follows bearerguard's one rule: a token that is sent is
    checked and a bad one refused (400/401/503), never dropped to anonymous; only a
    request *without* credentials passes where no token is required. bearerguard sees
    only the routes using this dependency, so add it at app level with
    ``optional=True`` (as above) to have a sent token checked on every route, the
    public ones included; routes needing a token add their own ``BearerToken``.

    Args:
        verifier: the :class:`~bearerguard.Verifier`.
        scopes: every one is needed; ``Security(..., scopes=[...])`` adds more.
        any_scopes: at least one is needed.
        roles: every one of these roles is needed (``AccessToken.roles``); 403
            ``insufficient_role`` otherwise.
        any_roles: at least one of these roles is needed.
        claims: claim checks (``ClaimEquals``, ``ClaimIncludes``, callables); their
            claim names are paths (``"realm_access.roles"``).
        acr_values: RFC 9470 step-up: the accepted ``acr`` values (else 401
            ``insufficient_user_authentication``).
        max_age: RFC 9470 step-up: the greatest age of ``auth_time`` in seconds.
        optional: without credentials return ``None`` instead of a 401 (a
            token that is sent must still be valid).
        scheme_name: the OpenAPI name of the bearer scheme (``BearerToken``).
        dpop_scheme_name: the OpenAPI name of the DPoP scheme (``DPoP``).
        max_form_bytes: larger form bodies are not searched for a token.

    Shows in OpenAPI as the schemes ``BEARERGUARD_DPOP`` accepts, each an alternative
    (``security: [{"BearerToken": []}, {"DPoP": []}]``): ``{"type": "http", "scheme":
    "bearer", "bearerFormat": "JWT"}`` unless DPoP is ``required``, and ``{"type": "http",
    "scheme": "DPoP"}`` unless it is ``off`` (OpenAPI has no DPoP type; RFC 9449 registers
    ``DPoP`` as an HTTP authentication scheme).
    Raises :class:`BearerHTTPException`; on a WebSocket route a refusal closes
    the handshake before it is accepted (HTTP 403). Construction starts fetching the
    keys in the background (:meth:`Verifier.warm`), so the first request does not wait.
    """

    def __init__(
        self,
        verifier: Verifier,
        *,
        scopes: Iterable[str] = (),
        any_scopes: Iterable[str] = (),
        claims: Iterable[ClaimCheck] = (),
        acr_values: Iterable[str] | str | None = None,
        max_age: int | None = None,
        roles: Iterable[str] = (),
        any_roles: Iterable[str] = (),
        optional: bool = False,
        scheme_name: str | None = None,
        dpop_scheme_name: str = "DPoP",
        description: str | None = None,
        max_form_bytes: int = MAX_FORM_BYTES,
    ) -> None:
        self.verifier = verifier
        verifier.warm()  # built once with the app: fetch the keys now, in the background
        self.scopes = tuple(scopes)
        self.any_scopes = tuple(any_scopes)
        self.claims = tuple(claims)
        self.requirements: Requirements | None = (
            Requirements(
                self.scopes,
                self.any_scopes,
                self.claims,
                acr_values=acr_values,
                max_age=max_age,
                roles=tuple(roles),
                any_roles=tuple(any_roles),
            )
            or None
        )
        self._combined: dict[tuple[str, ...], Requirements | None] = {}
        self.optional = optional
        self.max_form_bytes = max_form_bytes
        self.model: HTTPBaseModel = HTTPBearerModel(bearerFormat="JWT", description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.__signature__ = _CALL_SIGNATURE
        mode = verifier.binding.mode
        if mode == "required":  # Bearer is refused: only DPoP is documented
            self.model = HTTPBaseModel(scheme="DPoP", description=description)
            self.scheme_name = dpop_scheme_name
        elif mode == "allowed":
            # OpenAPI lists each security scheme of a dependency as an alternative: the DPoP
            # one joins as a sub-dependency that checks nothing (this dependency decides).
            dpop = Security(DPoPScheme(dpop_scheme_name, description))
            self.__signature__ = _CALL_SIGNATURE.replace(
                parameters=[
                    *_CALL_SIGNATURE.parameters.values(),
                    inspect.Parameter("_dpop_scheme", inspect.Parameter.KEYWORD_ONLY, default=dpop),
                ]
            )

    def _requirements(self, extra: list[str]) -> Requirements | None:
        if not extra:
            return self.requirements
        # Scopes declared in code (Security(..., scopes=...)): a handful per app.
        key = tuple(extra)
        combined = self._combined.get(key)
        if combined is None:
            combined = self._combined[key] = Requirements.all_of(
                self.requirements, Requirements(scopes=key)
            )
        return combined

    async def _form(self, request: Request) -> list[str] | None:
        # RFC 6750 §2.2. Read only a declared, bounded body: Starlette caches it
        # on the request, so the endpoint can still read it.
        length = content_length(request.headers.get("content-length"))
        if length is None or length > self.max_form_bytes:
            return None
        return token_params(await request.body())

    async def _decide(
        self, conn: HTTPConnection, requirements: Requirements | None, required: bool
    ) -> Decision:
        scope = conn.scope
        qs = scope.get("query_string", b"")
        form = None
        if (
            "form" in self.verifier.token_locations
            and isinstance(conn, Request)
            and is_form_request(conn.method, conn.headers.get("content-type"))
        ):
            form = await self._form(conn)
        return await self.verifier.decide_async(
            header_values(scope, b"authorization"),
            method=scope.get("method", "GET"),
            url=lambda: request_url(scope),
            dpop=header_values(scope, b"dpop"),
            query=token_params(qs) if b"access_token" in qs else None,
            form=form,
            requirements=requirements,
            required=required,
        )

    async def __call__(
        self, conn: HTTPConnection, security_scopes: SecurityScopes, _dpop_scheme: None = None
    ) -> AccessToken | None:
        requirements = self._requirements(security_scopes.scopes)
        required = not self.optional
        scope, verifier = conn.scope, self.verifier
        accepted = scope.get(SCOPE_KEY)
        value: bytes | str | None = FULL_PATH
        if accepted is not None and isinstance(accepted, AccessToken):  # (an ABC: slow on None)
            # Already decided for this request (an app-level dependency): a DPoP proof is
            # accepted once, so only this route's requirements are left to check.
            decision = verifier.reconsider(accepted, requirements)
        elif (value := plain_header(verifier, scope)) is not FULL_PATH:  # the usual request
            # A cached token (or none) is settled without a coroutine; else the async path.
            found = decide_cached(verifier, value, requirements, required)
            if found is None:
                found = await verifier.decide_async(
                    value.decode("latin-1") if type(value) is bytes else None,
                    requirements=requirements,
                    required=required,
                )
            decision = found
        else:
            decision = await self._decide(conn, requirements, required)
        if decision.error is not None:
            if conn.scope["type"] == "websocket":
                raise WebSocketException(_WS_POLICY_VIOLATION, decision.error.reason)
            raise BearerHTTPException(decision)
        token = decision.token
        if token is not None:
            conn.scope[SCOPE_KEY] = token
        return token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scopes={self.scopes!r}, optional={self.optional!r})"
