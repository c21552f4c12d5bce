"""Route requirements: scopes and roles (all / any), claim checks and user authentication.

They live in the core so every adapter shares them. A failed scope or claim requirement
or role requirement is an authorization failure: :class:`~bearerguard.InsufficientScope`,
403. Claim checks name their claim by a path (:mod:`bearerguard.claimpath`), so nested
claims (``realm_access.roles``) and namespaced URL claims are both reachable. A user
authentication too weak or too old (RFC 9470) is
:class:`~bearerguard.InsufficientUserAuthentication`, 401: the client can fix it by
asking the authorization server for a fresh sign-in.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from typing import Any

from bearerguard.challenge import SCOPE_TOKEN, check_scope
from bearerguard.claimchecks import ClaimEquals, ClaimIncludes
from bearerguard.claimpath import ClaimPathLike
from bearerguard.errors import (
    BEARER,
    DPOP,
    BearerError,
    InsufficientScope,
    InsufficientUserAuthentication,
)
from bearerguard.tokens import AccessToken

__all__ = [
    "ClaimCheck",
    "ClaimEquals",
    "ClaimIncludes",
    "Requirements",
]


@dataclasses.dataclass(frozen=True)
class _AnyScopes:
    """The token holds one of *scopes* (a second any-of set, merged by ``all_of``)."""

    scopes: tuple[str, ...]

    def __call__(self, token: AccessToken) -> bool:
        return not token.scopes.isdisjoint(self.scopes)


@dataclasses.dataclass(frozen=True)
class _AnyRoles:
    """The token holds one of *roles* (a second any-of set, merged by ``all_of``)."""

    roles: tuple[str, ...]

    def __call__(self, token: AccessToken) -> bool:
        return not token.roles.isdisjoint(self.roles)


#: Seconds of clock skew tolerated on ``auth_time`` when no verifier says otherwise (the
#: default ``BEARERGUARD_LEEWAY``; ``Verifier.authorize`` passes the configured one).
DEFAULT_LEEWAY = 60.0
_UNSET: Any = object()
ClaimCheck = Callable[[AccessToken], bool]


def _refusal(token: AccessToken, err: BearerError) -> BearerError:
    # A DPoP-bound token was accepted only with the DPoP scheme (RFC 9449 §7.1): the
    # refusal goes on the challenge of that scheme.
    err.scheme = DPOP if token.jkt is not None else BEARER
    err.token = token  # verified: its issuer, client and subject may be logged
    return err


def _acr_values(values: Iterable[str] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = values.split()
    out: tuple[Any, ...] = tuple(dict.fromkeys(values))
    for value in out:  # RFC 9470 §3: a space-separated list in a quoted-string
        if not isinstance(value, str) or not SCOPE_TOKEN.fullmatch(value):
            raise ValueError(f"invalid acr value {value!r}")
    return out


def _max_age(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("max_age must be a non-negative integer (seconds)")
    return value


def _scopes(values: Iterable[str] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = values.split()
    return tuple(dict.fromkeys(check_scope(v) for v in values))


def _roles(values: Iterable[str] | str | None, name: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):  # like scopes: a string is split on spaces
        values = values.split(" ")
        values = [v for v in values if v]
    out: tuple[Any, ...] = tuple(dict.fromkeys(values))
    for value in out:  # a role is any non-empty string (a list may hold one with spaces)
        if type(value) is not str or not value:
            raise ValueError(f"{name}: a role is a non-empty string, not {value!r}")
    return out


@dataclasses.dataclass(frozen=True, init=False)
class Requirements:
    """What a route needs from a valid token.

    Args:
        scopes: every one of these scopes is needed.
        any_scopes: at least one of these is needed.
        roles: every one of these roles is needed (:attr:`AccessToken.roles`, read from
            ``BEARERGUARD_ROLE_CLAIMS`` or the provider preset); a string is split on
            spaces.
        any_roles: at least one of these roles is needed.
        claims: claim checks (:class:`ClaimEquals`, :class:`ClaimIncludes` or
            any ``callable(token) -> bool``); all must pass.
        acr_values: RFC 9470 step-up: the token's ``acr`` must be one of these.
        max_age: RFC 9470 step-up: the token's ``auth_time`` must be at most this many
            seconds old (plus the leeway).

    :meth:`check` raises :class:`~bearerguard.InsufficientScope` (403): a scope
    failure names the needed scopes in the challenge's ``scope`` parameter (RFC 6750
    §3); a role failure has reason ``insufficient_role``; a claim failure has reason
    ``claim_requirement_failed``. Scopes are checked first, then roles, then claims,
    then the user authentication: a missing ``acr`` or ``auth_time`` fails closed, with
    :class:`~bearerguard.InsufficientUserAuthentication` (401, reasons ``acr_missing``,
    ``acr_not_accepted``, ``auth_time_missing``, ``auth_too_old``), whose challenge
    names ``acr_values`` and ``max_age``. Raises ``ValueError`` for a bad scope, acr
    value or max_age, or an empty role.
    """

    scopes: tuple[str, ...]
    any_scopes: tuple[str, ...]
    claims: tuple[ClaimCheck, ...]
    roles: tuple[str, ...]
    any_roles: tuple[str, ...]
    acr_values: tuple[str, ...]
    max_age: int | None
    _all: frozenset[str] = dataclasses.field(repr=False, compare=False)  # scopes, as a set
    _all_roles: frozenset[str] = dataclasses.field(repr=False, compare=False)

    def __init__(
        self,
        scopes: Iterable[str] | str | None = None,
        any_scopes: Iterable[str] | str | None = None,
        claims: Iterable[ClaimCheck] = (),
        *,
        acr_values: Iterable[str] | str | None = None,
        max_age: int | None = None,
        roles: Iterable[str] | str | None = None,
        any_roles: Iterable[str] | str | None = None,
    ) -> None:
        object.__setattr__(self, "scopes", _scopes(scopes))
        object.__setattr__(self, "any_scopes", _scopes(any_scopes))
        checks = tuple(claims)
        for c in checks:
            if not callable(c):
                raise TypeError("claims must be callables taking an AccessToken")
        object.__setattr__(self, "claims", checks)
        object.__setattr__(self, "acr_values", _acr_values(acr_values))
        object.__setattr__(self, "max_age", _max_age(max_age))
        object.__setattr__(self, "roles", _roles(roles, "roles"))
        object.__setattr__(self, "any_roles", _roles(any_roles, "any_roles"))
        object.__setattr__(self, "_all", frozenset(self.scopes))
        object.__setattr__(self, "_all_roles", frozenset(self.roles))

    def __bool__(self) -> bool:
        return bool(
            self.scopes
            or self.any_scopes
            or self.roles
            or self.any_roles
            or self.claims
            or self.acr_values
            or self.max_age is not None
        )

    @property
    def step_up(self) -> bool:
        """True when the user's authentication is checked (``acr_values`` or ``max_age``)."""
        return bool(self.acr_values) or self.max_age is not None

    @property
    def challenge_scopes(self) -> tuple[str, ...]:
        """The scopes a challenge names for this route (``scope="…"``): all of them."""
        return tuple(dict.fromkeys(self.scopes + self.any_scopes))

    @classmethod
    def claim(
        cls, name: ClaimPathLike, *, equals: Any = _UNSET, includes: Any = _UNSET
    ) -> Requirements:
        """A requirement on one claim: it ``equals`` a value, or ``includes`` one.

        *name* is a claim path (:mod:`bearerguard.claimpath`). The constructor behind
        every adapter's ``require_claim``. Raises ``TypeError`` unless exactly one of
        ``equals`` / ``includes`` is given, ``ValueError`` for a bad path.
        """
        if (equals is _UNSET) == (includes is _UNSET):
            raise TypeError("require_claim needs exactly one of equals= or includes=")
        check = ClaimEquals(name, equals) if includes is _UNSET else ClaimIncludes(name, includes)
        return cls(claims=[check])

    @classmethod
    def all_of(cls, *parts: Requirements | None) -> Requirements | None:
        """One requirement meeting every one of *parts* (``None`` when there is none).

        Step-up: the accepted ``acr`` values of the first part naming some, and the
        smallest ``max_age``. Every part's ``any_scopes`` / ``any_roles`` set must be met.
        """
        found = [p for p in parts if p is not None]
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        with_any = [p for p in found if p.any_scopes]
        extra: list[ClaimCheck] = [_AnyScopes(p.any_scopes) for p in with_any[1:]]
        with_any_roles = [p for p in found if p.any_roles]
        extra_roles: list[ClaimCheck] = [_AnyRoles(p.any_roles) for p in with_any_roles[1:]]
        acr = next((p.acr_values for p in found if p.acr_values), ())
        ages = [p.max_age for p in found if p.max_age is not None]
        return cls(
            scopes=[s for p in found for s in p.scopes],
            any_scopes=with_any[0].any_scopes if with_any else (),
            claims=extra_roles + [c for p in found for c in p.claims] + extra,
            acr_values=acr,
            max_age=min(ages) if ages else None,
            roles=[r for p in found for r in p.roles],
            any_roles=with_any_roles[0].any_roles if with_any_roles else (),
        )

    def met_by(
        self, token: AccessToken, *, now: float | None = None, leeway: float = DEFAULT_LEEWAY
    ) -> bool:
        """True when *token* meets every requirement: :meth:`check` without the error.

        It runs the claim checks and the step-up checks too (*now*: seconds since the
        epoch, default the current time; *leeway*: tolerated clock skew).
        """
        have = token.scopes
        return (
            have >= self._all
            and (not self.any_scopes or not have.isdisjoint(self.any_scopes))
            and (not self._all_roles or token.roles >= self._all_roles)
            and (not self.any_roles or not token.roles.isdisjoint(self.any_roles))
            and (not self.claims or all(check(token) for check in self.claims))
            and (
                (not self.acr_values and self.max_age is None)
                or self._authentication(token, now, leeway) is None
            )
        )

    def check(
        self, token: AccessToken, *, now: float | None = None, leeway: float = DEFAULT_LEEWAY
    ) -> None:
        """Raise :class:`InsufficientScope` or :class:`InsufficientUserAuthentication`
        unless *token* meets every requirement (scopes, roles, claims, then step-up)."""
        have = token.scopes
        if not have >= self._all:
            raise _refusal(token, InsufficientScope(scopes=self.scopes))
        if self.any_scopes and have.isdisjoint(self.any_scopes):
            raise _refusal(token, InsufficientScope(scopes=self.any_scopes))
        if self._all_roles and not token.roles >= self._all_roles:
            raise _refusal(token, InsufficientScope("insufficient_role"))
        if self.any_roles and token.roles.isdisjoint(self.any_roles):
            raise _refusal(token, InsufficientScope("insufficient_role"))
        for check in self.claims:
            if not check(token):
                reason = "insufficient_role" if type(check) is _AnyRoles else None
                raise _refusal(token, InsufficientScope(reason or "claim_requirement_failed"))
        if self.acr_values or self.max_age is not None:
            reason = self._authentication(token, now, leeway)
            if reason is not None:
                err = InsufficientUserAuthentication(
                    reason, acr_values=self.acr_values, max_age=self.max_age
                )
                raise _refusal(token, err)

    def _authentication(self, token: AccessToken, now: float | None, leeway: float) -> str | None:
        """RFC 9470 §3: the reason the user's authentication falls short, or None."""
        claims = token.claims
        if self.acr_values:
            acr = claims.get("acr")
            if acr is None:
                return "acr_missing"  # fails closed: no claim, no proof of strength
            if type(acr) is not str or acr not in self.acr_values:
                return "acr_not_accepted"
        if self.max_age is not None:
            auth_time = claims.get("auth_time")
            if type(auth_time) is not int and type(auth_time) is not float:
                return "auth_time_missing"
            if now is None:
                now = time.time()
            if now - auth_time > self.max_age + leeway:
                return "auth_too_old"
        return None
