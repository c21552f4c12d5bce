"""Settings importing bearerguard's DRF module first (isort order), then DRF's."""

# ruff: noqa: I001  (the order isort writes with bearerguard as a third-party package)

from __future__ import annotations

import os

from bearerguard.adapters.django.rest_framework import BearerTokenAuthentication
from rest_framework.permissions import IsAuthenticated

SECRET_KEY = "import-order-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
ROOT_URLCONF = "tests.adapters.django.importorder.urls"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "bearerguard.adapters.django",
    "rest_framework",
]
MIDDLEWARE: list[str] = []
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        f"{BearerTokenAuthentication.__module__}.{BearerTokenAuthentication.__name__}"
    ],
    "DEFAULT_PERMISSION_CLASSES": [f"{IsAuthenticated.__module__}.{IsAuthenticated.__name__}"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "bearerguard.adapters.django.rest_framework.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
BEARERGUARD_ISSUER = os.environ["BEARERGUARD_ISSUER"]
BEARERGUARD_AUDIENCE = os.environ["BEARERGUARD_AUDIENCE"]
BEARERGUARD_JWKS_URI = os.environ["BEARERGUARD_JWKS_URI"]
