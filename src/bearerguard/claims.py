"""The claim checks of a verified JWT (RFC 7519 §4.1, RFC 9068 §4), one small function each.

Each takes the claims (and what it compares them with) and raises
:class:`~bearerguard.InvalidToken` with its reason, or returns. :class:`ClaimRules` runs
them in the order the README documents, for one configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from bearerguard._jose import is_number
from bearerguard.errors import InvalidToken
from bearerguard.settings import Settings

__all__ = [
    "ClaimRules",
    "check_audience",
    "check_id_token_markers",
    "check_issuer",
    "check_lifetime",
    "check_required",
    "check_types",
]

#: Claims only an ID token carries (OpenID Connect Core §2, §3.1.3.6, §3.3.2.11).
ID_TOKEN_ONLY = ("nonce", "at_hash", "c_hash", "s_hash")
#: Claims that must be strings when present. Scope claims are not here: an unusable
#: scope value gives no scopes (:func:`bearerguard.tokens.read_scopes`).
STRING_CLAIMS = ("sub", "client_id", "jti", "azp")
#: Claims that must be NumericDates when present (RFC 7519 §2).
NUMERIC_CLAIMS = ("exp", "nbf", "iat", "auth_time")


def check_issuer(claims: Mapping[str, Any], issuers: Collection[str]) -> None:
    """``iss`` is one of *issuers*, compared exactly (RFC 9068 §4: a trailing slash matters)."""
    iss = claims.get("iss")
    if not isinstance(iss, str) or iss not in issuers:
        raise InvalidToken("invalid_issuer")


def _looks_like_id_token(claims: Mapping[str, Any], aud: Any) -> bool:
    return not claims.keys().isdisjoint(ID_TOKEN_ONLY) or (
        isinstance(claims.get("azp"), str) and aud == claims["azp"]
    )


def check_audience(claims: Mapping[str, Any], audiences: frozenset[str]) -> None:
    """``aud`` (a string or a non-empty array of strings) contains one of *audiences*.

    A refused token that looks like an ID token is refused as ``id_token_presented``, so
    the client developer learns to send the access token instead.
    """
    aud = claims.get("aud")
    if isinstance(aud, str):
        ok = aud in audiences
    elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        ok = not audiences.isdisjoint(aud)
    else:
        ok = False
    if not ok:
        raise InvalidToken(
            "id_token_presented" if _looks_like_id_token(claims, aud) else "invalid_audience"
        )


def check_id_token_markers(claims: Mapping[str, Any]) -> None:
    """A token with our audience is still refused when it declares itself an ID token.

    When the API's audience is also the client id that receives ID tokens (one app
    registration for SPA and API in Entra ID, a Keycloak client used for both, Cognito),
    the audience cannot tell them apart; these markers can:

    * ``at_hash`` / ``c_hash`` (OIDC Core §3.1.3.6, §3.3.2.11) only ever appear in ID tokens;
    * ``token_use: "id"`` (AWS Cognito; its access tokens say ``"access"``);
    * the claim ``typ: "ID"`` (Keycloak; its access tokens say ``"Bearer"``), and
      ``typ: "Refresh"`` / ``token_use: "refresh"`` — not access tokens either.

    A ``nonce`` alone does not refuse: some servers (Keycloak before 2024) copy it into
    access tokens. An ID token with none of these (a generic issuer, Entra ID, Okta, Auth0
    without ``at_hash``) and our audience cannot be told apart from an access token by its
    claims: ``BEARERGUARD_TOKEN_TYPES=at+jwt`` (RFC 9068 ``typ`` header) closes that.
    """
    if "at_hash" in claims or "c_hash" in claims:
        raise InvalidToken("id_token_presented")
    for name in ("token_use", "typ"):
        marker = claims.get(name)
        if isinstance(marker, str):
            kind = marker.lower()
            if kind == "id":
                raise InvalidToken("id_token_presented")
            if kind == "refresh":
                raise InvalidToken("invalid_token_type")


def check_types(claims: Mapping[str, Any]) -> None:
    """Typed registered claims: NumericDates in range, string claims strings."""
    for name in NUMERIC_CLAIMS:
        if name in claims and not is_number(claims[name]):
            raise InvalidToken("invalid_claim")
    for name in STRING_CLAIMS:
        if not isinstance(claims.get(name, ""), str):
            raise InvalidToken("invalid_claim")


def check_required(claims: Mapping[str, Any], required: Collection[str]) -> None:
    """Every *required* claim is present, and ``exp`` always (RFC 9068 §2.2)."""
    for name in required:
        if name not in claims:
            raise InvalidToken("missing_claim")
    if "exp" not in claims:
        raise InvalidToken("missing_claim")


def check_lifetime(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    """``exp`` not passed, ``nbf`` and ``iat`` not in the future, each within *leeway*."""
    if now >= claims["exp"] + leeway:
        raise InvalidToken("expired")
    nbf = claims.get("nbf")
    if nbf is not None and now < nbf - leeway:
        raise InvalidToken("not_yet_valid")
    iat = claims.get("iat")
    if iat is not None and now < iat - leeway:
        raise InvalidToken("issued_in_future")


class ClaimRules:
    """Every claim check of one configuration, in order."""

    __slots__ = ("audiences", "clock", "issuers", "leeway", "required")

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self.issuers = frozenset(settings.issuers)
        self.audiences = frozenset(settings.audiences)
        self.required = tuple(c for c in settings.tuple_of("required_claims") if c != "exp")
        self.leeway = float(settings.leeway)
        self.clock = clock

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise :class:`~bearerguard.InvalidToken` unless *claims* pass every check."""
        check_issuer(claims, self.issuers)
        check_audience(claims, self.audiences)
        check_id_token_markers(claims)
        check_types(claims)
        check_required(claims, self.required)
        check_lifetime(claims, self.clock(), self.leeway)
