"""No cold first request (issue #19 §3): warm-up in the core and the protocol middleware.

``Verifier.warm()`` is idempotent, shares one background thread between every verifier,
never keeps a dropped verifier alive nor fetches for it, and retries an issuer that is
down. The pure ASGI middleware warms on the lifespan scope (under uvicorn), passing the
app's own lifespan on untouched; the WSGI middleware warms when it is built.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bearerguard import JWKSKeySource, Verifier, _warmup
from bearerguard.middleware.asgi import SCOPE_KEY, BearerAuthASGIMiddleware
from bearerguard.middleware.wsgi import BearerAuthWSGIMiddleware
from bearerguard.testing import Issuer
from tests.middleware.warm_servers import (
    assert_keys_unavailable,
    bearer,
    down_issuer,
    eventually,
    serve_wsgi,
    warm_threads,
)

pytest.importorskip("uvicorn")

from tests.adapters.starlette.servers import serve


@pytest.fixture
def own_issuer() -> Iterator[Issuer]:
    """An issuer of this test alone: its counters see nothing but this test's fetches."""
    with Issuer() as issuer:
        yield issuer


# -- the core: idempotent, one thread, weak, retrying --------------------------------------


def test_warming_twice_starts_one_fetch(own_issuer: Issuer) -> None:
    own_issuer.delay = 0.3  # the first warm-up is still fetching when the others come
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience)
    callers = [threading.Thread(target=verifier.warm) for _ in range(8)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    verifier.warm()
    assert not verifier.ready()  # warm() returned while the fetch was still under way
    assert eventually(verifier.ready)
    verifier.warm()  # warm already: nothing to do
    assert warm_threads() <= 1
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_the_first_request_after_warm_up_fetches_nothing(own_issuer: Issuer) -> None:
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience)
    verifier.warm()
    assert eventually(lambda: own_issuer.jwks_fetches == 1 and verifier.ready())
    assert verifier.verify(own_issuer.token(sub="first")).subject == "first"
    assert own_issuer.jwks_fetches == 1


def test_every_issuer_is_warmed_and_ready_waits_for_all() -> None:
    with Issuer() as one, Issuer() as two:
        two.behaviour = "error"  # two is down at start-up
        verifier = Verifier(issuer=[one.issuer, two.issuer], audience=one.audience)
        verifier.warm()
        assert eventually(lambda: one.jwks_fetches == 1 and two.discovery_fetches >= 1)
        assert not verifier.ready()  # keys of one issuer only: not ready
        assert two.jwks_fetches == 0


def test_an_issuer_down_at_start_up_is_retried_without_any_request(own_issuer: Issuer) -> None:
    source = JWKSKeySource(own_issuer.jwks_uri, cooldown=0.2)  # retried 1 s later
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience, key_source=source)
    with own_issuer.outage():
        verifier.warm()
        assert eventually(lambda: own_issuer.jwks_fetches == 1)
        assert not verifier.ready()
    assert eventually(verifier.ready)  # the retry, no request made
    assert own_issuer.jwks_fetches == 2
    assert verifier.verify(own_issuer.token(sub="late")).subject == "late"
    assert own_issuer.jwks_fetches == 2


def test_many_verifiers_share_one_thread_and_dropped_ones_are_not_fetched_for() -> None:
    # A test suite builds many apps: with the issuer down, they must neither grow a thread
    # each nor keep hammering the issuer once they are gone.
    def build(issuer: Issuer) -> Verifier:
        source = JWKSKeySource(issuer.jwks_uri, cooldown=0.2)  # a retry every second
        verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience, key_source=source)
        verifier.warm()
        assert warm_threads() <= 1
        return verifier

    with Issuer() as dropped, Issuer() as kept:
        dropped.behaviour = kept.behaviour = "error"
        for _ in range(30):
            build(dropped)  # and dropped at once
        gc.collect()
        alive = build(kept)
        assert eventually(lambda: dropped.jwks_fetches == 30)  # the first attempts
        assert eventually(lambda: kept.jwks_fetches == 3)  # the kept one is retried...
        assert dropped.jwks_fetches == 30  # ...the dropped ones never again
        assert warm_threads() == 1
        source = alive._all_sources()[0]
        assert _warmup.waiting(source)
        kept.behaviour = "ok"
        assert eventually(alive.ready)  # the next retry succeeds: nothing left to do
        assert eventually(lambda: not _warmup.waiting(source))
        assert dropped.jwks_fetches == 30


THREAD_ENDS = """
import gc, threading, time
from bearerguard import JWKSKeySource, Verifier, _warmup
from bearerguard.testing import Issuer

issuer = Issuer().start()
issuer.stop()  # down: every fetch is refused
verifiers = [
    Verifier(issuer=issuer.issuer, audience=issuer.audience,
             key_source=JWKSKeySource(issuer.jwks_uri, cooldown=30))
    for _ in range(20)
]
for v in verifiers:
    v.warm()
def warm_threads():
    return [t for t in threading.enumerate() if t.name == "bearerguard-warm-up"]
print(len(warm_threads()))
del v, verifiers
gc.collect()
deadline = time.monotonic() + 10
while warm_threads() and time.monotonic() < deadline:
    time.sleep(0.01)
print(len(warm_threads()))
"""


