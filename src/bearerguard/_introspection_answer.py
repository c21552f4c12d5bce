"""RFC 7662 §2.2 answers: the rules a token must pass, and the cache of answers.

Each refusal has its own reason code. Reasons new with introspection are described in
:data:`INTROSPECTION_DESCRIPTIONS` (re-exported by :mod:`bearerguard.introspection`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from bearerguard._introspection_io import MemoryCache
from bearerguard.errors import DESCRIPTIONS, InvalidToken, Unavailable
from bearerguard.store import Store
from bearerguard.tokens import AccessToken

#: Descriptions of the reasons introduced by introspection (to be merged into
#: ``errors.DESCRIPTIONS``). Reasons shared with JWTs (``expired``, ``invalid_issuer``…) keep
#: their existing descriptions.
INTROSPECTION_DESCRIPTIONS: dict[str, str] = {
    k: DESCRIPTIONS[k]
    for k in (
        "token_inactive",
        "invalid_token_type",
        "introspection_unavailable",
        # RFC 9701 signed answers (bearerguard._introspection_jwt)
        "introspection_response_unsigned",
        "introspection_response_bad_signature",
        "introspection_response_invalid",
    )
}

#: ``token_type`` values accepted as access tokens (RFC 6749 §7.1 types, RFC 9449 §6.2 DPoP,
#: RFC 8693 §3 token type URI); Bearer and DPoP are matched case-insensitively.
_ACCESS_TOKEN_TYPES = frozenset({"access_token", "urn:ietf:params:oauth:token-type:access_token"})
_SCHEME_TOKEN_TYPES = frozenset({"bearer", "dpop"})
#: Larger answers are not cached (the memory cache holds up to 10,000 entries).
MAX_CACHED_BYTES = 16 * 1024


class IntrospectionUnavailable(Unavailable):
    """The introspection endpoint (or the answer cache) cannot be used: 503, ``Retry-After``.

    No ``WWW-Authenticate`` is sent: the token is not to blame.
    """

    def __init__(
        self,
        reason: str = "introspection_unavailable",
        *,
        retry_after: int = 5,
        realm: str | None = None,
    ) -> None:
        super().__init__(reason, retry_after=retry_after, realm=realm)

    @property
    def www_authenticate(self) -> str | None:
        return None

    def headers(self) -> dict[str, str]:
        h = super().headers()
        h.pop("WWW-Authenticate", None)
        h.update(self.extra_headers())
        return h


def invalid(reason: str) -> InvalidToken:
    """An :class:`InvalidToken` carrying the introspection description of *reason*."""
    err = InvalidToken(reason)
    err.description = INTROSPECTION_DESCRIPTIONS.get(reason, err.description)
    return err


def is_number(value: object) -> bool:
    """A JSON number (not a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_answer(
    answer: dict[str, Any],
    *,
    issuers: Sequence[str],
    audiences: Sequence[str],
    leeway: float,
    now: float,
    scope_claims: Sequence[str],
) -> AccessToken:
    """Check an answer and build the token (claims: the whole answer; no header).

    Raises :class:`InvalidToken`: ``token_inactive``, ``invalid_token_type``,
    ``invalid_issuer``, ``invalid_audience``, ``expired``, ``not_yet_valid``,
    ``issued_in_future``, or ``invalid_claim`` for a member of the wrong JSON type.
    """
    if answer.get("active") is not True:  # RFC 7662 §2.2: a JSON boolean
        raise invalid("token_inactive")
    token_type = answer.get("token_type")
    if token_type is not None:
        if not isinstance(token_type, str):
            raise invalid("invalid_claim")
        if token_type not in _ACCESS_TOKEN_TYPES and token_type.lower() not in _SCHEME_TOKEN_TYPES:
            raise invalid("invalid_token_type")
    if "iss" in answer:
        iss = answer["iss"]
        if not isinstance(iss, str):
            raise invalid("invalid_claim")
        if iss not in issuers:
            raise invalid("invalid_issuer")
    if "aud" in answer:
        aud = answer["aud"]
        auds = [aud] if isinstance(aud, str) else aud
        if not isinstance(auds, list) or not all(isinstance(a, str) for a in auds):
            raise invalid("invalid_claim")
        if not any(a in audiences for a in auds):
            raise invalid("invalid_audience")
    for name in ("exp", "nbf", "iat"):
        if name in answer and not is_number(answer[name]):
            raise invalid("invalid_claim")
    if "exp" in answer and now >= answer["exp"] + leeway:
        raise invalid("expired")
    if "nbf" in answer and now < answer["nbf"] - leeway:
        raise invalid("not_yet_valid")
    if "iat" in answer and now < answer["iat"] - leeway:
        raise invalid("issued_in_future")
    return AccessToken(dict(answer), {}, read_scopes(answer, scope_claims))


def read_scopes(answer: dict[str, Any], scope_claims: Sequence[str]) -> frozenset[str]:
    """Scopes from *scope_claims*: a string split on spaces only (RFC 7662 §2.2), or a list."""
    found: set[str] = set()
    for name in scope_claims:
        value = answer.get(name)
        if isinstance(value, str):
            found.update(s for s in value.split(" ") if s)
        elif isinstance(value, list):
            found.update(s for s in value if isinstance(s, str) and s)
    return frozenset(found)


class AnswerCache:
    """Introspection answers by cache key, in a :class:`Store` or a bounded memory cache.

    A positive answer is kept ``cache_ttl`` seconds but never past its ``exp``; a negative
    one ``negative_ttl`` seconds; ``cache_ttl=0`` keeps nothing. Entries carry their own
    expiry, judged by *clock*. Store methods raise ``StoreUnavailable``.
    """

    def __init__(
        self,
        store: Store | None,
        cache_ttl: float,
        negative_ttl: float,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._memory = MemoryCache()
        self._ttl = cache_ttl
        self._negative_ttl = negative_ttl
        self._clock = clock

    def _decode(self, raw: bytes | None) -> dict[str, Any] | None:
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
            until, answer = doc["until"], doc["answer"]
        except (ValueError, KeyError, TypeError):
            return None  # a damaged entry is a miss
        if not is_number(until) or not isinstance(answer, dict) or self._clock() >= until:
            return None
        return answer

    def get(self, key: str) -> dict[str, Any] | None:
        """The cached answer, or ``None``."""
        if self._ttl <= 0:
            return None
        if self._store is None:
            return self._decode(self._memory.get(key, self._clock()))
        return self._decode(self._store.get(key))

    async def get_async(self, key: str) -> dict[str, Any] | None:
        """:meth:`get` without blocking the event loop."""
        if self._ttl <= 0:
            return None
        if self._store is None:
            return self._decode(self._memory.get(key, self._clock()))
        return self._decode(await self._store.get_async(key))

    def put(self, key: str, answer: dict[str, Any]) -> None:
        """Keep *answer* for as long as the rules above allow."""
        if self._ttl <= 0:
            return
        now = self._clock()
        if answer.get("active") is True:
            until = now + self._ttl
            exp = answer.get("exp")
            if isinstance(exp, (int, float)) and not isinstance(exp, bool):
                until = min(until, float(exp))  # never reuse an answer past the token's exp
        else:
            until = now + self._negative_ttl
        if until <= now:
            return
        value = json.dumps({"until": until, "answer": answer}, separators=(",", ":")).encode()
        if len(value) > MAX_CACHED_BYTES:
            return  # bounded memory: a huge answer is asked for again rather than kept
        if self._store is None:
            self._memory.set(key, value, until)
        else:
            self._store.set(key, value, math.ceil(until - now))
