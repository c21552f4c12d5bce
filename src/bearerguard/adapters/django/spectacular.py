"""drf-spectacular: ``BearerTokenAuthentication`` as an OpenAPI HTTP bearer security scheme.

Imported by :func:`bearerguard.adapters.django.rest_framework.register_openapi_extension`
when drf-spectacular is installed; defining the extension registers it. A generated
schema then lists, under ``components.securitySchemes``::

    bearerAuth: {type: http, scheme: bearer, bearerFormat: JWT}

and every operation of a view authenticating with ``BearerTokenAuthentication``
requires it (OpenAPI 3 ``security``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

__all__ = ["BearerTokenScheme"]


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[misc,no-untyped-call,unused-ignore]
    """The security scheme of ``BearerTokenAuthentication`` (RFC 6750 bearer tokens)."""

    target_class = "bearerguard.adapters.django.rest_framework.BearerTokenAuthentication"
    name = "bearerAuth"
    match_subclasses = True

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        """The OpenAPI 3 HTTP authentication scheme ``bearer`` (RFC 6750)."""
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
