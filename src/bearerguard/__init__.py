"""bearerguard: spec-correct OAuth 2.0 bearer-token resource servers.

The core API (framework-free). Adapters live in ``bearerguard.adapters.*``
and ``bearerguard.middleware.*`` and are imported by their full path.
"""

from __future__ import annotations

from bearerguard.discovery import Fetcher, FetchError
from bearerguard.errors import (
    BearerError,
    InsufficientScope,
    InsufficientUserAuthentication,
    InvalidRequest,
    InvalidToken,
    KeysUnavailable,
    MissingToken,
    Responses,
    error_response,
)
from bearerguard.extract import extract_token
from bearerguard.issuers import IssuerSettings
from bearerguard.jwk import VerifyKey
from bearerguard.keys import JWKSKeySource, KeySource, StaticKeySource
from bearerguard.paths import PathRules
from bearerguard.pipeline import Decision
from bearerguard.requirements import ClaimEquals, ClaimIncludes, Requirements
from bearerguard.settings import SettingError, Settings
from bearerguard.tokens import AccessToken, token_identity
from bearerguard.verifier import Verifier

__all__ = [
    "AccessToken",
    "BearerError",
    "ClaimEquals",
    "ClaimIncludes",
    "Decision",
    "FetchError",
    "Fetcher",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "InvalidRequest",
    "InvalidToken",
    "IssuerSettings",
    "JWKSKeySource",
    "KeySource",
    "KeysUnavailable",
    "MissingToken",
    "PathRules",
    "Requirements",
    "Responses",
    "SettingError",
    "Settings",
    "StaticKeySource",
    "Verifier",
    "VerifyKey",
    "error_response",
    "extract_token",
    "token_identity",
]
__version__ = "0.1.0"
