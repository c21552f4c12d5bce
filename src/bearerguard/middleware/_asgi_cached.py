"""The usual request's shortcut for the ASGI adapters (Starlette middleware, FastAPI dependency).

Most requests carry one ``Authorization: Bearer <token>`` header naming a token the verifier
has already accepted, or no credentials at all. :func:`plain_header` recognises them in one
pass over the raw headers; the adapter hands the raw value to
:func:`bearerguard.pipeline.decide_cached`, which settles a cached token (or no credentials)
synchronously: one dictionary lookup of the bytes a request presented before, no coroutine.
What it does not settle goes to ``verifier.decide_async`` (a token the cache no longer
serves is then verified on the async path, never with a blocking key fetch). Any other
request gets ``FULL_PATH``: the adapter takes the full path
(:func:`bearerguard.middleware.asgi.decide_scope`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from bearerguard.middleware.asgi import Scope
    from bearerguard.verifier import Verifier

__all__ = ["FULL_PATH", "plain_authorization", "plain_header"]


#: :func:`plain_header`'s answer for a request that needs the full path.
FULL_PATH: Final = "\x00"


def plain_header(verifier: Verifier, scope: Scope) -> bytes | str | None:
    """A plain request's lone ``Authorization`` value as the server handed it (raw bytes;
    ``None``: no credentials), or ``FULL_PATH``.

    Plain: at most one ``Authorization`` value, and it uses the ``Bearer`` scheme; no
    ``DPoP`` header; no ``access_token`` in the query string (the core must see it: RFC
    6750 §2 allows one method only); no body that may hold a form token. Hand a plain
    request's value to :func:`bearerguard.pipeline.decide_cached`, and when that settles
    nothing, its latin-1 text to ``verifier.decide_async``; for ``FULL_PATH`` use
    :func:`bearerguard.middleware.asgi.decide_scope` (no header value is ``"\x00"``).
    """
    value = None
    for k, v in scope["headers"]:
        n = len(k)
        if n == 13 and (k == b"authorization" or k.lower() == b"authorization"):
            if value is not None:
                return FULL_PATH  # several values: the full path refuses them
            value = v
        elif n == 4 and k[0] | 0x20 == 0x64 and k.lower() == b"dpop":  # "d": not "host"
            return FULL_PATH
    if value is not None and value[:7] != b"Bearer ":
        return FULL_PATH
    qs = scope.get("query_string")
    if qs and b"access_token" in qs:
        return FULL_PATH
    if scope.get("method", "GET") != "GET" and "form" in verifier.token_locations:
        return FULL_PATH  # the body may carry a second token
    return value


def plain_authorization(verifier: Verifier, scope: Scope) -> str | None:
    """As :func:`plain_header`, the value decoded (latin-1): a ``str``, ``None`` or ``FULL_PATH``."""
    value = plain_header(verifier, scope)
    return value.decode("latin-1") if type(value) is bytes else value  # type: ignore[return-value]
