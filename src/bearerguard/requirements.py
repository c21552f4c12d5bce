"""Route requirements: scopes (all / any) and claim checks.

They live in the core so every adapter shares them. A failed requirement is
an authorization failure: :class:`~bearerguard.InsufficientScope`, 403.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

from bearerguard.challenge import check_scope
from bearerguard.errors import InsufficientScope
from bearerguard.tokens import AccessToken, split_scopes

__all__ = [
    "ClaimCheck",
    "ClaimEquals",
    "ClaimIncludes",
    "Requirements",
]


@dataclasses.dataclass(frozen=True)
class ClaimEquals:
    """The claim *name* equals *value*."""

    name: str
    value: Any

    def __call__(self, token: AccessToken) -> bool:
        actual = token.claims.get(self.name, _MISSING)
        return actual is not _MISSING and type(actual) is type(self.value) and actual == self.value


@dataclasses.dataclass(frozen=True)
class ClaimIncludes:
    """The claim *name* is a list containing *value* (or a space-separated string holding it)."""

    name: str
    value: Any

    def __call__(self, token: AccessToken) -> bool:
        actual = token.claims.get(self.name)
        if isinstance(actual, list):
            return any(type(v) is type(self.value) and v == self.value for v in actual)
        if isinstance(actual, str) and isinstance(self.value, str):
            return self.value in split_scopes(actual)  # RFC 6749 §3.3: spaces only
        return False


@dataclasses.dataclass(frozen=True)
class _AnyScopes:
    """The token holds one of *scopes* (a second any-of set, merged by ``all_of``)."""

    scopes: tuple[str, ...]

    def __call__(self, token: AccessToken) -> bool:
        return not token.scopes.isdisjoint(self.scopes)


_MISSING = object()
_UNSET: Any = object()
ClaimCheck = Callable[[AccessToken], bool]


def _scopes(values: Iterable[str] | str | None) -> tuple[str, ...]:
    if values is None:
        return ()
    if isinstance(values, str):
        values = values.split()
    return tuple(dict.fromkeys(check_scope(v) for v in values))


@dataclasses.dataclass(frozen=True, init=False)
class Requirements:
    """What a route needs from a valid token.

    Args:
        scopes: every one of these scopes is needed.
        any_scopes: at least one of these is needed.
        claims: claim checks (:class:`ClaimEquals`, :class:`ClaimIncludes` or
            any ``callable(token) -> bool``); all must pass.

    :meth:`check` raises :class:`~bearerguard.InsufficientScope` (403). A
    scope failure names the needed scopes in the challenge's ``scope``
    parameter (RFC 6750 §3); a claim failure has reason
    ``claim_requirement_failed``.
    """

    scopes: tuple[str, ...]
    any_scopes: tuple[str, ...]
    claims: tuple[ClaimCheck, ...]
    _all: frozenset[str] = dataclasses.field(repr=False, compare=False)  # scopes, as a set

    def __init__(
        self,
        scopes: Iterable[str] | str | None = None,
        any_scopes: Iterable[str] | str | None = None,
        claims: Iterable[ClaimCheck] = (),
    ) -> None:
        object.__setattr__(self, "scopes", _scopes(scopes))
        object.__setattr__(self, "any_scopes", _scopes(any_scopes))
        checks = tuple(claims)
        for c in checks:
            if not callable(c):
                raise TypeError("claims must be callables taking an AccessToken")
        object.__setattr__(self, "claims", checks)
        object.__setattr__(self, "_all", frozenset(self.scopes))

    def __bool__(self) -> bool:
        return bool(self.scopes or self.any_scopes or self.claims)

    @classmethod
    def claim(cls, name: str, *, equals: Any = _UNSET, includes: Any = _UNSET) -> Requirements:
        """A requirement on one claim: it ``equals`` a value, or ``includes`` one.

        The constructor behind every adapter's ``require_claim``. Raises ``TypeError``
        unless exactly one of ``equals`` / ``includes`` is given.
        """
        if (equals is _UNSET) == (includes is _UNSET):
            raise TypeError("require_claim needs exactly one of equals= or includes=")
        check = ClaimEquals(name, equals) if includes is _UNSET else ClaimIncludes(name, includes)
        return cls(claims=[check])

    @classmethod
    def all_of(cls, *parts: Requirements | None) -> Requirements | None:
        """One requirement meeting every one of *parts* (``None`` when there is none)."""
        found = [p for p in parts if p is not None]
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        with_any = [p for p in found if p.any_scopes]
        extra: list[ClaimCheck] = [_AnyScopes(p.any_scopes) for p in with_any[1:]]
        return cls(
            scopes=[s for p in found for s in p.scopes],
            any_scopes=with_any[0].any_scopes if with_any else (),
            claims=[c for p in found for c in p.claims] + extra,
        )

    def met_by(self, token: AccessToken) -> bool:
        """True when *token* meets every requirement: :meth:`check` without the error.

        It runs the claim checks too; the Starlette decorators, whose checks are
        :class:`ClaimEquals`/:class:`ClaimIncludes`, ask it before :meth:`check`.
        """
        have = token.scopes
        return (
            have >= self._all
            and (not self.any_scopes or not have.isdisjoint(self.any_scopes))
            and (not self.claims or all(check(token) for check in self.claims))
        )

    def check(self, token: AccessToken) -> None:
        """Raise :class:`InsufficientScope` unless *token* meets every requirement."""
        have = token.scopes
        if not have >= self._all:
            raise InsufficientScope(scopes=self.scopes)
        if self.any_scopes and have.isdisjoint(self.any_scopes):
            raise InsufficientScope(scopes=self.any_scopes)
        for check in self.claims:
            if not check(token):
                raise InsufficientScope("claim_requirement_failed")
