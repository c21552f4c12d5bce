"""Litestar: an authentication middleware, scope guards and the OpenAPI bearer scheme.

The core decides (:func:`bearerguard.middleware.asgi.decide_scope`) and renders; this module
sets ``request.user`` / ``request.auth`` and raises or sends the core's answer unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from copy import copy
from typing import TYPE_CHECKING, Any

from litestar import Response, asgi
from litestar.exceptions import HTTPException
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.spec import Components, SecurityScheme

from bearerguard.claimpath import ClaimPathLike
from bearerguard.errors import BearerError, MissingToken
from bearerguard.middleware._common import MAX_FORM_BYTES
from bearerguard.middleware.asgi import (
    SCOPE_KEY,
    ASGIApp,
    Receive,
    Scope,
    Send,
    answer_metadata,
    decide_scope,
    send_refusal,
    with_headers,
)
from bearerguard.requirements import Requirements
from bearerguard.tokens import AccessToken
from bearerguard.verifier import Verifier

if TYPE_CHECKING:
    from litestar.config.app import AppConfig
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler
    from litestar.openapi.spec import SecurityRequirement


__all__ = [
    "BearerAuth",
    "BearerAuthMiddleware",
    "BearerRefusal",
    "TokenUser",
    "requires_claim",
    "requires_roles",
    "requires_scopes",
]

Rendered = tuple[int, list[tuple[str, str]], bytes]
_VERIFIER_KEY = "bearerguard.verifier"
SCHEME_NAME = "BearerToken"
DPOP_SCHEME_NAME = "DPoP"


class TokenUser:
    """``request.user`` for a verified token: its subject, scopes and the token itself."""

    __slots__ = ("token",)

    def __init__(self, token: AccessToken) -> None:
        self.token = token

    @property
    def id(self) -> str | None:
        """The token's subject (``sub``)."""
        return self.token.subject

    @property
    def scopes(self) -> frozenset[str]:
        """The token's scopes."""
        return self.token.scopes

    def __repr__(self) -> str:
        return f"TokenUser(id={self.id!r})"


class BearerRefusal(HTTPException):
    """A refusal raised by a guard; carries the core's rendered (status, headers, body).

    An ``HTTPException`` so that, even without :class:`BearerAuth`'s exception handler,
    Litestar answers with the right status and challenge headers.
    """

    def __init__(self, rendered: Rendered) -> None:
        status, headers, _ = rendered
        challenge = {k: v for k, v in headers if k.lower() == "www-authenticate"}
        super().__init__(detail="bearer token refused", status_code=status, headers=challenge)
        self.rendered = rendered


def refusal_handler(request: Any, exc: BearerRefusal) -> Response[bytes]:
    """Exception handler: the refusal exactly as the core rendered it (RFC 6750 §3)."""
    status, headers, body = exc.rendered
    media = next((v for k, v in headers if k.lower() == "content-type"), "application/json")
    rest = {k: v for k, v in headers if k.lower() != "content-type"}
    return Response(content=body, status_code=status, headers=rest, media_type=media)


