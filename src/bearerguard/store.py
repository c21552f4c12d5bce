"""Shared state: the DPoP ``jti`` replay store and the introspection cache.

Two stores share one small interface, :class:`Store`. :class:`MemoryStore` keeps state in
this process only (right for one worker); :class:`RedisStore` keeps it in Redis, so every
worker on every host sees the same state. A store that cannot answer raises
:class:`StoreUnavailable`; callers fail closed (503), never skip the check.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import redis as _redis
    import redis.asyncio as _aioredis

__all__ = ["MemoryStore", "RedisStore", "Store", "StoreUnavailable", "open_store"]

KEY_PREFIX = "bearerguard:"


class StoreUnavailable(Exception):
    """The shared store cannot be reached or did not answer in time.

    Callers answer 503 with ``Retry-After`` (``retry_after`` seconds). The message is fixed:
    it never names the store's URL (which may hold a password).
    """

    def __init__(self, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__("the shared state store is unavailable")


@runtime_checkable
class Store(Protocol):
    """Key/value state with expiry, shared by whoever uses the same store.

    ``ttl`` is in seconds and must be positive. Every method raises
    :class:`StoreUnavailable` when the store cannot answer.
    """

    def add(self, key: str, ttl: float) -> bool:
        """Atomically set *key* if absent; True when it was newly added (False: seen before)."""
        ...

    async def add_async(self, key: str, ttl: float) -> bool:
        """:meth:`add` without blocking the event loop."""
        ...

    def get(self, key: str) -> bytes | None:
        """The value stored under *key*, or None when absent or expired."""
        ...

    async def get_async(self, key: str) -> bytes | None:
        """:meth:`get` without blocking the event loop."""
        ...

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store *value* under *key* for *ttl* seconds, replacing any previous value."""
        ...

    async def set_async(self, key: str, value: bytes, ttl: float) -> None:
        """:meth:`set` without blocking the event loop."""
        ...


def _check_ttl(ttl: float) -> None:
    if not (math.isfinite(ttl) and ttl > 0):
        raise ValueError("ttl must be a positive number of seconds")


