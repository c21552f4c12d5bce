"""The baseline bearer check: PyJWT with ``PyJWKClient``, as tutorials write it."""

from __future__ import annotations

import os
from typing import Any

import jwt

ISSUER = os.environ["BEARERGUARD_ISSUER"]
AUDIENCE = os.environ["BEARERGUARD_AUDIENCE"]
MODE = os.environ.get("BENCH_MODE", "bearerguard")
CHALLENGE = 'Bearer realm="api", error="invalid_token"'
# Key set and signing keys cached: the client's fastest configuration.
_client = jwt.PyJWKClient(os.environ["BEARERGUARD_JWKS_URI"], cache_keys=True)


def check(authorization: str | None) -> dict[str, Any] | None:
    """The verified claims, or ``None`` (the caller answers 401)."""
    if not authorization or authorization[:7].lower() != "bearer ":
        return None
    token = authorization[7:].strip()
    try:
        key = _client.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
        )
    except jwt.PyJWTError:
        return None
    if "read:messages" not in str(claims.get("scope", "")).split():
        return None
    return claims
