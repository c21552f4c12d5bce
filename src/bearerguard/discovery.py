"""Fetching over HTTP, and OIDC / RFC 8414 discovery of the ``jwks_uri``.

The default fetcher uses the standard library (no extra dependency), with one
deadline for the whole fetch (connect, TLS, headers, body) and a size cap. Pass
your own ``fetcher`` to use another HTTP client (proxies, custom TLS): any callable
``fetcher(url, timeout=..., max_bytes=...) -> (body: bytes, cache_control: str | None)``
that raises :class:`FetchError` (or any ``OSError``) on failure. ``timeout`` is
the time left for the whole fetch; the key source bounds its waiters by it even
when a fetcher overruns it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Protocol
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

__all__ = [
    "FetchError",
    "Fetcher",
    "discover_jwks_uri",
    "fetch_json",
    "find_endpoint",
    "metadata_urls",
    "redact_url",
    "urllib_fetcher",
]


class FetchError(Exception):
    """A key-set or metadata fetch failed (network, status, size, format, bad URL)."""


class Fetcher(Protocol):
    """Fetch *url*; return the body and the ``Cache-Control`` header value."""

    def __call__(self, url: str, *, timeout: float, max_bytes: int) -> tuple[bytes, str | None]: ...


def _split(url: str) -> SplitResult:
    """Parse an absolute http(s) URL with a host, or raise :class:`FetchError`."""
    if any(c <= " " or c == "\x7f" for c in url):
        raise FetchError("bad URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise FetchError("bad URL") from None
    if parts.scheme not in ("http", "https"):
        raise FetchError("only http(s) URLs are fetched")
    if not parts.hostname:
        raise FetchError("bad URL")
    return parts


def redact_url(url: str) -> str:
    """*url* fit for a log line: scheme, host, port and path only.

    Userinfo, query string and fragment may carry credentials and are dropped;
    control characters in the path are percent-encoded. Never raises.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except (ValueError, TypeError, AttributeError):
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    path = quote(parts.path, safe="/%:@!$&'()*+,;=-._~")
    return urlunsplit((quote(parts.scheme, safe=""), quote(netloc, safe="[]:"), path, "", ""))


