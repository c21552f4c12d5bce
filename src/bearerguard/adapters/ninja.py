"""Django Ninja: an auth class for bearer access tokens, answering as RFC 6750 says.

The core decides (:func:`bearerguard.adapters.django._http.decide`); this module hands it
the request and raises the core's rendered refusal, which :func:`install` makes Ninja send
as is (status, ``WWW-Authenticate``, JSON body) instead of Ninja's ``{"detail": …}``. The
scheme appears in Ninja's OpenAPI document as an HTTP bearer scheme (``bearerFormat: JWT``),
or as the HTTP ``DPoP`` scheme (RFC 9449) when ``BEARERGUARD_DPOP`` is ``required``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from ninja.security.base import SecuritySchema
from ninja.security.http import HttpAuthBase

from bearerguard.adapters.django._http import decide, decide_async, response
from bearerguard.adapters.django.conf import get_verifier
from bearerguard.errors import BearerError, MissingToken
from bearerguard.requirements import Requirements
from bearerguard.tokens import AccessToken

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse
    from ninja import NinjaAPI

    from bearerguard.pipeline import Decision
    from bearerguard.verifier import Verifier

__all__ = ["ANONYMOUS", "BearerAuth", "BearerRefusal", "get_token", "install"]

Rendered = tuple[int, list[tuple[str, str]], bytes]
#: The request attribute the Django adapter uses too (``get_access_token`` reads it).
ATTRIBUTE = "access_token"
_HEADERS = "_bearerguard_headers"  # the decision's headers for the response


class Anonymous:
    """``request.auth`` of a request without credentials on an ``optional`` route."""

    def __bool__(self) -> bool:  # Ninja lets a request on only when auth returns a truthy value
        return True

    def __repr__(self) -> str:
        return "ANONYMOUS"


ANONYMOUS = Anonymous()


class BearerRefusal(Exception):
    """Raised by :class:`BearerAuth` for a refused request; carries the core's rendered answer.

    Never holds the token: only the (status, headers, body) the core built.
    """

    def __init__(self, rendered: Rendered) -> None:
        super().__init__(f"bearer token refused ({rendered[0]})")
        self.rendered = rendered


def refusal_handler(request: HttpRequest, exc: BearerRefusal) -> HttpResponse:
    """Ninja exception handler: the refusal exactly as the core rendered it."""
    return response(exc.rendered)


def install(api: NinjaAPI) -> NinjaAPI:
    """Register :func:`refusal_handler` on *api* (RFC 6750 answers); return *api*.

    Also adds the headers the core asks for on an accepted request (the next
    ``DPoP-Nonce``, RFC 9449 §8.2) to the operation's response, and starts fetching
    the keys of the ``BEARERGUARD_*`` settings' verifier in the background.

    Example::

        api = install(NinjaAPI(auth=BearerAuth(optional=True)))
    """
    api.add_exception_handler(BearerRefusal, refusal_handler)  # type: ignore[arg-type]
    create = api.create_temporal_response

    def create_temporal_response(request: HttpRequest) -> HttpResponse:
        response = create(request)
        for name, value in getattr(request, _HEADERS, ()):
            response[name] = value
        return response

    api.create_temporal_response = create_temporal_response  # type: ignore[method-assign]
    # The API is built at start-up: fetch the settings' verifier's keys in the background
    # (BearerAuth(verifier=...) warms its own). Bad settings are the system checks' to report.
    with contextlib.suppress(ImproperlyConfigured):
        get_verifier().warm()
    return api


def get_token(request: HttpRequest | Any) -> AccessToken | None:
    """The request's verified token, or ``None`` (anonymous, or no bearerguard auth ran)."""
    token = getattr(request, ATTRIBUTE, None)
    return token if isinstance(token, AccessToken) else None


def _dpop_mode(verifier: Verifier | None) -> str:
    """``BEARERGUARD_DPOP`` of *verifier*, else of the Django settings (read when the auth
    is made; an invalid value is refused where the verifier is built)."""
    if verifier is not None:
        return verifier.binding.mode
    from django.conf import settings

    value = getattr(settings, "BEARERGUARD_DPOP", None)
    return value.strip().lower() if isinstance(value, str) else "allowed"


