"""Django benchmark app (settings, urls and views in one module): ``gunicorn bench.apps.django_app:app``."""

from __future__ import annotations

import os

from django.conf import settings

from ._controls import floor_check, verify_only
from ._pyjwt import CHALLENGE, MODE, check

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-not-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["bearerguard.adapters.django"] if MODE == "bearerguard" else [],
        MIDDLEWARE=(
            ["bearerguard.adapters.django.middleware.BearerAuthMiddleware"]
            if MODE == "bearerguard"
            else []
        ),
        USE_TZ=True,
        **{k: v for k, v in os.environ.items() if k.startswith("BEARERGUARD_")},
    )

import django

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

from bearerguard.adapters.django import get_access_token, require_scopes  # noqa: E402


def open_route(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"message": "public"})


@require_scopes("read:messages")
def protected(request: HttpRequest) -> JsonResponse:
    token = get_access_token(request)
    assert token is not None
    return JsonResponse({"sub": token.subject})


def protected_floor(request: HttpRequest) -> JsonResponse:
    floor_check()
    return JsonResponse({"sub": "user-1"})


def protected_verify(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"sub": verify_only(request.META["HTTP_AUTHORIZATION"])})


def protected_pyjwt(request: HttpRequest) -> JsonResponse:
    claims = check(request.headers.get("Authorization"))
    if claims is None:
        response = JsonResponse({"error": "invalid_token"}, status=401)
        response["WWW-Authenticate"] = CHALLENGE
        return response
    return JsonResponse({"sub": claims["sub"]})


urlpatterns = [
    path("open", open_route),
    path(
        "protected",
        {"pyjwt": protected_pyjwt, "floor": protected_floor, "verify": protected_verify}.get(
            MODE, protected
        ),
    ),
]
app = get_wsgi_application()
