"""Contract app: Django REST framework with ``BearerTokenAuthentication`` and permissions.

No bearerguard middleware: DRF authenticates on its own. Settings come from
the environment: ``gunicorn tests.contract.apps.drf_app:app``.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings

_DRF = "bearerguard.adapters.django.rest_framework"

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="contract-app-not-secret",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
            "bearerguard.adapters.django",
        ],
        # No bearerguard authentication middleware: DRF authenticates; this one only
        # serves the RFC 9728 metadata document when BEARERGUARD_RESOURCE is set.
        MIDDLEWARE=["bearerguard.adapters.django.middleware.ResourceMetadataMiddleware"],
        USE_TZ=True,
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": [f"{_DRF}.BearerTokenAuthentication"],
            "DEFAULT_PERMISSION_CLASSES": [f"{_DRF}.IsBearerAuthenticated"],
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "EXCEPTION_HANDLER": f"{_DRF}.exception_handler",
            "UNAUTHENTICATED_USER": None,
        },
        **{k: v for k, v in os.environ.items() if k.startswith("BEARERGUARD_")},
    )

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.permissions import AllowAny  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from bearerguard import AccessToken  # noqa: E402
from bearerguard.adapters.django.rest_framework import (  # noqa: E402
    ClaimRequired,
    HasScopes,
    IsBearerAuthenticated,
    claim_required,
    scopes_required,
)
from bearerguard.requirements import ClaimIncludes  # noqa: E402


class Public(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"message": "public"})

    post = get


class Private(APIView):
    permission_classes: list[Any] = [IsBearerAuthenticated]

    def get(self, request: Request) -> Response:
        token = request.auth
        assert isinstance(token, AccessToken)
        claims = dict(token.claims)
        return Response({"sub": token.subject, "scopes": sorted(token.scopes), "claims": claims})

    post = get


class PrivateScoped(Private):
    permission_classes = [HasScopes]
    required_scopes = ["read:messages"]


class PrivateScopedRW(Private):
    permission_classes = [scopes_required("read:messages", "write:messages")]


class PrivateAny(Private):
    permission_classes = [HasScopes]
    required_any_scopes = ["read:messages", "admin"]


class PrivatePermission(Private):
    permission_classes = [ClaimRequired]
    required_claims = [ClaimIncludes("permissions", "read:messages")]


class PrivateTenant(Private):
    permission_classes = [claim_required("tenant", equals="acme")]


class PrivateRoles(Private):
    permission_classes = [claim_required("roles", includes="writer")]


class PrivateMFA(Private):
    permission_classes = [
        scopes_required(
            acr_values=("http://schemas.openid.net/pape/policies/2007/06/multi-factor",),
            max_age=600,
        )
    ]


urlpatterns = [
    path("api/public", Public.as_view()),
    path("api/private", Private.as_view()),
    path("api/private-scoped", PrivateScoped.as_view()),
    path("api/private-scoped-rw", PrivateScopedRW.as_view()),
    path("api/private-any", PrivateAny.as_view()),
    path("api/private-permission", PrivatePermission.as_view()),
    path("api/private-tenant", PrivateTenant.as_view()),
    path("api/private-roles", PrivateRoles.as_view()),
    path("api/private-mfa", PrivateMFA.as_view()),
]

app = get_wsgi_application()