class _Deadline:
    """Shuts a fetch's sockets down when its time is up, whatever stage it is in.

    A socket timeout bounds each read only: a server sending a byte at a time
    would keep a fetch alive forever. A duplicate of each connected socket is
    kept so that the connection can be shut down even after TLS has wrapped it.
    """

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._guards: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.name = "bearerguard-fetch-deadline"
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("fetch deadline passed")
        return left

    def connect(
        self,
        address: tuple[str, int],
        timeout: float | None = None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        left = self.remaining()
        if isinstance(timeout, (int, float)):
            left = min(timeout, left)
        sock = socket.create_connection(address, left, source_address)
        with self._lock:
            if self.expired:
                sock.close()
                raise TimeoutError("fetch deadline passed")
            self._guards.append(sock.dup())
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for guard in self._guards:
                with contextlib.suppress(OSError):
                    guard.shutdown(socket.SHUT_RDWR)  # wakes a blocked read at once

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for guard in self._guards:
                guard.close()
            self._guards.clear()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _guarded_open(http_class: Any, deadline: _Deadline) -> Any:
    def make(host: str, **kwargs: Any) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection = http_class(host, **kwargs)
        conn._create_connection = deadline.connect  # type: ignore[attr-defined]
        return conn

    return make


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_guarded_open(http.client.HTTPConnection, self._deadline), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline
        self._tls = ssl.create_default_context()

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        make = _guarded_open(http.client.HTTPSConnection, self._deadline)
        return self.do_open(make, req, context=self._tls)


def urllib_fetcher(url: str, *, timeout: float, max_bytes: int) -> tuple[bytes, str | None]:
    """The default fetcher: stdlib ``urllib``, no redirects, bounded in size and in time.

    *timeout* bounds the whole fetch (connect, TLS, headers and body together),
    not each socket read.
    """
    _split(url)
    if timeout <= 0:
        raise FetchError("timed out")
    req = urllib.request.Request(  # noqa: S310 - scheme checked by _split
        url, headers={"Accept": "application/json", "User-Agent": "bearerguard"}
    )
    deadline = _Deadline(timeout)
    opener = urllib.request.build_opener(
        _NoRedirect, _HTTPHandler(deadline), _HTTPSHandler(deadline)
    )
    try:
        with opener.open(req, timeout=timeout) as resp:
            if resp.status != 200:
                raise FetchError(f"HTTP {resp.status}")
            body = resp.read(max_bytes + 1)
            cache_control = resp.headers.get("Cache-Control")
    except urllib.error.HTTPError as exc:
        exc.close()  # the error is the response: never keep its socket open
        raise FetchError(f"HTTP {exc.code}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # URLError, timeouts, resets, bad status lines, a body cut at the deadline
        raise FetchError("timed out" if deadline.expired else type(exc).__name__) from None
    finally:
        deadline.close()
    if deadline.expired:
        raise FetchError("timed out")  # a body cut short at the deadline is not the body
    if len(body) > max_bytes:
        raise FetchError("response too large")
    return body, cache_control


def fetch_json(
    fetcher: Fetcher, url: str, *, timeout: float, max_bytes: int
) -> tuple[dict[str, Any], str | None]:
    """Fetch *url* and parse a JSON object; raise :class:`FetchError` otherwise."""
    _split(url)
    try:
        body, cache_control = fetcher(url, timeout=timeout, max_bytes=max_bytes)
    except FetchError:
        raise
    except Exception as exc:
        raise FetchError(type(exc).__name__) from None
    try:
        doc = json.loads(body)
    except (ValueError, TypeError, RecursionError):
        raise FetchError("response is not JSON") from None
    if not isinstance(doc, dict):
        raise FetchError("response is not a JSON object")
    return doc, cache_control


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may live: OIDC Discovery first, then RFC 8414 §3.

    Raises :class:`FetchError` when *issuer* is not an absolute http(s) URL.
    """
    parts = _split(issuer)
    base = issuer.rstrip("/")
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit(
        (parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", "")
    )
    return [base + "/.well-known/openid-configuration", rfc8414]


def discover_jwks_uri(
    issuer: str,
    fetcher: Fetcher,
    *,
    timeout: float,
    max_bytes: int,
    metadata_issuer: str | None = None,
) -> str:
    """Find the ``jwks_uri`` in the issuer's metadata.

    *timeout* bounds discovery as a whole (every metadata URL tried). The
    metadata's ``issuer`` must equal the configured one exactly (OIDC
    Discovery §4.3, RFC 8414 §3.3), and a ``jwks_uri`` must be an absolute URL
    using https unless the issuer itself is plain http (a development issuer).
    Raises :class:`FetchError` on any failure, a bad URL included. *metadata_issuer* is
    the ``issuer`` the metadata must hold when it differs from where it is found (Entra
    ID's ``common`` metadata names the template ``…/{tenantid}/v2.0``).
    """
    return find_endpoint(
        issuer,
        fetcher,
        "jwks_uri",
        timeout=timeout,
        max_bytes=max_bytes,
        metadata_issuer=metadata_issuer,
    )


def find_endpoint(
    issuer: str,
    fetcher: Fetcher,
    member: str,
    *,
    timeout: float,
    max_bytes: int,
    metadata_issuer: str | None = None,
    in_either: bool = False,
) -> str:
    """The endpoint URL *member* of the issuer's metadata (OIDC Discovery, then RFC 8414).

    One deadline, *timeout*, for every document tried; each read capped at *max_bytes*.
    The metadata's ``issuer`` must be *metadata_issuer* (default: *issuer*) exactly, and
    the endpoint an absolute http(s) URL, https unless the issuer itself is plain http.
    With *in_either*, a document without *member* sends the search on to the next one
    (some servers publish a member in only one of them). Raises :class:`FetchError`.
    """
    expected = issuer if metadata_issuer is None else metadata_issuer
    end = time.monotonic() + timeout
    errors = []
    for url in metadata_urls(issuer):
        left = end - time.monotonic()
        if left <= 0:
            errors.append("timed out")
            break
        try:
            doc, _ = fetch_json(fetcher, url, timeout=left, max_bytes=max_bytes)
        except FetchError as exc:
            errors.append(str(exc))
            continue
        if doc.get("issuer") != expected:
            raise FetchError("metadata issuer does not match the configured issuer")
        endpoint = doc.get(member)
        if not isinstance(endpoint, str):
            if in_either:
                errors.append(f"metadata has no {member}")
                continue
            raise FetchError(f"metadata has no {member}")
        scheme = _split(endpoint).scheme
        if scheme != "https" and urlsplit(issuer).scheme != "http":
            raise FetchError(f"{member} must use https")
        return endpoint
    raise FetchError("discovery failed: " + "; ".join(errors))
