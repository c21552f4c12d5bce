"""bearerguard: spec-correct OAuth 2.0 bearer-token resource servers.

The core API (framework-free). Adapters live in ``bearerguard.adapters.*``
and ``bearerguard.middleware.*`` and are imported by their full path.
"""

from __future__ import annotations

from bearerguard.errors import (
    BearerError,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    KeysUnavailable,
    MissingToken,
)
from bearerguard.extract import extract_token
from bearerguard.keys import JWKSKeySource, KeySource, StaticKeySource
from bearerguard.requirements import ClaimEquals, ClaimIncludes, Requirements
from bearerguard.settings import Settings
from bearerguard.tokens import AccessToken
from bearerguard.verifier import Verifier, error_response

__all__ = [
    "AccessToken",
    "BearerError",
    "ClaimEquals",
    "ClaimIncludes",
    "InsufficientScope",
    "InvalidRequest",
    "InvalidToken",
    "JWKSKeySource",
    "KeySource",
    "KeysUnavailable",
    "MissingToken",
    "Requirements",
    "Settings",
    "StaticKeySource",
    "Verifier",
    "error_response",
    "extract_token",
]
__version__ = "0.1.0"
