"""URLs for the drf-spectacular test: one view per authentication setup."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bearerguard.adapters.django.rest_framework import BearerTokenAuthentication, HasScopes


class Messages(APIView):
    """A bearer-protected endpoint."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasScopes]
    required_scopes = ["read:messages"]

    @extend_schema(responses={200: None})
    def get(self, request: Request) -> Response:
        return Response({})


class SessionOnly(APIView):
    """A session endpoint: no bearer scheme."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: None})
    def get(self, request: Request) -> Response:
        return Response({})


urlpatterns = [path("messages", Messages.as_view()), path("session", SessionOnly.as_view())]
