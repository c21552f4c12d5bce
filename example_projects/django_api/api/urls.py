"""The example's routes: the same on every example project."""

from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("api/public", views.public),
    path("api/private", views.private),
    path("api/private-scoped", views.private_scoped),
    path("api/private-scoped-rw", views.private_scoped_rw),
    path("api/private-permission", views.private_permission),
    path("api/private-tenant", views.private_tenant),
    path("api/private-roles", views.private_roles),
    path("api/private-mfa", views.private_mfa),
]
