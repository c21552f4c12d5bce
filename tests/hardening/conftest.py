"""Fixtures for the hardening suite: real test issuers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bearerguard.testing import Issuer


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    """One issuer per module (started; stopped at the end)."""
    with Issuer(audience="https://api.example.com") as iss:
        yield iss


@pytest.fixture
def fresh_issuer() -> Iterator[Issuer]:
    """A fresh issuer for the attacks that publish extra keys (others share the module's)."""
    with Issuer(audience="https://api.example.com") as iss:
        yield iss


@pytest.fixture(scope="module")
def attacker() -> Iterator[Issuer]:
    """A second, hostile issuer: nothing may ever fetch from it."""
    with Issuer(audience="https://api.example.com") as iss:
        yield iss
