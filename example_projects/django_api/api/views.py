"""Views: the middleware verifies the token; the decorators state what each view needs."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_http_methods

from bearerguard.adapters.django import require_claim, require_scopes, require_token

get_or_post = require_http_methods(["GET", "POST"])


def describe(request: HttpRequest) -> JsonResponse:
    """Who called, with which scopes, and every claim of their access token."""
    token = request.access_token  # type: ignore[attr-defined]  # set by BearerAuthMiddleware
    return JsonResponse(
        {"sub": token.subject, "scopes": sorted(token.scopes), "claims": dict(token.claims)}
    )


@get_or_post
def public(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"message": "public"})


@get_or_post
@require_token
def private(request: HttpRequest) -> JsonResponse:
    return describe(request)


@get_or_post
@require_scopes("read:messages")
def private_scoped(request: HttpRequest) -> JsonResponse:
    return describe(request)


@get_or_post
@require_scopes("read:messages", "write:messages")
def private_scoped_rw(request: HttpRequest) -> JsonResponse:
    return describe(request)


@get_or_post
@require_claim("permissions", includes="read:messages")  # Auth0 RBAC
def private_permission(request: HttpRequest) -> JsonResponse:
    return describe(request)


@get_or_post
@require_claim("tenant", equals="acme")
def private_tenant(request: HttpRequest) -> JsonResponse:
    return describe(request)


@get_or_post
@require_claim("roles", includes="writer")
def private_roles(request: HttpRequest) -> JsonResponse:
    return describe(request)


#: Auth0's multi-factor ``acr`` value (OpenID PAPE): RFC 9470 step-up for this route.
MULTI_FACTOR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


@get_or_post
@require_token(acr_values=[MULTI_FACTOR], max_age=600)  # signed in with MFA, <= 10 min ago
def private_mfa(request: HttpRequest) -> JsonResponse:
    return describe(request)
