"""The verified-token cache: what a hit may skip, and what it must never skip.

The cache maps a token string to its :class:`AccessToken`; a hit skips parsing and the
signature check, so each property below is a security property: bounded size, keyed by
the exact token, never past ``exp`` (with leeway), ``nbf``/``iat`` rechecked, voided when the
verifying key leaves the key set, private to one verifier, off at ``token_cache_size=0``,
and never a shortcut around route requirements.

Signature checks are counted with :class:`CountingSource`, a key source that wraps the real
one and counts key lookups and the verify calls of the keys it hands out.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from bearerguard import (
    AccessToken,
    ClaimEquals,
    InsufficientScope,
    InvalidToken,
    JWKSKeySource,
    KeySource,
    Requirements,
    StaticKeySource,
    Verifier,
)
from bearerguard.jwk import VerifyFn, VerifyKey, import_static
from bearerguard.testing import Issuer

AUDIENCE = "https://api.example.com"
NOW = 1_700_000_000.0
LEEWAY = 60


class Clock:
    """A settable clock for ``Verifier(clock=...)``."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingSource:
    """Delegates to *inner*; counts ``get_key`` calls and signature verifications."""

    def __init__(self, inner: KeySource) -> None:
        self.inner = inner
        self.lookups = 0
        self.signature_checks = 0
        self._lock = threading.Lock()

    def _wrap(self, key: VerifyKey, alg: str) -> VerifyKey:
        fn = key.verifier(alg)
        if not getattr(fn, "_counted", False):

            def counted(data: bytes, sig: bytes, _fn: VerifyFn = fn) -> bool:
                with self._lock:
                    self.signature_checks += 1
                return _fn(data, sig)

            counted._counted = True  # type: ignore[attr-defined]
            key._fns[alg] = counted
        return key

    def get_key(self, kid: str | None, alg: str) -> VerifyKey:
        self.lookups += 1
        return self._wrap(self.inner.get_key(kid, alg), alg)

    async def get_key_async(self, kid: str | None, alg: str) -> VerifyKey:
        self.lookups += 1
        return self._wrap(await self.inner.get_key_async(kid, alg), alg)


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUDIENCE) as iss:
        yield iss


def make(
    issuer: Issuer,
    *,
    size: int = 1024,
    clock: Callable[[], float] | None = None,
    audience: str = AUDIENCE,
    source: KeySource | None = None,
) -> tuple[Verifier, CountingSource]:
    counting = CountingSource(source or StaticKeySource(import_static(issuer.jwks())))
    v = Verifier(
        issuer=issuer.issuer,
        audience=audience,
        key_source=counting,
        token_cache_size=size,
        clock=clock or Clock(),
        leeway=LEEWAY,
    )
    return v, counting


def mint(issuer: Issuer, **kw: object) -> str:
    kw.setdefault("iat", int(NOW))
    kw.setdefault("exp", int(NOW) + 300)
    return issuer.token(**kw)  # type: ignore[arg-type]


