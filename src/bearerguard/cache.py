"""The verified-token cache: a repeated token is settled by one dictionary lookup.

Bounded, keyed by the token string, owned by one :class:`~bearerguard.Verifier`. An entry
never outlives the token's ``exp`` (re-checked with the leeway on every hit, as is
``nbf``), is voided as soon as its key leaves the key set (``VerifyKey.active``), and asks
its key source again at least every :data:`RECHECK_SECONDS`, so that a cached token never
keeps a key alive past the key set's own lifetime and stale grace period.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from bearerguard.jwk import VerifyKey
from bearerguard.tokens import AccessToken

__all__ = ["RECHECK_SECONDS", "TokenCache"]

#: How often (seconds) a cache hit asks its key source whether the key is still served.
RECHECK_SECONDS = 1.0


class _Entry:
    __slots__ = (
        "alg",
        "check_at",
        "key",
        "kid",
        "memo",
        "name",
        "not_after",
        "not_before",
        "source",
        "token",
    )

    def __init__(
        self,
        name: str,
        token: AccessToken,
        key: VerifyKey | None,
        source: Any,
        not_after: float,
        not_before: float,
        check_at: float,
    ) -> None:
        self.name, self.token, self.key, self.source = name, token, key, source
        self.not_after, self.not_before, self.check_at = not_after, not_before, check_at
        header = token.header
        self.kid: str | None = header.get("kid")
        self.alg: str = header.get("alg", "")
        #: The request pipeline's prebuilt answer for this token (see :meth:`TokenCache.entry`).
        self.memo: Any = None


class TokenCache:
    """Verified tokens by their string.

    Args:
        size: the most tokens held (0 disables the cache).
        clock: seconds since the epoch.
        leeway: the clock-skew allowance applied to ``exp`` and ``nbf``.

    Once full, a token is stored only when it is verified a second time within about
    ``size`` verifications (it then evicts the oldest entry): a stream of one-off tokens
    neither pushes out the tokens in use nor pays for entries never read.
    """

    def __init__(self, size: int, clock: Callable[[], float], leeway: float) -> None:
        if isinstance(size, bool) or size < 0:
            raise ValueError("token_cache_size must be a non-negative integer")
        self.size = size
        self._clock = clock
        self._leeway = leeway
        # FIFO: popitem(last=False) is O(1); a dict's next(iter()) rescans deleted slots.
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._seen: set[int] = set()  # hashes of tokens verified once while full
        # Entries by the raw header value that presented them (see by_header): a shortcut
        # only, each hit confirmed against _entries; at most `size` of them.
        self._by_header: dict[bytes, _Entry] = {}

    def get(self, token: str) -> AccessToken | None:
        """The cached token for *token*, or ``None`` (absent, expired, or its key gone)."""
        entries = self._entries
        # Empty (or off): no lookup, so a fresh token's text is not hashed for nothing.
        entry = entries.get(token) if entries and type(token) is str else None  # lists: unhashable
        if entry is None:
            return None
        now = self._clock()
        key = entry.key
        if (
            entry.not_before <= now < entry.not_after
            and (key is None or key.active)
            and (now < entry.check_at or self._still_served(entry, now))
        ):
            return entry.token
        self._entries.pop(token, None)
        return None

    def entry(self, token: str) -> _Entry | None:
        """As :meth:`get`, the live entry itself: its ``token``, and a ``memo`` slot where
        the request pipeline keeps its prebuilt answer (it lives and dies with the entry)."""
        # The same checks as get(), not a call to it: this is the cached request's path.
        entry = self._entries.get(token) if type(token) is str else None
        if entry is None:
            return None
        now = self._clock()
        key = entry.key
        if (
            entry.not_before <= now < entry.not_after
            and (key is None or key.active)
            and (now < entry.check_at or self._still_served(entry, now))
        ):
            return entry
        self._entries.pop(token, None)
        return None

    def by_header(self, value: bytes) -> _Entry | None:
        """The live entry :meth:`index` filed under a raw header *value*, or ``None``.

        One lookup of the bytes as the server handed them (no decoding, no slicing): the
        cached request's path. The entry must still be this cache's entry for its token
        (not evicted, not replaced), and it passes the same checks as :meth:`get`.
        """
        entry = self._by_header.get(value)
        if entry is None:
            return None
        now = self._clock()
        key = entry.key
        if (
            self._entries.get(entry.name) is entry
            and entry.not_before <= now < entry.not_after
            and (key is None or key.active)
            and (now < entry.check_at or self._still_served(entry, now))
        ):
            return entry
        self._by_header.pop(value, None)  # get() / entry() drop it from _entries, if due
        return None

    def index(self, entry: _Entry, value: bytes) -> None:
        """File *entry* under the raw header *value* that presents its token (for
        :meth:`by_header`); the caller has checked that *value* presents it."""
        shortcuts = self._by_header
        if len(shortcuts) >= self.size:  # bounded like the cache; refilled as requests come
            shortcuts.clear()
        shortcuts[value] = entry

    def _still_served(self, entry: _Entry, now: float) -> bool:
        # The key source may be past its lifetime: peek (never fetches, may refresh in
        # the background or drop a set past its stale grace) tells whether the key stays.
        peek = getattr(entry.source, "peek", None)
        if peek is not None and entry.key is not None:
            try:
                current = peek(entry.kid, entry.alg)
            except Exception:  # an ambiguous or odd answer: verify afresh
                return False
            if current is not entry.key or not entry.key.active:
                return False
        entry.check_at = now + RECHECK_SECONDS
        return True

    def put(
        self, token: str, access_token: AccessToken, key: VerifyKey | None, source: Any
    ) -> None:
        """Remember a token that has just verified (its ``exp`` is a checked number)."""
        if not self.size:
            return
        entries = self._entries
        if len(entries) >= self.size:
            seen, token_hash = self._seen, hash(token)
            if token_hash not in seen:
                if len(seen) >= self.size:
                    seen.clear()
                seen.add(token_hash)
                return
            seen.discard(token_hash)
            try:  # noqa: SIM105 - contextlib.suppress costs ~1 µs per miss
                entries.popitem(last=False)  # oldest first
            except KeyError:  # emptied by another thread meanwhile
                pass
        claims = access_token.claims
        nbf = claims.get("nbf", claims.get("iat", 0.0))
        now, leeway = self._clock(), self._leeway
        entries[token] = _Entry(
            token,
            access_token,
            key,
            source,
            claims["exp"] + leeway,
            (nbf if isinstance(nbf, int | float) else 0.0) - leeway,
            now + RECHECK_SECONDS,
        )

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        """The cached token strings, oldest first (for inspection and tests)."""
        return iter(list(self._entries))

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and token in self._entries

    def pending(self) -> int:
        """How many tokens were seen once while full (waiting for a second verification)."""
        return len(self._seen)

    def clear(self) -> None:
        """Forget every token."""
        self._entries.clear()
        self._seen.clear()
        self._by_header.clear()
