"""Contract app: Django with ``BearerAuthMiddleware`` and the view decorators.

Settings come from the environment (every ``BEARERGUARD_*`` variable becomes
a Django setting): ``gunicorn tests.contract.apps.django_app:app`` (WSGI) or
``uvicorn tests.contract.apps.django_app:asgi_app`` (ASGI). Function
views, an async view and class-based views cover every decorator style.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="contract-app-not-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["bearerguard.adapters.django"],
        MIDDLEWARE=["bearerguard.adapters.django.middleware.BearerAuthMiddleware"],
        USE_TZ=True,
        **{k: v for k, v in os.environ.items() if k.startswith("BEARERGUARD_")},
    )

import django

django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils.decorators import method_decorator  # noqa: E402
from django.views import View  # noqa: E402

from bearerguard.adapters.django import (  # noqa: E402
    get_access_token,
    require_claim,
    require_scopes,
    require_token,
)


def _private(request: HttpRequest) -> JsonResponse:
    token = get_access_token(request)
    assert token is not None
    body: dict[str, Any] = {
        "sub": token.subject,
        "scopes": sorted(token.scopes),
        "claims": dict(token.claims),
    }
    return JsonResponse(body)


def public(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"message": "public"})


@require_token
async def private(request: HttpRequest) -> JsonResponse:
    return _private(request)


@require_scopes("read:messages")
def private_scoped(request: HttpRequest) -> JsonResponse:
    return _private(request)


@method_decorator(require_scopes("read:messages", "write:messages"), name="dispatch")
class PrivateScopedRW(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return _private(request)

    post = get


@require_scopes(any_of=("read:messages", "admin"))
class PrivateAny(View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        return _private(request)

    post = get


@require_claim("permissions", includes="read:messages")
def private_permission(request: HttpRequest) -> JsonResponse:
    return _private(request)


@require_claim("tenant", equals="acme")
def private_tenant(request: HttpRequest) -> JsonResponse:
    return _private(request)


class PrivateRoles(View):
    @require_claim("roles", includes="writer")
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> JsonResponse:
        return _private(request)

    post = get


@require_token(
    acr_values=["http://schemas.openid.net/pape/policies/2007/06/multi-factor"], max_age=600
)
def private_mfa(request: HttpRequest) -> JsonResponse:
    return _private(request)


urlpatterns = [
    path("api/public", public),
    path("api/private", private),
    path("api/private-scoped", private_scoped),
    path("api/private-scoped-rw", PrivateScopedRW.as_view()),
    path("api/private-any", PrivateAny.as_view()),
    path("api/private-permission", private_permission),
    path("api/private-tenant", private_tenant),
    path("api/private-roles", PrivateRoles.as_view()),
    path("api/private-mfa", private_mfa),
]

app = get_wsgi_application()
#: The same project over ASGI (``uvicorn tests.contract.apps.django_app:asgi_app``):
#: the middleware's async path.
asgi_app = get_asgi_application()
