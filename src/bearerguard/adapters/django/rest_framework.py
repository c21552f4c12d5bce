"""Django REST framework: bearer authentication and scope/claim permissions.

Setup (the exception handler renders refusals byte for byte as the core does:
status, ``WWW-Authenticate``, ``Cache-Control: no-store`` and the JSON body)::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "bearerguard.adapters.django.rest_framework.BearerTokenAuthentication"],
        "EXCEPTION_HANDLER": "bearerguard.adapters.django.rest_framework.exception_handler",
    }

Views then declare what they need::

    class Messages(APIView):
        permission_classes = [HasScopes]
        required_scopes = ["read:messages"]          # all of them
        required_any_scopes = ["admin", "auditor"]   # at least one (optional)

or ``permission_classes = [scopes_required("read:messages", any_of=())]``,
``[roles_required("admin", any_of=())]`` (or ``HasRoles`` with ``required_roles`` /
``required_any_roles``) and ``[claim_required("realm_access.roles", includes="x")]``
(a claim path: :mod:`bearerguard.claimpath`). ``request.auth`` is the
:class:`~bearerguard.AccessToken`, ``request.user`` a ``TokenUser`` (or the
``BEARERGUARD_USER_HOOK``'s user). List ``BearerTokenAuthentication`` before
``SessionAuthentication``: DRF keeps the first authenticator that succeeds.
With the handler, every authentication refusal on a view using
``BearerTokenAuthentication`` (DRF's own ``NotAuthenticated`` from ``IsAuthenticated``
included) answers with the documented body and the verifier's challenge. Without it
DRF still answers our own refusals with our status, challenge and body when it
negotiates JSON, but without ``Cache-Control: no-store``.

This module imports in any order relative to ``rest_framework`` (isort puts
``bearerguard`` first): it never imports ``rest_framework.views`` at import time,
whose ``APIView`` reads ``DEFAULT_AUTHENTICATION_CLASSES`` and so imports this
module back. With drf-spectacular installed, ``BearerTokenAuthentication`` is
described as an HTTP bearer security scheme
(:mod:`bearerguard.adapters.django.spectacular`).

Longer than the 200-line adapter guide: it is the one module a DRF project imports
(authentication, permissions, exception handler), and half of it is documentation.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.apps import apps
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from bearerguard.adapters.django._http import CONFLICT, decide, response, signed_in
from bearerguard.adapters.django.conf import get_verifier
from bearerguard.adapters.django.middleware import ATTRIBUTE
from bearerguard.adapters.django.users import resolve_user
from bearerguard.claimpath import ClaimPathLike
from bearerguard.errors import BearerError, InvalidRequest, MissingToken
from bearerguard.requirements import ClaimCheck, Requirements
from bearerguard.tokens import AccessToken

if TYPE_CHECKING:
    from django.http import HttpResponse
    from rest_framework.request import Request

__all__ = [
    "BearerAPIException",
    "BearerTokenAuthentication",
    "ClaimRequired",
    "HasRoles",
    "HasScopes",
    "IsBearerAuthenticated",
    "claim_required",
    "exception_handler",
    "register_openapi_extension",
    "roles_required",
    "scopes_required",
]

Rendered = tuple[int, list[tuple[str, str]], bytes]


class BearerAPIException(exceptions.APIException):
    """A bearerguard refusal travelling through DRF.

    Args:
        error: the core's :class:`~bearerguard.BearerError` (``bearer_error``).
        rendered: its ``(status, headers, body)`` as the verifier renders it (with
            ``BEARERGUARD_REALM``); rendered by the configured verifier when omitted.
    """

    def __init__(self, error: BearerError, rendered: Rendered | None = None) -> None:
        super().__init__()
        self.bearer_error = error
        self.rendered = rendered if rendered is not None else get_verifier().render(error)
        status, headers, body = self.rendered
        self.status_code = status
        # Set after __init__ so that DRF does not stringify the values.
        self.detail = json.loads(body)
        header = dict(headers)
        # DRF's own handler copies these into WWW-Authenticate and Retry-After.
        self.auth_header = header.get("WWW-Authenticate")
        if "Retry-After" in header:
            self.wait = int(header["Retry-After"])


def _uses_bearer(context: dict[str, Any]) -> bool:
    request = context.get("request")
    authenticators = getattr(request, "authenticators", None) or ()
    return any(isinstance(a, BearerTokenAuthentication) for a in authenticators)


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    """DRF ``EXCEPTION_HANDLER``: bearer refusals exactly as the verifier renders them.

    On a view authenticating with :class:`BearerTokenAuthentication`, DRF's own
    ``NotAuthenticated`` (``IsAuthenticated`` without credentials) and any other
    class's ``AuthenticationFailed`` answer as "no bearer credentials": 401 with the
    bare challenge and reason ``missing_token`` (RFC 6750 §3.1). Anything else goes
    to DRF's default handler.
    """
    if isinstance(exc, BearerAPIException):
        return response(exc.rendered)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed) and (
        _uses_bearer(context)
    ):
        return response(get_verifier().render(MissingToken()))
    from rest_framework.views import exception_handler as default_handler  # see module doc

    return default_handler(exc, context)


def _refuse(err: BearerError, requirements: Requirements | None = None) -> BearerAPIException:
    return BearerAPIException(err, get_verifier().render(err, requirements))


class BearerTokenAuthentication(BaseAuthentication):
    """Authenticate ``Authorization: Bearer`` (and enabled query/form) tokens.

    Example::

        class Me(APIView):
            authentication_classes = [BearerTokenAuthentication]
            permission_classes = [IsBearerAuthenticated]
            def get(self, request):
                return Response({"sub": request.auth.subject})

    Returns ``(user, AccessToken)``, or ``None`` without credentials; raises
    :class:`BearerAPIException` (400/401/503) for a bad request or token, and 400
    ``multiple_credentials`` when a signed-in session user is not the token's user.
    When ``BearerAuthMiddleware`` already ran, its result is reused.
    """

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        django_request = request._request
        if hasattr(django_request, ATTRIBUTE):  # the middleware verified it already
            if getattr(django_request, CONFLICT, False):
                raise _refuse(InvalidRequest("multiple_credentials"))
            token = getattr(django_request, ATTRIBUTE)
            if not isinstance(token, AccessToken):
                return None
            return getattr(django_request, "user", None), token
        decision = decide(django_request, get_verifier())
        if decision.error is not None:
            raise BearerAPIException(decision.error, decision.response())
        token = decision.token
        if token is None:
            return None
        try:
            user = resolve_user(django_request, token)
            session_user = signed_in(django_request)
            if session_user is not None:
                if user is None or session_user != user:  # one request, one identity
                    raise InvalidRequest("multiple_credentials")
                user = session_user
        except BearerError as err:
            raise _refuse(err) from None
        return user, token

    def authenticate_header(self, request: Request) -> str:
        """The bare challenge, so DRF answers unauthenticated requests 401 (RFC 6750 §3)."""
        _, headers, _ = get_verifier().render(MissingToken())
        return dict(headers).get("WWW-Authenticate", "Bearer")


def _authorize(request: Request, requirements: Requirements | None) -> bool:
    token = request.auth
    try:
        if not isinstance(token, AccessToken):
            raise MissingToken()  # RFC 6750 §3.1: no error code without credentials
        get_verifier().authorize(token, requirements)  # 403, or 401 for RFC 9470 step-up
    except BearerError as err:
        raise _refuse(err, requirements) from None
    return True


class IsBearerAuthenticated(BasePermission):
    """A valid bearer token is needed (401 with a bare challenge and our body)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return _authorize(request, None)


