"""Django under ASGI never blocks the event loop on a key fetch (issue #12).

The issuer answers the key fetch after 1 s; a lightweight coroutine on the same loop
must keep ticking while the request waits for it. Asserted by counters, not wall time:
a blocked loop runs no other coroutine until the fetch returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

pytest.importorskip("django")

from django.test import AsyncClient, override_settings

from bearerguard.testing import Issuer
from tests.adapters.django.helpers import bearer

DELAY = 1.0
TICK = 0.01
#: A loop free during the fetch ticks ~DELAY / TICK = 100 times; a blocked one at most twice.
MIN_TICKS = 20


@pytest.fixture
def slow_issuer() -> Iterator[Issuer]:
    with Issuer() as issuer:
        issuer.delay = DELAY
        with override_settings(
            BEARERGUARD_ISSUER=issuer.issuer,
            BEARERGUARD_AUDIENCE=issuer.audience,
            BEARERGUARD_JWKS_URI=issuer.jwks_uri,
        ):
            yield issuer


@pytest.mark.parametrize("path", ["/async-private", "/async-public", "/drf/me"])
def test_key_fetch_does_not_block_the_loop(slow_issuer: Issuer, path: str) -> None:
    token = slow_issuer.token(sub="patient")
    ticks_during: list[int] = []

    async def run() -> int:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(TICK)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)  # the ticker has started
        start = ticks
        response = await AsyncClient().get(path, **bearer(token))
        ticks_during.append(ticks - start)
        done.set()
        await task
        return response.status_code

    assert asyncio.run(run()) == 200
    assert slow_issuer.jwks_fetches == 1  # the request did wait for the slow fetch
    assert ticks_during[0] >= MIN_TICKS, ticks_during
