"""I/O for RFC 7662 introspection: the HTTP POST, endpoint discovery, a bounded memory cache.

Nothing here sees a token in a form that could be logged: the form body is built by the caller
and passed through as bytes; error messages name HTTP statuses and exception types only.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote_plus, urlsplit

from bearerguard.discovery import Fetcher, FetchError, fetch_json, metadata_urls


class Poster(Protocol):
    """POST *data* to *url*; return ``(status, body)``; raise :class:`FetchError` or ``OSError``.

    The whole exchange must end within *timeout* seconds and read at most *max_bytes*
    (raise :class:`FetchError` when the body is larger). Redirects are not followed.
    """

    def __call__(
        self, url: str, *, data: bytes, headers: Mapping[str, str], timeout: float, max_bytes: int
    ) -> tuple[int, bytes]: ...


def urllib_poster(
    url: str, *, data: bytes, headers: Mapping[str, str], timeout: float, max_bytes: int
) -> tuple[int, bytes]:
    """The default :class:`Poster`: stdlib ``http.client``, one deadline, a size cap."""
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("only http(s) URLs are fetched")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError("deadline exceeded")
        return left

    # Socket timeouts bound each read only; a server dripping bytes is cut off by shutting
    # the raw socket down (a duplicate survives TLS wrapping) when the deadline passes.
    guards: list[socket.socket] = []
    lock = threading.Lock()
    expired = False

    def connect(
        address: tuple[str, int], timeout: object = None, source: object = None
    ) -> socket.socket:
        sock = socket.create_connection(address, remaining())
        with lock:
            if expired:
                sock.close()
                raise FetchError("deadline exceeded")
            guards.append(sock.dup())
        return sock

    def expire() -> None:
        nonlocal expired
        with lock:
            expired = True
            for guard in guards:
                with contextlib.suppress(OSError):
                    guard.shutdown(socket.SHUT_RDWR)

    conn._create_connection = connect  # type: ignore[attr-defined]
    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    resp: http.client.HTTPResponse | None = None
    try:
        conn.connect()
        sock = conn.sock
        assert sock is not None
        sock.settimeout(remaining())
        conn.request("POST", path, body=data, headers=dict(headers))
        sock.settimeout(remaining())
        resp = conn.getresponse()
        body = b""
        while len(body) <= max_bytes:
            sock.settimeout(remaining())
            chunk = resp.read1(min(65536, max_bytes + 1 - len(body)))
            if not chunk:
                break
            body += chunk
        status = resp.status
    except FetchError:
        raise
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise FetchError("deadline exceeded" if expired else type(exc).__name__) from None
    finally:
        timer.cancel()
        if resp is not None:
            resp.close()  # the response holds the socket after conn.close()
        conn.close()
        with lock:
            for guard in guards:
                guard.close()
    if expired:
        raise FetchError("deadline exceeded")  # a body cut short is not the body
    if len(body) > max_bytes:
        raise FetchError("response too large")
    return status, body


def basic_credentials(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` value for ``client_secret_basic``.

    RFC 6749 §2.3.1: the id and secret are form-urlencoded (Appendix B) before being joined
    by ``:`` and base64-encoded.
    """
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def discover_introspection_endpoint(
    issuer: str, fetcher: Fetcher, *, timeout: float, max_bytes: int
) -> str:
    """Find ``introspection_endpoint`` in the issuer's metadata (OIDC, then RFC 8414).

    The metadata's ``issuer`` must equal *issuer* (RFC 8414 §3.3); the endpoint must use
    https unless the issuer itself is plain http. Raises :class:`FetchError`.
    """
    deadline = time.monotonic() + timeout
    problems: list[str] = []
    for url in metadata_urls(issuer):
        left = deadline - time.monotonic()
        if left <= 0:
            problems.append("deadline exceeded")
            break
        try:
            doc, _ = fetch_json(fetcher, url, timeout=left, max_bytes=max_bytes)
        except FetchError as exc:
            problems.append(str(exc))
            continue
        if doc.get("issuer") != issuer:
            raise FetchError("metadata issuer does not match the configured issuer")
        endpoint = doc.get("introspection_endpoint")
        if not isinstance(endpoint, str):
            # Some servers publish it in only one of the two documents.
            problems.append("metadata has no introspection_endpoint")
            continue
        scheme = urlsplit(endpoint).scheme
        if scheme != "https" and not (scheme == "http" and urlsplit(issuer).scheme == "http"):
            raise FetchError("introspection_endpoint must use https")
        return endpoint
    raise FetchError("discovery failed: " + "; ".join(problems))


class MemoryCache:
    """A bounded, thread-safe in-process cache of ``key -> (until, value)``.

    Expiry is judged against the caller's clock (so an injected clock works); the oldest
    entries are evicted beyond *max_entries*.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: str, now: float) -> bytes | None:
        """The value stored under *key*, or ``None`` when absent or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if now >= entry[0]:
                del self._entries[key]
                return None
            return entry[1]

    def set(self, key: str, value: bytes, until: float) -> None:
        """Store *value* until the clock reads *until*."""
        with self._lock:
            self._entries[key] = (until, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
