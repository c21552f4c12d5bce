"""Public keys: import (JWK, PEM, key objects) and per-algorithm verification.

Keys are imported once (JWK parsing by joserfc) and kept as ``cryptography``
objects with a ready verify callable per algorithm, so no request re-imports
or re-derives anything. Signatures are always checked by ``cryptography``.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.jwk import ECKey, OKPKey

from bearerguard.errors import InvalidToken

__all__ = [
    "MAX_KEYS",
    "MIN_RSA_BITS",
    "PublicKey",
    "VerifyFn",
    "VerifyKey",
    "import_jwk",
    "import_static",
    "make_hmac_verifier",
    "same_alg",
]

VerifyFn = Callable[[bytes, bytes], bool]  # (signing_input, signature) -> ok
PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

_SHA: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_EC_ALG_CURVE = {"ES256": ("secp256r1", 32), "ES384": ("secp384r1", 48), "ES512": ("secp521r1", 66)}
_THUMB_MEMBERS = {"RSA": ("e", "n"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}
MIN_RSA_BITS = 2048
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def same_alg(a: str, b: str) -> bool:
    """Algorithm names match; ``EdDSA`` and RFC 9864's ``Ed25519`` are one for Ed25519 keys."""
    return a == b or {a, b} == {"EdDSA", "Ed25519"}


class VerifyKey:
    """One imported public key, with verify callables built lazily per algorithm.

    ``active`` turns false when a refresh drops the key from its set, which
    also invalidates tokens it verified in the token cache.
    """

    __slots__ = ("_fns", "active", "alg", "fingerprint", "key", "kid", "kty")

    def __init__(
        self,
        key: PublicKey,
        *,
        kid: str | None = None,
        alg: str | None = None,
        fingerprint: str = "",
    ) -> None:
        self.key = key
        self.kid = kid
        self.alg = alg
        self.kty = (
            "RSA"
            if isinstance(key, rsa.RSAPublicKey)
            else "EC"
            if isinstance(key, ec.EllipticCurvePublicKey)
            else "OKP"
        )
        self.fingerprint = fingerprint or _pem_fingerprint(key)
        self.active = True
        self._fns: dict[str, VerifyFn] = {}

    def fits(self, alg: str) -> bool:
        """True when this key can verify *alg* (type, curve and the JWK's own ``alg``)."""
        if self.alg is not None and not same_alg(self.alg, alg):
            return False
        key = self.key
        if alg[:2] in ("RS", "PS"):
            return isinstance(key, rsa.RSAPublicKey)
        if alg in _EC_ALG_CURVE:
            return (
                isinstance(key, ec.EllipticCurvePublicKey)
                and key.curve.name == _EC_ALG_CURVE[alg][0]
            )
        if alg == "EdDSA":
            return isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey))
        if alg == "Ed25519":
            return isinstance(key, ed25519.Ed25519PublicKey)
        if alg == "Ed448":
            return isinstance(key, ed448.Ed448PublicKey)
        return False

    def verifier(self, alg: str) -> VerifyFn:
        """The verify callable for *alg*; raises :class:`InvalidToken` if the key does not fit."""
        fn = self._fns.get(alg)
        if fn is None:
            if not self.fits(alg):
                raise InvalidToken("key_alg_mismatch")
            if isinstance(self.key, rsa.RSAPublicKey) and self.key.key_size < MIN_RSA_BITS:
                raise InvalidToken("weak_key")
            fn = self._fns[alg] = _make_verifier(self.key, alg)
        return fn


def _make_verifier(key: PublicKey, alg: str) -> VerifyFn:
    if isinstance(key, rsa.RSAPublicKey):
        h = _SHA[alg[2:]]()
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg[:2] == "RS"
            else padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.DIGEST_LENGTH)
        )
        rsa_verify = key.verify

        def verify_rsa(data: bytes, sig: bytes) -> bool:
            try:
                rsa_verify(sig, data, pad, h)
            except InvalidSignature:
                return False
            return True

        return verify_rsa
    if isinstance(key, ec.EllipticCurvePublicKey):
        size = _EC_ALG_CURVE[alg][1]
        algo = ec.ECDSA(_SHA[alg[2:]]())
        ec_verify = key.verify

        def verify_ec(data: bytes, sig: bytes) -> bool:
            # RFC 7518 §3.4: the signature is R || S, fixed width; DER is refused.
            if len(sig) != 2 * size:
                return False
            der = encode_dss_signature(
                int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
            )
            try:
                ec_verify(der, data, algo)
            except InvalidSignature:
                return False
            return True

        return verify_ec
    ed_verify = key.verify

    def verify_ed(data: bytes, sig: bytes) -> bool:
        try:
            ed_verify(sig, data)
        except InvalidSignature:
            return False
        return True

    return verify_ed


