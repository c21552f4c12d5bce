"""Framework-free helpers shared by the ASGI and WSGI middleware.

Which paths are protected and what they require (prefixes matched on path-segment
boundaries, the longest prefix wins), and the RFC 6750 §2.2/§2.3 ``access_token``
parameter parsing. No framework and no protocol (ASGI/WSGI) types here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from bearerguard.requirements import Requirements
from bearerguard.verifier import Verifier

#: Form bodies larger than this are not searched for an ``access_token`` (they
#: are passed on untouched), so a client cannot make the middleware buffer an
#: unbounded body.
MAX_FORM_BYTES = 64 * 1024
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# RFC 9110 §8.6: Content-Length = 1*DIGIT (ASCII). 19 digits hold any length a
# 64-bit server accepts; str.isdigit() would also take "²" and unbounded runs.
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}")


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


def content_length(value: str | None) -> int | None:
    """A ``Content-Length`` value as an integer, or ``None`` when absent or not 1*DIGIT.

    Only ASCII digits, at most 19 of them (RFC 9110 §8.6); anything else (``"²"``,
    ``"+5"``, thousands of digits) is no usable length.
    """
    if value is None or not _CONTENT_LENGTH.fullmatch(value):
        return None
    return int(value)


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

    def requirements_for(self, path: str) -> tuple[Requirements, ...]:
        """The requirements of the longest matching prefix, for *path* as sent and normalized.

        Both spellings count, so ``/api/admin/../x`` (which an app may route
        as sent) still meets ``/api/admin``'s requirements; every one returned applies.
        """
        found: list[Requirements] = []
        for candidate in (path, normalize_path(path)):
            prefix = longest_prefix(candidate, self.requirements)
            if prefix is not None and self.requirements[prefix] not in found:
                found.append(self.requirements[prefix])
        return tuple(found)


def is_form_request(method: str, content_type: str | None) -> bool:
    """True when RFC 6750 §2.2 allows a form-body token: not GET, form-urlencoded body."""
    if method.upper() == "GET" or not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == FORM_MEDIA_TYPE


def token_params(encoded: str | bytes) -> list[str]:
    """Every ``access_token`` value in a query string or form-urlencoded body."""
    if isinstance(encoded, bytes):
        encoded = encoded.decode("latin-1")  # the token alphabet is ASCII (RFC 6750 §2.1)
    if not encoded:
        return []
    return parse_qs(encoded, keep_blank_values=True).get("access_token", [])


def middleware_setup(
    verifier: Verifier | None, settings: Mapping[str, Any], max_form_bytes: object
) -> tuple[Verifier, int]:
    """Shared constructor checks of the ASGI and WSGI middleware.

    Returns the verifier (built from *settings* when none is given) and the
    form-body cap. Raises ``TypeError`` for both a verifier and settings, or a
    non-integer cap, and ``ValueError`` for a negative cap.
    """
    if verifier is not None and settings:
        raise TypeError("pass either verifier= or settings as keywords, not both")
    if isinstance(max_form_bytes, bool) or not isinstance(max_form_bytes, int):
        raise TypeError("max_form_bytes must be an integer")
    if max_form_bytes < 0:
        raise ValueError("max_form_bytes must be a non-negative integer")
    return (verifier if verifier is not None else Verifier(**settings)), max_form_bytes
