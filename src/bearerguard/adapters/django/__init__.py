"""Django adapter: ``BearerAuthMiddleware``, view decorators, system checks and DRF classes.

Add ``"bearerguard.adapters.django"`` to ``INSTALLED_APPS`` (system checks) and
``"bearerguard.adapters.django.middleware.BearerAuthMiddleware"`` to ``MIDDLEWARE``
after ``AuthenticationMiddleware``. DRF classes are in
``bearerguard.adapters.django.rest_framework``.
"""

from __future__ import annotations

from bearerguard.adapters.django.conf import get_verifier
from bearerguard.adapters.django.decorators import (
    require_claim,
    require_roles,
    require_scopes,
    require_token,
)
from bearerguard.adapters.django.middleware import BearerAuthMiddleware, get_access_token
from bearerguard.adapters.django.users import TokenUser

__all__ = [
    "BearerAuthMiddleware",
    "TokenUser",
    "get_access_token",
    "get_verifier",
    "require_claim",
    "require_roles",
    "require_scopes",
    "require_token",
]
