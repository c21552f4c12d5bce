"""DPoP test kit: a client key that builds proofs (RFC 9449 §4), valid or deliberately wrong.

Example::

    key = DPoPKey("ES256")
    token = issuer.token(claims={"cnf": {"jkt": key.thumbprint}})
    proof = key.proof("GET", "https://api.example.com/messages", access_token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from bearerguard._dpop_util import jwk_thumbprint

from ._keys import (
    _CURVES,
    IssuerKey,
    PrivateKey,
    _jwk_material,
    b64url,
    family,
    key_score,
    sign_bytes,
)

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

    @classmethod
    def from_private_jwk(cls, jwk: Mapping[str, Any]) -> DPoPKey:
        """The key pair of a private JWK carrying its ``alg`` (as :meth:`save` writes it).

        Raises ValueError when *jwk* is not a private EC, RSA or OKP key with an ``alg``
        that key can sign.
        """
        alg = jwk.get("alg")
        if not isinstance(alg, str) or not family(alg) or family(alg) in ("oct", "none"):
            raise ValueError("the JWK has no asymmetric 'alg'")
        try:
            private_key = _private_key(jwk)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise ValueError(f"not a private {jwk.get('kty')!r} JWK ({exc})") from None
        public_jwk = {"kty": "", **_jwk_material(private_key)}
        if key_score(IssuerKey("dpop", "", private_key, public_jwk), alg) != 2:
            # RFC 7518 §3.1: each alg names its key type (and for ES*, its curve).
            raise ValueError(f"a {jwk.get('kty')} key cannot sign {alg}")
        key = IssuerKey("dpop", alg, private_key, public_jwk)
        self = cls.__new__(cls)
        self.alg, self._key = alg, key
        self.jwk = dict(key.public_jwk)
        self.thumbprint = jwk_thumbprint(self.jwk)
        return self

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the private JWK (with ``alg``) to a new file readable by its owner only
        (mode 0600); FileExistsError when *path* exists."""
        data = json.dumps({**self.private_jwk(), "alg": self.alg}, indent=2) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DPoPKey:
        """Read a key written by :meth:`save`; OSError or ValueError when it cannot."""
        with open(path, encoding="utf-8") as f:
            jwk = json.load(f)
        if not isinstance(jwk, dict):
            raise ValueError("not a JWK object")
        return cls.from_private_jwk(jwk)

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


def _int(value: Any) -> int:
    if not isinstance(value, str):
        raise TypeError("a key member is not a string")
    return int.from_bytes(_b64decode(value), "big")


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _private_key(jwk: Mapping[str, Any]) -> PrivateKey:
    kty = jwk.get("kty")
    if kty == "EC":
        curve = _CURVES[jwk["crv"]]()
        public = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), curve)
        return ec.EllipticCurvePrivateNumbers(_int(jwk["d"]), public).private_key()
    if kty == "RSA":
        p, q, d, dp, dq, qi = (_int(jwk[m]) for m in ("p", "q", "d", "dp", "dq", "qi"))
        public_numbers = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"]))
        return rsa.RSAPrivateNumbers(p, q, d, dp, dq, qi, public_numbers).private_key()
    if kty == "OKP":
        raw = _b64decode(jwk["d"]) if isinstance(jwk["d"], str) else b""
        if jwk["crv"] == "Ed25519":
            return ed25519.Ed25519PrivateKey.from_private_bytes(raw)
        if jwk["crv"] == "Ed448":
            return ed448.Ed448PrivateKey.from_private_bytes(raw)
        raise ValueError("crv must be Ed25519 or Ed448")
    raise ValueError("kty must be EC, RSA or OKP")


def _segment(obj: Mapping[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode("utf-8"))