def test_the_warm_up_thread_ends_once_its_verifiers_are_dropped() -> None:
    # In a fresh interpreter: nothing else of the test session waits there. The retries
    # are 30 s apart, yet the thread ends within a second or so of the last drop.
    out = subprocess.run(
        [sys.executable, "-c", THREAD_ENDS], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["1", "0"]


def test_a_key_source_whose_warm_fails_does_not_fail_start_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken:
        def get_key(self, kid: str | None, alg: str) -> Any:
            raise AssertionError("not called")

        async def get_key_async(self, kid: str | None, alg: str) -> Any:
            raise AssertionError("not called")

        def warm(self) -> None:
            raise OSError("no thread")

    verifier = Verifier(
        issuer="https://issuer.invalid/",
        audience="https://api.example.com",
        key_source=Broken(),  # type: ignore[arg-type]
    )
    with caplog.at_level("ERROR", logger="bearerguard.keys"):
        verifier.warm()  # does not raise
    assert [r.getMessage() for r in caplog.records] == ["bearerguard: warm-up failed"]


# -- the pure ASGI middleware: the lifespan scope ------------------------------------------


class InnerASGI:
    """An ASGI app with a lifespan of its own, answering the token's subject."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].removeprefix("lifespan.")
                self.events.append(kind)
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        token = scope.get(SCOPE_KEY)
        body = json.dumps({"sub": token.subject if token is not None else None}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def test_asgi_middleware_warms_on_lifespan_startup(own_issuer: Issuer) -> None:
    inner = InnerASGI()
    app = BearerAuthASGIMiddleware(inner, issuer=own_issuer.issuer, audience=own_issuer.audience)
    assert own_issuer.discovery_fetches == 0  # building the app fetches nothing: start-up does
    with serve(app) as url:
        assert eventually(lambda: own_issuer.jwks_fetches == 1)  # before any request
        assert inner.events == ["startup"]  # the app's own lifespan ran, unchanged
        response = httpx.get(url + "/x", headers=bearer(own_issuer.token(sub="u1")))
        assert response.status_code == 200
        assert response.json() == {"sub": "u1"}
        assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)
    assert inner.events == ["startup", "shutdown"]


def test_asgi_middleware_warms_when_the_app_has_no_lifespan(own_issuer: Issuer) -> None:
    async def http_only(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("only HTTP here")  # uvicorn: lifespan unsupported, goes on
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = BearerAuthASGIMiddleware(
        http_only, issuer=own_issuer.issuer, audience=own_issuer.audience
    )
    with serve(app) as url:
        assert eventually(lambda: own_issuer.jwks_fetches == 1)
        response = httpx.get(url + "/x", headers=bearer(own_issuer.token()))
        assert response.status_code == 204
    assert own_issuer.jwks_fetches == 1


def test_asgi_middleware_starts_with_the_issuer_down_and_answers_503() -> None:
    with down_issuer() as issuer:
        inner = InnerASGI()
        app = BearerAuthASGIMiddleware(inner, issuer=issuer.issuer, audience=issuer.audience)
        with serve(app) as url:
            assert inner.events == ["startup"]  # start-up completed
            assert_keys_unavailable(httpx.get(url + "/x", headers=bearer(issuer.token())))
            assert httpx.get(url + "/x").status_code == 401  # no token: the usual answer


# -- the WSGI middleware: built once, at start ----------------------------------------------


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    token = environ.get("bearerguard.access_token")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"sub": token.subject if token is not None else None}).encode()]


def test_wsgi_middleware_warms_when_built(own_issuer: Issuer) -> None:
    app = BearerAuthWSGIMiddleware(wsgi_app, issuer=own_issuer.issuer, audience=own_issuer.audience)
    assert eventually(lambda: own_issuer.jwks_fetches == 1)  # before the server even starts
    with serve_wsgi(app) as url:
        response = httpx.get(url + "/x", headers=bearer(own_issuer.token(sub="w1")))
        assert response.status_code == 200
        assert response.json() == {"sub": "w1"}
    assert (own_issuer.discovery_fetches, own_issuer.jwks_fetches) == (1, 1)


def test_wsgi_middleware_starts_with_the_issuer_down_and_answers_503() -> None:
    with down_issuer() as issuer:
        app = BearerAuthWSGIMiddleware(wsgi_app, issuer=issuer.issuer, audience=issuer.audience)
        with serve_wsgi(app) as url:
            assert_keys_unavailable(httpx.get(url + "/x", headers=bearer(issuer.token())))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_worker_goes_on_warming(own_issuer: Issuer) -> None:
    # gunicorn --preload: the app (and its warm-up) is built in the master, then forked. The
    # master's warm-up thread does not exist in the worker, which must go on by itself.
    source = JWKSKeySource(own_issuer.jwks_uri, cooldown=0.2)  # retried every second
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience, key_source=source)
    own_issuer.behaviour = "error"
    verifier.warm()
    assert eventually(lambda: own_issuer.jwks_fetches == 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads
        pid = os.fork()
    if pid == 0:  # the worker: no request, only its own warm-up
        ready = eventually(verifier.ready, timeout=15)  # a flight cut by the fork: 5 s
        os._exit(0 if ready else 1)
    own_issuer.behaviour = "ok"  # the issuer is back, for the worker's next attempt
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_worker_forked_during_the_warm_up_fetch_fetches_for_itself(own_issuer: Issuer) -> None:
    # gunicorn --preload forks right after the app warmed: the master's fetch is still under
    # way, its thread is not in the worker. The worker's first request must not wait for it
    # and then be refused for a cooldown: it fetches for itself.
    own_issuer.delay = 1.0
    verifier = Verifier(issuer=own_issuer.issuer, audience=own_issuer.audience)
    token = own_issuer.token(sub="worker")
    verifier.warm()
    assert eventually(lambda: own_issuer.discovery_fetches == 1)  # the fetch is under way
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork() with threads
        pid = os.fork()
    if pid == 0:
        try:
            ok = verifier.verify(token).subject == "worker"
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert eventually(verifier.ready)  # the master's own fetch completed too
