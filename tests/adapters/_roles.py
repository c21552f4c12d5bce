"""Expected answers shared by the adapters' role and claim-path tests (tests/adapters/*/test_roles.py).

Literals, not read from the code under test: RFC 6750 §3 challenges in realm ``api`` with the
default DPoP offer (RFC 9449 §7.1) and the documented JSON bodies.
"""

from __future__ import annotations

from typing import Any

ALGS = "ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"
ROLE_DESCRIPTION = "The access token lacks a required role"
CLAIM_DESCRIPTION = "The access token does not meet this resource's requirements"

#: 403 for a missing role (reason insufficient_role): no scope parameter on a route without scopes.
ROLE_WWW = (
    f'Bearer realm="api", error="insufficient_scope", error_description="{ROLE_DESCRIPTION}", '
    f'DPoP algs="{ALGS}"'
)
ROLE_BODY = {
    "error": "insufficient_scope",
    "error_description": ROLE_DESCRIPTION,
    "reason": "insufficient_role",
}
#: 403 for a failed (or absent) claim path (reason claim_requirement_failed).
CLAIM_WWW = (
    f'Bearer realm="api", error="insufficient_scope", error_description="{CLAIM_DESCRIPTION}", '
    f'DPoP algs="{ALGS}"'
)
CLAIM_BODY = {
    "error": "insufficient_scope",
    "error_description": CLAIM_DESCRIPTION,
    "reason": "claim_requirement_failed",
}
#: 401 without credentials (RFC 6750 §3.1: no error code).
MISSING_WWW = f'Bearer realm="api", DPoP algs="{ALGS}"'
MISSING_BODY = {"error_description": "Authentication required", "reason": "missing_token"}

#: The role claim the adapters' verifiers are configured with (BEARERGUARD_ROLE_CLAIMS).
ROLE_CLAIMS = "realm_access.roles"


def keycloak(*roles: str, **more: Any) -> dict[str, Any]:
    """Claims shaped like a Keycloak access token holding realm *roles*."""
    return {"realm_access": {"roles": list(roles)}, **more}


#: Claims reaching the nested / namespaced claim-path routes.
NESTED_OK = {
    "realm_access": {"roles": ["admin"]},
    "resource_access": {"my.api": {"roles": ["writer"]}},
    "https://example.com/tenant": "acme",
}
#: Near misses of NESTED_OK: every claim-path route refuses each of them.
NESTED_REFUSED: list[dict[str, Any]] = [
    {},
    {"realm_access": {"roles": ["user"]}, "https://example.com/tenant": "other"},
    {"realm_access": ["admin"], "resource_access": {"my": {"api": {"roles": ["writer"]}}}},
    {"realm_access.roles": ["admin"], "resource_access.my.api.roles": ["writer"]},
    {"realm_access": None, "resource_access": "writer", "https://example.com/tenant": ["acme"]},
    {"https://example": {"com/tenant": "acme"}, "realm_access": {"roles": "user admins"}},
]
