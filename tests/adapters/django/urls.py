"""URLs of the test project."""

from __future__ import annotations

from django.urls import path

from tests.adapters.django import views

urlpatterns = [
    path("public", views.public),
    path("async-public", views.async_public),
    path("private", views.private),
    path("async-private", views.async_private),
    path("scoped", views.scoped),
    path("async-scoped-rw", views.async_scoped_rw),
    path("any-scope", views.any_scope),
    path("tenant", views.tenant),
    path("async-roles", views.async_roles),
    path("cbv/class", views.ClassDecorated.as_view()),
    path("cbv/dispatch", views.DispatchDecorated.as_view()),
    path("cbv/method", views.MethodDecorated.as_view()),
    path("cbv/async-method", views.AsyncMethodDecorated.as_view()),
    path("cbv/async-class", views.AsyncClassDecorated.as_view()),
    path("cbv/async-dispatch", views.AsyncDispatchDecorated.as_view()),
    path("protected/thing", views.protected),
    path("protected/health", views.health),
    path("admin/", views.session_page),
    path("protectedness", views.public),
    path("drf/me", views.DRFMe.as_view()),
    path("drf/stock", views.DRFStock.as_view()),
    path("drf/session-only", views.DRFSessionOnly.as_view()),
    path("drf/scoped", views.DRFScoped.as_view()),
    path("drf/factory", views.DRFFactory.as_view()),
    path("drf/claims", views.DRFClaims.as_view()),
    path("drf/claim-factory", views.DRFClaimFactory.as_view()),
]
