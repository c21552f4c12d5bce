"""System checks: one test per id, and ``manage.py check`` on the test project."""

from __future__ import annotations

import pytest

pytest.importorskip("django")

from django.core.checks import CheckMessage
from django.core.management import call_command
from django.test import override_settings

from bearerguard.adapters.django.checks import (
    check_middleware,
    check_rest_framework,
    check_settings,
)

AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
OURS = "bearerguard.adapters.django.middleware.BearerAuthMiddleware"


def ids(messages: list[CheckMessage]) -> list[str]:
    return [str(m.id) for m in messages]


def test_valid_settings_pass() -> None:
    assert check_settings() == []
    assert check_middleware() == []
    assert check_rest_framework() == []


def test_call_command_check() -> None:
    call_command("check", verbosity=0)


@override_settings(BEARERGUARD_ISSUER=None)
def test_e001_missing_issuer() -> None:
    (error,) = check_settings()
    assert error.id == "bearerguard.E001"
    assert error.msg == "BEARERGUARD_ISSUER is not set."
    assert error.hint is not None and error.hint.startswith("BEARERGUARD_ISSUER is required")


@override_settings(BEARERGUARD_AUDIENCE="")
def test_e002_missing_audience() -> None:
    (error,) = check_settings()
    assert error.id == "bearerguard.E002"
    assert error.msg == "BEARERGUARD_AUDIENCE is not set."


@pytest.mark.parametrize("algorithms", [["none"], ["RS256", "XS999"], ["HS256"], "NONE"])
def test_e003_algorithms(algorithms: object) -> None:
    with override_settings(BEARERGUARD_ALGORITHMS=algorithms):
        assert ids(check_settings()) == ["bearerguard.E003"]


def test_e004_token_types() -> None:
    with override_settings(BEARERGUARD_TOKEN_TYPES=["id+jwt"]):
        (error,) = check_settings()
    assert error.id == "bearerguard.E004"
    assert error.hint == "BEARERGUARD_TOKEN_TYPES must be 'at+jwt' and/or 'jwt'"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BEARERGUARD_LEEWAY", "soon"),
        ("BEARERGUARD_ISSUER", "not-a-url"),
        ("BEARERGUARD_TOKEN_LOCATIONS", "cookie"),
        ("BEARERGUARD_ISSUR", "https://typo.example.com/"),
        ("BEARERGUARD_PROTECTED_PATHS", ["api"]),
        ("BEARERGUARD_EXEMPT_PATHS", 42),
        ("BEARERGUARD_USER_HOOK", "tests.adapters.django.views.no_such_hook"),
        ("BEARERGUARD_TOKEN_CACHE_SIZE", -1),
        ("BEARERGUARD_SHARED_SECRET", 42),
        ("BEARERGUARD_DPOP", "maybe"),
        ("BEARERGUARD_DPOP_ALGORITHMS", "HS256"),
        ("BEARERGUARD_DPOP_NONCE", "yes"),
        ("BEARERGUARD_DPOP_NONCE_SECRET", "short"),
        ("BEARERGUARD_DPOP_MAX_AGE", 0),
        ("BEARERGUARD_STORE", "memcached://cache:11211"),
        ("BEARERGUARD_RESOURCE", "http://api.example.com"),
        ("BEARERGUARD_SCOPES_SUPPORTED", 'read "all"'),
        ("BEARERGUARD_RESOURCE_NAME", "a\nb"),
        ("BEARERGUARD_RESOURCE_DOCUMENTATION", "http://docs.example.com"),
        ("BEARERGUARD_TOKEN_FORMATS", "paseto"),
        ("BEARERGUARD_INTROSPECTION_URI", "ftp://as.example.com/x"),
        ("BEARERGUARD_CLIENT_ID", "caf\u00e9"),
        ("BEARERGUARD_CLIENT_SECRET", 3),
        ("BEARERGUARD_CLIENT_AUTH", "private_key_jwt"),
        ("BEARERGUARD_INTROSPECTION_CACHE_TTL", -1),
        ("BEARERGUARD_PROVIDER", "google"),
        ("BEARERGUARD_TENANTS", "contoso"),
    ],
)
def test_e005_other_invalid_settings(name: str, value: object) -> None:
    with override_settings(**{name: value}):
        (error,) = check_settings()
    assert error.id == "bearerguard.E005"
    assert error.msg == "A BEARERGUARD_* setting is invalid."
    assert error.hint is not None and name in error.hint


def test_every_invalid_setting_reported_at_once() -> None:
    with override_settings(
        BEARERGUARD_ISSUER=None, BEARERGUARD_AUDIENCE=None, BEARERGUARD_ALGORITHMS="none"
    ):
        assert ids(check_settings()) == ["bearerguard.E001", "bearerguard.E002", "bearerguard.E003"]


def test_every_invalid_setting_reported_at_once_across_rules() -> None:
    # The check id follows SettingError.setting, never the message text.
    with override_settings(
        BEARERGUARD_ISSUER="https://login.microsoftonline.com/{tenantid}/v2.0",
        BEARERGUARD_AUDIENCE=None,
        BEARERGUARD_TOKEN_TYPES="id",
        BEARERGUARD_TOKEN_FORMATS="opaque",
        BEARERGUARD_DPOP_NONCE="on",
        BEARERGUARD_RESOURCE="https://API.example.com",
    ):
        errors = check_settings()
    assert ids(errors) == ["bearerguard.E002", "bearerguard.E004"] + ["bearerguard.E005"] * 5
    hints = [str(error.hint).split()[0] for error in errors]
    assert hints[2:] == [
        "BEARERGUARD_RESOURCE",
        "BEARERGUARD_DPOP_NONCE_SECRET",
        "BEARERGUARD_CLIENT_ID",
        "BEARERGUARD_CLIENT_SECRET",
        "BEARERGUARD_TENANTS",
    ]


class _NoRoutes:
    # No route authenticates by itself (the suite's DRF views use BearerTokenAuthentication).
    urlpatterns: list[object] = []


def test_e006_middleware_missing() -> None:
    with override_settings(MIDDLEWARE=[AUTH], REST_FRAMEWORK={}, ROOT_URLCONF=_NoRoutes):
        (error,) = check_middleware()
    assert error.id == "bearerguard.E006"
    assert error.msg == (
        "bearerguard is in INSTALLED_APPS but BearerAuthMiddleware is not in MIDDLEWARE."
    )


def test_e006_not_raised_when_drf_authenticates() -> None:
    # DRF-only projects authenticate with BearerTokenAuthentication, no middleware needed.
    with override_settings(MIDDLEWARE=[AUTH]):
        assert check_middleware() == []


def test_w001_middleware_before_authentication() -> None:
    with override_settings(MIDDLEWARE=[OURS, AUTH]):
        (warning,) = check_middleware()
    assert warning.id == "bearerguard.W001"


def test_w002_drf_without_exception_handler() -> None:
    with override_settings(REST_FRAMEWORK={}):
        (warning,) = check_rest_framework()
    assert warning.id == "bearerguard.W002"


def test_call_command_check_fails_on_errors() -> None:
    from django.core.management.base import SystemCheckError

    with (
        override_settings(BEARERGUARD_AUDIENCE=None),
        pytest.raises(SystemCheckError, match=r"bearerguard\.E002"),
    ):
        call_command("check", verbosity=0)
