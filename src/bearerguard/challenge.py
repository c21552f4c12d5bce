"""RFC 6750 §3 / RFC 9110 §11.6.1 ``WWW-Authenticate`` rendering.

Every challenge bearerguard sends is built here, so quoting and the character
rules are enforced in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "SCOPE_TOKEN",
    "check_scope",
    "check_text",
    "quote",
    "render",
    "render_challenge",
]

# RFC 6750 §3: error and error_description values must stay within
# %x20-21 / %x23-5B / %x5D-7E, i.e. printable ASCII without '"' and '\'.
_RFC6750_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
# RFC 6750 §3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def quote(value: str) -> str:
    """Render *value* as an RFC 9110 quoted-string.

    Characters a quoted-string cannot carry at all (controls, DEL, non-ASCII)
    are replaced by ``?`` so a configured realm can never split a header.
    """
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\t" or " " <= ch <= "~":
            out.append(ch)
        else:
            out.append("?")
    return '"' + "".join(out) + '"'


def check_text(value: str, what: str) -> str:
    """Return *value* if it fits RFC 6750's character set, else raise ``ValueError``."""
    if not _RFC6750_TEXT.fullmatch(value):
        raise ValueError(f"{what} must use printable ASCII without '\"' or '\\' (RFC 6750 §3)")
    return value


def check_scope(scope: str) -> str:
    """Return *scope* if it is an RFC 6750 scope-token, else raise ``ValueError``."""
    if not SCOPE_TOKEN.fullmatch(scope):
        raise ValueError(f"invalid scope token {scope!r} (RFC 6750 §3 scope-token)")
    return scope


def render(
    realm: str | None,
    error: str | None = None,
    description: str | None = None,
    scopes: Iterable[str] = (),
) -> str:
    """Build a ``Bearer`` challenge.

    With no *error* the challenge is bare (RFC 6750 §3.1: a request without
    credentials should get no error code).
    """
    return render_challenge(
        "Bearer", realm=realm, error=error, description=description, scopes=scopes
    )


def render_challenge(
    scheme: str,
    *,
    realm: str | None = None,
    error: str | None = None,
    description: str | None = None,
    scopes: Iterable[str] = (),
    extra: Iterable[tuple[str, str]] = (),
) -> str:
    """One challenge of *scheme* (``Bearer`` or ``DPoP``), RFC 9110 §11.6.1 syntax.

    Parameters in order: ``realm``, ``error``, ``error_description``, ``scope`` (only with
    an error, RFC 6750 §3), then *extra* (``algs``, ``resource_metadata``…), each value a
    quoted-string within RFC 6750's character set.
    """
    params: list[str] = []
    if realm is not None:
        params.append(f"realm={quote(realm)}")
    if error is not None:
        params.append(f"error={quote(check_text(error, 'error'))}")
        if description:
            params.append(
                f"error_description={quote(check_text(description, 'error_description'))}"
            )
        scope = " ".join(check_scope(s) for s in scopes)
        if scope:
            params.append(f"scope={quote(scope)}")
    for name, value in extra:
        params.append(f"{name}={quote(check_text(value, name))}")
    return f"{scheme} " + ", ".join(params) if params else scheme
