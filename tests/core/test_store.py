"""The shared-state stores: MemoryStore in process, RedisStore against a real redis-server."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from bearerguard.store import MemoryStore, RedisStore, Store, StoreUnavailable, open_store
from tests import redis_server as _redis_fixtures
from tests.redis_server import RedisServer

redis = pytest.importorskip("redis")

# the real redis-server fixtures
redis_server = _redis_fixtures.redis_server
private_redis = _redis_fixtures.private_redis

T = TypeVar("T")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_async(store: Any, fn: Callable[[], Awaitable[T]]) -> T:
    """Run *fn* in a fresh event loop, closing the store's client for that loop after."""

    async def main() -> T:
        try:
            return await fn()
        finally:
            if isinstance(store, RedisStore):
                await store.aclose()

    return asyncio.run(main())


def key() -> str:
    return "test:" + secrets.token_hex(8)


# -- MemoryStore ---------------------------------------------------------------------------


def test_memory_add_once_then_refuses() -> None:
    store = MemoryStore()
    assert isinstance(store, Store)
    assert store.add("a", 10) is True
    assert store.add("a", 10) is False
    assert store.get("a") == b"1"
    assert store.get("b") is None


def test_memory_set_get_and_replace() -> None:
    store = MemoryStore()
    store.set("k", b"v1", 10)
    assert store.get("k") == b"v1"
    store.set("k", b"v2", 10)
    assert store.get("k") == b"v2"
    assert store.add("k", 10) is False


def test_memory_ttl_expiry() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    assert store.add("a", 5) is True
    store.set("s", b"x", 5)
    clock.now += 4.999
    assert store.add("a", 5) is False
    assert store.get("s") == b"x"
    clock.now += 0.001  # exactly at expiry the entry is gone
    assert store.get("s") is None
    assert store.add("a", 5) is True


def test_memory_bound_evicts_expired_first_then_oldest() -> None:
    clock = FakeClock()
    store = MemoryStore(max_entries=3, clock=clock)
    assert store.add("short", 1) is True
    assert store.add("b", 100) is True
    assert store.add("c", 100) is True
    clock.now += 2  # "short" expired; the oldest live entry is "b"
    assert store.add("d", 100) is True
    assert len(store) == 3
    assert [store.get(k) for k in ("b", "c", "d")] == [b"1", b"1", b"1"]
    assert store.add("e", 100) is True  # nothing expired: the oldest ("b") goes
    assert len(store) == 3
    assert store.get("b") is None
    assert [store.get(k) for k in ("c", "d", "e")] == [b"1", b"1", b"1"]


def test_memory_heap_stays_bounded_under_rewrites() -> None:
    store = MemoryStore(max_entries=10)
    for i in range(1000):
        store.set(f"k{i % 5}", b"v", 100)
    assert len(store) == 5
    assert len(store._expiry) <= 2 * 10 + 16


def test_memory_add_is_atomic_across_threads() -> None:
    store = MemoryStore()
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.extend(store.add("same", 10) for _ in range(50))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert results.count(True) == 1
    assert len(results) == 400


def test_memory_async_forms() -> None:
    store = MemoryStore()

    async def main() -> tuple[bool, bool, bytes | None]:
        first = await store.add_async("a", 10)
        second = await store.add_async("a", 10)
        await store.set_async("s", b"val", 10)
        return first, second, await store.get_async("s")

    assert asyncio.run(main()) == (True, False, b"val")


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf")])
def test_memory_refuses_bad_ttl(ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl"):
        MemoryStore().add("a", ttl)


def test_memory_refuses_zero_bound() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(max_entries=0)


# -- open_store ----------------------------------------------------------------------------


def test_open_store_memory() -> None:
    assert type(open_store("memory")) is MemoryStore


@pytest.mark.parametrize(
    "spec", ["redis://127.0.0.1:6379/0", "redis://localhost", "rediss://:pw@cache.internal:6380/2"]
)
def test_open_store_redis(spec: str) -> None:
    store = open_store(spec)  # no connection is made until first use
    assert type(store) is RedisStore
    assert "pw" not in repr(store)
    assert isinstance(store, Store)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "Memory",
        "memory ",
        "redis://",
        "redis:///0",
        "http://127.0.0.1:6379/0",
        "unix:///tmp/redis.sock",
        "redis://:s3cret@host:notaport/0",
        "redis://:s3cret@host:6379/x",
    ],
)
def test_open_store_refuses(spec: str) -> None:
    with pytest.raises(ValueError, match="BEARERGUARD_STORE") as info:
        open_store(spec)
    assert "s3cret" not in str(info.value)


