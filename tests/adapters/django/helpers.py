"""Assertions and expected values shared by the Django adapter tests."""

from __future__ import annotations

import json
from typing import Any

from tests.expect import with_dpop

MISSING = 'Bearer realm="api"'
#: A 401 on a view needing read:messages names the scope (RFC 6750 §3, both schemes).
MISSING_READ = (
    'Bearer realm="api", scope="read:messages", DPoP scope="read:messages", '
    'algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"'
)
# RFC 6750 §3.1: no error code without credentials, so the body has no "error" key.
MISSING_BODY = {"error_description": "Authentication required", "reason": "missing_token"}
SCOPE_DESCRIPTION = "The access token lacks a required scope"
CLAIM_DESCRIPTION = "The access token does not meet this resource's requirements"


def insufficient(scope: str | None = None) -> str:
    """The 403 challenge for a missing scope (or a failed claim when *scope* is None)."""
    if scope is None:
        return f'Bearer realm="api", error="insufficient_scope", error_description="{CLAIM_DESCRIPTION}"'
    return (
        f'Bearer realm="api", error="insufficient_scope", '
        f'error_description="{SCOPE_DESCRIPTION}", scope="{scope}"'
    )


def invalid(description: str, error: str = "invalid_token") -> str:
    return f'Bearer realm="api", error="{error}", error_description="{description}"'


def body(error: str | None, description: str, reason: str) -> dict[str, Any]:
    """The documented JSON body; ``error`` is left out when there is none (401 bare, 503)."""
    if error is None:
        return {"error_description": description, "reason": reason}
    return {"error": error, "error_description": description, "reason": reason}


def assert_refused(
    response: Any, status: int, challenge: str | None, expected_body: dict[str, Any]
) -> None:
    """Exact status, WWW-Authenticate, Cache-Control and JSON body of a refusal."""
    assert response.status_code == status
    # With the default settings the DPoP scheme is offered beside Bearer (RFC 9449 §7.1).
    assert response.get("WWW-Authenticate") == with_dpop(challenge)
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.content == json.dumps(expected_body, separators=(",", ":")).encode()


def bearer(token: str) -> dict[str, Any]:
    """Test client keyword arguments sending *token* in the Authorization header."""
    return {"headers": {"Authorization": f"Bearer {token}"}}