class BearerAuthMiddleware:
    """ASGI authentication middleware for Litestar: checks a sent token on every route.

    A request without credentials goes on anonymous (``request.user`` and ``request.auth``
    are ``None``); a token that is sent is checked and a bad one refused with the core's
    answer (RFC 6750 §3) — never dropped to anonymous. An accepted token sets
    ``request.auth`` (the :class:`~bearerguard.AccessToken`) and ``request.user`` (what
    *retrieve_user* returns, default :class:`TokenUser`). Route handlers with
    ``opt={exclude_opt_key: True}`` are passed through untouched. Key fetches are awaited.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: Verifier,
        *,
        retrieve_user: Callable[[AccessToken, Scope], Any] | None = None,
        exclude_opt_key: str = "exclude_from_auth",
        max_form_bytes: int = MAX_FORM_BYTES,
    ) -> None:
        self.app, self.verifier, self.max_form_bytes = app, verifier, max_form_bytes
        self.retrieve_user = retrieve_user or (lambda token, scope: TokenUser(token))
        self.exclude_opt_key = exclude_opt_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        handler = scope.get("route_handler")
        if handler is not None and handler.opt.get(self.exclude_opt_key):
            scope["user"] = scope["auth"] = None
            await self.app(scope, receive, send)
            return
        scope[_VERIFIER_KEY] = self.verifier
        decision, receive = await decide_scope(
            self.verifier, scope, receive, max_form_bytes=self.max_form_bytes
        )
        if decision.error is not None:
            await send_refusal(scope, receive, send, decision.response())
            return
        token = decision.token
        scope[SCOPE_KEY] = scope["auth"] = token
        if token is None:
            scope["user"] = None
        else:
            user = self.retrieve_user(token, scope)
            scope["user"] = await user if isinstance(user, Awaitable) else user
        await self.app(scope, receive, with_headers(send, decision.headers))


class BearerAuth:
    """Litestar security config: the middleware, the exception handler and the OpenAPI scheme.

    Example::

        auth = BearerAuth(Verifier(Settings.from_env()))
        app = Litestar([messages], on_app_init=[auth.on_app_init])

        @get("/messages", guards=[requires_scopes("read:messages")])
        async def messages(request: Request[TokenUser, AccessToken, Any]) -> dict: ...

    *retrieve_user*: ``callable(token, scope) -> user`` (sync or async) for ``request.user``.
    """

    def __init__(
        self,
        verifier: Verifier,
        *,
        retrieve_user: Callable[[AccessToken, Scope], Any] | None = None,
        exclude_opt_key: str = "exclude_from_auth",
        max_form_bytes: int = MAX_FORM_BYTES,
        bearer_format: str = "JWT",
    ) -> None:
        self.verifier = verifier
        self.options: dict[str, Any] = {
            "retrieve_user": retrieve_user,
            "exclude_opt_key": exclude_opt_key,
            "max_form_bytes": max_form_bytes,
        }
        self.bearer_format = bearer_format

    @property
    def middleware(self) -> DefineMiddleware:
        """``DefineMiddleware(BearerAuthMiddleware, ...)`` for ``Litestar(middleware=[...])``."""
        # A plain ASGI middleware: Litestar's scope and event types are TypedDicts of ours.
        factory: Any = BearerAuthMiddleware
        return DefineMiddleware(factory, verifier=self.verifier, **self.options)

    @property
    def openapi_components(self) -> Components:
        """The schemes ``BEARERGUARD_DPOP`` accepts as OpenAPI security schemes: bearer
        (RFC 6750) unless DPoP is ``required``, DPoP (RFC 9449) unless it is ``off``."""
        schemes: dict[str, Any] = {}
        mode = self.verifier.binding.mode
        if mode != "required":
            schemes[SCHEME_NAME] = SecurityScheme(
                type="http",
                scheme="bearer",
                bearer_format=self.bearer_format,
                description="OAuth 2.0 bearer access token (RFC 6750)",
            )
        if mode != "off":  # OpenAPI has no DPoP type: RFC 9449 §7.1 registers an HTTP scheme
            schemes[DPOP_SCHEME_NAME] = SecurityScheme(
                type="http",
                scheme="DPoP",
                description="OAuth 2.0 DPoP-bound access token with its proof (RFC 9449)",
            )
        return Components(security_schemes=schemes)

    @property
    def security_requirements(self) -> list[SecurityRequirement]:
        """One requirement per accepted scheme (alternatives), e.g. ``[{"BearerToken": []},
        {"DPoP": []}]``, for ``security=[...]`` on the app or a handler."""
        return [{name: []} for name in self.openapi_components.security_schemes or {}]

    @property
    def security_requirement(self) -> SecurityRequirement:
        """The first of :attr:`security_requirements` (``{"BearerToken": []}`` unless DPoP
        is required); use :attr:`security_requirements` to offer every accepted scheme."""
        return self.security_requirements[0]

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Add the middleware, the refusal handler and the OpenAPI scheme to the app.

        With ``BEARERGUARD_RESOURCE`` set, also the route serving the RFC 9728 metadata
        document at its path-inserted well-known path. At start-up (``on_startup``) the
        keys are fetched in the background (:meth:`Verifier.warm`): no cold first request.
        """
        app_config.middleware.insert(0, self.middleware)
        app_config.exception_handlers[BearerRefusal] = refusal_handler
        app_config.on_startup.append(self.verifier.warm)  # never raises nor blocks
        if self.verifier.metadata_path is not None:
            app_config.route_handlers.append(self.metadata_handler(self.verifier.metadata_path))
        if app_config.openapi_config is not None:
            config = app_config.openapi_config = copy(app_config.openapi_config)
            if isinstance(config.components, list):
                config.components = [*config.components, self.openapi_components]
            else:
                config.components = [self.openapi_components, config.components]
            config.security = [*(config.security or []), *self.security_requirements]
        return app_config

    def metadata_handler(self, path: str) -> Any:
        """A route answering at *path* exactly as the core does (every method: the core
        answers GET/HEAD/OPTIONS and refuses the others), outside authentication."""
        verifier = self.verifier

        async def resource_metadata(scope: Scope, receive: Receive, send: Send) -> None:
            await answer_metadata(verifier, scope, send, path)

        return asgi(path, copy_scope=False, opt={self.options["exclude_opt_key"]: True})(
            resource_metadata
        )


