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


BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
DPOP = {"type": "http", "scheme": "DPoP"}  # RFC 9449 §7.1: an HTTP authentication scheme
COOKIE = {"type": "apiKey", "in": "cookie", "name": "sessionid"}  # DRF's own


def _schema(**settings: Any) -> dict[str, Any]:
    from drf_spectacular.generators import SchemaGenerator

    with override_settings(
        REST_FRAMEWORK=REST, ROOT_URLCONF="tests.adapters.django.spectacular_urls", **settings
    ):
        generator = SchemaGenerator()  # type: ignore[no-untyped-call]
        schema: dict[str, Any] = generator.get_schema(request=None, public=True)  # type: ignore[no-untyped-call]
    return schema


def test_security_schemes_are_http_bearer_and_dpop() -> None:
    schema = _schema()  # BEARERGUARD_DPOP is "allowed" by default
    assert schema["components"]["securitySchemes"] == {
        "bearerAuth": BEARER,
        "dpopAuth": DPOP,
        "cookieAuth": COOKIE,
    }


def test_bearer_views_require_one_of_the_schemes() -> None:
    paths = _schema()["paths"]
    assert paths["/messages"]["get"]["security"] == [{"bearerAuth": []}, {"dpopAuth": []}]
    assert paths["/session"]["get"]["security"] == [{"cookieAuth": []}]


@pytest.mark.parametrize(
    ("mode", "schemes", "security"),
    [
        ("off", {"bearerAuth": BEARER}, [{"bearerAuth": []}]),
        ("required", {"dpopAuth": DPOP}, [{"dpopAuth": []}]),
    ],
)
def test_schemes_follow_the_dpop_mode(
    mode: str, schemes: dict[str, Any], security: list[dict[str, Any]]
) -> None:
    schema = _schema(BEARERGUARD_DPOP=mode)
    assert schema["components"]["securitySchemes"] == {**schemes, "cookieAuth": COOKIE}
    assert schema["paths"]["/messages"]["get"]["security"] == security


def test_registration_reports_drf_spectacular() -> None:
    from bearerguard.adapters.django.rest_framework import register_openapi_extension

    assert register_openapi_extension() is True
