"""Per-setting parsers: a value as given in, the normalized value out.

A value arrives as a string (the environment) or a Python value (Django settings, Flask
config, keyword arguments). A parser raises ``ValueError`` with a phrase that reads after
the setting's name (``"must be a number of seconds"``); :mod:`bearerguard.settings` turns it
into a :class:`~bearerguard.settings.SettingError` naming the ``BEARERGUARD_*`` setting;
``bearerguard._settings_fields`` puts each parser in the table of settings.
Messages never repeat a secret or a store URL (which may hold a password).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import SplitResult, urlsplit

from bearerguard.challenge import SCOPE_TOKEN, check_text
from bearerguard.extract import LOCATIONS
from bearerguard.paths import normalize_prefix

#: Asymmetric algorithms accepted by default (RFC 7518, RFC 8037, RFC 9864).
DEFAULT_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA", "Ed25519",
)  # fmt: skip
ASYMMETRIC_ALGORITHMS = frozenset(DEFAULT_ALGORITHMS) | {"Ed448"}
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
KNOWN_TOKEN_TYPES = frozenset({"at+jwt", "jwt"})
TENANT_PLACEHOLDER = "{tenantid}"


class Missing(ValueError):
    """A required setting has no value."""


def strings(value: Any) -> tuple[str, ...]:
    """A comma-separated string or an iterable of strings as a tuple: stripped, no blanks, once."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        items = value
    else:
        raise ValueError("must be a string or a list of strings")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError("must contain only strings")
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return tuple(out)


