"""The example's routes: the same on every example project, plus the OpenAPI schema."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from . import views

urlpatterns = [
    path("api/public", views.Public.as_view()),
    path("api/private", views.Private.as_view()),
    path("api/private-scoped", views.PrivateScoped.as_view()),
    path("api/private-scoped-rw", views.PrivateScopedRW.as_view()),
    path("api/private-permission", views.PrivatePermission.as_view()),
    path("api/private-tenant", views.PrivateTenant.as_view()),
    path("api/private-roles", views.PrivateRoles.as_view()),
    path("api/private-mfa", views.PrivateMfa.as_view()),
    # OpenAPI 3 with the bearer scheme (components.securitySchemes.bearerAuth).
    path("api/schema", SpectacularAPIView.as_view()),
]
