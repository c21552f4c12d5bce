"""Regression tests for finding 5 of the outside review (issue #11).

A cache hit never looked at the key set: a cached token stayed accepted after its key
left the JWKS (until an uncached token happened to trigger a refresh) and even after the
key set was past its lifetime and stale grace period. The token cache now asks its key
source at least every ``RECHECK_SECONDS`` (never fetching in the request's thread).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bearerguard import InvalidToken, KeysUnavailable, Verifier
from bearerguard.testing import Issuer
from tests.hardening._keyset import COOLDOWN, TTL, Clock, go_down, make_source, serve_issuer

RECHECK_SECONDS = 1.0  # bearerguard.cache.RECHECK_SECONDS (a literal: the test names it)


class WallClock:
    """The verifier's clock (seconds since the epoch), moved by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with serve_issuer() as iss:
        yield iss


def _verifier(issuer: Issuer, source_clock: Clock, wall: WallClock, **kw: float) -> Verifier:
    return Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        key_source=make_source(issuer, source_clock, **kw),
        token_cache_size=16,
        clock=wall,
    )


def test_finding_5_cache_hit_learns_of_key_removal_without_uncached_traffic(
    issuer: Issuer,
) -> None:
    source_clock, wall = Clock(), WallClock()
    v = _verifier(issuer, source_clock, wall)
    token = issuer.token(expires_in=3600)
    assert v.verify(token).subject == "user-1"
    assert token in v.tokens
    issuer.rotate(remove_old=True)  # the issuer drops the key that signed it
    source_clock.advance(TTL + COOLDOWN)  # the key set is past its lifetime
    wall.now += RECHECK_SECONDS
    # Only the cached token is sent: its hit asks the source, which refreshes in the
    # background; once the refresh has dropped the key, the token is refused.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        wall.now += RECHECK_SECONDS
        try:
            v.verify(token)
        except InvalidToken as err:
            assert err.reason == "unknown_kid"
            break
        time.sleep(0.02)
    else:
        raise AssertionError("a cached token outlived its key's removal from the JWKS")
    assert issuer.jwks_fetches == 2
    assert token not in v.tokens


def test_finding_5_cache_never_outlives_the_stale_grace_period(issuer: Issuer) -> None:
    source_clock, wall = Clock(), WallClock()
    v = _verifier(issuer, source_clock, wall, stale_for=60.0)
    token = issuer.token(expires_in=3600)
    assert v.verify(token).subject == "user-1"
    go_down(issuer, "error")  # every refresh fails from now on
    source_clock.advance(TTL + 30)  # stale, within the grace period: still served
    wall.now += RECHECK_SECONDS
    assert v.verify(token).subject == "user-1"
    source_clock.advance(31 + COOLDOWN)  # past lifetime + grace: the keys are gone
    wall.now += RECHECK_SECONDS
    with pytest.raises(KeysUnavailable) as info:
        v.verify(token)
    assert info.value.status_code == 503
    assert token not in v.tokens


def test_finding_5_hits_between_rechecks_do_not_ask_the_source(issuer: Issuer) -> None:
    source_clock, wall = Clock(), WallClock()
    v = _verifier(issuer, source_clock, wall)
    token = issuer.token(expires_in=3600)
    v.verify(token)
    issuer.rotate(remove_old=True)
    source_clock.advance(TTL + COOLDOWN)
    for _ in range(50):  # within one recheck period: plain dictionary hits
        assert v.verify(token).subject == "user-1"
    time.sleep(0.2)
    assert issuer.jwks_fetches == 1
