"""Regression tests for issue #11's key-source findings 2, 7, 8 and 11.

Each test is named after its finding and runs against real HTTP on 127.0.0.1: a test
issuer (bearerguard.testing.Issuer) and, for the fetch that never ends, a raw-socket
server that trickles its answer one byte every 0.2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bearerguard import BearerError, InvalidToken, JWKSKeySource, KeysUnavailable, Verifier
from bearerguard.discovery import urllib_fetcher
from bearerguard.testing import Issuer

from ._keyset import COOLDOWN, Clock, assert_503, serve_issuer

TIMEOUT = 1.0  # the key source's whole-fetch deadline in these tests
BOUND = TIMEOUT + 0.75  # what a waiter may take at most: the deadline plus scheduling slack
SLOW = 0.6  # "slow" mode: each answer whole, after this long (less than TIMEOUT)
TRICKLE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 99999\r\n\r\n{"


class TrickleServer:
    """An HTTP server on 127.0.0.1 whose answers trickle (one byte every 0.2 s) until healed.

    ``mode``: ``"trickle"`` (status line and headers one byte at a time, never ending) or
    ``"ok"`` (the document for the path, at once) or ``"slow"`` (the same after ``SLOW`` s).
    ``documents`` maps a path to a JSON value.
    Every connection runs in its own thread; ``stop()`` ends them all and joins them.
    """

    def __init__(self) -> None:
        self.mode = "trickle"
        self.documents: dict[str, Any] = {}
        self.requests: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open = 0  # trickling connections the client has not hung up on yet
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="trickle-accept", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open_trickles(self) -> int:
        with self._lock:
            return self._open

    def __enter__(self) -> TrickleServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._acceptor.join(5)
        for t in list(self._threads):
            t.join(5)
        self._listener.close()
        assert not self._acceptor.is_alive()
        assert not any(t.is_alive() for t in self._threads)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            head = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
            path = head.split(b" ", 2)[1].decode() if head.count(b" ") >= 2 else "/"
            with self._lock:
                self.requests.append(path)
            if self.mode == "slow" and self._stop.wait(SLOW):
                return
            if self.mode in ("ok", "slow"):
                body = json.dumps(self.documents.get(path, {})).encode()
                status = b"200 OK" if path in self.documents else b"404 Not Found"
                with contextlib.suppress(OSError):
                    conn.sendall(
                        b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                        b"Connection: close\r\n\r\n" + body
                    )
                return
            with self._lock:
                self._open += 1
            try:
                for i in range(10_000):  # 2000 s at most: the client must hang up long before
                    conn.sendall(TRICKLE[i % len(TRICKLE) : i % len(TRICKLE) + 1])
                    if self._stop.wait(0.2):
                        return
            except OSError:
                return  # the client hung up: what the whole-fetch deadline must cause
            finally:
                with self._lock:
                    self._open -= 1


@pytest.fixture
def trickle() -> Iterator[TrickleServer]:
    with TrickleServer() as server:
        yield server


def _wait_until(predicate: Any, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def _sync_refusals(v: Verifier, token: str, n: int) -> list[tuple[BaseException | None, float]]:
    """*n* threads verify *token* at once; each returns (what it raised, seconds taken)."""
    results: list[tuple[BaseException | None, float]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(n)

    def one() -> None:
        barrier.wait(5)
        started = time.monotonic()
        try:
            v.verify(token)
            outcome: BaseException | None = None
        except BaseException as exc:  # reported below
            outcome = exc
        with lock:
            results.append((outcome, time.monotonic() - started))

    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 10)  # bounded even when the key source is not
    assert not any(t.is_alive() for t in threads), "a sync caller is still waiting for keys"
    return results


async def _async_refusals(v: Verifier, token: str, n: int) -> list[tuple[Any, float]]:
    async def one() -> tuple[Any, float]:
        started = time.monotonic()
        try:
            await v.verify_async(token)
            outcome: Any = None
        except BearerError as exc:
            outcome = exc
        return outcome, time.monotonic() - started

    try:  # bounded even when the key source is not
        return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(n))), TIMEOUT * 10)
    except asyncio.TimeoutError:
        raise AssertionError("async callers are still waiting for keys") from None


def _assert_all_503_in_time(results: list[tuple[Any, float]], n: int) -> None:
    assert len(results) == n
    for outcome, took in results:
        assert isinstance(outcome, KeysUnavailable), outcome
        assert_503(outcome, retry_after=int(COOLDOWN))
        assert took < BOUND, f"a caller waited {took:.2f} s for a {TIMEOUT} s deadline"


# -- finding 2: a trickling endpoint keeps a fetch alive forever ------------------------------


@pytest.mark.parametrize("where", ["jwks", "discovery"])
def test_finding_2_trickling_endpoint_bounded_by_one_deadline(
    trickle: TrickleServer, where: str
) -> None:
    clock = Clock()
    with Issuer(audience="https://api.example.com") as iss:
        issuer_id = trickle.url + "/"
        trickle.documents = {
            "/.well-known/openid-configuration": {
                "issuer": issuer_id,
                "jwks_uri": trickle.url + "/jwks",
            },
            "/jwks": iss.jwks(),
        }
        options: dict[str, Any] = {"cooldown": COOLDOWN, "timeout": TIMEOUT, "clock": clock}
        if where == "jwks":
            source = JWKSKeySource(trickle.url + "/jwks", **options)
        else:
            source = JWKSKeySource(issuer=issuer_id, **options)
        v = Verifier(issuer=issuer_id, audience=iss.audience, key_source=source, token_cache_size=0)
        token = iss.token(issuer=issuer_id)

        # Threads sharing one stuck flight: each gets 503 within the deadline.
        _assert_all_503_in_time(_sync_refusals(v, token, 4), 4)
        # The fetcher hung up on the trickle itself (no thread left trickling forever).
        assert _wait_until(lambda: trickle.open_trickles == 0, 2.0)

        # A new flight after the cooldown; asyncio tasks wait on it, bounded alike.
        clock.advance(COOLDOWN)
        _assert_all_503_in_time(asyncio.run(_async_refusals(v, token, 5)), 5)

        # Threads and tasks on one stuck flight together.
        clock.advance(COOLDOWN)
        mixed: list[list[tuple[Any, float]]] = []
        helper = threading.Thread(target=lambda: mixed.append(_sync_refusals(v, token, 2)))
        helper.start()
        _assert_all_503_in_time(asyncio.run(_async_refusals(v, token, 3)), 3)
        helper.join(TIMEOUT * 10)
        _assert_all_503_in_time(mixed[0], 2)
        assert _wait_until(lambda: trickle.open_trickles == 0, 2.0)

        # The endpoint recovers: the stuck flights block nothing, a later fetch succeeds.
        trickle.mode = "ok"
        clock.advance(COOLDOWN)
        assert v.verify(token).subject == "user-1"
        assert asyncio.run(v.verify_async(token)).subject == "user-1"
    assert source.fetches == 4


def test_finding_2_discovery_and_jwks_share_one_deadline(trickle: TrickleServer) -> None:
    # Each answer alone comes within the timeout (0.6 s of 1 s); both together do not.
    trickle.mode = "slow"
    with Issuer(audience="https://api.example.com") as iss:
        issuer_id = trickle.url + "/"
        trickle.documents = {
            "/.well-known/openid-configuration": {
                "issuer": issuer_id,
                "jwks_uri": trickle.url + "/jwks",
            },
            "/jwks": iss.jwks(),
        }
        clock = Clock()
        source = JWKSKeySource(issuer=issuer_id, timeout=TIMEOUT, cooldown=COOLDOWN, clock=clock)
        v = Verifier(issuer=issuer_id, audience=iss.audience, key_source=source)
        token = iss.token(issuer=issuer_id)
        started = time.monotonic()
        with pytest.raises(KeysUnavailable) as info:
            v.verify(token)
        assert time.monotonic() - started < BOUND
        assert_503(info.value, retry_after=int(COOLDOWN))
        assert trickle.requests == ["/.well-known/openid-configuration", "/jwks"]
        # Either answer alone fits: with the JWKS known, the next fetch succeeds.
        clock.advance(COOLDOWN)
        assert v.verify(token).subject == "user-1"
        assert trickle.requests[2:] == ["/jwks"]


# -- finding 7: an unparseable jwks_uri gave a 500 --------------------------------------------

BAD_JWKS_URIS = [
    "http://[::1",  # unparseable (the review's case)
    "http://[::1]:99999/jwks",  # port out of range
    "http://127.0.0.1:notaport/jwks",
    "ftp://127.0.0.1/jwks",  # not http(s)
    "//127.0.0.1/jwks",  # relative
    "http:///jwks",  # no host
    "http://127.0.0.1/jw ks",  # a space
    "http://127.0.0.1/jwks\r\nX-Injected: 1",
]


@pytest.mark.parametrize("bad", BAD_JWKS_URIS)
def test_finding_7_bad_discovered_jwks_uri_is_503(bad: str) -> None:
    clock = Clock()
    with serve_issuer() as iss:
        iss.metadata_overrides = {"jwks_uri": bad}
        source = JWKSKeySource(issuer=iss.issuer, cooldown=COOLDOWN, timeout=TIMEOUT, clock=clock)
        v = Verifier(issuer=iss.issuer, audience=iss.audience, key_source=source)
        token = iss.token()
        with pytest.raises(KeysUnavailable) as info:
            v.verify(token)
        assert_503(info.value, retry_after=int(COOLDOWN))
        clock.advance(COOLDOWN)
        with pytest.raises(KeysUnavailable) as ainfo:
            asyncio.run(v.verify_async(token))
        assert_503(ainfo.value, retry_after=int(COOLDOWN))
        assert (iss.discovery_fetches, iss.jwks_fetches) == (2, 0)


@pytest.mark.parametrize("bad", BAD_JWKS_URIS)
def test_finding_7_bad_configured_jwks_uri_is_503(bad: str) -> None:
    source = JWKSKeySource(bad, cooldown=COOLDOWN, timeout=TIMEOUT, clock=Clock())
    with serve_issuer() as iss:
        v = Verifier(issuer=iss.issuer, audience=iss.audience, key_source=source)
        with pytest.raises(KeysUnavailable) as info:
            v.verify(iss.token())
    assert_503(info.value, retry_after=int(COOLDOWN))


def test_finding_7_http_jwks_uri_for_https_issuer_is_503() -> None:
    # An https issuer whose metadata names a plain-http jwks_uri: refused (downgrade).
    https_issuer = "https://idp.example/"
    with serve_issuer() as iss:
        iss.metadata_overrides = {"issuer": https_issuer, "jwks_uri": iss.jwks_uri}

        def to_local(url: str, *, timeout: float, max_bytes: int) -> tuple[bytes, str | None]:
            local = url.replace("https://idp.example", iss.url)
            return urllib_fetcher(local, timeout=timeout, max_bytes=max_bytes)

        source = JWKSKeySource(
            issuer=https_issuer, fetcher=to_local, cooldown=COOLDOWN, clock=Clock()
        )
        v = Verifier(issuer=https_issuer, audience=iss.audience, key_source=source)
        with pytest.raises(KeysUnavailable) as info:
            v.verify(iss.token(issuer=https_issuer))
        assert_503(info.value, retry_after=int(COOLDOWN))
        assert (iss.discovery_fetches, iss.jwks_fetches) == (1, 0)


# -- finding 8: a narrowed alg was kept after refresh -----------------------------------------


def test_finding_8_refreshed_key_set_replaces_key_metadata() -> None:
    clock = Clock()
    with serve_issuer() as iss:
        key = iss.current_key
        source = JWKSKeySource(iss.jwks_uri, cooldown=COOLDOWN, timeout=TIMEOUT, clock=clock)
        v = Verifier(issuer=iss.issuer, audience=iss.audience, key_source=source)  # cache on
        rs_token = iss.token(alg="RS256", key=key)
        assert v.verify(rs_token).header == {"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}
        assert iss.jwks()["keys"][0]["alg"] == "RS256"

        # The issuer narrows the key to PS256: same kid, same key material.
        key.public_jwk["alg"] = "PS256"
        assert iss.jwks()["keys"][0]["alg"] == "PS256"
        clock.advance(COOLDOWN)
        with pytest.raises(InvalidToken) as miss:  # an unknown kid refreshes the set
            v.verify(iss.token(kid="not-published", key=key))
        assert miss.value.reason == "unknown_kid"
        assert iss.jwks_fetches == 2

        ps_token = iss.token(alg="PS256", key=key)
        assert v.verify(ps_token).header["alg"] == "PS256"
        assert asyncio.run(v.verify_async(ps_token)).header["alg"] == "PS256"
        for token in (rs_token, iss.token(alg="RS256", key=key)):  # cached, then fresh
            with pytest.raises(InvalidToken) as info:
                v.verify(token)
            assert (info.value.status_code, info.value.reason) == (401, "key_alg_mismatch")
        assert iss.jwks_fetches == 2


# -- finding 11: the fetch-failure warning logged credentials in the URL ----------------------

SECRET = "s3cr3t-Tq9"


def _assert_no_credentials(records: list[logging.LogRecord], logged_url: str) -> None:
    messages = [r.getMessage() for r in records if r.name.startswith("bearerguard")]
    assert any(logged_url in m for m in messages), messages  # the URL is there, redacted
    for record in records:
        text = record.getMessage() + repr(record.args) + str(record.exc_text or "")
        for leak in ("user:pass", "pass@", "secret=", SECRET, "#frag"):
            assert leak not in text, text


def test_finding_11_configured_jwks_uri_logged_without_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:  # a port nobody listens on: the fetch fails
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://user:pass@127.0.0.1:{port}/.well-known/jwks.json?secret={SECRET}#frag"
    source = JWKSKeySource(uri, cooldown=COOLDOWN, timeout=TIMEOUT, clock=Clock())
    with serve_issuer() as iss:
        v = Verifier(issuer=iss.issuer, audience=iss.audience, key_source=source)
        with caplog.at_level(logging.DEBUG), pytest.raises(KeysUnavailable):
            v.verify(iss.token())
    _assert_no_credentials(caplog.records, f"http://127.0.0.1:{port}/.well-known/jwks.json")


def test_finding_11_discovered_jwks_uri_logged_without_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with serve_issuer() as iss:
        iss.behaviour = "error"  # the key set answers 503 ...
        iss.discovery_behaviour = "ok"  # ... after discovery worked
        host = f"127.0.0.1:{iss.port}"
        iss.metadata_overrides = {
            "jwks_uri": f"http://user:pass@{host}/.well-known/jwks.json?secret={SECRET}#frag"
        }
        source = JWKSKeySource(issuer=iss.issuer, cooldown=COOLDOWN, timeout=TIMEOUT)
        v = Verifier(issuer=iss.issuer, audience=iss.audience, key_source=source)
        with caplog.at_level(logging.DEBUG), pytest.raises(KeysUnavailable):
            v.verify(iss.token())
    _assert_no_credentials(caplog.records, f"http://{host}/.well-known/jwks.json")


def test_finding_11_timed_out_fetch_logged_without_credentials(
    trickle: TrickleServer, caplog: pytest.LogCaptureFixture
) -> None:
    uri = f"http://user:pass@127.0.0.1:{trickle.port}/jwks?secret={SECRET}#frag"

    def no_userinfo(url: str, *, timeout: float, max_bytes: int) -> tuple[bytes, str | None]:
        # urllib cannot connect through userinfo; the credentials stay in the configured URL.
        plain = url.replace("user:pass@", "")
        return urllib_fetcher(plain, timeout=timeout, max_bytes=max_bytes)

    source = JWKSKeySource(
        uri, fetcher=no_userinfo, cooldown=COOLDOWN, timeout=TIMEOUT, clock=Clock()
    )
    with Issuer(audience="https://api.example.com") as iss:
        v = Verifier(issuer=iss.issuer, audience=iss.audience, key_source=source)
        with caplog.at_level(logging.DEBUG):
            results = _sync_refusals(v, iss.token(), 1)
    _assert_all_503_in_time(results, 1)
    assert trickle.requests == ["/jwks?secret=" + SECRET]
    _assert_no_credentials(caplog.records, f"http://127.0.0.1:{trickle.port}/jwks")
