"""The example's routes: the same on every example project (/api/docs: Ninja's OpenAPI UI)."""

from __future__ import annotations

from django.urls import path

from .api import api

urlpatterns = [path("api/", api.urls)]
