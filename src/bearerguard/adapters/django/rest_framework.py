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

or ``permission_classes = [scopes_required("read:messages", any_of=())]`` and
``[claim_required("tenant", equals="acme")]``. ``request.auth`` is the
:class:`~bearerguard.AccessToken`, ``request.user`` a ``TokenUser`` (or the
``BEARERGUARD_USER_HOOK``'s user). List ``BearerTokenAuthentication`` before
``SessionAuthentication``: DRF keeps the first authenticator that succeeds.
Without the handler DRF still answers with our status, challenge and body when
it negotiates JSON, but without ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from rest_framework import exceptions, views
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from bearerguard.adapters.django._http import credentials, render
from bearerguard.adapters.django.conf import get_verifier
from bearerguard.adapters.django.middleware import ATTRIBUTE
from bearerguard.adapters.django.users import resolve_user
from bearerguard.errors import BearerError, KeysUnavailable
from bearerguard.requirements import ClaimCheck, ClaimEquals, ClaimIncludes, Requirements
from bearerguard.tokens import AccessToken

__all__ = [
    "BearerAPIException",
    "BearerTokenAuthentication",
    "ClaimRequired",
    "HasScopes",
    "IsBearerAuthenticated",
    "claim_required",
    "exception_handler",
    "scopes_required",
]


class BearerAPIException(exceptions.APIException):
    """A bearerguard refusal travelling through DRF; ``bearer_error`` is the core's error."""

    def __init__(self, error: BearerError) -> None:
        super().__init__()
        self.bearer_error = error
        self.status_code = error.status_code
        # Set after __init__ so that a JSON null stays null (DRF would stringify it).
        self.detail = error.body_dict()  # type: ignore[assignment]
        # DRF's own handler copies these into WWW-Authenticate and Retry-After.
        self.auth_header = error.www_authenticate
        if isinstance(error, KeysUnavailable):
            self.wait = error.retry_after


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    """DRF ``EXCEPTION_HANDLER``: bearer refusals exactly as the core renders them.

    Anything else goes to DRF's default handler.
    """
    if isinstance(exc, BearerAPIException):
        return render(exc.bearer_error)
    return views.exception_handler(exc, context)


class BearerTokenAuthentication(BaseAuthentication):
    """Authenticate ``Authorization: Bearer`` (and enabled query/form) tokens.

    Example::

        class Me(APIView):
            authentication_classes = [BearerTokenAuthentication]
            permission_classes = [IsBearerAuthenticated]
            def get(self, request):
                return Response({"sub": request.auth.subject})

    Returns ``(user, AccessToken)``, or ``None`` without credentials; raises
    :class:`BearerAPIException` (400/401/503) for a bad request or token. When
    ``BearerAuthMiddleware`` already ran, its result is reused.
    """

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        django_request = request._request
        if hasattr(django_request, ATTRIBUTE):  # the middleware verified it already
            token = getattr(django_request, ATTRIBUTE)
            if not isinstance(token, AccessToken):
                return None
            return getattr(django_request, "user", None), token
        verifier = get_verifier()
        try:
            token = verifier.authenticate(**credentials(django_request, verifier))
            if token is None:
                return None
            return resolve_user(django_request, token), token
        except BearerError as err:
            raise BearerAPIException(err) from None

    def authenticate_header(self, request: Request) -> str:
        """The bare challenge, so DRF answers unauthenticated requests 401 (RFC 6750 §3)."""
        return str(get_verifier().missing().www_authenticate)


def _authorize(request: Request, requirements: Requirements) -> bool:
    verifier = get_verifier()
    token = request.auth
    try:
        if not isinstance(token, AccessToken):
            raise verifier.missing()
        verifier.authorize(token, requirements)
    except BearerError as err:
        raise BearerAPIException(err) from None
    return True


class IsBearerAuthenticated(BasePermission):
    """A valid bearer token is needed (401 with a bare challenge and our body)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return _authorize(request, Requirements())


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


class ClaimRequired(BasePermission):
    """Needs every check in the view's ``required_claims``.

    Checks are :class:`~bearerguard.ClaimEquals`, :class:`~bearerguard.ClaimIncludes`
    or any ``callable(token) -> bool``; a failure answers 403 ``insufficient_scope``.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        checks: list[ClaimCheck] = list(getattr(view, "required_claims", ()))
        return _authorize(request, Requirements(claims=checks))


def scopes_required(*scopes: str, any_of: tuple[str, ...] = ()) -> type[BasePermission]:
    """A permission class needing every scope in *scopes* and one of *any_of*."""
    requirements = Requirements(scopes=scopes, any_scopes=any_of)
    if not requirements:
        raise ValueError("scopes_required needs at least one scope")

    class ScopesRequired(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            return _authorize(request, requirements)

    return ScopesRequired


def claim_required(name: str, *, equals: Any = ..., includes: Any = ...) -> type[BasePermission]:
    """A permission class needing claim *name* to equal *equals* or include *includes*.

    Give exactly one of them, else ``TypeError``.
    """
    if (equals is ...) == (includes is ...):
        raise TypeError("claim_required needs exactly one of equals= or includes=")
    check = ClaimEquals(name, equals) if includes is ... else ClaimIncludes(name, includes)
    requirements = Requirements(claims=[check])

    class ClaimRequirement(BasePermission):
        def has_permission(self, request: Request, view: Any) -> bool:
            return _authorize(request, requirements)

    return ClaimRequirement
