"""Views of the test project: every decorator style, sync and async, plus DRF views."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bearerguard import AccessToken, InvalidToken
from bearerguard.adapters.django import (
    get_access_token,
    require_claim,
    require_scopes,
    require_token,
)
from bearerguard.adapters.django.rest_framework import (
    ClaimRequired,
    HasScopes,
    IsBearerAuthenticated,
    claim_required,
    scopes_required,
)
from bearerguard.requirements import ClaimEquals


def describe(request: HttpRequest | Request) -> dict[str, Any]:
    token = request.auth if isinstance(request, Request) else get_access_token(request)
    user = request.user
    return {
        "sub": token.subject if isinstance(token, AccessToken) else None,
        "user": user.__class__.__name__,
        "username": user.get_username() if user.is_authenticated else None,
    }


def public(request: HttpRequest) -> JsonResponse:
    return JsonResponse(describe(request))


async def async_public(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": getattr(get_access_token(request), "subject", None)})


@require_token
def private(request: HttpRequest) -> JsonResponse:
    return JsonResponse(describe(request))


@require_token()
async def async_private(request: HttpRequest) -> JsonResponse:
    user = await request.auser() if hasattr(request, "auser") else request.user
    return JsonResponse({"sub": get_access_token(request).subject, "user": user.__class__.__name__})  # type: ignore[union-attr]


@require_scopes("read:messages")
def scoped(request: HttpRequest) -> JsonResponse:
    return JsonResponse(describe(request))


@require_scopes("read:messages", "write:messages")
async def async_scoped_rw(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": get_access_token(request).subject})  # type: ignore[union-attr]


@require_scopes(any_of=("read:messages", "admin"))
def any_scope(request: HttpRequest) -> JsonResponse:
    return JsonResponse(describe(request))


@require_claim("tenant", equals="acme")
def tenant(request: HttpRequest) -> JsonResponse:
    return JsonResponse(describe(request))


@require_claim("roles", includes="writer")
async def async_roles(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": get_access_token(request).subject})  # type: ignore[union-attr]


@require_scopes("read:messages")
class ClassDecorated(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(describe(request))


class DispatchDecorated(View):
    @require_scopes("read:messages")
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(describe(request))


@method_decorator(require_scopes("read:messages"), name="dispatch")
class MethodDecorated(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(describe(request))


@method_decorator(require_scopes("read:messages"), name="dispatch")
class AsyncMethodDecorated(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"sub": get_access_token(request).subject})  # type: ignore[union-attr]


@require_scopes("read:messages")
class AsyncClassDecorated(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"sub": get_access_token(request).subject})  # type: ignore[union-attr]


class AsyncDispatchDecorated(View):
    @require_scopes("read:messages")
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return super().dispatch(request, *args, **kwargs)

    async def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"sub": get_access_token(request).subject})  # type: ignore[union-attr]


def protected(request: HttpRequest) -> JsonResponse:
    """Under BEARERGUARD_PROTECTED_PATHS: no decorator, the middleware demands a token."""
    return JsonResponse(describe(request))


def session_page(request: HttpRequest) -> JsonResponse:
    """Stands for Django's admin: a session-authenticated page, no token decorator."""
    return JsonResponse(describe(request))


def health(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True, "sub": getattr(get_access_token(request), "subject", None)})


# -- user hooks ---------------------------------------------------------------------------
class HookUser:
    is_authenticated = True

    def __init__(self, token: AccessToken) -> None:
        self.name = f"hooked:{token.subject}"

    def get_username(self) -> str:
        return self.name


def user_hook(request: HttpRequest, token: AccessToken) -> Any:
    if token.subject == "blocked":
        raise InvalidToken("invalid_claim")
    if token.subject == "nobody":
        return None
    return HookUser(token)


async def async_user_hook(request: HttpRequest, token: AccessToken) -> Any:
    return HookUser(token)


def db_user_hook(request: HttpRequest, token: AccessToken) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username=token.subject).first()


# -- Django REST framework ----------------------------------------------------------------
class DRFMe(APIView):
    permission_classes = [IsBearerAuthenticated]

    def get(self, request: Request) -> Response:
        return Response(describe(request))

    post = get


class DRFStock(APIView):
    """DRF's own IsAuthenticated: 401 with our bare challenge via authenticate_header."""

    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response(describe(request))


class DRFSessionOnly(APIView):
    """DRF's IsAuthenticated on a view that does not use bearerguard's authentication."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response(describe(request))


class DRFScoped(APIView):
    permission_classes = [HasScopes]
    required_scopes = ["read:messages", "write:messages"]
    required_any_scopes = ["admin", "editor"]

    def get(self, request: Request) -> Response:
        return Response(describe(request))


class DRFFactory(DRFMe):
    permission_classes = [scopes_required("read:messages", any_of=("admin",))]


class DRFClaims(DRFMe):
    permission_classes = [ClaimRequired]
    required_claims = [ClaimEquals("tenant", "acme")]


class DRFClaimFactory(DRFMe):
    permission_classes = [claim_required("roles", includes="writer")]
