"""The Django app: add ``"bearerguard.adapters.django"`` to ``INSTALLED_APPS``."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class BearerGuardConfig(AppConfig):
    """Registers bearerguard's system checks (``bearerguard.E001`` …).

    With DRF and drf-spectacular installed it also registers the OpenAPI security
    scheme of ``BearerTokenAuthentication``.
    """

    name = "bearerguard.adapters.django"
    label = "bearerguard"
    verbose_name = "bearerguard"

    def ready(self) -> None:
        from bearerguard.adapters.django.checks import (
            check_middleware,
            check_rest_framework,
            check_settings,
        )

        checks.register(check_settings)
        checks.register(check_middleware)
        checks.register(check_rest_framework)
        from django.apps import apps

        if apps.is_installed("rest_framework"):
            from bearerguard.adapters.django.rest_framework import register_openapi_extension

            register_openapi_extension()
