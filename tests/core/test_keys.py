"""Key sources: the JWKS cache against a REAL HTTP issuer, and static keys.

Cache lifetimes and cooldowns are driven by a fake ``clock=`` given to
``JWKSKeySource``; every fetch is counted where it lands, at the issuer.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bearerguard import (
    AccessToken,
    BearerError,
    InvalidToken,
    JWKSKeySource,
    KeySource,
    KeysUnavailable,
    StaticKeySource,
    Verifier,
)
from bearerguard.discovery import urllib_fetcher
from bearerguard.errors import DESCRIPTIONS
from bearerguard.jwk import import_static
from bearerguard.testing import Issuer, IssuerKey
from tests.expect import join_started


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fresh() -> Iterator[Issuer]:
    """A private RS256 issuer per test: these tests break and rotate it."""
    with Issuer() as issuer:
        yield issuer


def make(
    issuer: Issuer, clock: Callable[[], float] = time.monotonic, **source_options: Any
) -> tuple[Verifier, JWKSKeySource]:
    options: dict[str, Any] = {"cooldown": 10.0, "min_ttl": 0.0, "stale_for": 1000.0}
    options.update(source_options)
    # The token cache is off unless asked for (token_cache=True: the Verifier's default),
    # so that every verify() goes to the key source.
    cache: dict[str, Any] = {} if options.pop("token_cache", False) else {"token_cache_size": 0}
    source = JWKSKeySource(issuer.jwks_uri, clock=clock, **options)
    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience, key_source=source, **cache)
    return verifier, source


def settle() -> None:
    """Wait for background refreshes (they run in threads) to finish."""
    for thread in threading.enumerate():
        if thread.name == "bearerguard-jwks-refresh":
            join_started(thread, 5)


def refusal(call: Callable[[], Any]) -> BearerError:
    with pytest.raises(BearerError) as info:
        call()
    return info.value


def assert_unavailable(err: BearerError, retry_after: str) -> None:
    description = DESCRIPTIONS["keys_unavailable"]
    assert isinstance(err, KeysUnavailable)
    assert (err.status_code, err.reason, err.www_authenticate) == (503, "keys_unavailable", None)
    assert err.headers() == {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "Retry-After": retry_after,
    }
    assert err.body() == (
        b'{"error_description":"' + description.encode() + b'","reason":"keys_unavailable"}'
    )


def assert_invalid(err: BearerError, reason: str) -> None:
    description = DESCRIPTIONS[reason]
    assert isinstance(err, InvalidToken)
    assert (err.status_code, err.reason) == (401, reason)
    assert err.www_authenticate == (
        f'Bearer realm="api", error="invalid_token", error_description="{description}"'
    )
    assert json.loads(err.body()) == {
        "error": "invalid_token",
        "error_description": description,
        "reason": reason,
    }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def random_kid() -> str:
    return "kid-" + secrets.token_hex(6)


# -- discovery -------------------------------------------------------------------------------


def test_oidc_discovery(fresh: Issuer) -> None:
    v = Verifier(issuer=fresh.issuer, audience=fresh.audience)
    assert v.verify(fresh.token()).subject == "user-1"
    assert (fresh.discovery_fetches, fresh.jwks_fetches) == (1, 1)
    # Default cooldown (30 s): an unknown kid right after does not fetch again.
    assert_invalid(refusal(lambda: v.verify(fresh.token(kid=random_kid()))), "unknown_kid")
    assert (fresh.discovery_fetches, fresh.jwks_fetches) == (1, 1)


def test_rfc8414_fallback() -> None:
    seen: list[str] = []

    def no_oidc(url: str, *, timeout: float, max_bytes: int) -> tuple[bytes, str | None]:
        seen.append(url)
        # The OIDC document is not there (a real 404 from the issuer): RFC 8414 §3 is next.
        url = url.replace("/.well-known/openid-configuration", "/.well-known/not-here")
        return urllib_fetcher(url, timeout=timeout, max_bytes=max_bytes)

    with Issuer(path="tenant") as issuer:
        source = JWKSKeySource(issuer=issuer.issuer, fetcher=no_oidc, cooldown=10)
        v = Verifier(issuer=issuer.issuer, audience=issuer.audience, key_source=source)
        assert v.verify(issuer.token()).issuer == issuer.issuer
        base = f"http://127.0.0.1:{issuer.port}"
        assert seen == [
            f"{base}/tenant/.well-known/openid-configuration",
            f"{base}/.well-known/oauth-authorization-server/tenant",
            f"{base}/tenant/.well-known/jwks.json",
        ]
        assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)


@pytest.mark.parametrize(
    "overrides",
    [{"issuer": "https://evil.example.com/"}, {"jwks_uri": None}, {"jwks_uri": 5}],
    ids=["issuer-mismatch", "no-jwks-uri", "bad-jwks-uri"],
)
def test_bad_metadata_is_keys_unavailable(fresh: Issuer, overrides: dict[str, Any]) -> None:
    fresh.metadata_overrides = overrides
    clock = Clock()
    source = JWKSKeySource(issuer=fresh.issuer, cooldown=10, clock=clock)
    v = Verifier(issuer=fresh.issuer, audience=fresh.audience, key_source=source)
    assert_unavailable(refusal(lambda: v.verify(fresh.token())), "10")
    assert fresh.jwks_fetches == 0


def test_metadata_issuer_with_trailing_slash_difference(fresh: Issuer) -> None:
    # OIDC Discovery §4.3: the metadata issuer must be identical, a slash included.
    fresh.metadata_overrides = {"issuer": fresh.url}
    v = Verifier(issuer=fresh.issuer, audience=fresh.audience)
    assert_unavailable(refusal(lambda: v.verify(fresh.token())), "30")


# -- cache lifetime --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "ttl"),
    [
        ("max-age=50", 50),
        ("public, max-age=70, must-revalidate", 70),
        ('max-age="40"', 40),
        ("max-age=1", 10),  # below min_ttl
        ("max-age=99999", 1000),  # above max_ttl
        (None, 100),  # default_ttl
        ("no-cache", 10),
        ("no-store", 10),
        ("max-age=abc", 100),
    ],
)
def test_cache_control_max_age_within_bounds(
    fresh: Issuer, cache_control: str | None, ttl: float
) -> None:
    fresh.cache_control = cache_control
    clock = Clock()
    v, _ = make(fresh, clock, min_ttl=10, default_ttl=100, max_ttl=1000, cooldown=1)
    token = fresh.token()
    v.verify(token)
    assert fresh.jwks_fetches == 1
    clock.advance(ttl - 0.5)
    v.verify(token)
    settle()
    assert fresh.jwks_fetches == 1
    clock.advance(1)
    v.verify(token)  # served from cache; the refresh runs in the background
    settle()
    assert fresh.jwks_fetches == 2
    v.verify(token)
    settle()
    assert fresh.jwks_fetches == 2


def test_cached_key_never_waits_for_a_slow_refresh(fresh: Issuer) -> None:
    clock = Clock()
    v, _ = make(fresh, clock)
    token = fresh.token()
    v.verify(token)
    fresh.delay = 1.0
    clock.advance(301)  # past max-age=300
    started = time.monotonic()
    v.verify(token)
    assert time.monotonic() - started < 0.5
    settle()
    assert fresh.jwks_fetches == 2


# -- unknown kid and cooldown -----------------------------------------------------------------


def test_unknown_kid_refetch_at_most_once_per_cooldown(fresh: Issuer) -> None:
    clock = Clock()
    v, _ = make(fresh, clock, cooldown=10)
    v.verify(fresh.token())
    for _ in range(25):
        assert_invalid(refusal(lambda: v.verify(fresh.token(kid=random_kid()))), "unknown_kid")
    assert fresh.jwks_fetches == 1
    clock.advance(10)
    for _ in range(25):
        assert_invalid(refusal(lambda: v.verify(fresh.token(kid=random_kid()))), "unknown_kid")
    assert fresh.jwks_fetches == 2
    clock.advance(9.9)
    assert_invalid(refusal(lambda: v.verify(fresh.token(kid=random_kid()))), "unknown_kid")
    assert fresh.jwks_fetches == 2


def test_unknown_kid_with_the_shared_verifier(issuer: Issuer, verifier: Verifier) -> None:
    verifier.verify(issuer.token())
    assert issuer.jwks_fetches == 1
    time.sleep(0.25)  # the fixture's cooldown is 0.2 s
    token = issuer.token(kid=random_kid())
    assert_invalid(refusal(lambda: verifier.verify(token)), "unknown_kid")
    # Once its 0.2 s cooldown has passed, the fixture's verifier refetches on an unknown kid.
    # (That no second fetch follows within the cooldown is asserted with a fake clock in
    # test_unknown_kid_refetch_at_most_once_per_cooldown: with the real clock a loaded
    # machine can take longer than 0.2 s between two calls.)
    assert issuer.jwks_fetches == 2


def test_concurrent_misses_in_threads_share_one_fetch(fresh: Issuer) -> None:
    v, _ = make(fresh, cooldown=0)
    v.verify(fresh.token())
    new = fresh.new_key("RS256")
    token = fresh.token(kid=new.kid)
    fresh.reset_counters()
    fresh.delay = 0.3  # the fetch is still running while every thread misses
    barrier = threading.Barrier(20)
    results: list[AccessToken | BaseException] = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(v.verify(token))
        except BaseException as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [r.header["kid"] if isinstance(r, AccessToken) else r for r in results] == [new.kid] * 20
    assert fresh.jwks_fetches == 1


def test_concurrent_misses_in_tasks_share_one_fetch(fresh: Issuer) -> None:
    v, _ = make(fresh, cooldown=0)
    v.verify(fresh.token())
    new = fresh.new_key("ES256")
    token = fresh.token(kid=new.kid)
    fresh.reset_counters()
    fresh.delay = 0.3

    async def main() -> list[AccessToken]:
        return await asyncio.gather(*(v.verify_async(token) for _ in range(20)))

    results = asyncio.run(main())
    assert [r.header["kid"] for r in results] == [new.kid] * 20
    assert fresh.jwks_fetches == 1


def test_first_fetch_async(fresh: Issuer) -> None:
    v, _ = make(fresh)
    assert asyncio.run(v.verify_async(fresh.token())).subject == "user-1"
    assert fresh.jwks_fetches == 1


# -- outages ---------------------------------------------------------------------------------


def test_outage_with_keys_cached(fresh: Issuer) -> None:
    clock = Clock()
    v, _ = make(fresh, clock, cooldown=10, stale_for=1000)
    good = fresh.token()
    v.verify(good)
    with fresh.outage():
        clock.advance(150)  # still fresh (max-age=300): no fetch at all
        v.verify(good)
        clock.advance(200)  # stale: a background refresh fails, the cached key is kept
        v.verify(good)
        settle()
        assert fresh.jwks_fetches == 2
        v.verify(good)
        # An unknown kid cannot be told apart from a new key while the issuer is down.
        unknown = fresh.token(kid=random_kid())
        assert_unavailable(refusal(lambda: v.verify(unknown)), "10")
        assert fresh.jwks_fetches == 2  # within the cooldown: no new attempt
        clock.advance(10)
        assert_unavailable(refusal(lambda: v.verify(unknown)), "10")
        assert fresh.jwks_fetches == 3
        assert_unavailable(refusal(lambda: asyncio.run(v.verify_async(unknown))), "10")
    # The issuer is back: after the cooldown the unknown kid is a plain unknown kid.
    clock.advance(10)
    assert_invalid(refusal(lambda: v.verify(unknown)), "unknown_kid")
    assert fresh.jwks_fetches == 4
    v.verify(good)


def test_stale_grace_exceeded_then_recovery(fresh: Issuer) -> None:
    clock = Clock()
    fresh.cache_control = "max-age=100"
    v, _ = make(fresh, clock, cooldown=10, stale_for=500)
    good = fresh.token()
    v.verify(good)
    with fresh.outage():
        clock.advance(599)  # fresh for 100 s, then served stale for 500 s
        v.verify(good)  # the background refresh fails
        settle()
        assert fresh.jwks_fetches == 2
        clock.advance(1)  # the grace is over: the keys are dropped
        assert_unavailable(refusal(lambda: v.verify(good)), "9")
        assert fresh.jwks_fetches == 2
        clock.advance(10)
        assert_unavailable(refusal(lambda: v.verify(good)), "10")
        assert fresh.jwks_fetches == 3
    clock.advance(10)
    assert v.verify(good).subject == "user-1"
    assert fresh.jwks_fetches == 4


@pytest.mark.parametrize("behaviour", ["error", "garbage", "empty", "huge", "close", "hang"])
def test_broken_jwks_with_nothing_cached(fresh: Issuer, behaviour: str) -> None:
    clock = Clock()
    v, _ = make(fresh, clock, cooldown=10, timeout=0.3)
    token = fresh.token()
    fresh.behaviour = behaviour
    started = time.monotonic()
    assert_unavailable(refusal(lambda: v.verify(token)), "10")
    assert time.monotonic() - started < 2
    assert fresh.jwks_fetches == 1
    fresh.behaviour = "ok"
    assert_unavailable(refusal(lambda: v.verify(token)), "10")  # cooldown: no retry yet
    clock.advance(10)
    assert v.verify(token).subject == "user-1"
    assert fresh.jwks_fetches == 2


@pytest.mark.parametrize("uri", ["file:///etc/passwd", "http://127.0.0.1:9/jwks.json"])
def test_unusable_and_unreachable_sources(uri: str) -> None:
    source = JWKSKeySource(uri, timeout=0.5)
    v = Verifier(issuer="https://i.example/", audience="urn:api", key_source=source)
    head = b64url(b'{"alg":"ES256","kid":"k"}')
    body = b64url(b'{"iss":"https://i.example/","aud":"urn:api","exp":4102444800}')
    token = f"{head}.{body}.{b64url(bytes(64))}"
    assert_unavailable(refusal(lambda: v.verify(token)), "30")


def test_source_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="jwks_uri or an issuer"):
        JWKSKeySource()
    bad: list[dict[str, Any]] = [
        {"min_ttl": 10, "default_ttl": 5},
        {"cooldown": -1},
        {"timeout": 0},
    ]
    for options in bad:
        with pytest.raises(ValueError, match="JWKSKeySource"):
            JWKSKeySource("https://i.example/jwks", **options)
    assert isinstance(JWKSKeySource("https://i.example/jwks"), KeySource)


# -- rotation --------------------------------------------------------------------------------


def test_rotation(fresh: Issuer) -> None:
    clock = Clock()
    v, _ = make(fresh, clock, cooldown=10, token_cache=True)
    old_token = fresh.token()
    v.verify(old_token)  # cached by the verifier
    clock.advance(10)
    new = fresh.rotate(remove_old=True)
    new_token = fresh.token(kid=new.kid)
    assert v.verify(new_token).header["kid"] == new.kid
    assert fresh.jwks_fetches == 2
    # The old key left the set: the cached verification is void.
    assert_invalid(refusal(lambda: v.verify(old_token)), "unknown_kid")
    assert fresh.jwks_fetches == 2
    v.verify(new_token)


def test_rotation_keeping_the_old_key(fresh: Issuer) -> None:
    clock = Clock()
    v, _ = make(fresh, clock, cooldown=10)
    old_token = fresh.token()
    v.verify(old_token)
    clock.advance(10)
    new = fresh.rotate()
    assert v.verify(fresh.token(kid=new.kid)).header["kid"] == new.kid
    assert v.verify(old_token).header["kid"] != new.kid
    assert fresh.jwks_fetches == 2


def test_cached_token_voided_by_a_background_refresh(fresh: Issuer) -> None:
    clock = Clock()
    v, _ = make(fresh, clock, cooldown=10, token_cache=True)
    old_token = fresh.token()
    v.verify(old_token)
    fresh.rotate(remove_old=True)
    clock.advance(301)  # past max-age: the next lookup refreshes in the background
    v.verify(fresh.token())
    settle()
    assert fresh.jwks_fetches == 2
    assert_invalid(refusal(lambda: v.verify(old_token)), "unknown_kid")


def test_unusable_keys_are_skipped(fresh: Issuer) -> None:
    enc = fresh.new_key("RS256", publish=False, use="enc")
    ops = fresh.new_key("ES256", publish=False)
    fresh.extra_jwks = [
        enc.public_jwk,
        {**ops.public_jwk, "key_ops": ["encrypt"]},
        {"kty": "XYZ", "kid": "weird", "x": "abc"},
        {"kty": "oct", "kid": "sym", "k": "c2VjcmV0c2VjcmV0c2VjcmV0"},
        {"kty": "RSA", "kid": "broken", "n": 1, "e": "AQAB"},
        {"kty": "EC", "kid": "bad-curve", "crv": "P-999", "x": "AA", "y": "AA"},
        "not-a-jwk",  # type: ignore[list-item]  # not even an object, on purpose
    ]
    clock = Clock()
    v, _ = make(fresh, clock)
    assert v.verify(fresh.token()).subject == "user-1"
    for token in (
        fresh.token(key=enc),
        fresh.token(key=ops, kid=ops.kid, alg="ES256"),
        fresh.token(kid="weird"),
        fresh.token(kid="sym"),
        fresh.token(kid="broken"),
    ):
        assert_invalid(refusal(functools.partial(v.verify, token)), "unknown_kid")


def test_set_of_only_unusable_keys_is_unavailable(fresh: Issuer) -> None:
    enc = fresh.new_key("RS256", publish=False, use="enc")
    fresh.remove_key(fresh.current_key.kid)
    fresh.extra_jwks = [enc.public_jwk, {"kty": "oct", "k": "c2VjcmV0"}]
    v, _ = make(fresh, Clock())
    assert_unavailable(refusal(lambda: v.verify(fresh.token(key=enc))), "10")


# -- static keys -----------------------------------------------------------------------------


def static_forms(issuer: Issuer) -> dict[str, Any]:
    key = issuer.current_key
    return {
        "pem-bytes": key.public_pem(),
        "pem-str": key.public_pem().decode(),
        "pkcs1-pem": key.public_pkcs1_pem(),
        "key-object": key.public_key(),
        "jwk": key.public_jwk,
        "jwks": {"keys": [key.public_jwk]},
        "list": [key.public_jwk, IssuerKey.generate("ES256").public_jwk],
    }


@pytest.mark.parametrize(
    "form", ["pem-bytes", "pem-str", "pkcs1-pem", "key-object", "jwk", "jwks", "list"]
)
def test_static_keys(issuer: Issuer, form: str) -> None:
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=static_forms(issuer)[form])
    assert v.verify(issuer.token(kid="")).subject == "user-1"
    assert asyncio.run(v.verify_async(issuer.token(kid=""))).subject == "user-1"
    assert issuer.jwks_fetches == 0


@pytest.mark.parametrize("form", ["jwk", "jwks", "list"])
def test_static_jwks_by_kid(issuer: Issuer, form: str) -> None:
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=static_forms(issuer)[form])
    assert v.verify(issuer.token()).header["kid"] == issuer.current_key.kid
    assert_invalid(refusal(lambda: v.verify(issuer.token(kid=random_kid()))), "unknown_kid")


@pytest.mark.parametrize("form", ["pem-bytes", "key-object"])
def test_static_pem_verifies_tokens_naming_a_kid(issuer: Issuer, form: str) -> None:
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=static_forms(issuer)[form])
    assert v.verify(issuer.token()).subject == "user-1"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("not a pem", "PEM"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "PEM"),
        ({"kty": "oct", "k": "c2VjcmV0"}, "JWK"),
        ({"keys": "x"}, "keys"),
        ({"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}, "no usable"),
        (42, "JWKS, a JWK, PEM"),
    ],
)
def test_bad_static_keys(keys: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Verifier(issuer="https://i.example/", audience="urn:api", keys=keys)


def test_static_source_protocol(issuer: Issuer) -> None:
    source = StaticKeySource(import_static(issuer.current_key.public_jwk))
    assert isinstance(source, KeySource)
    assert source.get_key(issuer.current_key.kid, "RS256").kid == issuer.current_key.kid
    assert_invalid(refusal(lambda: source.get_key("other", "RS256")), "unknown_kid")
    assert_invalid(refusal(lambda: source.get_key(None, "ES256")), "unknown_kid")
