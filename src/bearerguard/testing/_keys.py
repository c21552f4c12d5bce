"""Keys of the test issuer: generation, public JWK export and raw JWS signing."""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)
PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
}
_JWK_CRV = {
    "secp256r1": "P-256",
    "secp384r1": "P-384",
    "secp521r1": "P-521",
    "secp256k1": "secp256k1",
}
_ES_CURVE = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}
_BITS = ("256", "384", "512")


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(n: int, size: int = 0) -> str:
    return b64url(n.to_bytes(size or max(1, (n.bit_length() + 7) // 8), "big"))


def family(alg: str) -> str:
    """The key type an ``alg`` needs: RSA, EC, OKP, oct, none, or "" when unknown."""
    a = alg.upper()
    if a == "NONE":
        return "none"
    if a in ("EDDSA", "ED25519", "ED448"):
        return "OKP"
    prefix, bits = a[:2], a[2:5]
    if prefix in ("RS", "PS") and bits in _BITS and len(a) == 5:
        return "RSA"
    if prefix == "ES" and (a == "ES256K" or (bits in _BITS and len(a) == 5)):
        return "EC"
    if prefix == "HS" and bits in _BITS and len(a) == 5:
        return "oct"
    return ""


def _key_family(key: IssuerKey) -> str:
    pk = key.private_key
    if isinstance(pk, bytes):
        return "oct"
    if isinstance(pk, rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(pk, ec.EllipticCurvePrivateKey):
        return "EC"
    return "OKP"


def key_score(key: IssuerKey, alg: str) -> int | None:
    """How well ``key`` fits ``alg`` (higher is better); None when it cannot sign it at all."""
    if key.alg == alg:
        return 3
    fam, have = family(alg), _key_family(key)
    if fam == "oct":
        # An asymmetric key signs HS* with its public PEM as the secret: the alg-confusion attack.
        return 2 if have == "oct" else 0
    if fam != have:
        return None
    pk = key.private_key
    if isinstance(pk, ec.EllipticCurvePrivateKey):
        return 2 if _JWK_CRV.get(pk.curve.name) == _ES_CURVE.get(alg.upper()) else 1
    if isinstance(pk, ed448.Ed448PrivateKey):
        return 1 if alg.upper() == "ED25519" else 2
    if isinstance(pk, ed25519.Ed25519PrivateKey):
        return 1 if alg.upper() == "ED448" else 2
    return 2


def _hash(alg: str) -> hashes.HashAlgorithm:
    bits = "256" if alg.upper() == "ES256K" else alg[2:5]
    if bits == "384":
        return hashes.SHA384()
    if bits == "512":
        return hashes.SHA512()
    return hashes.SHA256()


def sign_bytes(key: IssuerKey | None, alg: str, data: bytes) -> bytes:
    """Sign ``data`` as JWS ``alg`` demands (RFC 7518 §3); "none" in any casing gives b""."""
    fam = family(alg)
    if fam == "none":
        return b""
    if not fam:
        raise ValueError(f"cannot sign alg {alg!r}; pass raw_signature= to craft such a token")
    if key is None:
        raise ValueError(f"alg {alg!r} needs a key")
    pk = key.private_key
    if fam == "oct":
        secret = key.secret if key.secret is not None else key.public_pem()
        return hmac.new(secret, data, _hash(alg).name).digest()
    if fam == "RSA" and isinstance(pk, rsa.RSAPrivateKey):
        h = _hash(alg)
        if alg.upper().startswith("PS"):
            return pk.sign(data, padding.PSS(padding.MGF1(h), h.digest_size), h)
        return pk.sign(data, padding.PKCS1v15(), h)
    if fam == "EC" and isinstance(pk, ec.EllipticCurvePrivateKey):
        # RFC 7518 §3.4: the JWS signature is R || S, each left-padded to the curve size.
        r, s = decode_dss_signature(pk.sign(data, ec.ECDSA(_hash(alg))))
        size = (pk.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if fam == "OKP" and isinstance(pk, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return pk.sign(data)
    raise TypeError(f"key {key.kid!r} ({_key_family(key)}) cannot sign alg {alg!r}")


@dataclass(eq=False)
class IssuerKey:
    """A signing key of the test issuer and its public JWK.

    ``private_key`` is a ``cryptography`` private key, or the secret bytes for HS*;
    ``secret`` is set for HS* keys only. Key material never appears in ``repr()``.
    """

    kid: str
    alg: str
    private_key: PrivateKey | bytes = field(repr=False)
    public_jwk: dict[str, Any] = field(repr=False)
    secret: bytes | None = field(default=None, repr=False)

    @classmethod
    def generate(
        cls,
        alg: str = "RS256",
        *,
        kid: str | None = None,
        size: int | None = None,
        curve: str | None = None,
        use: str | None = "sig",
        include_alg: bool = True,
        secret: bytes | None = None,
    ) -> IssuerKey:
        """Generate a key for ``alg`` (see ``Issuer.new_key``); raises ValueError if unsupported."""
        fam = family(alg)
        pk: PrivateKey | bytes
        if fam == "RSA":
            pk = rsa.generate_private_key(public_exponent=65537, key_size=size or 2048)
        elif fam == "EC":
            name = curve or _ES_CURVE[alg.upper()]
            if name not in _CURVES:
                raise ValueError(f"unsupported EC curve {name!r}")
            pk = ec.generate_private_key(_CURVES[name]())
        elif fam == "OKP":
            name = curve or ("Ed448" if alg.upper() == "ED448" else "Ed25519")
            if name not in ("Ed25519", "Ed448"):
                raise ValueError(f"unsupported OKP curve {name!r}")
            pk = (
                ed448.Ed448PrivateKey.generate()
                if name == "Ed448"
                else ed25519.Ed25519PrivateKey.generate()
            )
        elif fam == "oct":
            pk = secret if secret is not None else secrets.token_bytes((size or int(alg[2:5])) // 8)
        else:
            raise ValueError(f"unsupported alg {alg!r}")
        kid = kid if kid is not None else f"{alg.lower()}-{secrets.token_hex(4)}"
        jwk: dict[str, Any] = {"kty": "", "kid": kid}
        if use is not None:
            jwk["use"] = use
        if include_alg:
            jwk["alg"] = alg
        jwk.update(_jwk_material(pk))
        return cls(kid, alg, pk, jwk, pk if isinstance(pk, bytes) else None)

    def public_key(self) -> PublicKey:
        """The ``cryptography`` public key; raises TypeError for an HS* key."""
        if isinstance(self.private_key, bytes):
            raise TypeError("an HS* key has no public key")
        return self.private_key.public_key()

    def public_der(self) -> bytes:
        """The public key as SubjectPublicKeyInfo DER."""
        return self.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM (``-----BEGIN PUBLIC KEY-----``)."""
        return self.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_pkcs1_pem(self) -> bytes:
        """The RSA public key as PKCS#1 PEM; raises TypeError for other keys."""
        pub = self.public_key()
        if not isinstance(pub, rsa.RSAPublicKey):
            raise TypeError("PKCS#1 is for RSA keys only")
        return pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)


def _jwk_material(pk: PrivateKey | bytes) -> dict[str, str]:
    if isinstance(pk, bytes):
        return {"kty": "oct", "k": b64url(pk)}
    if isinstance(pk, rsa.RSAPrivateKey):
        nums = pk.public_key().public_numbers()
        return {"kty": "RSA", "n": _uint(nums.n), "e": _uint(nums.e)}
    if isinstance(pk, ec.EllipticCurvePrivateKey):
        point = pk.public_key().public_numbers()
        size = (pk.curve.key_size + 7) // 8
        return {
            "kty": "EC",
            "crv": _JWK_CRV[pk.curve.name],
            "x": _uint(point.x, size),
            "y": _uint(point.y, size),
        }
    raw = pk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    crv = "Ed448" if isinstance(pk, ed448.Ed448PrivateKey) else "Ed25519"
    return {"kty": "OKP", "crv": crv, "x": b64url(raw)}