def _guard(
    requirements: Requirements,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        scope: Scope = connection.scope  # type: ignore[assignment]
        verifier = scope.get(_VERIFIER_KEY)
        if not isinstance(verifier, Verifier):
            raise RuntimeError("BearerAuth must be installed (on_app_init=[auth.on_app_init])")
        token = scope.get(SCOPE_KEY)
        if not isinstance(token, AccessToken):  # RFC 6750 §3.1: no error code
            raise BearerRefusal(verifier.render(MissingToken(), requirements))
        try:
            verifier.authorize(token, requirements)
        except BearerError as err:
            raise BearerRefusal(verifier.render(err, requirements)) from None

    return guard


def requires_scopes(
    *scopes: str,
    any_of: Sequence[str] = (),
    acr_values: Sequence[str] | str | None = None,
    max_age: int | None = None,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """A Litestar guard: a valid token holding every scope and one of *any_of*.

    ``requires_scopes()`` only needs a valid token. Refuses with 401 (bare challenge)
    without a token, 403 ``insufficient_scope`` naming the scopes (RFC 6750 §3.1), or 401
    ``insufficient_user_authentication`` for *acr_values* / *max_age* (RFC 9470).
    Raises ``ValueError`` for a bad scope.
    """
    return _guard(
        Requirements(scopes=scopes, any_scopes=any_of, acr_values=acr_values, max_age=max_age)
    )


def requires_roles(
    *roles: str,
    any_of: Sequence[str] = (),
    acr_values: Sequence[str] | str | None = None,
    max_age: int | None = None,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """A Litestar guard: a valid token holding every role and one of *any_of*.

    Roles are the token's ``roles`` (``BEARERGUARD_ROLE_CLAIMS`` or the provider
    preset); a token lacking them gets 403 ``insufficient_scope`` (reason
    ``insufficient_role``). Raises ``ValueError`` when no role is named.
    """
    requirements = Requirements(
        roles=roles, any_roles=any_of, acr_values=acr_values, max_age=max_age
    )
    if not (requirements.roles or requirements.any_roles):
        raise ValueError("requires_roles needs at least one role")
    return _guard(requirements)


def requires_claim(
    name: ClaimPathLike, **check: Any
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    """A Litestar guard: the claim *name* ``equals=`` a value, or ``includes=`` one.

    *name* is a claim path (``"realm_access.roles"``; :mod:`bearerguard.claimpath`).
    Raises ``TypeError`` unless exactly one is given. A failed check answers 403
    ``insufficient_scope`` (``claim_requirement_failed``).
    """
    return _guard(Requirements.claim(name, **check))