class MemoryStore:
    """A per-process :class:`Store`: bounded, thread-safe, never unavailable.

    Args:
        max_entries: the bound. When full, expired entries go first, then the oldest
            entries (so under a flood an old ``jti`` may be forgotten early).
        clock: a monotonic clock in seconds (tests inject one).

    Right for a single worker only: other processes do not see its entries.
    """

    def __init__(
        self, max_entries: int = 100_000, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (expires_at, value), in insertion order (oldest first)
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        # (expires_at, key) min-heap; entries whose key was replaced or removed are skipped
        self._expiry: list[tuple[float, str]] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def _live(self, key: str, now: float) -> tuple[float, bytes] | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            del self._data[key]
            return None
        return entry

    def _put(self, key: str, value: bytes, ttl: float, now: float) -> None:
        self._data.pop(key, None)
        if len(self._data) >= self.max_entries:
            self._evict(now)
        expires = now + ttl
        self._data[key] = (expires, value)
        heapq.heappush(self._expiry, (expires, key))
        if len(self._expiry) > 2 * self.max_entries + 16:
            # Keep the heap bounded too: rebuild it from the live entries.
            self._expiry = [(exp, k) for k, (exp, _) in self._data.items()]
            heapq.heapify(self._expiry)

    def _evict(self, now: float) -> None:
        heap, data = self._expiry, self._data
        while heap and heap[0][0] <= now:  # expired first
            expires, key = heapq.heappop(heap)
            entry = data.get(key)
            if entry is not None and entry[0] == expires:
                del data[key]
        while len(data) >= self.max_entries:  # then the oldest
            data.popitem(last=False)

    def add(self, key: str, ttl: float) -> bool:
        """See :meth:`Store.add`."""
        _check_ttl(ttl)
        with self._lock:
            now = self._clock()
            if self._live(key, now) is not None:
                return False
            self._put(key, b"1", ttl, now)
            return True

    def get(self, key: str) -> bytes | None:
        """See :meth:`Store.get`."""
        with self._lock:
            entry = self._live(key, self._clock())
            return None if entry is None else entry[1]

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """See :meth:`Store.set`."""
        _check_ttl(ttl)
        with self._lock:
            self._put(key, bytes(value), ttl, self._clock())

    def get_or_set(self, key: str, value: bytes, ttl: float) -> bytes:
        """The value under *key*, storing *value* first when there is none (atomic)."""
        _check_ttl(ttl)
        with self._lock:
            now = self._clock()
            live = self._live(key, now)
            if live is not None:
                return live[1]
            self._put(key, bytes(value), ttl, now)
            return bytes(value)

    # The lock is held for microseconds: the async forms call the sync ones directly.
    async def add_async(self, key: str, ttl: float) -> bool:
        """See :meth:`Store.add`."""
        return self.add(key, ttl)

    async def get_async(self, key: str) -> bytes | None:
        """See :meth:`Store.get`."""
        return self.get(key)

    async def set_async(self, key: str, value: bytes, ttl: float) -> None:
        """See :meth:`Store.set`."""
        self.set(key, value, ttl)


def _ms(ttl: float) -> int:
    _check_ttl(ttl)
    return max(1, math.ceil(ttl * 1000))


class RedisStore:
    """A :class:`Store` in Redis (redis-py), shared by every worker and host using it.

    Args:
        url: ``redis://[user:password@]host:port/db`` or ``rediss://…`` (TLS).
        timeout: socket connect and read timeout in seconds; a slower answer is
            :class:`StoreUnavailable`.
        prefix: prepended to every key.

    ``add`` is one atomic round trip (``SET key 1 NX PX ttl``). Every Redis error or timeout
    becomes :class:`StoreUnavailable`, never a silent pass. Raises ImportError when redis-py
    is not installed (``pip install 'bearerguard[redis]'``).
    """

    def __init__(self, url: str, *, timeout: float = 0.5, prefix: str = KEY_PREFIX) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:  # pragma: no cover - exercised without the extra only
            raise ImportError(
                "a redis:// store needs redis-py: pip install 'bearerguard[redis]'"
            ) from exc
        self.prefix = prefix
        self._url = url
        self._timeout = timeout
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        # One retry on a dropped pooled connection, none on a timeout: a retried SET NX
        # whose first attempt landed would turn a fresh proof into a "replay".
        self._sync: _redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            retry_on_timeout=False,
        )
        # redis.asyncio connections belong to one event loop: one client per loop.
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _aioredis.Redis] = (
            weakref.WeakKeyDictionary()
        )
        self._async_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self.prefix!r})"  # never the URL: it may hold a password

    def _client_async(self) -> _aioredis.Redis | None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None  # not asyncio (e.g. trio): the caller uses the sync client
        with self._async_lock:
            client = self._async.get(loop)
            if client is None:
                import redis
                import redis.asyncio
                from redis.asyncio.retry import Retry
                from redis.backoff import NoBackoff

                client = redis.asyncio.Redis.from_url(
                    self._url,
                    socket_timeout=self._timeout,
                    socket_connect_timeout=self._timeout,
                    retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                    retry_on_timeout=False,
                )
                self._async[loop] = client
            return client

    def add(self, key: str, ttl: float) -> bool:
        """See :meth:`Store.add`."""
        ms = _ms(ttl)
        try:
            return bool(self._sync.set(self.prefix + key, b"1", nx=True, px=ms))
        except self._errors as exc:
            raise StoreUnavailable() from exc

    async def add_async(self, key: str, ttl: float) -> bool:
        """See :meth:`Store.add`."""
        ms = _ms(ttl)
        client = self._client_async()
        if client is None:
            return self.add(key, ttl)
        try:
            return bool(await client.set(self.prefix + key, b"1", nx=True, px=ms))
        except self._errors as exc:
            raise StoreUnavailable() from exc

    def get(self, key: str) -> bytes | None:
        """See :meth:`Store.get`."""
        try:
            return _as_bytes(self._sync.get(self.prefix + key))
        except self._errors as exc:
            raise StoreUnavailable() from exc

    async def get_async(self, key: str) -> bytes | None:
        """See :meth:`Store.get`."""
        client = self._client_async()
        if client is None:
            return self.get(key)
        try:
            return _as_bytes(await client.get(self.prefix + key))
        except self._errors as exc:
            raise StoreUnavailable() from exc

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """See :meth:`Store.set`."""
        ms = _ms(ttl)
        try:
            self._sync.set(self.prefix + key, value, px=ms)
        except self._errors as exc:
            raise StoreUnavailable() from exc

    def get_or_set(self, key: str, value: bytes, ttl: float) -> bytes:
        """The value under *key*, storing *value* first when there is none.

        One round trip (``SET key value NX GET``, Redis 7): every worker gets the value
        the first one stored.
        """
        ms = _ms(ttl)
        try:
            old = self._sync.set(self.prefix + key, value, nx=True, px=ms, get=True)
        except self._errors as exc:
            raise StoreUnavailable() from exc
        if old is None:
            return bytes(value)
        return old.encode() if isinstance(old, str) else bytes(old)

    async def set_async(self, key: str, value: bytes, ttl: float) -> None:
        """See :meth:`Store.set`."""
        ms = _ms(ttl)
        client = self._client_async()
        if client is None:
            self.set(key, value, ttl)
            return
        try:
            await client.set(self.prefix + key, value, px=ms)
        except self._errors as exc:
            raise StoreUnavailable() from exc

    def close(self) -> None:
        """Close the sync client's connections (the store stays usable: they reopen)."""
        self._sync.close()

    async def aclose(self) -> None:
        """Close the running event loop's async client, if it has one."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        with self._async_lock:
            client = self._async.pop(loop, None)
        if client is not None:
            await client.aclose()


def _as_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def open_store(spec: str) -> Store:
    """The store a ``BEARERGUARD_STORE`` value names.

    ``"memory"`` gives a :class:`MemoryStore`; ``"redis://host:port/db"`` or ``"rediss://…"``
    a :class:`RedisStore`. Raises ValueError for anything else (the message never repeats
    the value, which may hold a password).
    """
    if spec == "memory":
        return MemoryStore()
    try:
        parts = urlsplit(spec)
        parts.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError:
        raise ValueError("BEARERGUARD_STORE must be 'memory' or a redis:// URL") from None
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError("BEARERGUARD_STORE must be 'memory' or a redis:// URL")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ValueError("BEARERGUARD_STORE: the redis database must be a number")
    return RedisStore(spec)
