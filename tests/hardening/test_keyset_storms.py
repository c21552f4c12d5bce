"""Key-set refetch storms and a slow issuer, counted at a real issuer on 127.0.0.1.

200 concurrent verifications naming random kids must cost one fetch per cooldown (threads
and asyncio tasks); a slow fetch must not hold up verifications whose keys are cached.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator

import pytest

from bearerguard import BearerError
from bearerguard.testing import Issuer

from ._contract import assert_exact
from ._keyset import COOLDOWN, Clock, make_source, make_verifier, refusal, serve_issuer


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with serve_issuer() as iss:
        yield iss


@pytest.fixture
def clock() -> Clock:
    return Clock()


# -- refetch storms ---------------------------------------------------------------------------


def _random_kid_tokens(issuer: Issuer, n: int) -> list[str]:
    key = issuer.current_key
    return [issuer.token(kid="rnd-" + secrets.token_hex(8), key=key) for _ in range(n)]


def test_refetch_storm_sync(issuer: Issuer, clock: Clock) -> None:
    v = make_verifier(issuer, make_source(issuer, clock))
    v.verify(issuer.token())
    issuer.reset_counters()
    clock.advance(COOLDOWN)  # one fetch is allowed again
    tokens = _random_kid_tokens(issuer, 200)
    barrier = threading.Barrier(len(tokens))
    reasons: list[str] = []
    lock = threading.Lock()

    def attack(token: str) -> None:
        barrier.wait(timeout=10)
        try:
            v.verify(token)
            reason = "accepted"
        except BearerError as err:
            reason = err.reason
        with lock:
            reasons.append(reason)

    threads = [threading.Thread(target=attack, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert reasons == ["unknown_kid"] * 200
    assert issuer.jwks_fetches == 1  # one fetch for 200 random kids within one cooldown
    # A second storm inside the same cooldown fetches nothing.
    for token in tokens[:50]:
        assert_exact(refusal(v, token), "unknown_kid")
    assert issuer.jwks_fetches == 1


def test_refetch_storm_async(issuer: Issuer, clock: Clock) -> None:
    v = make_verifier(issuer, make_source(issuer, clock))
    v.verify(issuer.token())
    issuer.reset_counters()
    clock.advance(COOLDOWN)
    tokens = _random_kid_tokens(issuer, 200)

    async def one(token: str) -> str:
        try:
            await v.verify_async(token)
        except BearerError as err:
            return err.reason
        return "accepted"

    async def storm() -> list[str]:
        return await asyncio.gather(*(one(t) for t in tokens))

    assert asyncio.run(storm()) == ["unknown_kid"] * 200
    assert issuer.jwks_fetches == 1
    assert asyncio.run(storm()) == ["unknown_kid"] * 200  # a new loop, same cooldown
    assert issuer.jwks_fetches == 1


def test_refetch_storm_without_keys_cached_is_one_fetch(issuer: Issuer, clock: Clock) -> None:
    v = make_verifier(issuer, make_source(issuer, clock))
    issuer.behaviour = "error"
    tokens = _random_kid_tokens(issuer, 100)

    async def storm() -> list[int]:
        async def one(token: str) -> int:
            try:
                await v.verify_async(token)
            except BearerError as err:
                return err.status_code
            return 200

        return await asyncio.gather(*(one(t) for t in tokens))

    assert asyncio.run(storm()) == [503] * 100
    assert issuer.jwks_fetches == 1


# -- a slow issuer does not stall cached verifications ----------------------------------------


def test_slow_issuer_does_not_stall_cached_async_verifications(issuer: Issuer) -> None:
    v = make_verifier(issuer, make_source(issuer, cooldown=0.0, timeout=5.0))
    cached = [issuer.token(sub=f"user-{i}") for i in range(50)]
    v.verify(cached[0])
    assert issuer.jwks_fetches == 1
    new_token = issuer.token(key=issuer.rotate(), sub="new")
    issuer.delay = 2.0
    order: list[str] = []

    async def scenario() -> None:
        async def slow() -> None:
            assert (await v.verify_async(new_token)).subject == "new"
            order.append("slow-fetch-done")

        slow_task = asyncio.create_task(slow())
        for _ in range(400):  # wait until the issuer holds the fetch (bounded: 4 s)
            if issuer.jwks_fetches == 2:
                break
            await asyncio.sleep(0.01)
        assert issuer.jwks_fetches == 2
        order.append("fetch-in-flight")
        results = await asyncio.gather(*(v.verify_async(t) for t in cached))
        assert [r.subject for r in results] == [f"user-{i}" for i in range(50)]
        order.append("cached-done")
        assert not slow_task.done()  # the slow fetch is still running
        await slow_task

    asyncio.run(scenario())
    assert order == ["fetch-in-flight", "cached-done", "slow-fetch-done"]
