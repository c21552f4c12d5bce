"""Flask integration: the ``BearerAuth`` extension, its decorators and ``current_token``.

The one rule for optional authentication (issue #13.6): ``BearerAuth(app)`` checks a token
that is sent before every request of the app, except paths under
``BEARERGUARD_EXEMPT_PATHS``, and refuses a bad one; requests without credentials go on
unless the path is under ``BEARERGUARD_PROTECTED_PATHS``. ``@auth.require``,
``@auth.optional`` and ``protect()`` reuse that decision. Only public Flask API is used.
The module passes the ~200-line guide by its typed overloads and docstrings, not by policy:
every decision is the core's (:func:`bearerguard.middleware.wsgi.decide_environ`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from flask import Response, after_this_request, current_app, has_request_context, request
from werkzeug.local import LocalProxy

from bearerguard.errors import BearerError, MissingToken
from bearerguard.middleware.wsgi import decide_environ
from bearerguard.paths import PathRules
from bearerguard.pipeline import Decision
from bearerguard.requirements import ClaimCheck, Requirements
from bearerguard.settings import Settings
from bearerguard.tokens import AccessToken
from bearerguard.verifier import Verifier

if TYPE_CHECKING:
    from flask import Blueprint, Flask

__all__ = ["BearerAuth", "current_token", "get_token"]

F = TypeVar("F", bound=Callable[..., Any])
Rendered = tuple[int, list[tuple[str, str]], bytes]
_KEY = "bearerguard"
_PATHS_KEY = "bearerguard.paths"
# The verified token lives in the request's WSGI environ: it is per request by
# construction (g may outlive a request when an app context spans several).
_ENVIRON_KEY = "bearerguard.flask.access_token"
_DECIDED_KEY = "bearerguard.flask.decided"
_NOT_INITIALISED = (
    "bearerguard: BearerAuth is not initialised on this app; "
    "call BearerAuth(app) or auth.init_app(app) first"
)


def _verifier(app: Flask | None = None) -> Verifier:
    try:
        extensions = (app or current_app).extensions
    except RuntimeError:  # the proxy has no app context to resolve to
        raise RuntimeError("bearerguard: used outside a Flask application context") from None
    verifier = extensions.get(_KEY)
    if not isinstance(verifier, Verifier):
        raise RuntimeError(_NOT_INITIALISED)
    return verifier


def get_token() -> AccessToken | None:
    """The request's verified token, or ``None`` (no token, or a route without auth).

    Raises ``RuntimeError`` outside an app context or when the extension is not initialised.
    """
    if has_request_context():
        token: AccessToken | None = request.environ.get(_ENVIRON_KEY)
        if token is not None:
            return token
    _verifier()  # outside an app context, or not initialised: RuntimeError
    return None


#: The current request's :class:`~bearerguard.AccessToken`.
#: In an ``@auth.optional`` view test it with ``if current_token:`` (never ``is None``).
current_token: AccessToken = LocalProxy(get_token)  # type: ignore[assignment]


def _response(rendered: Rendered) -> Response:
    # Returned, never raised or abort()ed: app error handlers cannot alter it.
    status, headers, body = rendered
    return Response(body, status=status, headers=headers)


def _automatic_options() -> bool:
    """An ``OPTIONS`` request Flask answers itself, without the view (e.g. CORS preflight)."""
    rule = request.url_rule
    return (
        request.method == "OPTIONS"
        and rule is not None
        and bool(getattr(rule, "provide_automatic_options", False))
    )


def _decide(
    verifier: Verifier, required: bool, requirements: Requirements | None
) -> Response | None:
    """Ask the core about the current request; remember an acceptance for the request."""
    environ = request.environ
    decision = decide_environ(verifier, environ, requirements=requirements, required=required)
    if decision.error is not None:
        return _response(decision.response())
    _accept(environ, decision)
    return None


def _accept(environ: dict[str, Any], decision: Decision) -> None:
    environ[_ENVIRON_KEY] = decision.token
    environ[_DECIDED_KEY] = True
    if decision.headers:
        extra = decision.headers

        @after_this_request
        def add_headers(response: Response) -> Response:
            response.headers.extend(extra)
            return response


def _check_sent_token() -> Response | None:
    """App-wide ``before_request``: a sent token is checked on every non-exempt path."""
    app = current_app
    verifier = _verifier(app)
    metadata = verifier.metadata(request.method, request.path)
    if metadata is not None:  # RFC 9728: the metadata document, before authentication
        response = _response(metadata)
        # A HEAD answer's Content-Length is the GET one's (RFC 9110 §8.6), which werkzeug
        # would reset for the empty body.
        response.headers["Content-Length"] = dict(metadata[1])["Content-Length"]
        return response
    rules: PathRules = app.extensions[_PATHS_KEY]
    protected, exempt, requirements = rules.match(request.path)
    if exempt or _DECIDED_KEY in request.environ:
        return None  # exempt paths are passed on untouched
    return _decide(verifier, protected and not _automatic_options(), requirements)


def _authenticate(required: bool, requirements: Requirements | None) -> Response | None:
    """Authenticate the current request; a refusal response, or ``None`` to go on."""
    if not has_request_context():  # a view called outside a request
        raise RuntimeError("bearerguard: used outside a Flask request")
    verifier = _verifier()
    environ = request.environ
    if _DECIDED_KEY not in environ:  # an exempt path: the hook left it to us
        return _decide(verifier, required, requirements)
    # Already decided for this request (before_request): reuse the verified token.
    token: AccessToken | None = environ.get(_ENVIRON_KEY)
    if token is None:
        # RFC 6750 §3.1: no credentials, bare challenge.
        return _response(verifier.render(MissingToken(), requirements)) if required else None
    try:
        verifier.authorize(token, requirements)
    except BearerError as err:  # InsufficientScope: 403; RFC 9470 step-up: 401
        return _response(verifier.render(err, requirements))
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

    Settings come from ``app.config`` (``BEARERGUARD_ISSUER``, ``BEARERGUARD_AUDIENCE``, …)
    unless a ready ``verifier`` is given; the app's verifier lives in
    ``app.extensions["bearerguard"]``. Every request of the app except those under
    ``BEARERGUARD_EXEMPT_PATHS`` has a token that is sent checked (a bad one refused);
    ``BEARERGUARD_PROTECTED_PATHS`` need one. Refusals are returned as responses, so the
    app's error handlers never see or change them. With ``BEARERGUARD_RESOURCE`` set, the
    RFC 9728 metadata document is served at its well-known path (no route to write).
    """

    def __init__(self, app: Flask | None = None, *, verifier: Verifier | None = None) -> None:
        self._verifier = verifier
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build the app's verifier from ``app.config``; raises ``ValueError`` for bad settings.

        Starts fetching the issuers' keys in the background (:meth:`Verifier.warm`), so the
        first request does not wait for them; an issuer that is down never fails this.
        """
        verifier = self._verifier or Verifier(Settings.from_mapping(app.config))
        s = verifier.settings
        rules = PathRules(protect=s.protected_paths or (), exempt=s.exempt_paths)
        first = _KEY not in app.extensions
        app.extensions[_KEY] = verifier
        app.extensions[_PATHS_KEY] = rules
        if first:
            app.before_request(_check_sent_token)
        verifier.warm()

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
        acr_values: Iterable[str] | str | None = None,
        max_age: int | None = None,
        roles: Iterable[str] | str | None = None,
        any_roles: Iterable[str] | str | None = None,
    ) -> Callable[[F], F]: ...
    def require(
        self,
        view: F | None = None,
        /,
        *,
        scopes: Iterable[str] | str | None = None,
        any_scopes: Iterable[str] | str | None = None,
        claims: Iterable[ClaimCheck] = (),
        acr_values: Iterable[str] | str | None = None,
        max_age: int | None = None,
        roles: Iterable[str] | str | None = None,
        any_roles: Iterable[str] | str | None = None,
    ) -> F | Callable[[F], F]:
        """Decorator: the view needs a valid token meeting these requirements.

        ``scopes``: all needed; ``any_scopes``: one needed; ``roles`` / ``any_roles``: the
        same for :attr:`AccessToken.roles <bearerguard.AccessToken.roles>`; ``claims``:
        checks such as :class:`~bearerguard.ClaimEquals` (whose claim name is a path,
        ``"realm_access.roles"``); ``acr_values`` / ``max_age``: RFC 9470 step-up
        (accepted ``acr`` values, greatest age of ``auth_time`` in seconds). No token: 401;
        bad token: 401 or 400; unmet requirement: 403; authentication too weak or old:
        401 ``insufficient_user_authentication``. ``@auth.require`` works without
        parentheses too.
        """
        requirements = (
            Requirements(
                scopes,
                any_scopes,
                claims,
                acr_values=acr_values,
                max_age=max_age,
                roles=roles,
                any_roles=any_roles,
            )
            or None
        )
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
        acr_values: Iterable[str] | str | None = None,
        max_age: int | None = None,
        roles: Iterable[str] | str | None = None,
        any_roles: Iterable[str] | str | None = None,
    ) -> None:
        """Require a valid token (and these requirements, as for :meth:`require`) for every
        view of *blueprint*.

        Call it before the blueprint is registered. Automatic ``OPTIONS`` answers
        (CORS preflight) are left alone, as Flask answers them without the view; a
        view registered with ``methods=["OPTIONS"]`` is protected like any other.
        """
        requirements = (
            Requirements(
                scopes,
                any_scopes,
                claims,
                acr_values=acr_values,
                max_age=max_age,
                roles=roles,
                any_roles=any_roles,
            )
            or None
        )

        def check_token() -> Response | None:
            if _automatic_options():
                return None
            return _authenticate(True, requirements)

        blueprint.before_request(check_token)
