"""``BearerAuthMiddleware``: authenticate the bearer token of every Django request.

Rules, all from Django settings (see :mod:`bearerguard.adapters.django.conf`):

* Optional authentication, the one rule of every bearerguard adapter: a token that
  is sent is verified on every path except ``BEARERGUARD_EXEMPT_PATHS``, and a bad
  one is refused (400 malformed request, 401 ``invalid_token``, 503 key outage) even
  where no token is needed: a client that sends credentials means to be
  authenticated, and answering 200 to an expired token would hide its bug. Requests
  without credentials go on, unless the path needs a token.
* Paths under ``BEARERGUARD_PROTECTED_PATHS`` need a token (401 with a bare
  challenge without one, RFC 6750 §3.1). Elsewhere the decorators
  (``require_token``, ``require_scopes``, ``require_claim``) and DRF permissions
  say which views need one. Exempt paths (health checks, webhooks) are passed on
  untouched; list a path there to keep bearerguard away from it entirely.
* ``request.access_token`` is the :class:`~bearerguard.AccessToken` or ``None``;
  ``request.user`` becomes a :class:`~bearerguard.adapters.django.users.TokenUser`,
  or what ``BEARERGUARD_USER_HOOK(request, token)`` returns (it may raise a
  :class:`~bearerguard.BearerError` to refuse, rendered with ``BEARERGUARD_REALM``).
* A request authenticated by its bearer token alone (no signed-in session) carries
  no ambient credential, so it is exempt from Django's CSRF check, as DRF exempts
  every request it does not authenticate by session. A session-authenticated
  request never is.

One request, one identity: when ``request.user`` is already authenticated (by a
session, or an earlier middleware) and a valid bearer token arrives, the token
counts only if it resolves, through ``BEARERGUARD_USER_HOOK``, to that same user
(``==``); ``request.user`` then stays as it is. Otherwise, where the token is used
to authenticate (a protected path, a decorated view, a DRF view authenticating
with ``BearerTokenAuthentication``) the request is refused with 400
``invalid_request`` (reason ``multiple_credentials``); on any other path (the
admin, session-based pages) the session user stays and the token is not attached.
The token never replaces a signed-in user. Place this middleware after
``AuthenticationMiddleware`` (check ``bearerguard.W001``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.exceptions import ImproperlyConfigured

from bearerguard.adapters.django._http import CONFLICT, decide, decide_async, response, signed_in
from bearerguard.adapters.django.conf import configured
from bearerguard.adapters.django.users import aresolve_user, resolve_user
from bearerguard.errors import BearerError, InvalidRequest
from bearerguard.tokens import AccessToken

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

    from bearerguard.pipeline import Decision

__all__ = ["ATTRIBUTE", "BearerAuthMiddleware", "ResourceMetadataMiddleware", "get_access_token"]

#: The request attribute holding the :class:`~bearerguard.AccessToken` or ``None``.
ATTRIBUTE = "access_token"
_NOT_INSTALLED = (
    "BearerAuthMiddleware must be installed: add "
    "'bearerguard.adapters.django.middleware.BearerAuthMiddleware' to MIDDLEWARE, "
    "after 'django.contrib.auth.middleware.AuthenticationMiddleware'."
)


def get_access_token(request: HttpRequest | Any) -> AccessToken | None:
    """The request's verified token, or ``None`` without one.

    Raises ``ImproperlyConfigured`` when ``BearerAuthMiddleware`` has not run.
    """
    try:
        token = getattr(request, ATTRIBUTE)
    except AttributeError:
        token = getattr(request, "auth", None)  # a DRF request, authenticated by DRF alone
        if isinstance(token, AccessToken):
            return token
        raise ImproperlyConfigured(_NOT_INSTALLED) from None
    return token if isinstance(token, AccessToken) else None


def _settle(
    request: HttpRequest, token: AccessToken, user: Any, session_user: Any, protected: bool
) -> BearerError | None:
    """Attach the token and its user, or the refusal for two identities on a protected path."""
    if session_user is not None and (user is None or session_user != user):
        if protected:
            return InvalidRequest("multiple_credentials")
        # Not used to authenticate here: the session user stays, the token is not
        # attached, and a view that authenticates by token answers 400.
        setattr(request, CONFLICT, True)
        return None
    if session_user is None:
        if user is not None:

            async def auser() -> Any:
                return user

            request.user = user
            request.auser = auser  # type: ignore[attr-defined,method-assign,unused-ignore]
        # A bearer token is no ambient credential: no CSRF check (as DRF does for
        # every request not authenticated by session). Never for a session user.
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
    setattr(request, ATTRIBUTE, token)
    return None


def _finish(decision: Decision, response: HttpResponseBase) -> HttpResponseBase:
    for name, value in decision.headers:
        response[name] = value
    return response


class BearerAuthMiddleware:
    """Django middleware (sync and async) authenticating bearer access tokens.

    Example::

        INSTALLED_APPS = [..., "bearerguard.adapters.django"]
        MIDDLEWARE = [..., "django.contrib.auth.middleware.AuthenticationMiddleware",
                      "bearerguard.adapters.django.middleware.BearerAuthMiddleware"]
        BEARERGUARD_ISSUER = "https://tenant.example.com/"
        BEARERGUARD_AUDIENCE = "https://api.example.com"

    With ``BEARERGUARD_RESOURCE`` set, the RFC 9728 metadata document is served at its
    well-known path, before any authentication (no URL pattern to add). Raises
    ``ImproperlyConfigured`` at startup when a ``BEARERGUARD_*`` setting is invalid.
    At start-up it also fetches the keys in the background (:meth:`Verifier.warm`), so
    the first request does not wait for them; an issuer that is down never fails it.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        # Fail at start-up on bad settings, not on the first request; and fetch the keys
        # now, in the background (the handler builds its middleware when the server starts).
        configured().verifier.warm()

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        setattr(request, ATTRIBUTE, None)
        config = configured()
        metadata = config.verifier.metadata(request.method or "GET", request.path_info)
        if metadata is not None:
            return response(metadata)  # RFC 9728: the metadata document, before authentication
        protected, exempt, requirements = config.rules.match(request.path_info)
        if exempt:
            return cast("HttpResponseBase", self.get_response(request))
        verifier = config.verifier
        decision = decide(request, verifier, requirements=requirements, required=protected)
        if decision.refused:
            return response(decision.response())
        if decision.token is not None:
            try:
                user = resolve_user(request, decision.token)
                refusal = _settle(request, decision.token, user, signed_in(request), protected)
            except BearerError as err:  # the user hook refused
                refusal = err
            if refusal is not None:
                return response(verifier.render(refusal, requirements))
        return _finish(decision, cast("HttpResponseBase", self.get_response(request)))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        setattr(request, ATTRIBUTE, None)
        config = configured()
        metadata = config.verifier.metadata(request.method or "GET", request.path_info)
        if metadata is not None:
            return response(metadata)  # RFC 9728: the metadata document, before authentication
        protected, exempt, requirements = config.rules.match(request.path_info)
        if exempt:
            return await cast("Awaitable[HttpResponseBase]", self.get_response(request))
        verifier = config.verifier
        # A key refresh is awaited, never blocking the event loop.
        decision = await decide_async(
            request, verifier, requirements=requirements, required=protected
        )
        if decision.refused:
            return response(decision.response())
        if decision.token is not None:
            try:
                user = await aresolve_user(request, decision.token)
                session_user = await sync_to_async(signed_in)(request)  # may query the DB
                refusal = _settle(request, decision.token, user, session_user, protected)
            except BearerError as err:  # the user hook refused
                refusal = err
            if refusal is not None:
                return response(verifier.render(refusal, requirements))
        response_ = await cast("Awaitable[HttpResponseBase]", self.get_response(request))
        return _finish(decision, response_)


class ResourceMetadataMiddleware:
    """Serve the RFC 9728 metadata document only: for projects without
    :class:`BearerAuthMiddleware` (Django REST framework authenticating on its own).

    Example::

        MIDDLEWARE = ["bearerguard.adapters.django.middleware.ResourceMetadataMiddleware", ...]
        BEARERGUARD_RESOURCE = "https://api.example.com"

    Every other request goes on untouched.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], HttpResponseBase]
        | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        configured()

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        metadata = configured().verifier.metadata(request.method or "GET", request.path_info)
        if metadata is not None:
            return self._answer(response(metadata)) if self.async_mode else response(metadata)
        return self.get_response(request)

    async def _answer(self, answer: HttpResponseBase) -> HttpResponseBase:
        return answer
