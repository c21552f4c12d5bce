"""Helpers shared by the hardening tests: raw JWS assembly, verifiers, refusal capture."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

from bearerguard import BearerError, Verifier
from bearerguard.testing import Issuer, IssuerKey

#: A pinned "now" for verifiers with a test clock (it lies in the past of the real clock).
NOW = 1_750_000_000


def b64(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(header: dict[str, Any] | bytes, payload: dict[str, Any] | bytes, sig: bytes) -> str:
    """A compact JWS from parts, signed by nobody: for tokens the issuer cannot craft."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{b64(h)}.{b64(p)}.{b64(sig)}"


def good_claims(issuer: Issuer, **over: Any) -> dict[str, Any]:
    """Claims that pass every check of a verifier for *issuer*."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer.issuer,
        "sub": "user-1",
        "aud": issuer.audience,
        "iat": now,
        "exp": now + 300,
        "client_id": "test-client",
        "scope": "read:messages",
    }
    claims.update(over)
    return claims


def jwks_verifier(issuer: Issuer, **kw: Any) -> Verifier:
    """Keys fetched over real HTTP from the issuer's JWKS (a fresh cache)."""
    return Verifier(issuer=issuer.issuer, audience=issuer.audience, jwks_uri=issuer.jwks_uri, **kw)


def static_verifier(issuer: Issuer, **kw: Any) -> Verifier:
    """Keys as published right now, no fetching; the clock is pinned at NOW."""
    kw.setdefault("clock", lambda: float(NOW))
    return Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks(), **kw)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    cur: BaseException | None = exc
    while cur is not None:
        yield cur
        cur = cur.__cause__ or cur.__context__


def refuse(v: Verifier, token: str) -> BearerError:
    """Verify *token*, which must be refused; the token must not leak into the exception."""
    try:
        accepted = v.verify(token)
    except BearerError as err:
        for exc in _chain(err):
            assert token not in str(exc) and token not in repr(exc) and token not in repr(exc.args)
        return err
    raise AssertionError(f"accepted: {accepted!r}")


def header_for(key: IssuerKey, alg: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"alg": alg or key.alg, "kid": key.kid, "typ": "at+jwt", **extra}


def now_claims(issuer: Issuer, **over: Any) -> dict[str, Any]:
    return good_claims(issuer, **{"iat": NOW, "exp": NOW + 300, **over})
