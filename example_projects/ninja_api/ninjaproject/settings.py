"""Settings of the Django Ninja example: a stateless token API (no database or sessions)."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-example-key-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG", "") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ROOT_URLCONF = "ninjaproject.urls"
USE_TZ = True
DATABASES: dict[str, dict[str, str]] = {}

INSTALLED_APPS = [
    "ninja",  # the interactive docs' templates (/api/docs)
    "bearerguard.adapters.django",  # system checks for the settings below
]

# No bearerguard authentication middleware: BearerAuth on the NinjaAPI checks the token
# (api.py); the system checks see it on the routes and do not ask for the middleware.
# ResourceMetadataMiddleware serves the RFC 9728 metadata document when
# BEARERGUARD_RESOURCE is set.
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "bearerguard.adapters.django.middleware.ResourceMetadataMiddleware",
]

# BEARERGUARD_ISSUER, BEARERGUARD_AUDIENCE, BEARERGUARD_JWKS_URI and every other
# BEARERGUARD_* setting come from the environment, as in the other example projects.
for _name, _value in os.environ.items():
    if _name.startswith("BEARERGUARD_"):
        globals()[_name] = _value