def refused(v: Verifier, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        v.verify(token)
    return info.value


# -- bounded, keyed by token -------------------------------------------------------------
def test_hit_skips_the_signature_and_returns_the_same_token(issuer: Issuer) -> None:
    v, c = make(issuer)
    token = mint(issuer)
    first = v.verify(token)
    again = v.verify(token)
    assert again is first
    assert (c.lookups, c.signature_checks) == (1, 1)
    assert again.subject == "user-1"
    assert again.scopes == frozenset({"read:messages"})


@pytest.mark.parametrize("size", [1, 3, 8])
def test_never_more_entries_than_the_size(issuer: Issuer, size: int) -> None:
    v, c = make(issuer, size=size)
    tokens = [mint(issuer) for _ in range(size + 5)]
    for t in tokens:
        for _ in range(2):  # twice: a full cache admits a token on its second verification
            v.verify(t)
            assert len(v.tokens) <= size
    assert len(v.tokens) == size
    # Oldest out first: the newest `size` tokens are hits, the first one is verified again.
    checks = c.signature_checks
    for t in tokens[-size:]:
        v.verify(t)
    assert c.signature_checks == checks
    v.verify(tokens[0])
    assert c.signature_checks == checks + 1
    assert len(v.tokens) == size


@pytest.mark.parametrize("size", [1, 4])
def test_one_off_tokens_do_not_evict_the_tokens_in_use(issuer: Issuer, size: int) -> None:
    v, c = make(issuer, size=size)
    in_use = [mint(issuer) for _ in range(size)]
    for t in in_use:
        v.verify(t)  # the cache has room: in at once
    one_offs = [mint(issuer) for _ in range(3 * size + 2)]
    for t in one_offs:
        v.verify(t)
    assert c.signature_checks == size + len(one_offs)
    for t in in_use:
        assert v.verify(t).subject == "user-1"
    assert c.signature_checks == size + len(one_offs)  # every one a hit
    assert set(v.tokens) == set(in_use)


def test_a_full_cache_admits_a_token_on_its_second_verification(issuer: Issuer) -> None:
    v, c = make(issuer, size=2)
    old, older, new = mint(issuer), mint(issuer), mint(issuer)
    v.verify(older)
    v.verify(old)
    first = v.verify(new)  # full: verified, remembered, not stored
    assert list(v.tokens) == [older, old]
    second = v.verify(new)  # verified again and stored, the oldest entry out
    assert list(v.tokens) == [old, new]
    assert second is not first
    assert second.claims == first.claims
    assert c.signature_checks == 4
    assert v.verify(new) is second
    assert c.signature_checks == 4


def test_a_different_token_is_verified(issuer: Issuer) -> None:
    v, c = make(issuer)
    a, b = mint(issuer), mint(issuer)  # same claims but for jti
    assert a != b
    v.verify(a)
    v.verify(b)
    assert (c.lookups, c.signature_checks) == (2, 2)


def test_a_cached_token_does_not_vouch_for_a_forged_twin(issuer: Issuer) -> None:
    v, c = make(issuer)
    good = mint(issuer)
    v.verify(good)
    head, body, sig = good.split(".")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    forged = f"{head}.{body}.{flipped}"  # same signing input, other signature
    err = refused(v, forged)
    assert (err.status_code, err.reason) == (401, "bad_signature")
    assert c.signature_checks == 2
    assert forged not in v.tokens
    assert v.verify(good).subject == "user-1"  # the genuine token is still a hit
    assert c.signature_checks == 2


def test_refusals_are_not_cached(issuer: Issuer) -> None:
    clock = Clock()
    v, c = make(issuer, clock=clock)
    expired = mint(issuer, exp=int(NOW) - LEEWAY - 1)
    for _ in range(3):
        assert refused(v, expired).reason == "expired"
    assert c.signature_checks == 3
    assert len(v.tokens) == 0


# -- lifetime: exp, nbf, iat rechecked on every hit, with leeway ---------------------------
def test_an_entry_never_outlives_exp_plus_leeway(issuer: Issuer) -> None:
    clock = Clock()
    v, c = make(issuer, clock=clock)
    exp = int(NOW) + 100
    token = mint(issuer, exp=exp)
    v.verify(token)
    clock.now = exp + LEEWAY - 0.001  # still inside the leeway: a hit
    assert v.verify(token).subject == "user-1"
    assert c.signature_checks == 1
    clock.now = exp + LEEWAY  # RFC 7519 §4.1.4: on or after exp (+ leeway) it is refused
    err = refused(v, token)
    assert (err.status_code, err.reason, err.realm) == (401, "expired", "api")
    assert token not in v.tokens
    assert c.signature_checks == 2  # the refusal came from a full verification


def test_nbf_is_rechecked_on_a_hit_with_leeway(issuer: Issuer) -> None:
    clock = Clock()
    v, c = make(issuer, clock=clock)
    nbf = int(NOW) + 30  # in the future, but within the leeway: accepted
    token = mint(issuer, nbf=nbf)
    v.verify(token)
    clock.now = nbf - LEEWAY  # the clock stepped back (NTP): still exactly within leeway
    v.verify(token)
    assert c.signature_checks == 1
    clock.now = nbf - LEEWAY - 0.001
    err = refused(v, token)
    assert (err.status_code, err.reason) == (401, "not_yet_valid")
    assert token not in v.tokens


def test_iat_is_rechecked_on_a_hit_with_leeway(issuer: Issuer) -> None:
    clock = Clock()
    v, c = make(issuer, clock=clock)
    token = mint(issuer, iat=int(NOW) + 10)
    v.verify(token)
    clock.now = NOW + 10 - LEEWAY - 1
    err = refused(v, token)
    assert (err.status_code, err.reason) == (401, "issued_in_future")
    assert c.signature_checks == 2


# -- key removal ---------------------------------------------------------------------------
def test_entries_die_with_their_key(issuer: Issuer) -> None:
    with Issuer(audience=AUDIENCE) as iss:
        old = iss.current_key
        source = JWKSKeySource(iss.jwks_uri, cooldown=0.0, min_ttl=0, default_ttl=60)
        v, c = make(iss, source=source, clock=time.time)
        token = iss.token()
        assert v.verify(token).subject == "user-1"
        assert v.verify(token).subject == "user-1"
        assert (c.signature_checks, iss.jwks_fetches) == (1, 1)

        new = iss.rotate()
        iss.remove_key(old.kid)
        # A token from the new key is an unknown kid: the source refetches the set,
        # which no longer holds the old key.
        assert v.verify(iss.token(key=new)).subject == "user-1"
        assert iss.jwks_fetches == 2

        err = refused(v, token)
        assert (err.status_code, err.reason) == (401, "unknown_kid")
        assert token not in v.tokens
        assert c.signature_checks == 2  # the new key's token only: the old one never got that far


# -- private to one verifier ---------------------------------------------------------------
def test_not_shared_across_verifiers_with_other_settings(issuer: Issuer) -> None:
    token = mint(issuer)  # aud = AUDIENCE
    ours, _ = make(issuer)
    theirs, c = make(issuer, audience="https://other-api.example.com")
    assert ours.verify(token).subject == "user-1"
    err = refused(theirs, token)
    assert (err.status_code, err.reason) == (401, "invalid_audience")
    assert c.signature_checks == 1
    assert len(theirs.tokens) == 0
    assert ours.verify(token).subject == "user-1"


def test_sync_and_async_share_one_cache(issuer: Issuer) -> None:
    v, c = make(issuer)
    token = mint(issuer)
    first = v.verify(token)
    assert asyncio.run(v.verify_async(token)) is first
    assert c.signature_checks == 1


# -- off switch ----------------------------------------------------------------------------
def test_size_zero_disables_the_cache(issuer: Issuer) -> None:
    v, c = make(issuer, size=0)
    token = mint(issuer)
    results = [v.verify(token) for _ in range(3)]
    results.append(asyncio.run(v.verify_async(token)))
    assert (c.lookups, c.signature_checks) == (4, 4)
    assert len(v.tokens) == 0
    assert len({id(r) for r in results}) == 4


def test_negative_size_is_refused(issuer: Issuer) -> None:
    with pytest.raises(ValueError, match="token_cache_size"):
        Verifier(issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks(), token_cache_size=-1)


# -- authorization is never cached ---------------------------------------------------------
def test_requirements_are_evaluated_on_every_call(issuer: Issuer) -> None:
    v, c = make(issuer)
    token = mint(issuer, claims={"tenant": "acme"})
    calls: list[AccessToken] = []

    def counted(t: AccessToken) -> bool:
        calls.append(t)
        return True

    needs = Requirements(scopes=["read:messages"], claims=[ClaimEquals("tenant", "acme"), counted])
    admin = Requirements(scopes=["admin"])
    for _ in range(3):
        at = v.verify(token)
        v.authorize(at, needs)
        with pytest.raises(InsufficientScope) as info:
            v.authorize(at, admin)
        err = info.value
        assert (err.status_code, err.reason, err.realm) == (403, "insufficient_scope", "api")
        assert err.www_authenticate == (
            'Bearer realm="api", error="insufficient_scope", '
            'error_description="The access token lacks a required scope", scope="admin"'
        )
    assert c.signature_checks == 1
    assert len(calls) == 3


def test_what_a_full_cache_remembers_is_bounded_too(issuer: Issuer) -> None:
    v, c = make(issuer, size=2)
    v.verify(mint(issuer))
    v.verify(mint(issuer))  # full
    long_ago = mint(issuer)
    v.verify(long_ago)  # remembered once
    for _ in range(5):  # more one-off tokens than the cache holds
        v.verify(mint(issuer))
        assert v.tokens.pending() <= 2
    v.verify(long_ago)  # forgotten meanwhile: verified, not stored
    assert long_ago not in v.tokens
    assert c.signature_checks == 9
