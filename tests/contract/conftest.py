"""Contract servers: every entry point's app under uvicorn or gunicorn, started once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bearerguard.testing import Issuer
from tests.contract.servers import Server, running
from tests.contract.table import AUD, DOWN_ISSUER, ENTRY_POINTS, available


@pytest.fixture(scope="session")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD) as iss:
        yield iss


@pytest.fixture(scope="session")
def servers(issuer: Issuer) -> Iterator[dict[str, Server]]:
    env = {
        "BEARERGUARD_ISSUER": f"{issuer.issuer},{DOWN_ISSUER}",
        "BEARERGUARD_AUDIENCE": AUD,
        "BEARERGUARD_TOKEN_LOCATIONS": "header,query,form",
    }
    specs = {
        name: (kind, target, env)
        for name, (kind, target, modules) in ENTRY_POINTS.items()
        if available(modules)
    }
    with running(specs) as started:
        yield started
