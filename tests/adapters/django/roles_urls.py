"""Views needing roles and nested claims: Django decorators and DRF permissions (test_roles)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views import View
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bearerguard import ClaimEquals
from bearerguard.adapters.django import (
    get_access_token,
    require_claim,
    require_roles,
    require_scopes,
)
from bearerguard.adapters.django.rest_framework import (
    ClaimRequired,
    HasRoles,
    claim_required,
    roles_required,
)


def _out(request: Any) -> dict[str, Any]:
    token = get_access_token(request)
    assert token is not None
    return {"sub": token.subject, "roles": sorted(token.roles)}


def roles(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_out(request))


async def async_roles(request: HttpRequest) -> JsonResponse:
    return JsonResponse(_out(request))


@require_roles("admin")
class AdminView(View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse(_out(request))


class DRFRoles(APIView):
    permission_classes = [HasRoles]
    required_roles = ["admin"]

    def get(self, request: Request) -> Response:
        return Response(_out(request))


class DRFAnyRoles(APIView):
    permission_classes = [HasRoles]
    required_any_roles = ["admin", "editor"]

    def get(self, request: Request) -> Response:
        return Response(_out(request))


def drf(*permissions: Any) -> Any:
    class Viewed(APIView):
        permission_classes = list(permissions)

        def get(self, request: Request) -> Response:
            return Response(_out(request))

    return Viewed.as_view()


class DRFClaims(APIView):
    permission_classes = [ClaimRequired]
    required_claims = [ClaimEquals("https://example.com/tenant", "acme")]

    def get(self, request: Request) -> Response:
        return Response(_out(request))


NESTED = require_claim("realm_access.roles", includes="admin")
ESCAPED = require_claim("resource_access.my\\.api.roles", includes="writer")
URL = require_claim("https://example.com/tenant", equals="acme")

urlpatterns = [
    path("admin", require_roles("admin")(roles)),
    path("admin-async", require_roles("admin")(async_roles)),
    path("admin-class", AdminView.as_view()),
    path("any", require_roles(any_of=["admin", "editor"])(roles)),
    path("scoped", require_scopes("read:messages")(require_roles("admin")(roles))),
    path("nested", NESTED(roles)),
    path("escaped", ESCAPED(roles)),
    path("url", URL(async_roles)),
    path("drf/admin", DRFRoles.as_view()),
    path("drf/admin-factory", drf(roles_required("admin"))),
    path("drf/any", DRFAnyRoles.as_view()),
    path("drf/any-factory", drf(roles_required(any_of=("admin", "editor")))),
    path("drf/nested", drf(claim_required("realm_access.roles", includes="admin"))),
    path(
        "drf/escaped",
        drf(claim_required(("resource_access", "my.api", "roles"), includes="writer")),
    ),
    path("drf/url", DRFClaims.as_view()),
]
