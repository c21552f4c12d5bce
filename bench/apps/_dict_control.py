"""The dictionary-lookup control (issue #19 §1): the least an authentication layer can do.

A pure ASGI middleware that looks the raw ``Authorization`` value up in a dict and sets
``scope["user"]`` / ``scope["auth"]`` from the entry, as Starlette's
``AuthenticationMiddleware`` would, so that ``request.user``, ``request.auth.scopes`` and
Starlette's own ``@requires`` work. It verifies nothing: a value it has not seen becomes an
entry (a user holding ``read:messages``), so every later request with it is one lookup, the
steady state of a perfect token cache. The bench apps serve it beside bearerguard, in the
same server (:func:`by_prefix`), so both are measured in the same rounds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.authentication import AuthCredentials, SimpleUser, UnauthenticatedUser

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

#: Where the control's routes live in a bench app (``/dict/open``, ``/dict/protected``).
PREFIX = "/dict/"
_MAX_ENTRIES = 4096  # bounded, like a token cache; the control only ever sees a few values


class DictLookupMiddleware:
    """``scope["auth"]``/``scope["user"]`` from a dict keyed by the raw header value."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.table: dict[bytes, tuple[AuthCredentials, SimpleUser]] = {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" or scope["type"] == "websocket":
            value = None
            for k, v in scope["headers"]:
                if k == b"authorization":
                    value = v
                    break
            found = None if value is None else self.table.get(value)
            if found is None and value is not None and len(self.table) < _MAX_ENTRIES:
                found = self.table[value] = (
                    AuthCredentials(["read:messages"]),
                    SimpleUser("user-1"),
                )
            if found is None:
                scope["auth"], scope["user"] = AuthCredentials(), UnauthenticatedUser()
            else:
                scope["auth"], scope["user"] = found
        await self.app(scope, receive, send)


def by_prefix(main: ASGIApp, control: ASGIApp) -> ASGIApp:
    """One ASGI app: paths under :data:`PREFIX` go to *control*, the rest to *main*.

    Both pay the same one ``startswith``; lifespan events go to *main* (the control has no
    start-up work).
    """

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await main(scope, receive, send)
            return
        if scope["path"].startswith(PREFIX):
            await control(scope, receive, send)
        else:
            await main(scope, receive, send)

    return app
