"""I/O for RFC 7662 introspection: the HTTP POST, endpoint discovery, a bounded memory cache.

Nothing here sees a token in a form that could be logged: the form body is built by the caller
and passed through as bytes; error messages name HTTP statuses and exception types only.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote_plus, urlencode, urlsplit

from bearerguard.discovery import Fetcher, FetchError, _Deadline, find_endpoint


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
    """The default :class:`Poster`: stdlib ``http.client``, one deadline, a size cap.

    The deadline is the key-set fetcher's (:mod:`bearerguard.discovery`): it bounds the whole
    exchange and shuts the socket down when it passes, so a server dripping bytes is cut off.
    """
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
    deadline = _Deadline(timeout)

    def remaining() -> float:
        try:
            return deadline.remaining()
        except TimeoutError:
            raise FetchError("deadline exceeded") from None

    def connect(
        address: tuple[str, int], timeout: object = None, source: object = None
    ) -> socket.socket:
        remaining()
        return deadline.connect(address)

    conn._create_connection = connect  # type: ignore[attr-defined]
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
        raise FetchError("deadline exceeded" if deadline.expired else type(exc).__name__) from None
    finally:
        if resp is not None:
            resp.close()  # the response holds the socket after conn.close()
        conn.close()
        deadline.close()
    if deadline.expired:
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


def introspection_request(
    token: str, *, client_id: str, client_secret: str, client_auth: str, accept: str
) -> tuple[bytes, dict[str, str]]:
    """The form body and headers of an RFC 7662 §2.1 request about *token*.

    The client authenticates with ``client_secret_basic`` (the ``Authorization`` header) or
    ``client_secret_post`` (the form), RFC 6749 §2.3.1.
    """
    form = {"token": token, "token_type_hint": "access_token"}
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": accept,
        "User-Agent": "bearerguard",
    }
    if client_auth == "client_secret_basic":
        headers["Authorization"] = basic_credentials(client_id, client_secret)
    else:
        form["client_id"] = client_id
        form["client_secret"] = client_secret
    return urlencode(form).encode("ascii"), headers


def discover_introspection_endpoint(
    issuer: str, fetcher: Fetcher, *, timeout: float, max_bytes: int
) -> str:
    """Find ``introspection_endpoint`` in the issuer's metadata (OIDC, then RFC 8414).

    The metadata's ``issuer`` must equal *issuer* (RFC 8414 §3.3); the endpoint must use
    https unless the issuer itself is plain http. Raises :class:`FetchError`.
    """
    # Some servers publish it in only one of the two documents.
    return find_endpoint(
        issuer,
        fetcher,
        "introspection_endpoint",
        timeout=timeout,
        max_bytes=max_bytes,
        in_either=True,
    )


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
