"""Helpers for the key-set fault tests: a hand-driven clock, key sources, 503 checks."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bearerguard import BearerError, JWKSKeySource, KeysUnavailable, Verifier
from bearerguard.testing import Issuer

COOLDOWN = 5.0
TTL = 10.0


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextlib.contextmanager
def serve_issuer() -> Iterator[Issuer]:
    """A started issuer without Cache-Control (the source's default TTL applies)."""
    iss = Issuer(audience="https://api.example.com", cache_control=None)
    iss.start()
    try:
        yield iss
    finally:
        iss.delay = 0
        iss.stop()


def make_source(issuer: Issuer, clock: Clock | None = None, **kw: Any) -> JWKSKeySource:
    options: dict[str, Any] = {
        "cooldown": COOLDOWN,
        "timeout": 0.5,
        "min_ttl": 0.0,
        "default_ttl": TTL,
        "max_ttl": TTL,
        **kw,
    }
    if clock is not None:
        options["clock"] = clock
    return JWKSKeySource(issuer.jwks_uri, **options)


def make_verifier(issuer: Issuer, source: JWKSKeySource, cache: int = 0) -> Verifier:
    return Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        key_source=source,
        token_cache_size=cache,
    )


def go_down(issuer: Issuer, how: str) -> None:
    if how == "refused":
        issuer.stop()  # the port is closed: connection refused
    else:
        issuer.behaviour = how


def come_back(issuer: Issuer) -> None:
    issuer.behaviour = "ok"
    issuer.start()  # rebinds the same port after "refused"; a no-op otherwise


def assert_503(err: BearerError, retry_after: int) -> None:
    assert isinstance(err, KeysUnavailable)
    assert err.status_code == 503
    assert err.headers() == {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "Retry-After": str(retry_after),
    }
    assert json.loads(err.body()) == {
        "error_description": "The signing keys cannot be retrieved right now",
        "reason": "keys_unavailable",
    }


def refusal(v: Verifier, token: str) -> BearerError:
    with pytest.raises(BearerError) as info:
        v.verify(token)
    return info.value
