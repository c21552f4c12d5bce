"""``BENCH_MODE=floor``: ``/protected`` does one raw ``cryptography`` RS256 check and nothing else.

The check is the floor of ``bench/verify.py`` (every argument pre-built, one fixed token:
RSA verification costs the same whatever the data). Its cost added to the open route is what
the signature alone costs inside this server, the control for the fresh-token cells.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .._tokens import floor_input

_pub = serialization.load_pem_public_key(os.environ["BENCH_FLOOR_KEY"].encode())
assert isinstance(_pub, rsa.RSAPublicKey)
_sig, _data = floor_input(os.environ["BENCH_FLOOR_TOKEN"], "RS256")
_pad, _hash, _verify = padding.PKCS1v15(), hashes.SHA256(), _pub.verify


def floor_check() -> None:
    """One RS256 signature check; raises ``InvalidSignature`` if it fails."""
    _verify(_sig, _data, _pad, _hash)
