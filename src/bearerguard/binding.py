"""Sender-constrained tokens: what a token's ``cnf`` and the request's scheme must agree on.

* A token bound to a key (``cnf.jkt``, RFC 9449) or a certificate (``cnf.x5t#S256``, RFC
  8705), or carrying any ``cnf`` member, is never accepted with the ``Bearer`` scheme:
  whoever holds a copy must not be able to use it without the key (reason ``bound_token``).
* With the ``DPoP`` scheme the request's one ``DPoP`` proof is checked against the method,
  the URL, the token (``ath``) and the token's ``cnf.jkt`` (:class:`~bearerguard.dpop.DPoPChecker`);
  its ``jti`` is accepted once in the shared store, which fails closed (503) when down.
* ``BEARERGUARD_DPOP``: ``off`` (the DPoP scheme is no credentials), ``allowed``, ``required``
  (Bearer refused, reason ``dpop_required``). Nonces (RFC 9449 §9) when ``BEARERGUARD_DPOP_NONCE``
  is on: stateless, valid on every worker sharing the secret (from the settings, or created
  once in the Redis store).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence

from bearerguard.dpop import DPoPChecker, DPoPError, NonceSource
from bearerguard.errors import InvalidToken, StateUnavailable
from bearerguard.settings import Settings
from bearerguard.store import Store, StoreUnavailable, open_store
from bearerguard.tokens import AccessToken

__all__ = ["SenderConstraint"]

_NONCE_SECRET_KEY = "dpop:nonce-secret"
_NONCE_SECRET_TTL = 400 * 86400.0  # kept for good: a new secret voids every issued nonce


class SenderConstraint:
    """The ``cnf`` and DPoP rules of one configuration (see the module docstring)."""

    def __init__(self, settings: Settings, clock: Callable[[], float], store: Store | None = None):
        self.mode: str = settings.dpop
        self.algorithms: tuple[str, ...] = settings.tuple_of("dpop_algorithms")
        self.checker: DPoPChecker | None = None
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self.store = store if store is not None else open_store(settings.store)
        if self.mode != "off":
            self.checker = DPoPChecker(
                algorithms=self.algorithms,
                max_age=float(settings.dpop_max_age),
                leeway=float(settings.leeway),
                store=self.store,
                clock=clock,
            )

    @property
    def bearer_allowed(self) -> bool:
        """Whether the ``Bearer`` scheme is offered at all."""
        return self.mode != "required"

    def check_bearer(self, token: AccessToken) -> None:
        """A token presented with the Bearer scheme: refuse bound tokens, and all under ``required``."""
        if token.bound:
            raise InvalidToken("bound_token")
        if self.mode == "required":
            raise InvalidToken("dpop_required")

    def _nonces(self) -> NonceSource | None:
        if not self._settings.dpop_nonce or self.checker is None:
            return None
        if self.checker.nonces is None:
            with self._lock:
                if self.checker.nonces is None:
                    configured = self._settings.dpop_nonce_secret
                    secret = configured.encode() if isinstance(configured, str) else configured
                    if not secret:  # shared through the store (settings demand Redis then)
                        get_or_set = getattr(self.store, "get_or_set", None)
                        if get_or_set is None:
                            raise StateUnavailable()
                        try:
                            secret = get_or_set(
                                _NONCE_SECRET_KEY, secrets.token_bytes(32), _NONCE_SECRET_TTL
                            )
                        except StoreUnavailable as exc:
                            raise StateUnavailable(retry_after=exc.retry_after) from None
                    self.checker.nonces = NonceSource(
                        secret, window=float(self._settings.dpop_max_age), clock=self._clock
                    )
        return self.checker.nonces

    def _prepare(self, token: AccessToken) -> tuple[DPoPChecker, str]:
        checker = self.checker
        if checker is None:  # pragma: no cover - the DPoP scheme is not extracted when off
            raise InvalidToken("malformed_token")
        if token.jkt is None:
            raise InvalidToken("dpop_unbound_token")  # RFC 9449 §7.1: bound to the proof key
        self._nonces()
        return checker, token.jkt

    def _next(self) -> tuple[tuple[str, str], ...]:
        nonces = self._nonces()
        if nonces is None:
            return ()
        # RFC 9449 §8.2: a successful response may carry the next nonce.
        return (("DPoP-Nonce", nonces.issue()), ("Access-Control-Expose-Headers", "DPoP-Nonce"))

    def check_dpop(
        self,
        token: AccessToken,
        raw: str,
        proofs: Sequence[str],
        method: str,
        url: str | Callable[[], str] | None,
    ) -> tuple[tuple[str, str], ...]:
        """Check the request's proof for *token*; the headers a success adds (next nonce)."""
        checker, jkt = self._prepare(token)
        try:
            checker.admit(proofs, method=method, url=_url(url), access_token=raw, jkt=jkt)
        except StoreUnavailable as exc:
            raise StateUnavailable(retry_after=exc.retry_after) from None
        return self._next()

    async def check_dpop_async(
        self,
        token: AccessToken,
        raw: str,
        proofs: Sequence[str],
        method: str,
        url: str | Callable[[], str] | None,
    ) -> tuple[tuple[str, str], ...]:
        """:meth:`check_dpop` with a non-blocking store call."""
        checker, jkt = self._prepare(token)
        try:
            await checker.admit_async(
                proofs, method=method, url=_url(url), access_token=raw, jkt=jkt
            )
        except StoreUnavailable as exc:
            raise StateUnavailable(retry_after=exc.retry_after) from None
        return self._next()


def _url(url: str | Callable[[], str] | None) -> str:
    if url is None:  # an adapter that cannot name the URL: the proof cannot match it
        raise DPoPError("dpop_htu_mismatch")
    return url if isinstance(url, str) else url()