def split_url(url: str, what: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        raise ValueError(f"must be {what}") from None
    return parts


def check_url(url: str) -> None:
    """Raise unless *url* is an absolute http(s) URL with a host."""
    what = f"an absolute http(s) URL, got {url!r}"
    parts = split_url(url, what)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be {what}")


def optional_str(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value.strip() or None


# Parsers of the settings a plain bearer JWT needs.


def issuer(value: Any) -> tuple[str, ...]:
    """One issuer URL or several; ``{tenantid}`` stands for a tenant (see ``tenants``)."""
    issuers = strings(value)
    if not issuers:
        raise Missing("is required: the issuer identifier of your authorization server")
    for iss in issuers:
        try:
            check_url(iss.replace(TENANT_PLACEHOLDER, "tenantid"))
        except ValueError:
            raise ValueError(f"must be an absolute http(s) URL, got {iss!r}") from None
    return issuers


def optional_url(value: Any) -> str | None:
    """An absolute http(s) URL, or ``None`` when blank."""
    url = optional_str(value)
    if url is not None:
        check_url(url)
    return url


def algorithms(value: Any) -> tuple[str, ...]:
    """The JWT allow list: known names, never ``none`` (RFC 8725 §3.1)."""
    algs = strings(value)
    if not algs:
        raise ValueError("must name at least one algorithm")
    for alg in algs:
        if alg.lower() == "none":
            raise ValueError("must not contain 'none'")
        if alg not in ASYMMETRIC_ALGORITHMS and alg not in HMAC_ALGORITHMS:
            raise ValueError(f"names an unknown algorithm {alg!r}")
    return algs


def dpop_algorithms(value: Any) -> tuple[str, ...]:
    """DPoP proof algorithms: asymmetric only (RFC 9449 §4.2: never ``none`` nor a MAC)."""
    algs = strings(value)
    if not algs:
        raise ValueError("must name at least one algorithm")
    for alg in algs:
        if alg.lower() == "none" or alg.upper().startswith("HS"):
            raise ValueError("must name asymmetric algorithms only, never 'none' or HS*")
        if alg not in ASYMMETRIC_ALGORITHMS:
            raise ValueError(f"names an unknown algorithm {alg!r}")
    return algs


def secret(value: Any) -> bytes | None:
    """A secret as bytes (a string is UTF-8 encoded); its length is checked where it is used."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise ValueError("must be a string or bytes")


def long_secret(value: Any) -> bytes | None:
    """A secret of at least 32 bytes (a 256-bit HMAC key), or ``None``."""
    out = secret(value)
    if out is not None and len(out) < 32:
        raise ValueError("must be at least 32 bytes")
    return out


def seconds(low: int, high: int) -> Callable[[Any], float]:
    """A parser of a finite number of seconds from *low* to *high*."""

    def parse(value: Any) -> float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ValueError("must be a number of seconds") from None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise ValueError("must be a number of seconds")
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high} seconds")
        return value

    return parse


def realm(value: Any) -> str:
    """A challenge parameter value within RFC 6750 §3's character set."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    try:
        return check_text(value, "realm")
    except ValueError:
        raise ValueError("must use printable ASCII without '\"' or '\\' (RFC 6750 §3)") from None


def token_types(value: Any) -> tuple[str, ...]:
    """``at+jwt`` (also ``application/at+jwt``, RFC 9068 §2.1) and/or ``jwt``."""
    types = tuple(t.lower() for t in strings(value))
    types = tuple("at+jwt" if t == "application/at+jwt" else t for t in types)
    if not types or any(t not in KNOWN_TOKEN_TYPES for t in types):
        raise ValueError("must be 'at+jwt' and/or 'jwt'")
    return tuple(dict.fromkeys(types))


def token_locations(value: Any) -> tuple[str, ...]:
    """``header``, ``query`` and/or ``form`` (RFC 6750 §2.1-2.3)."""
    locs = tuple(x.lower() for x in strings(value))
    if not locs or any(x not in LOCATIONS for x in locs):
        raise ValueError("must be among header, query, form")
    return tuple(dict.fromkeys(locs))


def max_token_size(value: Any) -> int:
    """An integer from 256 to 1 MiB."""
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise ValueError("must be an integer") from None
    if not 256 <= size <= 1024 * 1024:
        raise ValueError("must be between 256 and 1048576")
    return size


def token_cache_size(value: Any) -> int:
    """An integer from 0 (no cache) to 10 000 000."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**7:
        raise ValueError("must be an integer from 0 to 10000000")
    return value


def path_prefixes(value: Any) -> tuple[str, ...]:
    """Path prefixes starting with ``/`` (a trailing slash dropped)."""
    if not isinstance(value, (str, list, tuple)):
        raise ValueError("must be a list of path prefixes")
    out = []
    for prefix in strings(value):
        if not prefix.startswith("/"):
            raise ValueError(f"must hold path prefixes starting with '/', got {prefix!r}")
        out.append(normalize_prefix(prefix))
    return tuple(out)


Implications = tuple[tuple[str, tuple[str, ...]], ...]


def scope_implications(value: Any) -> Implications:
    """A scope hierarchy: each broad scope with every scope it implies (transitively).

    In Python a mapping ``{"messages:admin": ["messages:read", "messages:write"]}`` (the
    implied scopes as a list or a space-separated string). As text (environment, Django or
    Flask settings given as a string): rules separated by ``;``, each ``broad>narrow
    narrow…``, e.g. ``messages:admin>messages:read messages:write;files:admin>files:read``
    (a scope holding ``;`` or ``>`` can only be given in the mapping form). Held as sorted
    ``(broad, (implied, …))`` pairs, with implications of implications followed.
    """
    if value is None or value == "" or value == ():
        return ()
    rules: dict[Any, set[Any]] = {}
    if isinstance(value, str):
        for rule in value.split(";"):
            if not rule.strip():
                continue
            broad, sep, narrow = rule.partition(">")
            if not sep or not broad.strip() or not narrow.split():
                raise ValueError(
                    f"must hold rules 'broad>narrow narrow…' separated by ';', got {rule.strip()!r}"
                )
            rules.setdefault(broad.strip(), set()).update(narrow.split())
    elif isinstance(value, dict) or hasattr(value, "items"):
        for broad, narrow in value.items():
            names = narrow.split() if isinstance(narrow, str) else list(narrow)
            rules.setdefault(broad, set()).update(names)
    elif isinstance(value, tuple):  # the normalized form, given back
        for broad, narrow in value:
            rules.setdefault(broad, set()).update(narrow)
    else:
        raise ValueError("must be a mapping of scope -> implied scopes, or rules as text")
    for broad, implied in rules.items():
        for scope in (broad, *implied):
            if not isinstance(scope, str) or not SCOPE_TOKEN.fullmatch(scope):
                raise ValueError(f"must hold RFC 6750 scope-tokens (§3), got {scope!r}")
    closed: dict[str, set[str]] = {}
    for broad in rules:  # follow implications of implications (cycles are harmless)
        seen: set[str] = set()
        todo = list(rules[broad])
        while todo:
            scope = todo.pop()
            if scope not in seen:
                seen.add(scope)
                todo.extend(rules.get(scope, ()))
        seen.discard(broad)
        closed[broad] = seen
    return tuple((b, tuple(sorted(n))) for b, n in sorted(closed.items()) if n)