# -- RedisStore against a real redis-server ------------------------------------------------


def test_redis_add_once_with_prefix_and_ttl(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url)
    raw = redis.Redis.from_url(redis_server.url)
    try:
        k = key()
        assert store.add(k, 30) is True
        assert store.add(k, 30) is False
        assert raw.get("bearerguard:" + k) == b"1"
        assert 29_000 < raw.pttl("bearerguard:" + k) <= 30_000
        assert store.get(k) == b"1"
        assert store.get(key()) is None
    finally:
        raw.close()
        store.close()


def test_redis_set_get(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url)
    try:
        k = key()
        store.set(k, b"\x00\xffanswer", 30)
        assert store.get(k) == b"\x00\xffanswer"
        store.set(k, b"second", 30)
        assert store.get(k) == b"second"
    finally:
        store.close()


def test_redis_ttl_expiry(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url)
    try:
        k, s = key(), key()
        assert store.add(k, 0.1) is True
        store.set(s, b"x", 0.1)
        assert store.add(k, 0.1) is False
        time.sleep(0.25)
        assert store.get(s) is None
        assert store.add(k, 0.1) is True
    finally:
        store.close()


def test_redis_two_stores_share_state(redis_server: RedisServer) -> None:
    one, two = RedisStore(redis_server.url), RedisStore(redis_server.url)
    try:
        k = key()
        assert one.add(k, 30) is True
        assert two.add(k, 30) is False
        two.set("v:" + k, b"shared", 30)
        assert one.get("v:" + k) == b"shared"
    finally:
        one.close()
        two.close()


def test_redis_async_forms(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url)
    k, s = key(), key()

    async def main() -> tuple[bool, bool, bytes | None, bytes | None]:
        first = await store.add_async(k, 30)
        second = await store.add_async(k, 30)
        await store.set_async(s, b"async", 30)
        return first, second, await store.get_async(s), await store.get_async(key())

    assert run_async(store, main) == (True, False, b"async", None)
    assert store.add(k, 30) is False  # the sync client sees what the async one wrote
    assert run_async(store, lambda: store.add_async(k, 30)) is False  # a second event loop
    store.close()


def test_redis_killed_mid_test_is_unavailable(private_redis: RedisServer) -> None:
    store = RedisStore(private_redis.url)
    k = key()
    assert store.add(k, 30) is True
    assert run_async(store, lambda: store.add_async(key(), 30)) is True
    private_redis.stop()  # kill -9 by PID
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        store.add(key(), 30)
    assert str(info.value) == "the shared state store is unavailable"
    assert info.value.retry_after == 5
    with pytest.raises(StoreUnavailable):
        store.get(k)
    with pytest.raises(StoreUnavailable):
        store.set(k, b"x", 30)
    for op in (
        lambda: store.add_async(key(), 30),
        lambda: store.get_async(k),
        lambda: store.set_async(k, b"x", 30),
    ):
        with pytest.raises(StoreUnavailable):
            run_async(store, op)
    assert time.monotonic() - started < 5
    store.close()


def test_redis_silent_server_times_out() -> None:
    # A peer that accepts connections and never answers: a timeout, never a pass.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        store = RedisStore(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.add("k", 30)
        with pytest.raises(StoreUnavailable):
            run_async(store, lambda: store.add_async("k", 30))
        assert time.monotonic() - started < 3
        store.close()
