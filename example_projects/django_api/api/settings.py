"""Settings of the example: a stateless token API (no database, sessions or cookies)."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-example-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ROOT_URLCONF = "api.urls"
USE_TZ = True
DATABASES: dict[str, dict[str, str]] = {}

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",  # not used by token users; only models are imported
    "bearerguard.adapters.django",  # system checks for the settings below
]

# No CsrfViewMiddleware: credentials travel in the Authorization header (or an
# explicit access_token parameter), never in a cookie, so there is no CSRF exposure.
# (With it, BearerAuthMiddleware exempts requests authenticated by a bearer token alone.)
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "bearerguard.adapters.django.middleware.BearerAuthMiddleware",
]

# BEARERGUARD_ISSUER, BEARERGUARD_AUDIENCE, BEARERGUARD_JWKS_URI and every other
# BEARERGUARD_* setting come from the environment, as in the other example projects.
for _name, _value in os.environ.items():
    if _name.startswith("BEARERGUARD_"):
        globals()[_name] = _value
