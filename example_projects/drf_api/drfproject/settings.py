"""Settings of the DRF example: a stateless token API (no database, sessions or cookies)."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-example-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ROOT_URLCONF = "drfproject.urls"
USE_TZ = True
DATABASES: dict[str, dict[str, str]] = {}

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",  # DRF imports its models; token users need no database
    "rest_framework",
    "drf_spectacular",
    "bearerguard.adapters.django",  # system checks for the settings below
]

# No bearerguard authentication middleware and no CsrfViewMiddleware: DRF authenticates
# every request itself (BearerTokenAuthentication), and a header token is no ambient
# credential. ResourceMetadataMiddleware serves the RFC 9728 metadata document when
# BEARERGUARD_RESOURCE is set.
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "bearerguard.adapters.django.middleware.ResourceMetadataMiddleware",
]

_BG = "bearerguard.adapters.django.rest_framework"
REST_FRAMEWORK = {
    # Every view checks a sent token (a bad one is refused, even on public views) ...
    "DEFAULT_AUTHENTICATION_CLASSES": [f"{_BG}.BearerTokenAuthentication"],
    # ... and needs one unless it says otherwise (AllowAny on the public view).
    "DEFAULT_PERMISSION_CLASSES": [f"{_BG}.IsBearerAuthenticated"],
    # RFC 6750 answers (status, WWW-Authenticate, JSON body) instead of {"detail": ...}.
    "EXCEPTION_HANDLER": f"{_BG}.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {"TITLE": "bearerguard DRF example", "VERSION": "1.0.0"}

# BEARERGUARD_ISSUER, BEARERGUARD_AUDIENCE, BEARERGUARD_JWKS_URI and every other
# BEARERGUARD_* setting come from the environment, as in the other example projects.
for _name, _value in os.environ.items():
    if _name.startswith("BEARERGUARD_"):
        globals()[_name] = _value
