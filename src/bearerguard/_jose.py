"""The JOSE compact form's pieces, parsed strictly: base64url segments and JSON objects.

The verifier's hot path; each function is one or two C calls. Refusals are ``ValueError``
(the verifier turns them into ``malformed_token``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sys
from typing import Any

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# RFC 4648 §3.5 / RFC 7515 §2: the bits after the last full byte must be zero, else one
# value has several spellings (a malleable token). By the segment's length modulo 4, the
# characters its last one may be: 2 -> 4 data bits left (low 4 zero), 3 -> 2 bits left.
_CANONICAL_LAST: tuple[frozenset[str], ...] = (
    frozenset(_ALPHABET),
    frozenset(),  # a length of 1 mod 4 is never valid
    frozenset(_ALPHABET[::16]),
    frozenset(_ALPHABET[::4]),
)


if sys.version_info >= (3, 11):
    # base64url -> base64, and the characters base64url lacks ("+", "/", "=") -> "!", which
    # strict mode refuses: one C pass validates and decodes (no regex over the segment).
    _TO_B64 = bytes.maketrans(b"-_+/=", b"+/!!!")
    _PAD = (b"", b"", b"==", b"=")

    def b64decode(segment: str) -> bytes:
        # RFC 7515 §2: base64url without padding; anything else is malformed.
        # (Non-ASCII input raises UnicodeEncodeError, a ValueError.)
        if segment and segment[-1] not in _CANONICAL_LAST[len(segment) % 4]:
            raise ValueError("non-canonical base64url")  # RFC 4648 §3.5: pad bits are zero
        return binascii.a2b_base64(
            segment.encode("ascii").translate(_TO_B64) + _PAD[len(segment) % 4],
            strict_mode=True,
        )

else:  # pragma: no cover - Python 3.10 has no strict_mode

    def b64decode(segment: str) -> bytes:
        # RFC 7515 §2: base64url without padding; anything else is malformed.
        if len(segment) % 4 == 1 or _B64URL.fullmatch(segment) is None:
            raise ValueError("bad base64url")
        if segment and segment[-1] not in _CANONICAL_LAST[len(segment) % 4]:
            raise ValueError("bad base64url")
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member")  # RFC 7515 §5.2 / RFC 7519 §4: refuse, don't guess
    return obj


def _reject_constant(name: str) -> Any:
    raise ValueError("non-finite number")


# Built once: json.loads(..., object_pairs_hook=...) would build a decoder per call.
JSON_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)


def json_object(data: bytes) -> dict[str, Any]:
    # RFC 7519 §7.2: the claims are UTF-8 JSON (json.loads on bytes would also take UTF-16/32).
    text = data.decode("utf-8")
    try:
        obj, end = JSON_DECODER.raw_decode(text)  # fast path: no leading whitespace
    except json.JSONDecodeError:
        obj = JSON_DECODER.decode(text)  # JSON allows leading whitespace; else raises again
    else:
        if end != len(text) and text[end:].strip(" \t\n\r"):  # RFC 8259 §2 whitespace only
            raise ValueError("extra data")
    if not isinstance(obj, dict):
        raise ValueError("not an object")
    return obj


#: The NumericDate range accepted (RFC 7519 §2): from the epoch to the end of year 9999, the
#: last second ``datetime`` can represent. Millisecond timestamps fall outside it.
MAX_NUMERIC_DATE = 253402300799


def is_number(value: Any) -> bool:
    """A NumericDate: an int or finite float (never a bool) in [0, end of year 9999]."""
    t = type(value)
    return (t is int or t is float) and 0 <= value <= MAX_NUMERIC_DATE
