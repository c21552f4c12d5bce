"""Shared by the start-up warm-up tests (``test_warm*.py``): real servers, a down issuer, waits.

Issue #19 §3: every entry point fetches the keys when the app starts, never fails start-up
when the issuer is down, and answers the first request 503 ``keys_unavailable`` then.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from bearerguard.testing import Issuer

#: RFC 6750 has no code for "keys unavailable": DESIGN.md's 503, no challenge, Retry-After.
UNAVAILABLE_BODY = {
    "error_description": "The signing keys cannot be retrieved right now",
    "reason": "keys_unavailable",
}


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll *predicate* until it holds (True) or *timeout* seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@contextlib.contextmanager
def down_issuer() -> Iterator[Issuer]:
    """An issuer whose port was bound, then closed: every fetch is refused (the IdP is down).

    Its tokens are still signed by its keys, so only the key fetch can fail.
    """
    issuer = Issuer().start()
    issuer.stop()
    yield issuer


def assert_keys_unavailable(response: httpx.Response) -> None:
    """The exact 503 of DESIGN.md's table: no challenge, a Retry-After, the JSON body."""
    assert response.status_code == 503
    assert response.headers.get_list("www-authenticate") == []
    assert response.headers["retry-after"].isdigit()
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == UNAVAILABLE_BODY


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextlib.contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve a WSGI *app* with the standard library's server (a thread per request) on
    127.0.0.1; yield its base URL. (Not werkzeug: the Django tox envs do not install it.)"""
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Threaded(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, server_class=Threaded, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, name="wsgi-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def warm_threads() -> int:
    """How many bearerguard warm-up threads are alive (the design: at most one)."""
    return sum(t.name == "bearerguard-warm-up" for t in threading.enumerate())
