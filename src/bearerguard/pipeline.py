"""The request pipeline: the facts of one HTTP request in, a :class:`Decision` out.

Adapters read what a request cheaply offers (the ``Authorization`` values, the
``access_token`` query and form values, the method and URL) and hand them to
:meth:`Verifier.decide <bearerguard.Verifier.decide>` (or ``decide_async``, which never
blocks an event loop on a key fetch). Every rule is applied here, once:

1. extraction (RFC 6750 §2, :mod:`bearerguard.extract`): no credentials, a token, or 400;
2. verification (:meth:`Verifier.verify`): the token, or 401 / 503;
3. the route's requirements (:class:`~bearerguard.Requirements`): 403;
4. a request without credentials on a route that needs them: 401, bare challenge.

The decision carries the accepted :class:`~bearerguard.AccessToken` (``None`` for an
anonymous request that may go on) or the refusal, rendered by :meth:`Decision.response`
with the verifier's realm and challenge parameters. Sans-I/O: no request object, no
framework; the only I/O is the key source's fetch, awaited on the async path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bearerguard.errors import BEARER, DPOP, BearerError, MissingToken
from bearerguard.extract import B64TOKEN
from bearerguard.observe import logger, refusal_fields
from bearerguard.requirements import Requirements
from bearerguard.tokens import AccessToken

if TYPE_CHECKING:
    from bearerguard.verifier import Verifier

__all__ = ["Decision", "decide", "decide_async", "decide_cached"]

Authorization = str | Sequence[str] | None


class Decision:
    """What to do with one request.

    Attributes:
        token: the accepted :class:`~bearerguard.AccessToken`, or ``None`` (no
            credentials on a route that allows that, or a refusal).
        error: the refusal (a :class:`~bearerguard.BearerError`), or ``None``.
        headers: headers to add to the app's response when the request goes on.
    """

    __slots__ = ("_requirements", "_verifier", "error", "headers", "token")

    def __init__(
        self,
        token: AccessToken | None = None,
        error: BearerError | None = None,
        verifier: Verifier | None = None,
        requirements: Requirements | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.token, self.error, self.headers = token, error, headers
        self._verifier, self._requirements = verifier, requirements

    @property
    def refused(self) -> bool:
        """True when the request must be answered with :meth:`response`."""
        return self.error is not None

    def response(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """The refusal as (status, headers, body). Raises ``ValueError`` for an acceptance."""
        if self.error is None:
            raise ValueError("an accepted request has no refusal to render")
        verifier = self._verifier
        if verifier is None:
            from bearerguard.errors import error_response

            return error_response(self.error)
        return verifier.render(self.error, self._requirements)

    def __repr__(self) -> str:
        if self.error is not None:
            return f"<Decision refused {self.error.status_code} {self.error.reason}>"
        return f"<Decision accepted {self.token!r}>"


_ANONYMOUS = Decision()


def _lone_bearer(authorization: Authorization, query: object, form: object) -> str | None:
    """The token of the usual request — one ``Bearer <token>`` header, nothing else — or None.

    A token that verifies is three base64url segments, so a b64token: neither a cache
    hit nor a successful verification needs the syntax check; only a failure does.
    """
    if query or form:
        return None
    if type(authorization) is not str:
        if not authorization or len(authorization) != 1:
            return None
        authorization = authorization[0]
        if type(authorization) is not str:
            return None
    if authorization[:7] != "Bearer ":
        return None
    return authorization[7:]


def decide_cached(
    self: Verifier,
    authorization: str | bytes | None,
    requirements: Requirements | None = None,
    required: bool = False,
) -> Decision | None:
    """The usual request's decision, when it needs no I/O and no verification; else ``None``.

    For an adapter's one-look path, before it awaits :func:`decide_async` (a coroutine
    costs more than this whole lookup). *authorization* is the lone ``Authorization``
    value of a request that sends no other credential (no ``DPoP`` header, no query or
    form token: what :func:`bearerguard.middleware._asgi_cached.plain_header` finds), as
    a string or as the raw bytes a server hands over (latin-1), or ``None`` without one.
    Settled here: no credentials where none are *required*, and a cached token sent with
    the ``Bearer`` scheme that meets *requirements* (no step-up). Everything else, and
    every request while an observer (hooks, telemetry) wraps ``decide``, is ``None``:
    call :func:`decide_async` with the same facts, which answers alike what this settles.
    """
    if "decide_async" in self.__dict__:  # an Observer wraps the request path: take it
        return None
    if authorization is None:
        return None if required else _ANONYMOUS
    tokens = self.tokens
    raw = None
    if isinstance(authorization, bytes):
        # Bytes a request presented before: one lookup, no decoding (see TokenCache.index).
        entry = tokens.by_header(authorization)
        if entry is not None:
            return entry.memo if requirements is None else _meeting(entry.memo, requirements)
        raw, text = authorization, authorization.decode("latin-1")
    else:
        text = authorization
    if text[:7] != "Bearer ":
        return None
    entry = tokens.entry(text[7:])
    if entry is None:
        return None
    if entry.memo is None:  # one acceptance per cached token, made once
        hit = entry.token
        # RFC 9449 / RFC 8705: a bound token never passes with the Bearer scheme, nor any
        # token when DPoP is required (decide refuses both). The mode is fixed: a memo
        # made once holds for the entry's life.
        if hit.bound or not self.binding.bearer_allowed:
            return None
        entry.memo = Decision(hit)
    if raw is not None:  # these bytes present this token: the next request finds it at once
        tokens.index(entry, raw)
    return _meeting(entry.memo, requirements)


def _meeting(decision: Decision, requirements: Requirements | None) -> Decision | None:
    """*decision* (an acceptance) when its token meets *requirements* without step-up."""
    if requirements is None or (
        not requirements.step_up and requirements.met_by(decision.token)  # type: ignore[arg-type]
    ):
        return decision
    return None


def _conclude(
    self: Verifier,
    token: AccessToken | None,
    requirements: Requirements | None,
    required: bool,
    headers: tuple[tuple[str, str], ...] = (),
) -> Decision:
    if token is None:
        if required:
            raise MissingToken()  # RFC 6750 §3.1: no error code without credentials
        return _ANONYMOUS
    if requirements is not None:
        self.authorize(token, requirements)
    return Decision(token, headers=headers)


def decide(
    self: Verifier,
    authorization: Authorization = None,
    *,
    method: str = "GET",
    url: str | Callable[[], str] | None = None,
    dpop: Sequence[str] | None = None,
    query: Sequence[str] | None = None,
    form: Sequence[str] | None = None,
    requirements: Requirements | None = None,
    required: bool = False,
) -> Decision:
    """Decide one request (see :mod:`bearerguard.pipeline`).

    Args:
        authorization: every ``Authorization`` value as the server hands them over
            (one string, possibly comma-joined by a WSGI server, or a list).
        method: the request method. url: the request URL as the framework reports it
            (or a callable returning it, read only when a DPoP proof must match it).
        dpop: every ``DPoP`` header value (RFC 9449 §4.1).
        query: the ``access_token`` query values (pass them even when the query
            location is off: a token sent in the header and the URL is a 400).
        form: the ``access_token`` form-body values, when the form location is on.
        requirements: what the route needs from a valid token.
        required: whether the route needs credentials at all (401 without them).
    """
    scheme = BEARER
    lone = _lone_bearer(authorization, query, form)
    try:
        if lone is not None:
            hit = self.tokens.get(lone)
            if hit is not None and not hit.bound and self.binding.bearer_allowed:
                if requirements is None or (not requirements.step_up and requirements.met_by(hit)):
                    return Decision(hit)  # the usual request: one dictionary lookup
                return _conclude(self, hit, requirements, required)
            raw: str | None = lone
            try:
                token = hit if hit is not None else self.check_token(lone)
            except BearerError:
                if B64TOKEN.fullmatch(lone) is not None:
                    raise
                raw = None  # not a b64token: the full extraction gives the request's 400
        else:
            raw = None
        if raw is None:
            found = self.credentials(authorization, query=query, form=form)
            if found is None:
                return _conclude(self, None, requirements, required)
            scheme, raw = found
            token = self.check_token(raw)
        if scheme == DPOP:
            headers = self.binding.check_dpop(token, raw, dpop or (), method, url)
            return _conclude(self, token, requirements, required, headers)
        self.binding.check_bearer(token)
        return _conclude(self, token, requirements, required)
    except BearerError as err:
        if scheme == DPOP and err.scheme == BEARER:
            err.scheme = DPOP
        if logger.isEnabledFor(logging.INFO):  # one record per refusal; off by default
            logger.info("bearerguard: refused (%s)", err.reason, extra=refusal_fields(err, url))
        return Decision(None, err, self, requirements)


async def decide_async(
    self: Verifier,
    authorization: Authorization = None,
    *,
    method: str = "GET",
    url: str | Callable[[], str] | None = None,
    dpop: Sequence[str] | None = None,
    query: Sequence[str] | None = None,
    form: Sequence[str] | None = None,
    requirements: Requirements | None = None,
    required: bool = False,
) -> Decision:
    """As :func:`decide`; key fetches and store calls are awaited, never blocking the loop."""
    scheme = BEARER
    lone = _lone_bearer(authorization, query, form)
    try:
        if lone is not None:
            hit = self.tokens.get(lone)
            if hit is not None and not hit.bound and self.binding.bearer_allowed:
                if requirements is None or (not requirements.step_up and requirements.met_by(hit)):
                    return Decision(hit)  # the usual request: one dictionary lookup
                return _conclude(self, hit, requirements, required)
            raw: str | None = lone
            try:
                token = hit if hit is not None else await self.check_token_async(lone)
            except BearerError:
                if B64TOKEN.fullmatch(lone) is not None:
                    raise
                raw = None  # not a b64token: the full extraction gives the request's 400
        else:
            raw = None
        if raw is None:
            found = self.credentials(authorization, query=query, form=form)
            if found is None:
                return _conclude(self, None, requirements, required)
            scheme, raw = found
            token = await self.check_token_async(raw)
        if scheme == DPOP:
            headers = await self.binding.check_dpop_async(token, raw, dpop or (), method, url)
            return _conclude(self, token, requirements, required, headers)
        self.binding.check_bearer(token)
        return _conclude(self, token, requirements, required)
    except BearerError as err:
        if scheme == DPOP and err.scheme == BEARER:
            err.scheme = DPOP
        if logger.isEnabledFor(logging.INFO):  # one record per refusal; off by default
            logger.info("bearerguard: refused (%s)", err.reason, extra=refusal_fields(err, url))
        return Decision(None, err, self, requirements)
