"""Key-set faults against a real issuer on 127.0.0.1: outages and rotation.

The key source runs on a controllable clock so cache lifetimes and cooldowns are crossed
without sleeping; fetches are real HTTP and are counted at the issuer.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import Iterator

import pytest

from bearerguard import InvalidToken, JWKSKeySource, KeysUnavailable, Verifier
from bearerguard.testing import Issuer

from ._contract import assert_exact
from ._keyset import (
    COOLDOWN,
    TTL,
    Clock,
    assert_503,
    come_back,
    go_down,
    make_source,
    make_verifier,
    refusal,
    serve_issuer,
)

OUTAGES = ["error", "garbage", "empty", "close", "hang", "huge", "refused"]


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with serve_issuer() as iss:
        yield iss


@pytest.fixture
def clock() -> Clock:
    return Clock()


# -- outages -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", OUTAGES)
def test_outage_with_keys_cached(issuer: Issuer, clock: Clock, how: str) -> None:
    source = make_source(issuer, clock)
    v = make_verifier(issuer, source)
    good = issuer.token()
    assert v.verify(good).subject == "user-1"
    assert issuer.jwks_fetches == 1

    go_down(issuer, how)
    clock.advance(1)  # inside the cache lifetime: no fetch at all
    assert v.verify(good).subject == "user-1"
    clock.advance(TTL + COOLDOWN)  # the set is stale and the cooldown has passed
    assert v.verify(good).subject == "user-1"  # stale-if-error; a refresh runs in background

    # A key that was never fetched: the issuer has rotated while it is down.
    new_key = issuer.rotate()
    fresh = issuer.token(key=new_key)
    err = refusal(v, fresh)
    assert_503(err, retry_after=int(COOLDOWN))  # not 401: the token is not to blame
    assert v.verify(good).subject == "user-1"  # still served while the issuer is down

    # Recovery without a restart.
    come_back(issuer)
    clock.advance(COOLDOWN)
    assert v.verify(fresh).subject == "user-1"
    assert v.verify(good).subject == "user-1"


@pytest.mark.parametrize("how", OUTAGES)
def test_outage_with_nothing_cached(issuer: Issuer, clock: Clock, how: str) -> None:
    v = make_verifier(issuer, make_source(issuer, clock))
    token = issuer.token()
    go_down(issuer, how)
    assert_503(refusal(v, token), retry_after=int(COOLDOWN))
    assert_503(refusal(v, token), retry_after=int(COOLDOWN))  # no second fetch in the cooldown
    come_back(issuer)
    clock.advance(COOLDOWN)
    assert v.verify(token).subject == "user-1"


def test_closed_port(clock: Clock) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = JWKSKeySource(
        f"http://127.0.0.1:{port}/.well-known/jwks.json",
        cooldown=COOLDOWN,
        timeout=0.5,
        clock=clock,
    )
    with Issuer() as iss:
        token = iss.token()
        v = Verifier(issuer=iss.issuer, audience=iss.audience, key_source=source)
    assert_503(refusal(v, token), retry_after=int(COOLDOWN))
    assert source.fetches == 1


def test_outage_async_path(issuer: Issuer, clock: Clock) -> None:
    v = make_verifier(issuer, make_source(issuer, clock))
    good = issuer.token()

    async def scenario() -> None:
        assert (await v.verify_async(good)).subject == "user-1"
        issuer.behaviour = "error"
        clock.advance(TTL + COOLDOWN)
        assert (await v.verify_async(good)).subject == "user-1"
        fresh = issuer.token(key=issuer.rotate())
        with pytest.raises(KeysUnavailable) as info:
            await v.verify_async(fresh)
        assert_503(info.value, retry_after=int(COOLDOWN))
        issuer.behaviour = "ok"
        clock.advance(COOLDOWN)
        assert (await v.verify_async(fresh)).subject == "user-1"

    asyncio.run(scenario())


# -- rotation ---------------------------------------------------------------------------------


def test_rotation_new_key_after_one_fetch_old_key_refused_after_refresh(
    issuer: Issuer, clock: Clock
) -> None:
    v = make_verifier(issuer, make_source(issuer, clock), cache=1024)  # token cache on
    old = issuer.current_key
    old_token = issuer.token()
    assert v.verify(old_token).subject == "user-1"
    assert issuer.jwks_fetches == 1

    new = issuer.rotate()
    new_token = issuer.token(key=new)
    clock.advance(COOLDOWN)
    assert v.verify(new_token).subject == "user-1"
    assert issuer.jwks_fetches == 2  # exactly one fetch for the new kid
    assert v.verify(new_token).subject == "user-1"
    assert issuer.jwks_fetches == 2

    issuer.remove_key(old.kid)
    assert v.verify(old_token).subject == "user-1"  # keys are cached until the next refresh
    clock.advance(COOLDOWN)
    stranger = issuer.token(kid="not-published-" + secrets.token_hex(4), key=new)
    assert_exact(refusal(v, stranger), "unknown_kid")  # this miss refreshes the set
    assert issuer.jwks_fetches == 3
    # The refresh dropped the old key: its token is refused, even from the token cache.
    assert_exact(refusal(v, old_token), "unknown_kid")
    assert v.verify(new_token).subject == "user-1"
    assert issuer.jwks_fetches == 3


def test_rotation_picked_up_when_the_cache_expires(issuer: Issuer, clock: Clock) -> None:
    v = make_verifier(issuer, make_source(issuer, clock))
    old = issuer.current_key
    old_token = issuer.token()
    v.verify(old_token)
    issuer.rotate(remove_old=True)
    clock.advance(TTL)
    v.verify(old_token)  # stale: served while the background refresh runs
    deadline = time.monotonic() + 5
    while issuer.jwks_fetches < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            v.verify(old_token)
        except InvalidToken as err:
            assert_exact(err, "unknown_kid")
            break
        time.sleep(0.01)
    else:
        raise AssertionError(f"key {old.kid} still accepted after the refresh")
