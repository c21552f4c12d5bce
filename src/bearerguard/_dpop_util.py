"""DPoP building blocks: RFC 7638 thumbprints, ``htu`` normalisation, stateless nonces.

Public names are re-exported by :mod:`bearerguard.dpop`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from bearerguard._jose import b64decode

_THUMB_MEMBERS = {"RSA": ("e", "n"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x"), "oct": ("k",)}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url without padding) of *jwk*.

    Only the required members of the key type take part (RFC 7638 §3.2). Raises ValueError
    for an unknown ``kty`` or a missing or non-string required member.
    """
    members = _THUMB_MEMBERS.get(jwk.get("kty"))  # type: ignore[arg-type]
    if members is None:
        raise ValueError("unsupported kty")
    values = {m: jwk.get(m) for m in members}
    if not all(isinstance(v, str) for v in values.values()):
        raise ValueError("missing or non-string JWK member")
    # RFC 7638 §3.3: members in lexicographic order, no whitespace; kty sorts among them.
    canonical = json.dumps({"kty": jwk["kty"], **values}, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def _pct(match: re.Match[str]) -> str:
    # RFC 3986 §6.2.2.1-2: uppercase hex digits; decode octets of unreserved characters.
    octet = int(match.group(1), 16)
    return chr(octet) if octet in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 §5.2.4 (used by §6.2.2.3).
    out: list[str] = []
    while path:
        if path.startswith(("../", "./")):
            path = path[path.index("/") + 1 :]
        elif path.startswith("/./") or path == "/.":
            path = "/" + path[3:]
        elif path.startswith("/../") or path == "/..":
            path = "/" + path[4:]
            if out:
                out.pop()
        elif path in (".", ".."):
            path = ""
        else:
            end = path.find("/", 1)
            end = len(path) if end < 0 else end
            out.append(path[:end])
            path = path[end:]
    return "".join(out)


def normalize_htu(url: str) -> str:
    """*url* normalised for comparing a proof's ``htu`` (RFC 9449 §4.3 (9), RFC 3986 §6.2.2-3).

    Scheme and host lower-case, default port removed, query and fragment dropped,
    percent-encoding normalised (uppercase hex, unreserved characters decoded, characters
    that must be encoded encoded), dot segments removed, empty path -> ``/``. Raises
    ValueError when *url* is not an absolute URL.
    """
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port  # .port raises ValueError when not a number
    if not parts.scheme or not host:
        raise ValueError("not an absolute URL")
    scheme = parts.scheme.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    path = quote(parts.path, safe="/:@!$&'()*+,;=-._~%")
    path = _remove_dot_segments(_PCT.sub(_pct, path)) or "/"
    return f"{scheme}://{netloc}{path}"


class NonceSource:
    """Stateless DPoP server nonces (RFC 9449 §9), valid on every worker sharing *secret*.

    A nonce is ``base64url(slot || HMAC-SHA256(secret, label || slot)[:16])`` with
    ``slot = floor(clock() / window)``; :meth:`valid` accepts the current and previous
    slot, so a nonce lives between *window* and 2 * *window* seconds. Raises ValueError for
    a secret shorter than 16 bytes or a non-positive window.
    """

    def __init__(
        self, secret: bytes, window: float = 300, clock: Callable[[], float] = time.time
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the DPoP nonce secret must be at least 16 bytes")
        if not window > 0:
            raise ValueError("the DPoP nonce window must be positive")
        self._secret = bytes(secret)
        self.window = window
        self._clock = clock

    def _mac(self, slot: bytes) -> bytes:
        return hmac.digest(self._secret, b"bearerguard-dpop-nonce:" + slot, "sha256")[:16]

    def _slot(self) -> int:
        return int(self._clock() // self.window)

    def issue(self) -> str:
        """A fresh nonce for the ``DPoP-Nonce`` header."""
        slot = self._slot().to_bytes(8, "big")
        return b64url(slot + self._mac(slot))

    def valid(self, nonce: object) -> bool:
        """Whether *nonce* was issued with this secret in the current or previous window."""
        if not isinstance(nonce, str) or len(nonce) != 32:
            return False
        try:
            raw = b64decode(nonce)
        except ValueError:
            return False
        slot, mac = raw[:8], raw[8:]
        if int.from_bytes(slot, "big") not in (self._slot(), self._slot() - 1):
            return False
        return hmac.compare_digest(mac, self._mac(slot))