class BearerAuth(HttpAuthBase):
    """Ninja auth class: a valid bearer (or DPoP) access token, with scopes and claims.

    Example::

        api = install(NinjaAPI(auth=BearerAuth(optional=True)))  # every route sees tokens

        @api.get("/messages", auth=BearerAuth("read:messages"))
        def messages(request):
            return {"sub": request.auth.subject}

    Args:
        scopes: every one of these scopes is needed.
        any_of: at least one of these scopes is needed.
        roles: every one of these roles is needed (``AccessToken.roles``).
        any_roles: at least one of these roles is needed.
        requirements: more :class:`~bearerguard.Requirements` (claims, step-up), merged.
        acr_values, max_age: RFC 9470 step-up requirements.
        optional: let requests without credentials through (``request.auth`` is
            :data:`ANONYMOUS`); a token that is sent is still checked and a bad one refused.
        verifier: default: the one built from the ``BEARERGUARD_*`` Django settings.

    ``request.auth`` is the :class:`~bearerguard.AccessToken` (also ``request.access_token``,
    so the Django adapter's ``get_access_token`` works). Refusals are raised as
    :class:`BearerRefusal`: call :func:`install` on the API once. Async operations await
    key fetches (``decide_async``), never blocking the event loop. Raises ``ValueError``
    for a bad scope. In a list (``auth=[a, b]``) the first refusal answers: Ninja tries the
    next class only when one returns nothing, and a sent bad token is always refused.
    """

    openapi_type = "http"
    openapi_scheme = "bearer"
    openapi_bearerFormat = "JWT"

    def __init__(
        self,
        *scopes: str,
        any_of: Sequence[str] = (),
        requirements: Requirements | None = None,
        acr_values: Sequence[str] | str | None = None,
        max_age: int | None = None,
        optional: bool = False,
        verifier: Verifier | None = None,
        roles: Sequence[str] = (),
        any_roles: Sequence[str] = (),
    ) -> None:
        own = Requirements(
            scopes=scopes,
            any_scopes=any_of,
            acr_values=acr_values,
            max_age=max_age,
            roles=roles,
            any_roles=any_roles,
        )
        self.requirements = Requirements.all_of(own or None, requirements)
        self.optional = optional
        self._verifier = verifier
        if verifier is not None:
            verifier.warm()  # built with the API, at start-up: fetch the keys in the background
        super().__init__()
        # Ninja awaits what an async-capable auth returns in async operations; in sync
        # operations it takes a plain result as is (see __call__).
        self.is_async = True
        if _dpop_mode(verifier) == "required":
            # Bearer is refused: the scheme documented is DPoP (RFC 9449 §7.1 registers it
            # as an HTTP authentication scheme; OpenAPI has no DPoP type). Ninja names one
            # scheme per auth class, so under "allowed" the bearer scheme alone is shown.
            self.openapi_security_schema = SecuritySchema("http", scheme="DPoP")

    @property
    def verifier(self) -> Verifier:
        """The verifier in use (the Django settings' one unless one was given)."""
        return self._verifier if self._verifier is not None else get_verifier()

    def __call__(self, request: HttpRequest) -> Any:
        """The token (or :data:`ANONYMOUS`); raises :class:`BearerRefusal`.

        Called from a running event loop (an async operation), it returns a coroutine so
        key fetches are awaited; elsewhere (a sync operation's thread) it decides at once.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._sync(request)
        return self._async(request)

    def _sync(self, request: HttpRequest) -> Any:
        verifier = self.verifier
        token = get_token(request)
        if token is not None:  # BearerAuthMiddleware verified it: a DPoP proof is used once
            return self._authorize(request, token, verifier)
        # Verified first, then judged against the route's requirements, as every adapter
        # does: an invalid token's challenge names no scope, a missing one's does.
        return self._settle(request, decide(request, verifier), verifier)

    def _async(self, request: HttpRequest) -> Coroutine[Any, Any, Any]:
        async def run() -> Any:
            verifier = self.verifier
            token = get_token(request)
            if token is not None:
                return self._authorize(request, token, verifier)
            return self._settle(request, await decide_async(request, verifier), verifier)

        return run()

    def _authorize(self, request: HttpRequest, token: AccessToken, verifier: Verifier) -> Any:
        try:
            verifier.authorize(token, self.requirements)
        except BearerError as err:
            raise BearerRefusal(verifier.render(err, self.requirements)) from None
        return token

    def _settle(self, request: HttpRequest, decision: Decision, verifier: Verifier) -> Any:
        if decision.refused:
            raise BearerRefusal(decision.response())
        token = decision.token
        if token is None:
            if self.optional:
                return ANONYMOUS
            # RFC 6750 §3.1: no error code without credentials; the scopes are named.
            raise BearerRefusal(verifier.render(MissingToken(), self.requirements))
        token = self._authorize(request, token, verifier)
        setattr(request, ATTRIBUTE, token)
        if decision.headers:
            setattr(request, _HEADERS, decision.headers)
        # A bearer token is no ambient credential: no CSRF check (as DRF does).
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return token

    def __repr__(self) -> str:
        return f"BearerAuth(requirements={self.requirements!r}, optional={self.optional})"
