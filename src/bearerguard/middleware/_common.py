"""Framework-free helpers shared by the ASGI and WSGI middleware and the adapters.

The RFC 6750 §2.2/§2.3 ``access_token`` parameter parsing, the form-body rules and the
middleware constructor checks. Path rules live in :mod:`bearerguard.paths`. No framework
and no protocol (ASGI/WSGI) types here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from bearerguard.verifier import Verifier

__all__ = [
    "FORM_MEDIA_TYPE",
    "MAX_FORM_BYTES",
    "content_length",
    "is_form_request",
    "middleware_setup",
    "token_params",
]

#: Form bodies larger than this are not searched for an ``access_token`` (they
#: are passed on untouched), so a client cannot make the middleware buffer an
#: unbounded body.
MAX_FORM_BYTES = 64 * 1024
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# RFC 9110 §8.6: Content-Length = 1*DIGIT (ASCII). 19 digits hold any length a
# 64-bit server accepts; str.isdigit() would also take "²" and unbounded runs.
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}")


def content_length(value: str | None) -> int | None:
    """A ``Content-Length`` value as an integer, or ``None`` when absent or not 1*DIGIT.

    Only ASCII digits, at most 19 of them (RFC 9110 §8.6); anything else (``"²"``,
    ``"+5"``, thousands of digits) is no usable length.
    """
    if value is None or not _CONTENT_LENGTH.fullmatch(value):
        return None
    return int(value)


def is_form_request(method: str, content_type: str | None) -> bool:
    """True when RFC 6750 §2.2 allows a form-body token: not GET, form-urlencoded body."""
    if method.upper() == "GET" or not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == FORM_MEDIA_TYPE


def token_params(encoded: str | bytes) -> list[str]:
    """Every ``access_token`` value in a query string or form-urlencoded body."""
    if isinstance(encoded, bytes):
        encoded = encoded.decode("latin-1")  # the token alphabet is ASCII (RFC 6750 §2.1)
    if not encoded:
        return []
    return parse_qs(encoded, keep_blank_values=True).get("access_token", [])


def middleware_setup(
    verifier: Verifier | None, settings: Mapping[str, Any], max_form_bytes: object
) -> tuple[Verifier, int]:
    """Shared constructor checks of the ASGI and WSGI middleware.

    Returns the verifier (built from *settings* when none is given) and the
    form-body cap. Raises ``TypeError`` for both a verifier and settings, or a
    non-integer cap, and ``ValueError`` for a negative cap.
    """
    if verifier is not None and settings:
        raise TypeError("pass either verifier= or settings as keywords, not both")
    if isinstance(max_form_bytes, bool) or not isinstance(max_form_bytes, int):
        raise TypeError("max_form_bytes must be an integer")
    if max_form_bytes < 0:
        raise ValueError("max_form_bytes must be a non-negative integer")
    return (verifier if verifier is not None else Verifier(**settings)), max_form_bytes
