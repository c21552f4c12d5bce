"""RFC 9701: introspection answers as signed JWTs, and the checks a resource server makes.

With JWT answers on, bearerguard asks with ``Accept: application/token-introspection+jwt``
(RFC 9701 §4) and accepts only a JWS signed by the issuer's keys (the key source the
verifier uses for that issuer, the same algorithm allow list) whose header ``typ`` is
``token-introspection+jwt`` (RFC 9701 §5; the ``application/`` prefix and any casing allowed,
RFC 7515 §4.1.9), whose ``iss`` is a configured issuer, whose ``aud`` names us (our client id,
or one of our audiences: RFC 9701 §5 says the resource server, and its own example names
the resource), whose ``iat`` is recent, and which carries the RFC 7662 answer as the
``token_introspection`` object. That object then passes the usual answer rules.

Every failure here is the server's (or the path's), never the caller's token: 503 with a
reason of its own. A plain JSON answer is refused too: a resource server that asked for a
signed answer and takes an unsigned one gains nothing from asking (a downgrade). Encrypted
(nested) answers are not supported and are refused likewise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from typing import Any

from bearerguard._introspection_answer import IntrospectionUnavailable
from bearerguard._jose import b64decode, json_object
from bearerguard.errors import InvalidToken
from bearerguard.keyset import KeySource

__all__ = [
    "JWT_MEDIA_TYPE",
    "JWT_TYP",
    "KeyFinder",
    "ResponseVerifier",
]

logger = logging.getLogger("bearerguard.introspection")

#: RFC 9701 §4 (Accept) and §5 (Content-Type).
JWT_MEDIA_TYPE = "application/token-introspection+jwt"
#: RFC 9701 §5: the JOSE header ``typ``.
JWT_TYP = "token-introspection+jwt"
_TYPS = frozenset({JWT_TYP, JWT_MEDIA_TYPE})
#: Largest answer looked at (the poster's size cap applies first).
_MAX_JWT = 512 * 1024

#: The issuer's key source: raises :class:`InvalidToken` for an issuer not configured.
KeyFinder = Callable[[str], KeySource]


def _refuse(reason: str, why: str) -> IntrospectionUnavailable:
    # The log names the check that failed, never the answer (it carries the token's claims).
    logger.warning("introspection answer refused (%s): %s", reason, why)
    return IntrospectionUnavailable(reason)


class ResponseVerifier:
    """Verify RFC 9701 answers; :meth:`verify` returns the ``token_introspection`` object.

    Args:
        issuers: accepted ``iss`` values. client_id, audiences: an ``aud`` must name one.
        keys: the key source of an issuer. algorithms: signature algorithms allowed
            (asymmetric only: a shared secret is not an issuer key).
        leeway: clock skew allowed on ``iat``. max_age: seconds ``iat`` may lie in the past.
        clock: seconds since the epoch.
    """

    def __init__(
        self,
        *,
        issuers: Sequence[str],
        client_id: str,
        audiences: Sequence[str],
        keys: KeyFinder,
        algorithms: Collection[str],
        leeway: float,
        max_age: float,
        clock: Callable[[], float],
    ) -> None:
        self._issuers = frozenset(issuers)
        self._audiences = frozenset((client_id, *audiences))
        self._keys = keys
        self._algorithms = frozenset(a for a in algorithms if not a.startswith("HS"))
        self._leeway = float(leeway)
        self._max_age = float(max_age)
        self._clock = clock

    def verify(self, body: bytes) -> dict[str, Any]:
        """The verified answer object; raises :class:`IntrospectionUnavailable` (reasons
        ``introspection_response_unsigned``, ``introspection_response_bad_signature``,
        ``introspection_response_invalid``) or :class:`KeysUnavailable`."""
        text = self._text(body)
        parts = text.split(".")
        if len(parts) == 5:
            raise _refuse("introspection_response_invalid", "encrypted answers are not supported")
        if len(parts) != 3:
            raise _refuse("introspection_response_invalid", "not a compact JWS")
        try:
            header = json_object(b64decode(parts[0]))
            claims = json_object(b64decode(parts[1]))
            signature = b64decode(parts[2])
        except (ValueError, RecursionError):
            raise _refuse("introspection_response_invalid", "malformed JWS") from None
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise _refuse("introspection_response_invalid", "no alg")
        if alg.lower() == "none" or not signature:
            raise _refuse("introspection_response_unsigned", "unsigned JWT")
        self._check_signature(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)
        return self._check_claims(header, claims)

    def _text(self, body: bytes) -> str:
        if len(body) > _MAX_JWT:
            raise _refuse("introspection_response_invalid", "answer too large")
        try:
            text = body.decode("ascii").strip(" \t\r\n")
        except UnicodeDecodeError:
            raise _refuse("introspection_response_invalid", "not ASCII") from None
        if text.startswith("{"):
            # RFC 9701 §4: we asked for a JWT; the plain RFC 7662 JSON proves nothing.
            raise _refuse("introspection_response_unsigned", "plain JSON answer")
        return text

    def _check_signature(
        self, header: dict[str, Any], claims: dict[str, Any], signing_input: bytes, sig: bytes
    ) -> None:
        alg = header["alg"]
        if alg not in self._algorithms:
            raise _refuse("introspection_response_bad_signature", "algorithm not allowed")
        # RFC 7515 §4.1.11: no extension is understood; RFC 7797's b64 is refused too.
        if "crit" in header or "b64" in header:
            raise _refuse("introspection_response_invalid", "critical header parameters")
        kid = header.get("kid")
        iss = claims.get("iss")
        if (kid is not None and not isinstance(kid, str)) or not isinstance(iss, str):
            raise _refuse("introspection_response_invalid", "ill-typed kid or iss")
        if iss not in self._issuers:
            # Checked before any key lookup: the unverified iss only picks a configured issuer.
            raise _refuse("introspection_response_invalid", "iss is not a configured issuer")
        try:
            key = self._keys(iss).get_key(kid, alg)
            verify = key.verifier(alg)
        except InvalidToken as exc:  # unknown or ambiguous key, weak key, alg mismatch
            raise _refuse("introspection_response_bad_signature", exc.reason) from None
        if not verify(signing_input, sig):
            raise _refuse("introspection_response_bad_signature", "signature does not verify")

    def _check_claims(self, header: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
        typ = header.get("typ")
        # RFC 9701 §5, §8.1: the explicit type keeps this JWT from passing for another kind.
        if not isinstance(typ, str) or typ.lower() not in _TYPS:
            raise _refuse("introspection_response_invalid", "typ is not token-introspection+jwt")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud
        if not isinstance(auds, list) or not any(
            isinstance(a, str) and a in self._audiences for a in auds
        ):
            raise _refuse("introspection_response_invalid", "aud does not name this API")
        iat = claims.get("iat")
        if not isinstance(iat, (int, float)) or isinstance(iat, bool):
            raise _refuse("introspection_response_invalid", "no numeric iat")
        now = self._clock()
        if iat > now + self._leeway:
            raise _refuse("introspection_response_invalid", "iat in the future")
        if now - iat > self._max_age:
            raise _refuse("introspection_response_invalid", "iat too old")
        answer = claims.get("token_introspection")
        if not isinstance(answer, dict):
            raise _refuse("introspection_response_invalid", "no token_introspection object")
        return answer
