"""RFC 7662 token introspection: opaque (or any) access tokens checked at the authorization server.

:class:`Introspector` asks the server's introspection endpoint about a token, checks the answer
(``active``, lifetime, issuer, audience, token type) and returns the same
:class:`~bearerguard.tokens.AccessToken` a verified JWT gives. Answers are cached under a
SHA-256 of the token (the raw token is never stored): a positive answer for ``cache_ttl``
seconds but never past its ``exp``, a negative one for ``negative_ttl``. Concurrent requests for
one uncached token share one call, in threads and in asyncio tasks alike.

A revoked token can pass for at most ``cache_ttl`` seconds; ``cache_ttl=0`` asks on every
request. When the endpoint cannot be reached, answers 5xx or anything but JSON, or rejects our
client credentials, the request is answered 503 (:class:`IntrospectionUnavailable`): the
caller's token is not to blame.

With ``jwt_response=True`` the answers are RFC 9701 signed JWTs, verified with the issuer's
keys before anything is cached (:mod:`bearerguard._introspection_jwt`); an unsigned or badly
signed answer is a 503 too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Collection, Sequence
from typing import Any
from urllib.parse import urlsplit

from bearerguard._introspection_answer import (
    INTROSPECTION_DESCRIPTIONS,
    AnswerCache,
    IntrospectionUnavailable,
    check_answer,
)
from bearerguard._introspection_io import (
    Poster,
    discover_introspection_endpoint,
    introspection_request,
    urllib_poster,
)
from bearerguard._introspection_jwt import JWT_MEDIA_TYPE, KeyFinder, ResponseVerifier
from bearerguard._settings_parsers import DEFAULT_ALGORITHMS
from bearerguard.discovery import Fetcher, FetchError, urllib_fetcher
from bearerguard.keys import JWKSKeySource
from bearerguard.store import Store, StoreUnavailable
from bearerguard.tokens import AccessToken, token_identity

__all__ = [
    "INTROSPECTION_DESCRIPTIONS",
    "IntrospectionUnavailable",
    "Introspector",
    "Poster",
]

logger = logging.getLogger("bearerguard.introspection")

CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
_KEY_PREFIX = "bearerguard:introspection:"


def cache_key(token: str) -> str:
    """The cache key of *token*: its :func:`~bearerguard.token_identity` (a SHA-256, never
    the token; one key for every spelling of one signed JWT), namespaced."""
    return _KEY_PREFIX + token_identity(token).removeprefix("sha256:")


def _store_down(exc: StoreUnavailable) -> IntrospectionUnavailable:
    logger.warning("introspection cache unavailable")
    return IntrospectionUnavailable(retry_after=exc.retry_after)


class _Flight:
    __slots__ = ("answer", "done")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: dict[str, Any] | None = None


class Introspector:
    """Check access tokens at an RFC 7662 introspection endpoint.

    Args:
        issuers: accepted ``iss`` values; the first one's metadata gives the endpoint when
            *endpoint* is not set. audiences: an ``aud`` in the answer must contain one.
        endpoint: the introspection endpoint URL, else discovered (OIDC, then RFC 8414).
        client_id, client_secret, client_auth: how we authenticate to the endpoint
            (``client_secret_basic`` or ``client_secret_post``, RFC 6749 §2.3.1).
        cache_ttl: seconds a positive answer is reused (never past ``exp``); 0 disables caching.
        negative_ttl: seconds an ``active: false`` answer is reused.
        store: shared cache (``bearerguard.store``); default a bounded in-process cache.
        leeway: clock skew allowed on ``exp``/``nbf``/``iat``. scope_claims: scope members.
        fetcher: metadata fetcher (:mod:`bearerguard.discovery`); poster: the HTTP POST.
        timeout: one deadline for a whole introspection. max_bytes: answer size cap.
        clock: seconds since the epoch.
        jwt_response: ask for RFC 9701 signed answers and accept nothing else.
        response_keys: the key source of an issuer, for those answers (default: one
            :class:`~bearerguard.JWKSKeySource` per issuer, discovered).
        response_algorithms: signature algorithms allowed on them (asymmetric only).

    Raises:
        ValueError: a missing client credential, an unknown *client_auth*, no issuer or
            audience, a non-http(s) *endpoint*, a negative TTL or a non-positive timeout.
    """

    def __init__(
        self,
        *,
        issuers: Sequence[str],
        audiences: Sequence[str],
        endpoint: str | None = None,
        client_id: str,
        client_secret: str,
        client_auth: str = "client_secret_basic",
        cache_ttl: float = 60,
        negative_ttl: float = 5,
        store: Store | None = None,
        leeway: float = 60,
        scope_claims: Sequence[str] = ("scope",),
        fetcher: Fetcher = urllib_fetcher,
        poster: Poster = urllib_poster,
        timeout: float = 5.0,
        max_bytes: int = 512 * 1024,
        clock: Callable[[], float] = time.time,
        jwt_response: bool = False,
        response_keys: KeyFinder | None = None,
        response_algorithms: Collection[str] = DEFAULT_ALGORITHMS,
    ) -> None:
        if isinstance(issuers, str) or isinstance(audiences, str):
            raise ValueError("issuers and audiences are sequences of strings")
        if not issuers or not all(issuers):
            raise ValueError("at least one issuer is required")
        if not audiences or not all(audiences):
            raise ValueError("at least one audience is required")
        if not client_id:
            raise ValueError("client_id is required for introspection")
        if not client_secret:
            raise ValueError("client_secret is required for introspection")
        if client_auth not in CLIENT_AUTH_METHODS:
            raise ValueError(f"client_auth must be one of {', '.join(CLIENT_AUTH_METHODS)}")
        if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
            raise ValueError("the introspection endpoint must be an http(s) URL")
        if cache_ttl < 0 or negative_ttl < 0 or leeway < 0:
            raise ValueError("cache_ttl, negative_ttl and leeway must not be negative")
        if timeout <= 0 or max_bytes <= 0:
            raise ValueError("timeout and max_bytes must be positive")
        self.issuers = tuple(issuers)
        self.audiences = tuple(audiences)
        self.endpoint = endpoint
        self.client_id = client_id
        self._secret = client_secret
        self.client_auth = client_auth
        self.cache_ttl = float(cache_ttl)
        self.negative_ttl = float(negative_ttl)
        self.leeway = float(leeway)
        self.scope_claims = tuple(scope_claims)
        self._cache = AnswerCache(store, self.cache_ttl, self.negative_ttl, clock)
        self._fetcher = fetcher
        self._poster = poster
        self._timeout = float(timeout)
        self._max_bytes = int(max_bytes)
        self._clock = clock
        self._lock = threading.Lock()
        self._discovery_lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._afutures: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Future[dict[str, Any]]]
        ] = weakref.WeakKeyDictionary()
        self.jwt_response = bool(jwt_response)
        self._signed: ResponseVerifier | None = None
        if self.jwt_response:
            if response_keys is None:
                sources = {i: JWKSKeySource(issuer=i, fetcher=fetcher) for i in self.issuers}
                response_keys = sources.__getitem__
            self._signed = ResponseVerifier(
                issuers=self.issuers,
                client_id=client_id,
                audiences=self.audiences,
                keys=response_keys,
                algorithms=response_algorithms,
                leeway=self.leeway,
                # A fresh answer: the leeway for the server's clock, the call's own time.
                max_age=self.leeway + self._timeout + 1,
                clock=clock,
            )

    def __repr__(self) -> str:  # the secret stays out of reprs and logs
        return f"<Introspector endpoint={self.endpoint!r} client_id={self.client_id!r}>"

    # -- public ---------------------------------------------------------------------------
    def introspect(self, token: str) -> AccessToken:
        """Introspect *token* (cached); raise :class:`InvalidToken` or
        :class:`IntrospectionUnavailable`."""
        key = cache_key(token)
        answer = self._cached(key)
        if answer is None:
            answer = self._ask_once(key, token)
        return self._accept(answer)

    async def introspect_async(self, token: str) -> AccessToken:
        """As :meth:`introspect`; the HTTP call runs in a worker thread, never on the loop."""
        key = cache_key(token)
        answer = await self._cached_async(key)
        if answer is None:
            answer = await self._ask_in_thread(key, token)
        return self._accept(answer)

    # -- cache ----------------------------------------------------------------------------
    def _cached(self, key: str) -> dict[str, Any] | None:
        try:
            return self._cache.get(key)
        except StoreUnavailable as exc:
            raise _store_down(exc) from None

    async def _cached_async(self, key: str) -> dict[str, Any] | None:
        try:
            return await self._cache.get_async(key)
        except StoreUnavailable as exc:
            raise _store_down(exc) from None

    def _remember(self, key: str, answer: dict[str, Any]) -> None:
        try:
            self._cache.put(key, answer)
        except StoreUnavailable as exc:
            raise _store_down(exc) from None

    # -- single flight --------------------------------------------------------------------
    def _ask_once(self, key: str, token: str) -> dict[str, Any]:
        """Ask the server once for every concurrent caller of one token (threads)."""
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            if not flight.done.wait(self._timeout + 1) or flight.answer is None:
                raise IntrospectionUnavailable()
            return flight.answer
        try:
            answer = self._cached(key)  # a flight may have just ended and cached it
            if answer is None:
                answer = self._call(token)
                self._remember(key, answer)
            flight.answer = answer
            return answer
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    async def _ask_in_thread(self, key: str, token: str) -> dict[str, Any]:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio under anyio): anyio is what runs us
            import anyio.to_thread

            return await anyio.to_thread.run_sync(self._ask_once, key, token)
        with self._lock:
            flights = self._afutures.setdefault(loop, {})
        fut = flights.get(key)
        if fut is None:
            # Tasks on one loop share one worker-thread call (single flight).
            fut = loop.run_in_executor(None, self._ask_once, key, token)
            flights[key] = fut

            def done(f: asyncio.Future[dict[str, Any]]) -> None:
                flights.pop(key, None)
                if not f.cancelled():
                    f.exception()  # retrieved, even if every waiter was cancelled

            fut.add_done_callback(done)
        return await asyncio.shield(fut)

    # -- the call -------------------------------------------------------------------------
    def _endpoint_url(self, timeout: float) -> str:
        if self.endpoint is not None:
            return self.endpoint
        with self._discovery_lock:
            if self.endpoint is None:
                self.endpoint = discover_introspection_endpoint(
                    self.issuers[0], self._fetcher, timeout=timeout, max_bytes=self._max_bytes
                )
            return self.endpoint

    def _call(self, token: str) -> dict[str, Any]:
        """POST the token (RFC 7662 §2.1) and return the JSON answer; never logs the token."""
        deadline = time.monotonic() + self._timeout
        data, headers = introspection_request(
            token,
            client_id=self.client_id,
            client_secret=self._secret,
            client_auth=self.client_auth,
            # RFC 9701 §4: ask for a signed answer when configured to.
            accept=JWT_MEDIA_TYPE if self._signed is not None else "application/json",
        )
        try:
            url = self._endpoint_url(self._timeout)
            left = deadline - time.monotonic()
            if left <= 0:
                raise FetchError("deadline exceeded")
            status, body = self._poster(
                url,
                data=data,
                headers=headers,
                timeout=left,
                max_bytes=self._max_bytes,
            )
        except Exception as exc:  # any poster failure: the token is not to blame
            logger.warning("introspection request failed: %s", type(exc).__name__)
            raise IntrospectionUnavailable() from None
        if status != 200:
            # 401/403 mean the server rejected *our* client: still a 503 for the caller.
            logger.warning("introspection endpoint answered HTTP %d", status)
            raise IntrospectionUnavailable()
        if self._signed is not None:
            return self._signed.verify(body)
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict):
            logger.warning("introspection endpoint answered no JSON object")
            raise IntrospectionUnavailable()
        return answer

    def _accept(self, answer: dict[str, Any]) -> AccessToken:
        return check_answer(
            answer,
            issuers=self.issuers,
            audiences=self.audiences,
            leeway=self.leeway,
            now=self._clock(),
            scope_claims=self.scope_claims,
        )
