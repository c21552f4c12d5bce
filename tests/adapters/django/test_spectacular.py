"""drf-spectacular: BearerTokenAuthentication is an OpenAPI HTTP bearer security scheme."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("drf_spectacular")

from django.test import override_settings

REST = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "bearerguard.adapters.django.rest_framework.BearerTokenAuthentication"
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "bearerguard.adapters.django.rest_framework.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}


def _schema() -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    with override_settings(
        REST_FRAMEWORK=REST, ROOT_URLCONF="tests.adapters.django.spectacular_urls"
    ):
        generator = SchemaGenerator()  # type: ignore[no-untyped-call]
        schema: dict[str, Any] = generator.get_schema(request=None, public=True)  # type: ignore[no-untyped-call]
    return schema


def test_security_scheme_is_http_bearer() -> None:
    schema = _schema()
    assert schema["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "sessionid"},  # DRF's own
    }


def test_bearer_views_require_the_scheme() -> None:
    paths = _schema()["paths"]
    assert paths["/messages"]["get"]["security"] == [{"bearerAuth": []}]
    assert paths["/session"]["get"]["security"] == [{"cookieAuth": []}]


def test_registration_reports_drf_spectacular() -> None:
    from bearerguard.adapters.django.rest_framework import register_openapi_extension

    assert register_openapi_extension() is True
