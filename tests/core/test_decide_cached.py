"""``pipeline.decide_cached``: the ASGI adapters' synchronous shortcut must change nothing.

It settles a request without a coroutine when the answer needs no I/O: no credentials on a
route that allows that, or a cached token sent with the ``Bearer`` scheme that meets the
route's requirements. Anything else must be ``None`` (the adapter then awaits
``decide_async``), and whatever it settles must be what ``decide`` answers. The raw-header
index (``TokenCache.by_header``) it reads must never outlive the cache entry it points to.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bearerguard import InsufficientScope, Requirements, Verifier
from bearerguard.pipeline import decide_cached
from bearerguard.testing import Issuer

AUDIENCE = "https://api.example.com"


class Clock:
    """A settable clock; the issuer mints tokens at the real time."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUDIENCE) as issuer:
        yield issuer


def make(issuer: Issuer, clock: Clock | None = None, **settings: object) -> Verifier:
    return Verifier(
        issuer=issuer.issuer,
        audience=AUDIENCE,
        keys=issuer.jwks(),
        clock=clock if clock is not None else Clock(time.time()),
        **settings,
    )


def test_no_credentials_is_anonymous_unless_required(issuer: Issuer) -> None:
    v = make(issuer)
    decision = decide_cached(v, None)
    assert decision is not None
    assert (decision.token, decision.error, decision.headers) == (None, None, ())
    assert decide_cached(v, None, required=True) is None  # the 401 comes from decide_async


@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_token_not_yet_verified_is_not_settled(issuer: Issuer, as_bytes: bool) -> None:
    v = make(issuer, clock=Clock(time.time()))
    value = "Bearer " + issuer.token()
    assert decide_cached(v, value.encode("latin-1") if as_bytes else value) is None
    assert len(v.tokens) == 0  # nothing verified, nothing cached, no signature checked


def test_a_cached_token_is_settled_alike_from_text_and_from_raw_bytes(issuer: Issuer) -> None:
    v = make(issuer, clock=Clock(time.time()))
    token = issuer.token(scopes=["read:messages"])
    accepted = v.verify(token)
    value = "Bearer " + token
    by_text = decide_cached(v, value)
    first = decide_cached(v, value.encode("latin-1"))  # decodes, then files the bytes
    again = decide_cached(v, bytes(bytearray(value.encode("latin-1"))))  # the raw lookup
    assert by_text is not None and first is not None and again is not None
    assert by_text.token is accepted and first.token is accepted and again.token is accepted
    assert (again.error, again.headers) == (None, ())
    full = v.decide(value)
    assert full.token is accepted and full.error is None


@pytest.mark.parametrize(
    "value",
    [
        "bearer {t}",  # another spelling of the scheme: the full extraction path decides
        "Bearer  {t}",
        "Bearer {t} ",
        "DPoP {t}",
        "Basic {t}",
        "Bearer {t}x",
    ],
)
def test_other_spellings_are_left_to_the_full_path(issuer: Issuer, value: str) -> None:
    v = make(issuer, clock=Clock(time.time()))
    token = issuer.token()
    v.verify(token)
    text = value.format(t=token)
    decide_cached(v, ("Bearer " + token).encode())  # the exact value is filed
    assert decide_cached(v, text) is None
    assert decide_cached(v, text.encode("latin-1")) is None


def test_requirements_a_token_does_not_meet_are_left_to_decide(issuer: Issuer) -> None:
    v = make(issuer, clock=Clock(time.time()))
    token = issuer.token(scopes=["read:messages"])
    v.verify(token)
    raw = ("Bearer " + token).encode()
    met, unmet = Requirements(scopes=["read:messages"]), Requirements(scopes=["admin"])
    assert decide_cached(v, raw) is not None  # filed
    settled = decide_cached(v, raw, met, required=True)
    assert settled is not None and settled.token is not None
    assert decide_cached(v, raw, unmet, required=True) is None
    refused = v.decide("Bearer " + token, requirements=unmet, required=True)
    assert isinstance(refused.error, InsufficientScope)
    step_up = Requirements(scopes=["read:messages"], max_age=60)
    assert decide_cached(v, raw, step_up) is None  # the verifier's clock decides step-up


def test_a_bound_token_is_never_settled(issuer: Issuer) -> None:
    v = make(issuer, clock=Clock(time.time()))
    token = issuer.token(claims={"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}})
    v.verify(token)
    raw = ("Bearer " + token).encode()
    assert decide_cached(v, raw) is None
    assert decide_cached(v, raw) is None  # and never filed under its bytes
    assert v.decide("Bearer " + token).error.reason == "bound_token"  # type: ignore[union-attr]


def test_nothing_is_settled_when_dpop_is_required(issuer: Issuer) -> None:
    v = make(issuer, clock=Clock(time.time()), dpop="required")
    token = issuer.token()
    v.verify(token)
    assert decide_cached(v, ("Bearer " + token).encode()) is None
    assert v.decide("Bearer " + token).error.reason == "dpop_required"  # type: ignore[union-attr]


def test_nothing_is_settled_while_an_observer_watches(issuer: Issuer) -> None:
    seen: list[object] = []
    v = Verifier(
        issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks(), on_success=seen.append
    )
    token = issuer.token()
    v.verify(token)
    assert decide_cached(v, ("Bearer " + token).encode()) is None
    assert decide_cached(v, None) is None  # anonymous requests are reported too
    assert v.decide("Bearer " + token).token is not None
    assert len(seen) == 1


def test_an_expired_entry_is_not_settled_from_its_bytes(issuer: Issuer) -> None:
    clock = Clock(time.time())
    v = make(issuer, clock=clock, leeway=0)
    token = issuer.token(expires_in=30)
    v.verify(token)
    raw = ("Bearer " + token).encode()
    assert decide_cached(v, raw) is not None and decide_cached(v, raw) is not None
    clock.now += 31
    assert decide_cached(v, raw) is None
    assert v.decide("Bearer " + token).error.reason == "expired"  # type: ignore[union-attr]


def test_the_header_index_never_outlives_the_cache_entry(issuer: Issuer) -> None:
    v = make(issuer, clock=Clock(time.time()), token_cache_size=2)
    tokens = [issuer.token() for _ in range(3)]
    v.verify(tokens[0])
    raw = ("Bearer " + tokens[0]).encode()
    assert decide_cached(v, raw) is not None and v.tokens.by_header(raw) is not None
    v.tokens.clear()
    assert v.tokens.by_header(raw) is None and decide_cached(v, raw) is None
    v.verify(tokens[0])
    assert decide_cached(v, raw) is not None
    for t in tokens[1:] * 2:  # the full cache admits each on its second verification
        v.verify(t)
    assert tokens[0] not in v.tokens  # evicted (oldest first)
    assert v.tokens.by_header(raw) is None and decide_cached(v, raw) is None


def test_a_key_leaving_the_key_set_voids_the_raw_lookup(issuer: Issuer) -> None:
    v = make(issuer, clock=Clock(time.time()))
    token = issuer.token()
    v.verify(token)
    raw = ("Bearer " + token).encode()
    entry = v.tokens.by_header(raw) if decide_cached(v, raw) is not None else None
    assert entry is not None and entry.key is not None
    entry.key.active = False  # what a refresh dropping the key does
    assert decide_cached(v, raw) is None
