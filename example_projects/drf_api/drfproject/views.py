"""Views: DRF authenticates the token; permission classes state what each view needs."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bearerguard.adapters.django.rest_framework import (
    HasScopes,
    claim_required,
    scopes_required,
)


class Public(APIView):
    permission_classes = [AllowAny]  # still refuses a bad token that is sent

    def get(self, request: Request) -> Response:
        return Response({"message": "public"})

    post = get


class Private(APIView):
    """Needs a valid access token (the default permission, IsBearerAuthenticated)."""

    def get(self, request: Request) -> Response:
        token: Any = request.auth  # the verified AccessToken
        claims = dict(token.claims)
        return Response({"sub": token.subject, "scopes": sorted(token.scopes), "claims": claims})

    post = get


class PrivateScoped(Private):
    permission_classes: list[type[BasePermission]] = [HasScopes]
    required_scopes = ["read:messages"]


class PrivateScopedRW(Private):
    permission_classes = [scopes_required("read:messages", "write:messages")]


class PrivatePermission(Private):  # Auth0 RBAC
    permission_classes = [claim_required("permissions", includes="read:messages")]


class PrivateTenant(Private):
    permission_classes = [claim_required("tenant", equals="acme")]


class PrivateRoles(Private):
    permission_classes = [claim_required("roles", includes="writer")]


#: RFC 9470 step-up: a multi-factor sign-in at most 10 minutes old.
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


class PrivateMfa(Private):
    permission_classes = [scopes_required(acr_values=(MFA,), max_age=600)]
