"""Views and URLs, imports sorted as isort sorts them: bearerguard before rest_framework."""

# ruff: noqa: I001  (the order isort writes with bearerguard as a third-party package)

from __future__ import annotations

from django.urls import path

from bearerguard.adapters.django.rest_framework import HasScopes
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class Me(APIView):
    def get(self, request: Request) -> Response:
        return Response({"sub": request.auth.subject})  # type: ignore[union-attr]


class Scoped(Me):
    permission_classes = [HasScopes]
    required_scopes = ["read:messages"]


urlpatterns = [path("me", Me.as_view()), path("scoped", Scoped.as_view())]
