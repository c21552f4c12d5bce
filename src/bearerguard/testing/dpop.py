"""DPoP test kit: a client key that builds proofs (RFC 9449 §4), valid or deliberately wrong.

Example::

    key = DPoPKey("ES256")
    token = issuer.token(claims={"cnf": {"jkt": key.thumbprint}})
    proof = key.proof("GET", "https://api.example.com/messages", access_token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from bearerguard._dpop_util import jwk_thumbprint

from ._keys import IssuerKey, b64url, sign_bytes

__all__ = ["DPoPKey", "access_token_hash"]


def access_token_hash(access_token: str) -> str:
    """The ``ath`` value for *access_token*: base64url(SHA-256(ASCII token)) (RFC 9449 §4.2)."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def _uint(n: int, size: int = 0) -> str:
    return b64url(n.to_bytes(size or max(1, (n.bit_length() + 7) // 8), "big"))


class DPoPKey:
    """A DPoP client key pair.

    ``alg`` is any JWS algorithm :class:`~bearerguard.testing.IssuerKey` can generate
    (ES256/384/512, PS*/RS*, EdDSA, Ed25519, Ed448; ``size`` for RSA). ``jwk`` is the public
    JWK (key members only), ``thumbprint`` its RFC 7638 thumbprint (the token's ``cnf.jkt``).
    Key material never appears in ``repr()``.
    """

    def __init__(self, alg: str = "ES256", *, size: int | None = None) -> None:
        self.alg = alg
        self._key = IssuerKey.generate(alg, kid="dpop", size=size, use=None, include_alg=False)
        jwk = dict(self._key.public_jwk)
        jwk.pop("kid", None)
        self.jwk: dict[str, Any] = jwk
        self.thumbprint = jwk_thumbprint(jwk)

    def __repr__(self) -> str:
        return f"DPoPKey(alg={self.alg!r}, thumbprint={self.thumbprint!r})"

    def private_jwk(self) -> dict[str, Any]:
        """The JWK with its private members (for building a refused proof)."""
        pk = self._key.private_key
        jwk = dict(self.jwk)
        if isinstance(pk, ec.EllipticCurvePrivateKey):
            jwk["d"] = _uint(pk.private_numbers().private_value, (pk.curve.key_size + 7) // 8)
        elif isinstance(pk, rsa.RSAPrivateKey):
            n = pk.private_numbers()
            jwk.update(d=_uint(n.d), p=_uint(n.p), q=_uint(n.q), dp=_uint(n.dmp1), dq=_uint(n.dmq1))
            jwk["qi"] = _uint(n.iqmp)
        elif isinstance(pk, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
            raw = pk.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            jwk["d"] = b64url(raw)
        return jwk

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        iat: Any = None,
        jti: Any = None,
        typ: str | None = "dpop+jwt",
        alg: str | None = None,
        jwk: Any = None,
        extra_header: Mapping[str, Any] | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
        include_private: bool = False,
        ath: str | None = None,
        signed_by: DPoPKey | None = None,
        signature: bytes | None = None,
    ) -> str:
        """Build a compact-JWS DPoP proof for *method* and *url* (``htm``, ``htu``).

        Defaults make a valid proof: a fresh ``jti``, ``iat`` now, ``ath`` when
        *access_token* is given, ``nonce`` when given. Defects: ``typ``/``alg`` override the
        header (None omits ``typ``), ``jwk`` replaces the key in the header (any
        JSON value),
        ``include_private`` adds the private members, ``extra_header``/``extra_claims`` merge
        (None removes a member), ``drop`` removes claims, ``ath`` overrides the hash,
        ``signed_by`` signs with another key, ``signature`` sets raw signature bytes.
        """
        header: dict[str, Any] = {"typ": typ, "alg": alg or self.alg}
        if typ is None:
            del header["typ"]
        header["jwk"] = (
            (dict(jwk) if isinstance(jwk, Mapping) else jwk)
            if jwk is not None
            else (self.private_jwk() if include_private else dict(self.jwk))
        )
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16) if jti is None else jti,
            "htm": method,
            "htu": url,
            "iat": int(time.time()) if iat is None else iat,
        }
        if access_token is not None or ath is not None:
            claims["ath"] = ath if ath is not None else access_token_hash(access_token or "")
        if nonce is not None:
            claims["nonce"] = nonce
        for target, extra in ((header, extra_header), (claims, extra_claims)):
            for name, value in (extra or {}).items():
                if value is None:
                    target.pop(name, None)
                else:
                    target[name] = value
        for name in drop:
            claims.pop(name, None)
        signing_input = f"{_segment(header)}.{_segment(claims)}"
        if signature is None:
            signer = (signed_by or self)._key
            signature = sign_bytes(signer, alg or self.alg, signing_input.encode("ascii"))
        return f"{signing_input}.{b64url(signature)}"


def _segment(obj: Mapping[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode("utf-8"))
