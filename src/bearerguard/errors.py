"""The bearerguard error tree.

Every refusal is a :class:`BearerError` carrying the HTTP status, the RFC 6750
error code, a fixed description and a stable machine ``reason``. The core
builds the whole response (status, headers, JSON body); adapters only render
it. Descriptions are constants chosen per reason: no token content, claim or
key material ever reaches a message.
"""

from __future__ import annotations

import json
from typing import ClassVar

from bearerguard.challenge import render

DEFAULT_REALM = "api"

#: reason -> fixed description. The reason codes are part of the public API:
#: they never change meaning.
DESCRIPTIONS: dict[str, str] = {
    # 401 bare challenge
    "missing_token": "Authentication required",
    # 400 invalid_request
    "empty_token": "The Bearer scheme was sent without a token",
    "malformed_authorization": "The Authorization header is not a valid Bearer credential",
    "multiple_authorization_headers": "The request carries more than one Authorization credential",
    "multiple_tokens": "The access token was sent by more than one method",
    "malformed_parameter": "The access_token parameter is malformed",
    "multiple_credentials": "The request carries credentials for more than one identity",
    # 401 invalid_token
    "token_too_large": "The access token is too large",
    "malformed_token": "The access token is not a well-formed JWT",
    "jwe_not_supported": "Encrypted tokens (JWE) are not accepted",
    "alg_none": "Unsigned tokens are not accepted",
    "alg_not_allowed": "The token's signing algorithm is not allowed",
    "crit_unsupported": "The token has critical header parameters that are not understood",
    "unknown_kid": "The token was signed with an unknown key",
    "ambiguous_key": "The token names no key and several keys could apply",
    "key_alg_mismatch": "The token's algorithm does not fit its key",
    "weak_key": "The token was signed with a key that is too weak",
    "bad_signature": "The token signature is invalid",
    "invalid_typ": "The token type is not accepted",
    "invalid_issuer": "The token was issued by an untrusted issuer",
    "invalid_audience": "The token is not intended for this API",
    "id_token_presented": "An ID token was presented; send the access token instead",
    "expired": "The access token expired",
    "not_yet_valid": "The access token is not valid yet",
    "issued_in_future": "The access token was issued in the future",
    "missing_claim": "The access token lacks a required claim",
    "invalid_claim": "The access token has a claim of the wrong type",
    # 403 insufficient_scope
    "insufficient_scope": "The access token lacks a required scope",
    "claim_requirement_failed": "The access token does not meet this resource's requirements",
    # 503
    "keys_unavailable": "The signing keys cannot be retrieved right now",
}


class BearerError(Exception):
    """Base of every refusal.

    Attributes: ``status_code`` (HTTP status), ``error`` (RFC 6750 code or
    ``None``), ``reason`` (stable machine code), ``description`` (fixed text),
    ``realm`` (set by the verifier that raised it), ``scopes`` (for 403).
    """

    status_code: ClassVar[int] = 401
    error: ClassVar[str | None] = None

    def __init__(
        self, reason: str, *, realm: str | None = None, scopes: tuple[str, ...] = ()
    ) -> None:
        self.reason = reason
        self.description = DESCRIPTIONS.get(reason, reason)
        self.realm = DEFAULT_REALM if realm is None else realm
        self.scopes = scopes
        super().__init__(reason)

    def __str__(self) -> str:
        return f"{self.reason}: {self.description}"

    @property
    def www_authenticate(self) -> str | None:
        """The ``WWW-Authenticate`` header value (``None`` when none is sent)."""
        return render(self.realm, self.error, self.description if self.error else None, self.scopes)

    def headers(self) -> dict[str, str]:
        """All response headers for this refusal."""
        h = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        challenge = self.www_authenticate
        if challenge is not None:
            h["WWW-Authenticate"] = challenge
        return h

    def body_dict(self) -> dict[str, str | None]:
        """The JSON body as a dict: ``error``, ``error_description``, ``reason``."""
        return {"error": self.error, "error_description": self.description, "reason": self.reason}

    def body(self) -> bytes:
        """The JSON body, encoded."""
        return json.dumps(self.body_dict(), separators=(",", ":")).encode()


class MissingToken(BearerError):
    """No credentials: 401 with a bare challenge (RFC 6750 §3.1)."""

    status_code = 401
    error = None

    def __init__(self, reason: str = "missing_token", *, realm: str | None = None) -> None:
        super().__init__(reason, realm=realm)


class InvalidRequest(BearerError):
    """A malformed request: 400 ``invalid_request``."""

    status_code = 400
    error = "invalid_request"


class InvalidToken(BearerError):
    """A token that fails verification: 401 ``invalid_token``."""

    status_code = 401
    error = "invalid_token"


class InsufficientScope(BearerError):
    """A valid token that does not meet the route's requirements: 403."""

    status_code = 403
    error = "insufficient_scope"

    def __init__(
        self,
        reason: str = "insufficient_scope",
        *,
        scopes: tuple[str, ...] = (),
        realm: str | None = None,
    ) -> None:
        super().__init__(reason, realm=realm, scopes=scopes)


class KeysUnavailable(BearerError):
    """The signing keys cannot be had: 503 with ``Retry-After``, no challenge.

    The token is not to blame, so no ``WWW-Authenticate`` is sent.
    """

    status_code = 503
    error = None

    def __init__(
        self, reason: str = "keys_unavailable", *, retry_after: int = 30, realm: str | None = None
    ) -> None:
        super().__init__(reason, realm=realm)
        self.retry_after = max(1, int(retry_after))

    @property
    def www_authenticate(self) -> str | None:
        return None

    def headers(self) -> dict[str, str]:
        h = super().headers()
        h["Retry-After"] = str(self.retry_after)
        return h
