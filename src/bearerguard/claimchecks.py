"""Claim checks: a claim, named by a claim path, equals or includes a value.

:class:`ClaimEquals` and :class:`ClaimIncludes` are the checks
:class:`~bearerguard.Requirements` runs (``Requirements.claim`` and every adapter's
``require_claim`` build them). The claim is found by a claim path
(:mod:`bearerguard.claimpath`); a path that leads nowhere fails the check, never raises.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bearerguard.claimpath import MISSING, ClaimPath, ClaimPathLike
from bearerguard.tokens import AccessToken, split_scopes

__all__ = ["ClaimEquals", "ClaimIncludes"]


def _same_json(a: Any, b: Any) -> bool:
    """JSON equality, type-strict at the leaves (``1`` is not ``true`` nor ``1.0``); a
    token's read-only arrays and objects equal plain lists and dicts."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_json(v, b[k]) for k, v in a.items())
    return type(a) is type(b) and a == b


def _path(check: Any) -> None:
    name = check.name
    if isinstance(name, list):  # a list of segments: kept as a (hashable) tuple
        name = tuple(name)
        object.__setattr__(check, "name", name)
    object.__setattr__(check, "path", ClaimPath.parse(name))


@dataclasses.dataclass(frozen=True)
class ClaimEquals:
    """The claim at *name* equals *value* (same JSON type: ``1`` is not ``true``; arrays
    and objects compare member by member, so a list or dict *value* works).

    *name* is a claim path (:mod:`bearerguard.claimpath`): ``"tenant"``,
    ``"realm_access.roles"`` (dots nest), ``"https://example.com/tenant"`` (a string
    with ``://`` is one claim), or a tuple of segments. An absent path fails the check.
    Raises ``ValueError`` / ``TypeError`` for a bad path.
    """

    name: ClaimPathLike
    value: Any
    path: ClaimPath = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _path(self)

    def __call__(self, token: AccessToken) -> bool:
        actual = self.path.resolve(token.claims)
        return actual is not MISSING and _same_json(actual, self.value)


@dataclasses.dataclass(frozen=True)
class ClaimIncludes:
    """The claim at *name* is an array containing *value* (or a space-separated string
    holding it). *name* is a claim path, as for :class:`ClaimEquals`; an absent path
    fails the check."""

    name: ClaimPathLike
    value: Any
    path: ClaimPath = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _path(self)

    def __call__(self, token: AccessToken) -> bool:
        actual = self.path.resolve(token.claims)
        if isinstance(actual, list):
            return any(type(v) is type(self.value) and v == self.value for v in actual)
        if isinstance(actual, str) and isinstance(self.value, str):
            return self.value in split_scopes(actual)  # RFC 6749 §3.3: spaces only
        return False
