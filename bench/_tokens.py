"""Shared benchmark fixtures: a real test issuer, fresh tokens and the raw-signature floor."""

from __future__ import annotations

import base64
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bearerguard.testing import Issuer, IssuerKey

ALGS = ("RS256", "PS256", "ES256", "EdDSA")
AUDIENCE = "https://api.example.com"
SCOPES = ("read:messages", "write:messages")

FloorFn = Callable[[bytes, bytes], None]  # (signature, signing_input); raises if invalid


def b64decode(segment: str) -> bytes:
    """Unpadded base64url, as in a compact JWS."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@dataclass
class AlgCase:
    """One algorithm's benchmark material: its key, fresh tokens and the floor."""

    alg: str
    key: IssuerKey
    tokens: list[str]
    # (crypto-ready signature, signing input) per token: the floor's inputs, decoded up front.
    floor_inputs: list[tuple[bytes, bytes]] = field(default_factory=list)
    floor: FloorFn = field(default=lambda sig, data: None)


def start_issuer(algs: Sequence[str] = ALGS) -> Issuer:
    """A started :class:`Issuer` publishing one key per algorithm (stop it yourself)."""
    return Issuer(audience=AUDIENCE, algs=tuple(algs)).start()


def mint(issuer: Issuer, alg: str, n: int, *, expires_in: int = 3600) -> list[str]:
    """*n* distinct access tokens (distinct ``jti``) signed with the issuer's *alg* key."""
    return [issuer.token(scopes=SCOPES, alg=alg, expires_in=expires_in) for _ in range(n)]


def floor_fn(key: IssuerKey, alg: str) -> FloorFn:
    """The raw ``cryptography`` verify for *alg*, every argument object pre-built."""
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        h = hashes.SHA256()
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg.startswith("RS")
            else padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.DIGEST_LENGTH)
        )
        rsa_verify = pub.verify
        return lambda sig, data: rsa_verify(sig, data, pad, h)
    if isinstance(pub, ec.EllipticCurvePublicKey):
        algo = ec.ECDSA(hashes.SHA256())
        ec_verify = pub.verify
        return lambda sig, data: ec_verify(sig, data, algo)
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return pub.verify
    raise TypeError(f"no floor for {alg}")


def floor_input(token: str, alg: str) -> tuple[bytes, bytes]:
    """(signature as cryptography wants it, signing input); ES* R||S is turned into DER here."""
    h64, p64, s64 = token.split(".")
    sig = b64decode(s64)
    if alg.startswith("ES"):
        size = len(sig) // 2
        sig = encode_dss_signature(
            int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
        )
    return sig, f"{h64}.{p64}".encode("ascii")


def make_case(issuer: Issuer, alg: str, n: int) -> AlgCase:
    """Mint *n* fresh tokens for *alg* and precompute the floor's inputs."""
    key = next(k for k in issuer.keys if k.alg == alg)
    tokens = mint(issuer, alg, n)
    return AlgCase(
        alg=alg,
        key=key,
        tokens=tokens,
        floor_inputs=[floor_input(t, alg) for t in tokens],
        floor=floor_fn(key, alg),
    )


def environment() -> str:
    """One line describing the interpreter, the machine and the library versions."""
    names = ("bearerguard", "cryptography", "PyJWT", "joserfc", "Authlib")
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (src)")
    import bearerguard

    where = str(Path(bearerguard.__file__).parent)
    return (
        f"Python {sys.version.split()[0]} on {platform.machine()} {platform.system()}, "
        f"{os.cpu_count()} CPUs; " + ", ".join(versions) + f"\nbearerguard from {where}"
    )
