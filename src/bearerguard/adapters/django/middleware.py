"""``BearerAuthMiddleware``: authenticate the bearer token of every Django request.

Rules, all from Django settings (see :mod:`bearerguard.adapters.django.conf`):

* A token that is sent is verified on every path except ``BEARERGUARD_EXEMPT_PATHS``;
  a malformed request answers 400, an invalid token 401 ``invalid_token``, a key
  outage 503. It is never silently ignored.
* Paths under ``BEARERGUARD_PROTECTED_PATHS`` need a token (401 with a bare
  challenge without one, RFC 6750 §3.1). Elsewhere the token is optional and the
  decorators (``require_token``, ``require_scopes``, ``require_claim``) enforce.
* Exempt paths (health checks, webhooks) are passed on untouched.
* ``request.access_token`` is the :class:`~bearerguard.AccessToken` or ``None``;
  ``request.user`` becomes a :class:`~bearerguard.adapters.django.users.TokenUser`,
  or what ``BEARERGUARD_USER_HOOK(request, token)`` returns.

One request, one identity: when ``request.user`` is already authenticated (by a
session, or an earlier middleware) and a valid bearer token arrives, the token
is accepted only if it resolves, through ``BEARERGUARD_USER_HOOK``, to that same
user (``==``); ``request.user`` then stays as it is. Otherwise the request is
refused with 400 ``invalid_request`` (reason ``multiple_credentials``): the
token never replaces a signed-in user, and a view never runs with two identities.
Place this middleware after ``AuthenticationMiddleware`` (check ``bearerguard.W001``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.core.exceptions import ImproperlyConfigured

from bearerguard.adapters.django._http import authenticate, credentials, render
from bearerguard.adapters.django.conf import Configured, configured
from bearerguard.adapters.django.users import aresolve_user, resolve_user
from bearerguard.errors import BearerError, InvalidRequest
from bearerguard.middleware._common import longest_prefix, normalize_path
from bearerguard.tokens import AccessToken

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django.http.response import HttpResponseBase

__all__ = ["ATTRIBUTE", "BearerAuthMiddleware", "get_access_token"]

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


def _exempt(config: Configured, path: str) -> bool:
    rules = config.rules
    if not rules.exempt or rules.protects(path):
        return False
    # Both spellings must be exempt, so "/health/../api" cannot slip through.
    return all(longest_prefix(p, rules.exempt) is not None for p in (path, normalize_path(path)))


def _signed_in(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _attach(
    request: HttpRequest, config: Configured, token: AccessToken, user: Any, signed_in: Any
) -> None:
    if signed_in is not None:
        if user is None or not signed_in == user:
            raise InvalidRequest("multiple_credentials", realm=config.verifier.realm)
    elif user is not None:

        async def auser() -> Any:
            return user

        request.user = user
        request.auser = auser  # type: ignore[attr-defined,method-assign,unused-ignore]
    setattr(request, ATTRIBUTE, token)


class BearerAuthMiddleware:
    """Django middleware (sync and async) authenticating bearer access tokens.

    Example::

        INSTALLED_APPS = [..., "bearerguard.adapters.django"]
        MIDDLEWARE = [..., "django.contrib.auth.middleware.AuthenticationMiddleware",
                      "bearerguard.adapters.django.middleware.BearerAuthMiddleware"]
        BEARERGUARD_ISSUER = "https://tenant.example.com/"
        BEARERGUARD_AUDIENCE = "https://api.example.com"

    Raises ``ImproperlyConfigured`` at startup when a ``BEARERGUARD_*`` setting is invalid.
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
        configured()  # fail at startup on bad settings, not on the first request

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        setattr(request, ATTRIBUTE, None)
        config = configured()
        if not _exempt(config, request.path_info):
            verifier = config.verifier
            try:
                token = authenticate(request, verifier)
                if token is not None:
                    user = resolve_user(request, token)
                    _attach(request, config, token, user, _signed_in(request))
                elif config.rules.protects(request.path_info):
                    raise verifier.missing()  # RFC 6750 §3.1: bare challenge
            except BearerError as err:
                return render(err)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        setattr(request, ATTRIBUTE, None)
        config = configured()
        if not _exempt(config, request.path_info):
            verifier = config.verifier
            try:
                # A key refresh is awaited, never blocking the event loop.
                token = await verifier.authenticate_async(**credentials(request, verifier))
                if token is not None:
                    user = await aresolve_user(request, token)
                    signed_in = await sync_to_async(_signed_in)(request)  # may query the DB
                    _attach(request, config, token, user, signed_in)
                elif config.rules.protects(request.path_info):
                    raise verifier.missing()
            except BearerError as err:
                return render(err)
        return await cast("Awaitable[HttpResponseBase]", self.get_response(request))
