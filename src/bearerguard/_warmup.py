"""One background thread that warms key sources at start-up and retries the ones that fail.

:meth:`JWKSKeySource.warm` hands its source here. Every source waiting for a warm-up
shares this one thread, which exits as soon as nothing is waiting, so an app that builds
many verifiers (a test suite, say) does not grow a thread per verifier. Entries hold
their source weakly: a dropped source is neither kept alive nor fetched for again.
A source already waiting is not added twice, which makes warming idempotent.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["schedule", "waiting"]

logger = logging.getLogger("bearerguard.keys")

#: ``step(owner)`` does one attempt (bounded in time) and returns the seconds until the
#: next one, or ``None`` when no further attempt is needed.
Step = Callable[[Any], "float | None"]
_Entry = tuple[float, int, "weakref.ref[Any]", Step, int]

_cond = threading.Condition(threading.Lock())
_queue: list[_Entry] = []  # a heap ordered by due time
_waiting: weakref.WeakSet[Any] = weakref.WeakSet()
_order = itertools.count()
_thread: threading.Thread | None = None
_current: _Entry | None = None  # the entry whose step runs now (put back in a forked child)
_RECHECK = 1.0  # seconds between looks for dropped sources while waiting


def schedule(owner: Any, step: Step, attempts: int) -> bool:
    """Run ``step(owner)`` now in the background, then again after each pause it returns,
    at most *attempts* times in all. False (nothing done) when *owner* is already waiting."""
    global _thread
    if attempts < 1:
        return False
    with _cond:
        if owner in _waiting:
            return False
        _waiting.add(owner)
        heapq.heappush(_queue, (time.monotonic(), next(_order), weakref.ref(owner), step, attempts))
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="bearerguard-warm-up", daemon=True)
            try:
                _thread.start()
            except RuntimeError:  # no thread to be had: requests fetch for themselves
                _thread = None
                _waiting.clear()  # nothing waits any more: a later warm() may try again
                _queue.clear()
                return False
        else:
            _cond.notify()
    return True


def waiting(owner: Any) -> bool:
    """Whether *owner* waits for a warm-up step."""
    with _cond:
        return owner in _waiting


def _next() -> _Entry | None:
    """The next due entry, waiting for it; ``None`` (and this thread ends) when none is left."""
    global _current, _thread
    with _cond:
        while True:
            # Forget dropped sources first: once none is left the thread ends (within a
            # second of the last one going), instead of sleeping until their turn.
            live = [entry for entry in _queue if entry[2]() is not None]
            if len(live) != len(_queue):
                _queue[:] = live
                heapq.heapify(_queue)
            if not _queue:
                _thread = None
                return None
            wait = _queue[0][0] - time.monotonic()
            if wait <= 0:
                _current = heapq.heappop(_queue)
                return _current
            _cond.wait(min(wait, _RECHECK))


def _run() -> None:
    global _current
    while (entry := _next()) is not None:
        _, _, ref, step, left = entry
        owner = ref()
        if owner is None:
            continue  # dropped: nobody to warm
        try:
            pause = step(owner)
        except Exception:  # a warm-up never takes the process down; requests still fetch
            logger.exception("bearerguard: key set warm-up failed")
            pause = None
        with _cond:
            _current = None
            if pause is None or left <= 1:
                _waiting.discard(owner)
            else:
                due = time.monotonic() + pause
                heapq.heappush(_queue, (due, next(_order), ref, step, left - 1))
        del owner


def _after_fork() -> None:
    # The parent's thread does not exist in a forked child (a pre-loading server's worker),
    # and its lock may have been held at the fork: the child carries on with what still
    # waits, in a thread of its own.
    global _cond, _current, _thread
    _cond = threading.Condition(threading.Lock())
    _thread = None
    if _current is not None:  # its step was running in the parent's thread: due again now
        heapq.heappush(_queue, (time.monotonic(), *_current[1:]))
        _current = None
    if _queue:
        _thread = threading.Thread(target=_run, name="bearerguard-warm-up", daemon=True)
        try:
            _thread.start()
        except RuntimeError:  # requests fetch for themselves
            _thread = None
            _waiting.clear()
            _queue.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
