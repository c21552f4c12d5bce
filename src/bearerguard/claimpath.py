"""Claim paths: name a claim nested inside others (``realm_access.roles``).

A claim path is a sequence of object member names, read from the top-level claims down.
It is written one of three ways, and the rule that picks the way is fixed, so one
spelling never means two paths:

* a **tuple or list of strings** gives the segments explicitly:
  ``("resource_access", "my.api", "roles")``. Nothing inside is split or unescaped.
* a **string containing** ``://`` names **one top-level claim**, verbatim: namespaced
  claims are URLs (``https://example.com/roles``) whose dots are part of the name. To
  reach a member inside such a claim, use a tuple:
  ``("https://hasura.io/jwt/claims", "x-hasura-allowed-roles")``.
* **any other string** is split on dots: ``realm_access.roles`` is the member ``roles``
  of the object ``realm_access``. A dot that is part of a name is written ``\\.``
  and a backslash ``\\\\`` (``resource_access.my\\.api.roles``); any other backslash
  is an error.

Every segment is a non-empty string: an empty segment (``a..b``, ``.a``, ``a.``, ``""``)
is a configuration error, raised by :meth:`ClaimPath.parse` as ``ValueError`` at
start-up, never at request time.

Array indices are **not** supported: a segment always names an object member, and a path
that meets an array (or a string, a number, ``null``) before its last segment resolves
to :data:`MISSING`. Role and group claims are arrays checked as a whole
(:class:`~bearerguard.ClaimIncludes`); positions in them carry no meaning.

:func:`resolve` never raises on the shape of the claims: whatever the token holds, the
answer is the value at the path or :data:`MISSING`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = ["MISSING", "ClaimPath", "ClaimPathLike", "resolve"]


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return False


#: What :func:`resolve` returns when the path leads nowhere (distinct from a JSON ``null``).
MISSING: Final = _Missing.MISSING


def _split(text: str) -> tuple[str, ...]:
    """Split *text* on unescaped dots (``\\.`` is a dot, ``\\\\`` a backslash)."""
    segments: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            if nxt not in (".", "\\"):
                raise ValueError(
                    f"claim path {text!r}: a backslash escapes only '.' or '\\' (write '\\\\.')"
                )
            current.append(nxt)
        elif ch == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(ch)
    segments.append("".join(current))
    return tuple(segments)


def _escape(segment: str) -> str:
    return segment.replace("\\", "\\\\").replace(".", "\\.")


@dataclasses.dataclass(frozen=True)
class ClaimPath:
    """A parsed claim path: the member names from the top-level claims down.

    Build one with :meth:`parse` (the module docstring has the rules). ``str(path)``
    gives a spelling that :meth:`parse` reads back to the same path (a tuple's ``repr``
    when no string can: a URL claim followed by more segments).
    """

    segments: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError("a claim path needs at least one segment")
        for seg in self.segments:
            if type(seg) is not str:
                raise TypeError(f"claim path segments are strings, not {type(seg).__name__}")
            if not seg:
                raise ValueError(f"claim path {self.segments!r} has an empty segment")

    @classmethod
    def parse(cls, path: ClaimPathLike) -> ClaimPath:
        """Parse *path*: a :class:`ClaimPath` (returned as is), a string or a sequence.

        Raises ``ValueError`` for an empty path or segment, or a stray backslash;
        ``TypeError`` for anything but strings.
        """
        if isinstance(path, ClaimPath):
            return path
        if isinstance(path, str):
            if not path:
                raise ValueError("a claim path cannot be empty")
            if "://" in path:  # a namespaced claim: one name, dots and all
                return cls((path,))
            segments = _split(path)
            if "" in segments:
                raise ValueError(f"claim path {path!r} has an empty segment")
            return cls(segments)
        if isinstance(path, (tuple, list)):
            return cls(tuple(path))
        raise TypeError(
            f"a claim path is a string or a tuple of strings, not {type(path).__name__}"
        )

    @property
    def nested(self) -> bool:
        """True when the path goes below the top-level claims."""
        return len(self.segments) > 1

    def resolve(self, claims: Any) -> Any:
        """The value at this path in *claims*, or :data:`MISSING` (never raises)."""
        node = claims
        for seg in self.segments:
            if not isinstance(node, Mapping):
                return MISSING
            try:
                node = node.get(seg, MISSING)
            except Exception:  # a hostile Mapping; JSON objects never get here
                return MISSING
            if node is MISSING:
                return MISSING
        return node

    def __str__(self) -> str:
        first = self.segments[0]
        if len(self.segments) == 1 and "://" in first:
            return first
        if any("://" in s for s in self.segments):
            return repr(self.segments)
        return ".".join(_escape(s) for s in self.segments)


#: What names a claim path: a :class:`ClaimPath`, a string, or a sequence of segments.
ClaimPathLike = ClaimPath | str | Sequence[str]


def resolve(claims: Any, path: ClaimPathLike) -> Any:
    """The value at *path* in *claims* (a token's claims), or :data:`MISSING`.

    *path* is parsed with :meth:`ClaimPath.parse` (which raises on a bad path: parse
    once at start-up and call :meth:`ClaimPath.resolve` on hot paths). The claims'
    shape never makes it raise: a missing member, or a non-object on the way, gives
    :data:`MISSING`; array indices are not supported.
    """
    return ClaimPath.parse(path).resolve(claims)
