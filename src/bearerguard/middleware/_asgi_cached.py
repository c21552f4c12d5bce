"""The usual request's shortcut for the ASGI adapters (Starlette middleware, FastAPI dependency).

Most requests carry one ``Authorization: Bearer <token>`` header naming a token the verifier
has already accepted, or no credentials at all. :func:`plain_authorization` recognises them
in one pass over the raw headers; the adapter hands the value straight to
``verifier.decide_async``, whose cached-token path settles the request without suspending.
(Awaiting a coroutine that does not suspend costs less than a second cache lookup before a
synchronous ``decide``, and a token the cache no longer serves is then verified on the
async path, never with a blocking key fetch.) Any other request gets ``FULL_PATH``: the
adapter takes the full path (:func:`bearerguard.middleware.asgi.decide_scope`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from bearerguard.middleware.asgi import Scope
    from bearerguard.verifier import Verifier

__all__ = ["FULL_PATH", "plain_authorization"]


#: :func:`plain_authorization`'s answer for a request that needs the full path.
FULL_PATH: Final = "\x00"


def plain_authorization(verifier: Verifier, scope: Scope) -> str | None:
    """A plain request's lone ``Authorization`` value (``None``: no credentials), or ``FULL_PATH``.

    Plain: at most one ``Authorization`` value, and it uses the ``Bearer`` scheme; no
    ``DPoP`` header; no ``access_token`` in the query string (the core must see it: RFC
    6750 §2 allows one method only); no body that may hold a form token. Hand a plain
    request's value to ``verifier.decide_async``; for ``FULL_PATH`` use
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
    return None if value is None else value.decode("latin-1")
