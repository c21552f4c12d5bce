"""Path rules: which request paths need a token, and what each requires.

One public home for the rules the ASGI and WSGI middleware and the Django middleware
share: prefixes matched on path-segment boundaries (``/api`` covers ``/api/x``, not
``/apix``), the longest prefix deciding, every path judged both as sent and normalized
(RFC 3986 §5.2.4), and an ASGI app's routing path computed without its ``root_path``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bearerguard.requirements import Requirements

__all__ = [
    "PathRules",
    "longest_prefix",
    "normalize_path",
    "normalize_prefix",
    "prefix_matches",
    "route_path",
]


def _prefixes(value: str | Iterable[str], name: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    return tuple(dict.fromkeys(normalize_prefix(p, name) for p in items))


def normalize_prefix(prefix: object, name: str = "prefix") -> str:
    """Validate a path prefix (``/api``); a trailing slash is dropped (``/api/`` is ``/api``).

    Raises ``ValueError`` naming *name* when the prefix does not start with ``/``.
    """
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise ValueError(f"{name}: path prefixes must be strings starting with '/', got {prefix!r}")
    return prefix.rstrip("/") or "/"


def prefix_matches(path: str, prefix: str) -> bool:
    """True when *path* is *prefix* or lies below it: ``/api`` matches ``/api/x``, not ``/apix``."""
    if prefix == "/":
        return True
    return path == prefix or path.startswith(prefix + "/")


def longest_prefix(path: str, prefixes: Iterable[str]) -> str | None:
    """The longest of *prefixes* matching *path* on a segment boundary, or ``None``."""
    best: str | None = None
    for prefix in prefixes:
        if prefix_matches(path, prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def route_path(path: str, root_path: str) -> str:
    """The path an ASGI app routes on: *path* without its leading *root_path*.

    ASGI's ``scope["path"]`` includes ``root_path`` (uvicorn ``--root-path``,
    a Starlette ``Mount``, FastAPI's ``root_path``), while routing uses the rest.
    As Starlette computes it: *root_path* is removed when *path* equals it
    (giving ``""``) or continues it with ``/``; otherwise *path* is returned as is.
    """
    if not root_path or not path.startswith(root_path):
        return path
    rest = path[len(root_path) :]
    return rest if not rest or rest[0] == "/" else path


def normalize_path(path: str) -> str:
    """Collapse empty and ``.`` segments and resolve ``..`` (RFC 3986 §5.2.4).

    Servers hand the path on as sent; an app behind the middleware may still
    route ``/api/public/../private`` or ``//api/private`` to ``/api/private``,
    so both spellings are judged (see :meth:`PathRules.protects`).
    """
    out: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    return "/" + "/".join(out)


class PathRules:
    """Which paths need a token, and what each path requires.

    Args:
        protect: path prefixes that need a valid token (``"/"`` is everything).
        exempt: path prefixes that are passed through without a check.
        requirements: path prefix -> :class:`~bearerguard.Requirements`; its
            prefixes are protected too. For a path, the longest matching
            prefix decides both questions.

    Raises ``ValueError`` for a prefix not starting with ``/`` or listed both as
    protected and exempt, ``TypeError`` for a requirement that is not a
    :class:`~bearerguard.Requirements`.
    """

    def __init__(
        self,
        protect: str | Iterable[str] = ("/",),
        exempt: str | Iterable[str] = (),
        requirements: Mapping[str, Requirements] | None = None,
    ) -> None:
        self.requirements: dict[str, Requirements] = {}
        for prefix, req in (requirements or {}).items():
            if not isinstance(req, Requirements):
                raise TypeError("requirements values must be bearerguard.Requirements")
            self.requirements[normalize_prefix(prefix, "requirements")] = req
        self.protect = tuple(
            dict.fromkeys(_prefixes(protect, "protect") + tuple(self.requirements))
        )
        self.exempt = _prefixes(exempt, "exempt")
        both = set(self.protect) & set(self.exempt)
        if both:
            raise ValueError(f"path prefixes both protected and exempt: {sorted(both)}")

    def _protects(self, path: str) -> bool:
        protected = longest_prefix(path, self.protect)
        if protected is None:
            return False
        exempted = longest_prefix(path, self.exempt)
        return exempted is None or len(protected) > len(exempted)

    def protects(self, path: str) -> bool:
        """True when *path* (as sent, or once normalized) needs a valid token."""
        return self._protects(path) or self._protects(normalize_path(path))

    def exempts(self, path: str) -> bool:
        """True when *path* is exempt both as sent and normalized (passed through untouched)."""
        return (
            longest_prefix(path, self.exempt) is not None
            and longest_prefix(normalize_path(path), self.exempt) is not None
        )

    def requirements_for(self, path: str) -> Requirements | None:
        """The requirements of the longest matching prefix, for *path* as sent and normalized.

        Both spellings count, so ``/api/admin/../x`` (which an app may route as sent)
        still meets ``/api/admin``'s requirements; ``None`` when no prefix has any.
        """
        found: list[Requirements] = []
        for candidate in (path, normalize_path(path)):
            prefix = longest_prefix(candidate, self.requirements)
            if prefix is not None and self.requirements[prefix] not in found:
                found.append(self.requirements[prefix])
        return Requirements.all_of(*found)

    def match(self, path: str) -> tuple[bool, bool, Requirements | None]:
        """(protected, exempt, requirements) for *path*: everything a middleware asks.

        Exempt paths are passed on untouched; elsewhere a token that is sent is checked,
        and a protected path needs one.
        """
        protected = self.protects(path)
        if not protected and self.exempt and self.exempts(path):
            return False, True, None
        return protected, False, self.requirements_for(path) if self.requirements else None
