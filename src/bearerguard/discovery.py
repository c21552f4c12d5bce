"""Fetching over HTTP, and OIDC / RFC 8414 discovery of the ``jwks_uri``.

The default fetcher uses the standard library (no extra dependency), with a
timeout and a size cap on every fetch. Pass your own ``fetcher`` to use
another HTTP client (proxies, custom TLS): any callable
``fetcher(url, timeout=..., max_bytes=...) -> (body: bytes, cache_control: str | None)``
that raises :class:`FetchError` (or any ``OSError``) on failure.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit


class FetchError(Exception):
    """A key-set or metadata fetch failed (network, status, size, format)."""


class Fetcher(Protocol):
    """Fetch *url*; return the body and the ``Cache-Control`` header value."""

    def __call__(self, url: str, *, timeout: float, max_bytes: int) -> tuple[bytes, str | None]: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def urllib_fetcher(url: str, *, timeout: float, max_bytes: int) -> tuple[bytes, str | None]:
    """The default fetcher: stdlib ``urllib``, no redirects, bounded in time and size."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise FetchError("only http(s) URLs are fetched")
    req = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, headers={"Accept": "application/json", "User-Agent": "bearerguard"}
    )
    try:
        with _opener.open(req, timeout=timeout) as resp:
            if resp.status != 200:
                raise FetchError(f"HTTP {resp.status}")
            body = resp.read(max_bytes + 1)
            cache_control = resp.headers.get("Cache-Control")
    except urllib.error.HTTPError as exc:
        raise FetchError(f"HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:  # URLError, timeouts, resets, bad status lines
        raise FetchError(type(exc).__name__) from None
    if len(body) > max_bytes:
        raise FetchError("response too large")
    return body, cache_control


def fetch_json(
    fetcher: Fetcher, url: str, *, timeout: float, max_bytes: int
) -> tuple[dict[str, Any], str | None]:
    """Fetch *url* and parse a JSON object; raise :class:`FetchError` otherwise."""
    try:
        body, cache_control = fetcher(url, timeout=timeout, max_bytes=max_bytes)
    except FetchError:
        raise
    except Exception as exc:
        raise FetchError(type(exc).__name__) from None
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise FetchError("response is not JSON") from None
    if not isinstance(doc, dict):
        raise FetchError("response is not a JSON object")
    return doc, cache_control


def metadata_urls(issuer: str) -> list[str]:
    """Where an issuer's metadata may live: OIDC Discovery first, then RFC 8414 §3."""
    base = issuer.rstrip("/")
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit(
        (parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", "")
    )
    return [base + "/.well-known/openid-configuration", rfc8414]


def discover_jwks_uri(issuer: str, fetcher: Fetcher, *, timeout: float, max_bytes: int) -> str:
    """Find the ``jwks_uri`` in the issuer's metadata.

    The metadata's ``issuer`` must equal the configured one exactly (OIDC
    Discovery §4.3, RFC 8414 §3.3), and a ``jwks_uri`` must use https unless
    the issuer itself is plain http (a development issuer).
    """
    errors = []
    for url in metadata_urls(issuer):
        try:
            doc, _ = fetch_json(fetcher, url, timeout=timeout, max_bytes=max_bytes)
        except FetchError as exc:
            errors.append(str(exc))
            continue
        if doc.get("issuer") != issuer:
            raise FetchError("metadata issuer does not match the configured issuer")
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise FetchError("metadata has no jwks_uri")
        scheme = urlsplit(jwks_uri).scheme
        if scheme != "https" and not (scheme == "http" and urlsplit(issuer).scheme == "http"):
            raise FetchError("jwks_uri must use https")
        return jwks_uri
    raise FetchError("discovery failed: " + "; ".join(errors))
