"""A tiny Django project for the adapter tests (also served by uvicorn in test_live)."""

from __future__ import annotations

import os

SECRET_KEY = "tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "tests.adapters.django.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "rest_framework",
    "bearerguard.adapters.django",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "bearerguard.adapters.django.middleware.BearerAuthMiddleware",
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests

_DRF = "bearerguard.adapters.django.rest_framework"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        f"{_DRF}.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": f"{_DRF}.exception_handler",
}

# The tests override the issuer with a running bearerguard.testing.Issuer; a
# server started by test_live gets it from the environment.
BEARERGUARD_ISSUER = os.environ.get("BEARERGUARD_ISSUER", "https://issuer.invalid/")
BEARERGUARD_AUDIENCE = "https://api.example.com"
BEARERGUARD_JWKS_URI = os.environ.get("BEARERGUARD_JWKS_URI")
BEARERGUARD_PROTECTED_PATHS = ["/protected"]
BEARERGUARD_EXEMPT_PATHS = ["/protected/health"]
