"""Flask integration: the ``BearerAuth`` extension, its decorators and ``current_token``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from flask import Response, current_app, request
from flask.globals import _cv_request
from werkzeug.local import LocalProxy

from bearerguard.errors import BearerError
from bearerguard.extract import FORM, HEADER, QUERY
from bearerguard.middleware._common import is_form_request
from bearerguard.middleware.wsgi import authorization_values
from bearerguard.requirements import ClaimCheck, Requirements
from bearerguard.settings import Settings
from bearerguard.tokens import AccessToken
from bearerguard.verifier import Verifier, error_response

if TYPE_CHECKING:
    from flask import Blueprint, Flask
    from flask.ctx import RequestContext

__all__ = ["BearerAuth", "current_token", "get_token"]

F = TypeVar("F", bound=Callable[..., Any])
_KEY = "bearerguard"
# The verified token lives in the request's WSGI environ: it is per request by
# construction (g may outlive a request when an app context spans several).
_ENVIRON_KEY = "bearerguard.flask.access_token"
_NOT_INITIALISED = (
    "bearerguard: BearerAuth is not initialised on this app; "
    "call BearerAuth(app) or auth.init_app(app) first"
)


def _request_ctx() -> RequestContext | None:
    # The request context itself: one context-variable read, where each attribute read
    # through the request/current_app proxies costs about as much as the whole lookup.
    return _cv_request.get(None)


def _verifier(app: Flask | None = None) -> Verifier:
    try:
        extensions = (app or current_app).extensions
    except RuntimeError:  # the proxy has no app context to resolve to
        raise RuntimeError("bearerguard: used outside a Flask application context") from None
    verifier = extensions.get(_KEY)
    if type(verifier) is not Verifier and not isinstance(verifier, Verifier):
        raise RuntimeError(_NOT_INITIALISED)
    return verifier


def get_token() -> AccessToken | None:
    """The request's verified token, or ``None`` (no token, or a route without auth).

    Raises ``RuntimeError`` outside an app context or when the extension is not initialised.
    """
    ctx = _request_ctx()
    if ctx is not None:
        token: AccessToken | None = ctx.request.environ.get(_ENVIRON_KEY)
        if token is not None:
            return token
    _verifier()  # outside an app context, or not initialised: RuntimeError
    return None


#: The current request's :class:`~bearerguard.AccessToken`.
#: In an ``@auth.optional`` view test it with ``if current_token:`` (never ``is None``).
current_token: AccessToken = LocalProxy(get_token)  # type: ignore[assignment]


def _render(err: BearerError) -> Response:
    # Returned, never raised or abort()ed: app error handlers cannot alter it.
    status, headers, body = error_response(err)
    return Response(body, status=status, headers=headers)


def _credentials(verifier: Verifier, environ: dict[str, Any]) -> AccessToken | None:
    # WSGI servers join repeated Authorization lines with ","; split them back.
    header = authorization_values(environ.get("HTTP_AUTHORIZATION"))
    locations = verifier.token_locations
    if locations == (HEADER,):
        return verifier.authenticate(header)
    req = request._get_current_object()  # type: ignore[attr-defined]
    query = req.args.getlist("access_token") if QUERY in locations else None
    form = None
    # RFC 6750 §2.2: a form-encoded body only, never with GET.
    if FORM in locations and is_form_request(req.method, req.content_type):
        form = req.form.getlist("access_token")
    return verifier.authenticate(header, query=query, form=form)


def _authenticate(required: bool, requirements: Requirements | None) -> Response | None:
    """Authenticate the current request; a refusal response, or ``None`` to go on."""
    ctx = _request_ctx()
    if ctx is None:  # a view called outside a request
        raise RuntimeError("bearerguard: used outside a Flask request")
    verifier = _verifier(ctx.app)
    environ = ctx.request.environ
    try:
        # Already verified for this request (by protect() before the view)?
        token = environ.get(_ENVIRON_KEY)
        if token is None:
            value = environ.get("HTTP_AUTHORIZATION")
            if value is not None and "," not in value and verifier._header_only:
                token = verifier.authenticate(value)  # the usual request, inline
            else:
                token = _credentials(verifier, environ)
        if token is None:
            if required:
                raise verifier.missing()  # RFC 6750 §3.1: bare challenge
        else:
            verifier.authorize(token, requirements)
    except BearerError as err:
        return _render(err)
    environ[_ENVIRON_KEY] = token
    return None


def _guard(view: F, required: bool, requirements: Requirements | None) -> F:
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            refusal = _authenticate(required, requirements)
            return refusal if refusal is not None else await view(*args, **kwargs)

        return cast(F, async_wrapper)

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        refusal = _authenticate(required, requirements)
        return refusal if refusal is not None else view(*args, **kwargs)

    return cast(F, wrapper)


class BearerAuth:
    """The Flask extension: configure once, then protect views and blueprints.

    Example::

        from bearerguard.adapters.flask import BearerAuth, current_token
        auth = BearerAuth(app)          # or BearerAuth() + auth.init_app(app)
        @app.get("/api/messages")
        @auth.require(scopes=["read:messages"])
        def messages(): return {"sub": current_token.subject}

    Settings come from ``app.config`` (``BEARERGUARD_ISSUER``, ``BEARERGUARD_AUDIENCE``, …;
    ``BEARERGUARD_TOKEN_CACHE_SIZE``) unless a ready ``verifier`` is given; the app's
    verifier lives in ``app.extensions["bearerguard"]``. Refusals are returned as
    responses, so the app's error handlers never see or change them.
    """

    def __init__(self, app: Flask | None = None, *, verifier: Verifier | None = None) -> None:
        self._verifier = verifier
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build the app's verifier from ``app.config``; raises ``ValueError`` for bad settings."""
        verifier = self._verifier
        if verifier is None:
            cache_size = app.config.get("BEARERGUARD_TOKEN_CACHE_SIZE", 1024)
            try:
                cache_size = int(cache_size)
            except (TypeError, ValueError):
                raise ValueError("BEARERGUARD_TOKEN_CACHE_SIZE must be an integer") from None
            verifier = Verifier(Settings.from_mapping(app.config), token_cache_size=cache_size)
        app.extensions[_KEY] = verifier

    def verifier(self) -> Verifier:
        """The current app's :class:`~bearerguard.Verifier`."""
        return _verifier()

    @overload
    def require(self, view: F, /) -> F: ...
    @overload
    def require(
        self,
        view: None = None,
        /,
        *,
        scopes: Iterable[str] | str | None = None,
        any_scopes: Iterable[str] | str | None = None,
        claims: Iterable[ClaimCheck] = (),
    ) -> Callable[[F], F]: ...
    def require(
        self,
        view: F | None = None,
        /,
        *,
        scopes: Iterable[str] | str | None = None,
        any_scopes: Iterable[str] | str | None = None,
        claims: Iterable[ClaimCheck] = (),
    ) -> F | Callable[[F], F]:
        """Decorator: the view needs a valid token meeting these requirements.

        ``scopes``: all needed; ``any_scopes``: one needed; ``claims``: checks such as
        :class:`~bearerguard.ClaimEquals`. No token: 401; bad token: 401 or 400;
        unmet requirement: 403. ``@auth.require`` without parentheses works too.
        """
        requirements = Requirements(scopes, any_scopes, claims)
        if view is not None:
            return _guard(view, True, requirements)
        return lambda v: _guard(v, True, requirements)

    def optional(self, view: F) -> F:
        """Decorator: use a token when one is sent (refusing an invalid one), else ``None``."""
        return _guard(view, False, None)

    def protect(
        self,
        blueprint: Blueprint | Flask,
        *,
        scopes: Iterable[str] | str | None = None,
        any_scopes: Iterable[str] | str | None = None,
        claims: Iterable[ClaimCheck] = (),
    ) -> None:
        """Require a valid token (and these requirements) for every view of *blueprint*.

        Call it before the blueprint is registered. Automatic ``OPTIONS`` answers
        (CORS preflight) are left alone, as Flask answers them without the view.
        """
        requirements = Requirements(scopes, any_scopes, claims)

        def check_token() -> Response | None:
            rule = request.url_rule
            if (
                request.method == "OPTIONS"
                and rule is not None
                and getattr(rule, "provide_automatic_options", False)
            ):
                return None
            return _authenticate(True, requirements)

        blueprint.before_request(check_token)