class HasScopes(BasePermission):
    """Needs the view's ``required_scopes`` (all) and ``required_any_scopes`` (one of).

    403 ``insufficient_scope`` with the ``scope`` parameter when they are missing.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        requirements = Requirements(
            scopes=getattr(view, "required_scopes", ()),
            any_scopes=getattr(view, "required_any_scopes", ()),
        )
        return _authorize(request, requirements)


class HasRoles(BasePermission):
    """Needs the view's ``required_roles`` (all) and ``required_any_roles`` (one of).

    403 ``insufficient_scope`` (reason ``insufficient_role``) when they are missing.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        requirements = Requirements(
            roles=getattr(view, "required_roles", ()),
            any_roles=getattr(view, "required_any_roles", ()),
        )
        return _authorize(request, requirements)


class ClaimRequired(BasePermission):
    """Needs every check in the view's ``required_claims``.

    Checks are :class:`~bearerguard.ClaimEquals`, :class:`~bearerguard.ClaimIncludes`
    or any ``callable(token) -> bool``; a failure answers 403 ``insufficient_scope``.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        checks: list[ClaimCheck] = list(getattr(view, "required_claims", ()))
        return _authorize(request, Requirements(claims=checks))


def scopes_required(
    *scopes: str,
    any_of: tuple[str, ...] = (),
    acr_values: tuple[str, ...] | str | None = None,
    max_age: int | None = None,
) -> type[BasePermission]:
    """A permission class needing every scope in *scopes* and one of *any_of*.

    ``acr_values`` / ``max_age``: RFC 9470 step-up (accepted ``acr`` values, greatest age
    of ``auth_time`` in seconds), else 401 ``insufficient_user_authentication``. Raises
    ``ValueError`` when nothing is required.
    """
    requirements = Requirements(
        scopes=scopes, any_scopes=any_of, acr_values=acr_values, max_age=max_age
    )
    if not requirements:
        raise ValueError("scopes_required needs at least one scope or a step-up requirement")

    class ScopesRequired(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            return _authorize(request, requirements)

    return ScopesRequired


def roles_required(*roles: str, any_of: tuple[str, ...] = ()) -> type[BasePermission]:
    """A permission class needing every role in *roles* and one of *any_of*.

    403 ``insufficient_scope`` (reason ``insufficient_role``) otherwise. Raises
    ``ValueError`` when no role is named.
    """
    requirements = Requirements(roles=roles, any_roles=any_of)
    if not requirements:
        raise ValueError("roles_required needs at least one role")

    class RolesRequired(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            return _authorize(request, requirements)

    return RolesRequired


def claim_required(
    name: ClaimPathLike, *, equals: Any = ..., includes: Any = ...
) -> type[BasePermission]:
    """A permission class needing claim *name* to equal *equals* or include *includes*.

    *name* is a claim path (``"realm_access.roles"``; :mod:`bearerguard.claimpath`).
    Give exactly one of them, else ``TypeError``.
    """
    given = {k: v for k, v in (("equals", equals), ("includes", includes)) if v is not ...}
    requirements = Requirements.claim(name, **given)

    class ClaimRequirement(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            return _authorize(request, requirements)

    return ClaimRequirement


def register_openapi_extension() -> bool:
    """Describe :class:`BearerTokenAuthentication` to drf-spectacular, when it is installed.

    Returns whether drf-spectacular is importable. Called once the app registry is
    ready (here, or from the app's ``ready()``): drf-spectacular imports DRF's views.
    """
    try:
        from bearerguard.adapters.django import spectacular  # noqa: F401
    except ImportError:  # drf-spectacular is not installed
        return False
    return True


if apps.ready:  # imported by a view or URL module: drf-spectacular may be imported now
    register_openapi_extension()
