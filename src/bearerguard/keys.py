"""Key sources: where the verifier gets public keys.

:class:`JWKSKeySource` fetches and caches an issuer's JWKS: honours
``Cache-Control: max-age`` within bounds, refetches on an unknown ``kid`` at
most once per cooldown, lets concurrent misses share one fetch (threads and
asyncio tasks alike) within one deadline for the whole fetch, keeps serving
the last good keys for a bounded time when a refresh fails, and refreshes
expired sets in the background so requests whose key is cached never wait on
the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable

from bearerguard import _warmup
from bearerguard.discovery import (
    Fetcher,
    FetchError,
    discover_jwks_uri,
    fetch_json,
    redact_url,
    urllib_fetcher,
)
from bearerguard.errors import InvalidToken, KeysUnavailable
from bearerguard.jwk import VerifyKey
from bearerguard.keyset import KeySet, KeySource, StaticKeySource, parse_jwks
from bearerguard.observe import counter, histogram

__all__ = ["JWKSKeySource", "KeySet", "KeySource", "StaticKeySource", "parse_jwks"]

logger = logging.getLogger("bearerguard.keys")
_fetches = counter("bearerguard.keys.fetches")
_fetch_seconds = histogram("bearerguard.keys.fetch.duration")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)


class _Flight:
    """One fetch shared by every concurrent caller, with one deadline for all of them."""

    __slots__ = ("_lock", "_waiters", "deadline", "done")

    def __init__(self, seconds: float) -> None:
        self.done = threading.Event()
        self.deadline = time.monotonic() + seconds  # real time, whatever clock the source has
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def budget(self) -> float:
        """Time left for the next step of the fetch; :class:`FetchError` when none."""
        left = self.left()
        if left <= 0:
            raise FetchError("timed out")
        return left

    def future(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """A future of *loop* resolved when the fetch ends (asyncio waiters need no thread)."""
        fut = loop.create_future()
        with self._lock:
            if not self.done.is_set():
                self._waiters.append((loop, fut))
                return fut
        fut.set_result(None)
        return fut

    def finish(self) -> None:
        with self._lock:
            self.done.set()
            waiters, self._waiters = self._waiters, []
        for loop, fut in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, fut)


def _after_fork() -> None:
    # A worker forked from a process that was fetching (a pre-loading server whose app warmed
    # its keys): the fetch thread is not in the child, and the lock may have been held at the
    # fork. Without this, the worker's requests would wait for a fetch that never ends, then
    # be refused for a whole cooldown.
    for source in list(_SOURCES):
        source._lock = threading.Lock()
        if source._flight is not None:
            source._flight = None
            source._last_attempt = None  # that attempt was the parent's: fetch again at once


_SOURCES: weakref.WeakSet[JWKSKeySource] = weakref.WeakSet()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():  # a cancelled or timed-out waiter
        fut.set_result(None)


class JWKSKeySource:
    """A cached JWKS fetched from ``jwks_uri`` or discovered from ``issuer``.

    Args:
        jwks_uri: the key-set URL; when ``None``, discovered from *issuer*.
        issuer: used for discovery (``/.well-known/openid-configuration``, then
            RFC 8414) when no *jwks_uri* is given.
        metadata_issuer: the ``issuer`` the discovered metadata must hold, when not
            *issuer* (Entra ID's ``common`` metadata names its issuer template).
        fetcher: an HTTP fetcher (see :mod:`bearerguard.discovery`).
        timeout: seconds for a whole fetch (discovery and key set together, from
            connect to last byte); no caller waits on a fetch longer than that.
        max_bytes: response size cap.
        default_ttl: cache lifetime without ``Cache-Control: max-age``.
        min_ttl: the shortest lifetime a ``max-age`` may set.
        max_ttl: the longest lifetime a ``max-age`` may set.
        cooldown: minimum seconds between fetches (unknown ``kid`` storms).
        stale_for: how long the last good keys are served while refreshes fail.
    """

    def __init__(
        self,
        jwks_uri: str | None = None,
        *,
        issuer: str | None = None,
        fetcher: Fetcher = urllib_fetcher,
        timeout: float = 5.0,
        max_bytes: int = 512 * 1024,
        default_ttl: float = 600.0,
        min_ttl: float = 60.0,
        max_ttl: float = 86400.0,
        cooldown: float = 30.0,
        stale_for: float = 86400.0,
        clock: Callable[[], float] = time.monotonic,
        metadata_issuer: str | None = None,
    ) -> None:
        if jwks_uri is None and issuer is None:
            raise ValueError("JWKSKeySource needs a jwks_uri or an issuer to discover it from")
        if (
            not 0 <= min_ttl <= default_ttl <= max_ttl
            or cooldown < 0
            or stale_for < 0
            or timeout <= 0
        ):
            raise ValueError(
                "JWKSKeySource: need 0 <= min_ttl <= default_ttl <= max_ttl, cooldown >= 0, timeout > 0"
            )
        self.jwks_uri = jwks_uri
        self.issuer = issuer
        #: the ``issuer`` the discovered metadata must name, when not *issuer* (see
        #: :func:`~bearerguard.discovery.discover_jwks_uri`).
        self.metadata_issuer = metadata_issuer
        self._fetcher = fetcher
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._ttl = (default_ttl, min_ttl, max_ttl)
        self._cooldown = cooldown
        self._stale_for = stale_for
        self._clock = clock
        self._keyset: KeySet | None = None
        self._fresh_until = 0.0  # cache lifetime of the current set
        self._good_until = 0.0  # last good fetch + stale_for
        self._last_attempt: float | None = None
        self._last_ok = False
        self._lock = threading.Lock()
        self._flight: _Flight | None = None
        self.fetches = 0  # attempts, for metrics and tests
        _SOURCES.add(self)

    # -- lookup -----------------------------------------------------------
    def _lookup(self, kid: str | None, alg: str) -> VerifyKey | None:
        keyset = self._keyset
        if keyset is None:
            return None
        now = self._clock()
        if now >= self._fresh_until:
            if now >= self._good_until:
                self._drop_keys()
                return None
            self._refresh_in_background()
        return keyset.select(kid, alg)

    def peek(self, kid: str | None, alg: str) -> VerifyKey | None:
        """The cached key for (*kid*, *alg*), never fetching in this thread.

        Past the set's lifetime it starts a background refresh; past the stale grace
        period it drops the set (``None``). What a token cache asks on its hits.
        """
        return self._lookup(kid, alg)

    def _after_miss(self, kid: str | None, alg: str) -> VerifyKey:
        key = self._lookup(kid, alg)
        if key is not None:
            return key
        if self._keyset is None or not self._last_ok:
            raise KeysUnavailable(retry_after=self._retry_after())
        raise InvalidToken("unknown_kid")

    def get_key(self, kid: str | None, alg: str) -> VerifyKey:
        """Return the key, fetching (at most once per cooldown) on a miss."""
        key = self._lookup(kid, alg)
        if key is not None:
            return key
        self._refresh()
        return self._after_miss(kid, alg)

    async def get_key_async(self, kid: str | None, alg: str) -> VerifyKey:
        """As :meth:`get_key`; a fetch runs in a worker thread, never on the event loop."""
        key = self._lookup(kid, alg)
        if key is not None:
            return key
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio under anyio): anyio is what runs us
            import anyio.to_thread

            await anyio.to_thread.run_sync(self._refresh)
        else:
            # Tasks join the one flight (threads too) and wait no longer than its deadline.
            flight = self._start()
            if flight is not None:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(flight.future(loop), flight.left())
                self._give_up_if_late(flight)
        return self._after_miss(kid, alg)

    # -- start-up -----------------------------------------------------------
    @property
    def ready(self) -> bool:
        """Whether a key set is loaded (for a health check: the first request won't wait)."""
        return self._keyset is not None

    def warm(self, attempts: int = 10) -> None:
        """Fetch the key set in the background, now: the first request then finds it.

        Never raises and never blocks: a failure is logged and retried after the cooldown,
        up to *attempts* times (requests keep triggering fetches of their own after that).
        """
        # Idempotent: a source already warming (or warm) starts nothing more. One shared
        # thread waits for the fetches; it holds the source weakly and exits when idle.
        if self._keyset is None and _warmup.schedule(self, JWKSKeySource._warm_step, attempts):
            self._start()  # the fetch starts now, in parallel with other sources' ones

    def _warm_step(self) -> float | None:
        """One warm-up attempt: join (or start) a fetch and wait for it; the pause before
        the next attempt, or ``None`` once keys are loaded."""
        self._refresh()
        return None if self._keyset is not None else max(self._cooldown, 1.0)

    # -- refresh ----------------------------------------------------------
    def _retry_after(self) -> int:
        if self._last_attempt is None:
            return 1
        return int(max(1.0, self._last_attempt + self._cooldown - self._clock()) + 0.999)

    def _refresh_in_background(self) -> None:
        flight = self._flight  # lock-free look first: this runs on every stale lookup
        if flight is None and not self._may_fetch():
            return
        if flight is not None and time.monotonic() < flight.deadline:
            return
        self._start()

    def _may_fetch(self) -> bool:
        return self._last_attempt is None or self._clock() - self._last_attempt >= self._cooldown

    def _refresh(self) -> None:
        """Join (or start) the shared fetch and wait for it, never past its deadline."""
        flight = self._start()
        if flight is not None:
            flight.done.wait(flight.left())
            self._give_up_if_late(flight)

    def _start(self) -> _Flight | None:
        """The flight to wait for: the running one, or a new one if the cooldown allows.

        A flight past its deadline is given up, so a stuck fetch never blocks later ones.
        """
        with self._lock:
            flight = self._flight
            if flight is not None and time.monotonic() < flight.deadline:
                return flight
            late = flight is not None and self._give_up(flight)
            if not self._may_fetch():
                flight = None
            else:
                flight = self._flight = _Flight(self._timeout)
                self._last_attempt = self._clock()
                self.fetches += 1
        if late:
            self._log_failure(None, "timed out")
        if flight is not None:
            name = "bearerguard-jwks-refresh"
            threading.Thread(target=self._run, args=(flight,), name=name, daemon=True).start()
        return flight

    def _give_up(self, flight: _Flight) -> bool:
        """Forget *flight* (lock held); True if it was still the current one."""
        if self._flight is not flight:
            return False
        self._flight = None
        self._last_ok = False
        return True

    def _give_up_if_late(self, flight: _Flight) -> None:
        with self._lock:
            late = not flight.done.is_set() and self._give_up(flight)
        if late:
            self._log_failure(None, "timed out")

    def _log_failure(self, jwks_uri: str | None, reason: str) -> None:
        # Only the redacted URL and a fixed failure class: no credential, no response content.
        url = redact_url(jwks_uri or self.jwks_uri or self.issuer or "")
        stale = self._keyset is not None
        logger.warning(
            "bearerguard: key set fetch failed (%s): %s; %s",
            url,
            reason,
            "serving the last good keys" if stale else "keys unavailable",
            extra={
                "bearerguard_event": "refresh_failed" if stale else "keys_unavailable",
                "bearerguard_url": url,
                "bearerguard_failure": reason,
            },
        )
        _fetches({"outcome": "failed"})

    def _run(self, flight: _Flight) -> None:
        """The fetch, in its own thread; its outcome counts only while *flight* is current."""
        jwks_uri = self.jwks_uri
        started = time.perf_counter()
        try:
            if jwks_uri is None:
                issuer = self.issuer or ""
                jwks_uri = discover_jwks_uri(
                    issuer,
                    self._fetcher,
                    timeout=flight.budget(),
                    max_bytes=self._max_bytes,
                    metadata_issuer=self.metadata_issuer,
                )
                with self._lock:
                    if self._flight is flight:
                        self.jwks_uri = jwks_uri
            doc, cache_control = fetch_json(
                self._fetcher, jwks_uri, timeout=flight.budget(), max_bytes=self._max_bytes
            )
            keyset = parse_jwks(doc, self._keyset)
        except Exception as exc:  # any failure is a failed fetch, never a stuck flight
            with self._lock:
                current = self._give_up(flight)
            if current:
                reason = str(exc) if isinstance(exc, FetchError) else type(exc).__name__
                self._log_failure(jwks_uri, reason)
        else:
            with self._lock:
                if self._flight is flight:  # else given up at its deadline: too late to count
                    self._flight = None
                    recovered = self._keyset is not None and not self._last_ok
                    old = self._keyset
                    self._install(keyset, cache_control)
                else:
                    old = recovered = None
            if old is not None or recovered is not None:
                self._log_fetched(jwks_uri or "", old, keyset, bool(recovered), started)
        finally:
            flight.finish()

    def _log_fetched(
        self, url: str, old: KeySet | None, new: KeySet, recovered: bool, started: float
    ) -> None:
        seconds = time.perf_counter() - started
        _fetches({"outcome": "ok"})
        _fetch_seconds(seconds, {"outcome": "ok"})
        before = {k.kid for k in old.keys} if old is not None else set()
        after = {k.kid for k in new.keys}
        event = "recovered" if recovered else "rotated" if old and before != after else "fetched"
        logger.info(
            "bearerguard: key set %s (%s): %d keys in %.3f s",
            event,
            redact_url(url),
            len(new.keys),
            seconds,
            extra={
                "bearerguard_event": event,
                "bearerguard_url": redact_url(url),
                "bearerguard_keys": len(new.keys),
                "bearerguard_seconds": round(seconds, 6),
                "bearerguard_kids_added": sorted(k for k in after - before if k),
                "bearerguard_kids_removed": sorted(k for k in before - after if k),
            },
        )

    def _install(self, keyset: KeySet, cache_control: str | None) -> None:
        now = self._clock()
        old = self._keyset
        self._keyset = keyset
        self._fresh_until = now + self._ttl_for(cache_control)
        self._good_until = self._fresh_until + self._stale_for
        self._last_ok = True
        if old is not None:
            kept = {id(k) for k in keyset.keys}
            for k in old.keys:
                if id(k) not in kept:
                    k.active = False  # also voids tokens it verified in token caches

    def _drop_keys(self) -> None:
        old, self._keyset = self._keyset, None
        for k in old.keys if old else ():
            k.active = False

    def _ttl_for(self, cache_control: str | None) -> float:
        default, lo, hi = self._ttl
        if cache_control:
            lowered = cache_control.lower()
            if "no-store" in lowered or "no-cache" in lowered:
                return lo
            m = _MAX_AGE.search(cache_control)
            if m:
                return min(max(float(m.group(1)), lo), hi)
        return default
