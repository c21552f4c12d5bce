"""The control apps' work: what one signature check, or one bare verification, costs in a server.

``BENCH_MODE=floor``: ``/protected`` does one raw ``cryptography`` RS256 check of a fixed token
(the floor of ``bench/verify.py``; RSA verification costs the same whatever the data) and
nothing else. ``BENCH_MODE=verify``: ``/protected`` reads the ``Authorization`` header as
directly as the framework allows and calls ``Verifier.verify`` on it (token cache off), with no
adapter around it. Their costs added to the open route are the yardsticks for the fresh-token
cells: the signature alone, and a whole verification, inside that server.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bearerguard import Settings, Verifier

from .._tokens import floor_input

_pub = serialization.load_pem_public_key(os.environ["BENCH_FLOOR_KEY"].encode())
assert isinstance(_pub, rsa.RSAPublicKey)
_sig, _data = floor_input(os.environ["BENCH_FLOOR_TOKEN"], "RS256")
_pad, _hash, _verify = padding.PKCS1v15(), hashes.SHA256(), _pub.verify
_verifier = Verifier(Settings.from_env(), token_cache_size=0)


def floor_check() -> None:
    """One RS256 signature check; raises ``InvalidSignature`` if it fails."""
    _verify(_sig, _data, _pad, _hash)


def verify_only(authorization: str) -> str:
    """``Verifier.verify`` of a ``Bearer`` header's token, cache off: the subject."""
    return _verifier.verify(authorization[7:]).subject or ""
