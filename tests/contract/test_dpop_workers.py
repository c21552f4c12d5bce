"""DPoP across worker processes sharing one Redis (issue #14): real servers, real Redis.

gunicorn with 4 sync workers and uvicorn with 2 workers, each with
``BEARERGUARD_STORE=redis://…``: the same proof sent many times, in parallel over fresh
connections, is accepted exactly once; a nonce one worker issued is accepted by the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPMessage as Message

import pytest

from bearerguard.testing import Issuer
from bearerguard.testing.dpop import DPoPKey
from tests.contract.servers import Server
from tests.contract.servers import request as send
from tests.contract.table import AUD
from tests.redis_server import RedisServer, redis_server  # noqa: F401

WORKERS = {"gunicorn-4": ("wsgi", "tests.contract.apps.wsgi_app:app", 4),
           "uvicorn-2": ("asgi", "tests.contract.apps.asgi_app:app", 2)}  # fmt: skip
SENDS = 24


@pytest.fixture(scope="module", params=list(WORKERS))
def server(
    request: pytest.FixtureRequest,
    issuer: Issuer,
    redis_server: RedisServer,  # noqa: F811
) -> Iterator[Server]:
    kind, target, workers = WORKERS[request.param]
    env = {
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": AUD,
        "BEARERGUARD_STORE": redis_server.url,
        "BEARERGUARD_DPOP_NONCE": "on",  # the nonce secret is created once in Redis
    }
    started = Server(kind, target, env, workers=workers)
    try:
        started.wait()
        yield started
    finally:
        started.stop()


def _send(server: Server, headers: list[tuple[str, str]]) -> tuple[int, Message, dict]:  # type: ignore[type-arg]
    status, resp_headers, raw = send(server.url, "GET", "/api/private", headers)
    return status, resp_headers, json.loads(raw)  # header names: case-insensitive


def _nonce(server: Server, issuer: Issuer, key: DPoPKey) -> str:
    token = issuer.token(claims={"cnf": {"jkt": key.thumbprint}})
    url = server.url + "/api/private"
    status, headers, body = _send(
        server,
        [("Authorization", f"DPoP {token}"), ("DPoP", key.proof("GET", url, access_token=token))],
    )
    assert (status, body["reason"]) == (401, "dpop_nonce_required")
    assert headers["Cache-Control"] == "no-store"
    return headers["DPoP-Nonce"]


def test_one_proof_is_accepted_exactly_once_across_workers(server: Server, issuer: Issuer) -> None:
    key = DPoPKey("ES256")
    nonce = _nonce(server, issuer, key)
    token = issuer.token(claims={"cnf": {"jkt": key.thumbprint}})
    proof = key.proof("GET", server.url + "/api/private", access_token=token, nonce=nonce)
    headers = [("Authorization", f"DPoP {token}"), ("DPoP", proof)]
    with ThreadPoolExecutor(max_workers=12) as pool:  # each request opens its own connection
        answers = list(pool.map(lambda _: _send(server, headers), range(SENDS)))
    statuses = sorted(a[0] for a in answers)
    assert statuses == [200] + [401] * (SENDS - 1)
    refused = [a[2] for a in answers if a[0] == 401]
    assert {b["reason"] for b in refused} == {"dpop_replayed"}


def test_a_nonce_issued_by_one_worker_is_accepted_by_every_worker(
    server: Server, issuer: Issuer
) -> None:
    key = DPoPKey("ES256")
    nonce = _nonce(server, issuer, key)  # issued by whichever worker answered
    token = issuer.token(claims={"cnf": {"jkt": key.thumbprint}})
    url = server.url + "/api/private"

    def fresh(_: int) -> tuple[int, Message, dict]:  # type: ignore[type-arg]
        proof = key.proof("GET", url, access_token=token, nonce=nonce)
        return _send(server, [("Authorization", f"DPoP {token}"), ("DPoP", proof)])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(fresh, range(SENDS)))
    assert [a[0] for a in answers] == [200] * SENDS, [a[2] for a in answers if a[0] != 200]
    # every success offers the next nonce (RFC 9449 §8.2), readable across origins
    assert all(a[1].get("DPoP-Nonce") for a in answers)
