"""Shared fixtures: real test issuers on 127.0.0.1 and a verifier bound to one.

``issuer`` (session)
    A running :class:`~bearerguard.testing.Issuer` publishing one RS256 key,
    audience ``https://api.example.com``. Shared by the whole session: a test
    may change its ``behaviour``, ``delay``, ``cache_control``, ``extra_jwks``,
    ``metadata_overrides``, ``discovery_behaviour`` or published keys; they are
    put back after each test that requests ``issuer``, and the fetch counters
    are reset before it.
``es_issuer`` / ``ed_issuer`` (session)
    The same with one ES256 / one EdDSA (Ed25519) key. Not reset: do not change them.
``verifier`` (function)
    ``Verifier(issuer=issuer.issuer, audience=issuer.audience, key_source=...)``
    with ``JWKSKeySource(issuer.jwks_uri, cooldown=0.2, min_ttl=0, default_ttl=60)``:
    keys over real HTTP, a short cooldown so tests can trigger refetches.

Hypothesis: the ``ci`` profile (derandomized, ``print_blob``) is loaded when ``CI=true``;
``HYPOTHESIS_PROFILE=<name>`` loads any registered profile (``ci``, ``dev``).

A key a test needs only for signing should come from ``IssuerKey.generate(...)``, not
``issuer.new_key(publish=False)``: the shared issuer remembers every key it made, and
``issuer.token(alg=...)`` may later sign with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from bearerguard import JWKSKeySource, Verifier
from bearerguard.testing import Issuer

AUDIENCE = "https://api.example.com"

# Hypothesis profiles. ``ci`` is derandomized (the same examples on every run, so a CI
# failure replays locally with ``HYPOTHESIS_PROFILE=ci``) and prints the reproduce blob.
# Loaded here, before any test module builds its own ``settings(...)`` (those inherit
# every value they do not set, derandomize included).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", derandomize=False, print_blob=False)  # explicit: not CI defaults
_PROFILE = os.environ.get("HYPOTHESIS_PROFILE") or (
    "ci" if os.environ.get("CI", "").lower() == "true" else None
)
if _PROFILE is not None:
    settings.load_profile(_PROFILE)


@pytest.fixture(scope="session")
def _issuer_session() -> Iterator[Issuer]:
    with Issuer(audience=AUDIENCE, algs=("RS256",)) as issuer:
        yield issuer


@pytest.fixture(scope="session")
def issuer(_issuer_session: Issuer) -> Issuer:
    """The session's RS256 test issuer (see the module docstring)."""
    return _issuer_session


@pytest.fixture(autouse=True)
def _restore_issuer(request: pytest.FixtureRequest) -> Iterator[None]:
    # Only for tests that use the shared issuer (directly or through another fixture; a
    # module's own "issuer" override does not count): snapshot its state, restore after.
    if "_issuer_session" not in request.fixturenames:
        yield
        return
    issuer: Issuer = request.getfixturevalue("_issuer_session")
    names = ("behaviour", "delay", "cache_control", "discovery_behaviour")
    saved = {name: getattr(issuer, name) for name in names}
    keys, extra = issuer.keys, list(issuer.extra_jwks)
    overrides = dict(issuer.metadata_overrides)
    issuer.reset_counters()
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(issuer, name, value)
        issuer.extra_jwks, issuer.metadata_overrides = extra, overrides
        for key in issuer.keys:
            if key not in keys:
                issuer.remove_key(key.kid)
        for key in keys:
            issuer.publish(key)


@pytest.fixture(scope="session")
def es_issuer() -> Iterator[Issuer]:
    """A session issuer publishing one ES256 key."""
    with Issuer(audience=AUDIENCE, algs=("ES256",)) as issuer:
        yield issuer


@pytest.fixture(scope="session")
def ed_issuer() -> Iterator[Issuer]:
    """A session issuer publishing one EdDSA (Ed25519) key."""
    with Issuer(audience=AUDIENCE, algs=("EdDSA",)) as issuer:
        yield issuer


@pytest.fixture
def verifier(issuer: Issuer) -> Verifier:
    """A fresh verifier for ``issuer`` (JWKS over HTTP, cooldown 0.2 s)."""
    source = JWKSKeySource(issuer.jwks_uri, cooldown=0.2, min_ttl=0, default_ttl=60)
    return Verifier(issuer=issuer.issuer, audience=issuer.audience, key_source=source)
