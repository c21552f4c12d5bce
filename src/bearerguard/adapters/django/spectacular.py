"""drf-spectacular: ``BearerTokenAuthentication`` as OpenAPI HTTP security schemes.

Imported by :func:`bearerguard.adapters.django.rest_framework.register_openapi_extension`
when drf-spectacular is installed; defining the extension registers it. A generated
schema then lists, under ``components.securitySchemes``, the schemes ``BEARERGUARD_DPOP``
accepts (``bearerAuth`` unless DPoP is ``required``, ``dpopAuth`` unless it is ``off``)::

    bearerAuth: {type: http, scheme: bearer, bearerFormat: JWT}
    dpopAuth: {type: http, scheme: DPoP}

and every operation of a view authenticating with ``BearerTokenAuthentication``
requires one of them (OpenAPI 3 ``security``, one alternative per scheme). OpenAPI has
no DPoP type: RFC 9449 §7.1 registers ``DPoP`` as an HTTP authentication scheme.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from bearerguard.adapters.django.conf import get_verifier

__all__ = ["BearerTokenScheme"]

BEARER_NAME = "bearerAuth"
DPOP_NAME = "dpopAuth"
_DEFINITIONS = {
    BEARER_NAME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    DPOP_NAME: {"type": "http", "scheme": "DPoP"},
}


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[misc,no-untyped-call,unused-ignore]
    """The security schemes of ``BearerTokenAuthentication`` (RFC 6750 bearer, RFC 9449 DPoP)."""

    target_class = "bearerguard.adapters.django.rest_framework.BearerTokenAuthentication"
    name: str | list[str] = BEARER_NAME
    match_subclasses = True

    def __init__(self, target: Any) -> None:
        super().__init__(target)  # type: ignore[no-untyped-call,unused-ignore]
        mode = get_verifier().binding.mode  # BEARERGUARD_DPOP, as the requests see it
        names = {"off": [BEARER_NAME], "required": [DPOP_NAME]}.get(mode, list(_DEFINITIONS))
        self.name = names[0] if len(names) == 1 else names

    def get_security_requirement(self, auto_schema: Any) -> dict[str, Any] | list[dict[str, Any]]:
        """One requirement per scheme: alternatives (OR), not all at once."""
        if isinstance(self.name, str):
            return {self.name: []}
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any] | list[dict[str, Any]]:
        """The OpenAPI 3 HTTP authentication schemes ``bearer`` (RFC 6750) and ``DPoP`` (RFC 9449)."""
        if isinstance(self.name, str):
            return dict(_DEFINITIONS[self.name])
        return [dict(_DEFINITIONS[name]) for name in self.name]