def make_hmac_verifier(secret: bytes, alg: str) -> VerifyFn:
    """Verify HS256/384/512 with a configured shared secret (constant-time compare)."""
    digest = {"HS256": "sha256", "HS384": "sha384", "HS512": "sha512"}[alg]

    def verify_hmac(data: bytes, sig: bytes) -> bool:
        return hmac.compare_digest(hmac.digest(secret, data, digest), sig)

    return verify_hmac


def _pem_fingerprint(key: PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ).hex()


def import_jwk(jwk: Any) -> VerifyKey | None:
    """Import one public JWK for signature verification.

    Returns ``None`` for keys that must be skipped without failing the set:
    ``use`` other than ``sig``, ``key_ops`` without ``verify``, symmetric or
    unknown key types, private keys' extra members are ignored, and anything
    malformed.
    """
    if not isinstance(jwk, Mapping):
        return None
    kty = jwk.get("kty")
    if kty not in _THUMB_MEMBERS:
        return None
    use = jwk.get("use")
    if use is not None and use != "sig":
        return None
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    kid = jwk.get("kid")
    alg = jwk.get("alg")
    if (kid is not None and not isinstance(kid, str)) or (
        alg is not None and not isinstance(alg, str)
    ):
        return None
    members: dict[str, Any] = {m: jwk.get(m) for m in _THUMB_MEMBERS[kty]}
    if not all(isinstance(v, str) for v in members.values()):
        return None
    public = {"kty": kty, **members}
    try:
        if kty == "RSA":
            # Built directly: joserfc warns (SecurityWarning) on short keys, and a
            # short key must be kept so that it is refused as weak_key, not skipped.
            n = int.from_bytes(_b64url(members["n"]), "big")
            e = int.from_bytes(_b64url(members["e"]), "big")
            rsa_key = rsa.RSAPublicNumbers(e, n).public_key()
            return VerifyKey(rsa_key, kid=kid, alg=alg, fingerprint=_fingerprint(public))
        cls = {"EC": ECKey, "OKP": OKPKey}[kty]
        imported = cls.import_key(public)  # type: ignore[attr-defined]
        key = imported.public_key
    except Exception:
        return None
    if not isinstance(
        key,
        (
            rsa.RSAPublicKey,
            ec.EllipticCurvePublicKey,
            ed25519.Ed25519PublicKey,
            ed448.Ed448PublicKey,
        ),
    ):
        return None
    return VerifyKey(key, kid=kid, alg=alg, fingerprint=_fingerprint(public))


def _fingerprint(public: dict[str, Any]) -> str:
    return json.dumps(public, sort_keys=True, separators=(",", ":"))


def _b64url(value: str) -> bytes:
    if not value or _B64URL.fullmatch(value) is None:
        raise ValueError("bad base64url")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


#: The most keys imported from one JWK Set document; the rest are ignored.
MAX_KEYS = 200


def import_static(keys: Any) -> list[VerifyKey]:
    """Import keys given directly: a JWKS dict, a JWK dict, PEM text/bytes, a key object, or a list of these."""
    if isinstance(keys, (list, tuple)):
        return [k for item in keys for k in import_static(item)]
    if isinstance(keys, Mapping):
        if "keys" in keys:
            items = keys["keys"]
            if not isinstance(items, list):
                raise ValueError("a JWKS must have a 'keys' list")
            # The same cap as a fetched set (bearerguard.keyset.MAX_KEYS).
            out = [k for k in (import_jwk(j) for j in items[:MAX_KEYS]) if k is not None]
        else:
            one = import_jwk(keys)
            if one is None:
                raise ValueError("the JWK given is not a usable public signing key")
            out = [one]
        return out
    if isinstance(keys, str):
        keys = keys.encode()
    if isinstance(keys, bytes):
        try:
            loaded = serialization.load_pem_public_key(keys)
        except ValueError:
            raise ValueError("keys: PEM data is not a public key") from None
        keys = loaded
    if isinstance(
        keys,
        (
            rsa.RSAPublicKey,
            ec.EllipticCurvePublicKey,
            ed25519.Ed25519PublicKey,
            ed448.Ed448PublicKey,
        ),
    ):
        return [VerifyKey(keys)]
    raise ValueError("keys must be a JWKS, a JWK, PEM or a public key object")
