"""Settings: one frozen dataclass, validated at construction.

The same names are used everywhere: ``BEARERGUARD_ISSUER`` in the environment,
in Django settings and in Flask's ``app.config``; ``issuer=`` in Python.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from bearerguard.challenge import check_text
from bearerguard.extract import LOCATIONS

#: Asymmetric algorithms accepted by default (RFC 7518, RFC 8037, RFC 9864).
DEFAULT_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA", "Ed25519",
)  # fmt: skip
ASYMMETRIC_ALGORITHMS = frozenset(DEFAULT_ALGORITHMS) | {"Ed448"}
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
KNOWN_TOKEN_TYPES = frozenset({"at+jwt", "jwt"})
DEFAULT_LEEWAY = 60
DEFAULT_MAX_TOKEN_SIZE = 16 * 1024

_ENV_FIELDS = {
    "ISSUER": "issuer",
    "AUDIENCE": "audience",
    "JWKS_URI": "jwks_uri",
    "ALGORITHMS": "algorithms",
    "LEEWAY": "leeway",
    "REALM": "realm",
    "SCOPE_CLAIMS": "scope_claims",
    "REQUIRED_CLAIMS": "required_claims",
    "TOKEN_TYPES": "token_types",
    "TOKEN_LOCATIONS": "token_locations",
    "SHARED_SECRET": "shared_secret",
    "MAX_TOKEN_SIZE": "max_token_size",
}


def _as_tuple(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ValueError(f"{name} must be a string or a list of strings")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{name} must contain only strings")
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return tuple(out)


def _check_url(url: str, name: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an absolute http(s) URL, got {url!r}")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a :class:`~bearerguard.Verifier` needs, validated once.

    Args:
        issuer: one issuer identifier or several; a token's ``iss`` must equal
            one of them exactly (a trailing slash matters).
        audience: one or several; required. A token's ``aud`` must contain one.
        jwks_uri: where the keys are; discovered from the issuer when omitted.
        algorithms: the allow list (``none`` is never allowed; HS* needs
            ``shared_secret``).
        leeway: seconds of clock skew tolerated on ``exp``/``nbf``/``iat``.
        realm: the ``realm`` of every challenge.
        scope_claims: claims scopes may be read from, in order: the first one present in a
            token supplies them (``permissions,scope`` for Auth0 RBAC).
        required_claims: claims that must be present besides ``exp``.
        token_types: accepted ``typ`` values: ``at+jwt`` (RFC 9068) and/or
            ``jwt`` (which also admits a token without ``typ``).
        token_locations: ``header`` and opt-in ``query``/``form`` (RFC 6750 §2).
        shared_secret: enables HS256/384/512 (at least 32 bytes).
        max_token_size: tokens longer than this are refused before decoding.

    Raises ``ValueError`` naming the setting when a value is wrong.
    """

    issuer: tuple[str, ...] | str = ()
    audience: tuple[str, ...] | str = ()
    jwks_uri: Any = None
    algorithms: tuple[str, ...] | str = DEFAULT_ALGORITHMS
    leeway: Any = DEFAULT_LEEWAY
    realm: str = "api"
    scope_claims: tuple[str, ...] | str = ("scope", "scp")
    required_claims: tuple[str, ...] | str = ()
    token_types: tuple[str, ...] | str = ("at+jwt", "jwt")
    token_locations: tuple[str, ...] | str = ("header",)
    shared_secret: bytes | str | None = dataclasses.field(default=None, repr=False)
    max_token_size: Any = DEFAULT_MAX_TOKEN_SIZE

    def __post_init__(self) -> None:
        put = object.__setattr__
        issuers = _as_tuple(self.issuer, "BEARERGUARD_ISSUER")
        if not issuers:
            raise ValueError(
                "BEARERGUARD_ISSUER is required: the issuer identifier of your authorization server"
            )
        for iss in issuers:
            _check_url(iss, "BEARERGUARD_ISSUER")
        put(self, "issuer", issuers)
        audiences = _as_tuple(self.audience, "BEARERGUARD_AUDIENCE")
        if not audiences:
            raise ValueError(
                "BEARERGUARD_AUDIENCE is required: without an audience check the API "
                "would accept tokens minted for other APIs"
            )
        put(self, "audience", audiences)
        if self.jwks_uri is not None:
            if not isinstance(self.jwks_uri, str) or not self.jwks_uri.strip():
                put(self, "jwks_uri", None)
            else:
                put(self, "jwks_uri", self.jwks_uri.strip())
                _check_url(self.jwks_uri, "BEARERGUARD_JWKS_URI")
        algs = _as_tuple(self.algorithms, "BEARERGUARD_ALGORITHMS")
        if not algs:
            raise ValueError("BEARERGUARD_ALGORITHMS must name at least one algorithm")
        for alg in algs:
            if alg.lower() == "none":
                raise ValueError("BEARERGUARD_ALGORITHMS must not contain 'none'")
            if alg not in ASYMMETRIC_ALGORITHMS and alg not in HMAC_ALGORITHMS:
                raise ValueError(f"BEARERGUARD_ALGORITHMS: unknown algorithm {alg!r}")
        secret = self.shared_secret
        if isinstance(secret, str):
            secret = secret.encode()
            put(self, "shared_secret", secret)
        if any(a in HMAC_ALGORITHMS for a in algs):
            if not secret:
                raise ValueError(
                    "BEARERGUARD_ALGORITHMS: HS* algorithms need BEARERGUARD_SHARED_SECRET"
                )
            if len(secret) < 32:
                raise ValueError("BEARERGUARD_SHARED_SECRET must be at least 32 bytes")
        put(self, "algorithms", algs)
        leeway = self.leeway
        if isinstance(leeway, str):
            try:
                leeway = float(leeway)
            except ValueError:
                raise ValueError("BEARERGUARD_LEEWAY must be a number of seconds") from None
        if (
            isinstance(leeway, bool)
            or not isinstance(leeway, (int, float))
            or not math.isfinite(leeway)
        ):
            raise ValueError("BEARERGUARD_LEEWAY must be a number of seconds")
        if not 0 <= leeway <= 600:
            raise ValueError("BEARERGUARD_LEEWAY must be between 0 and 600 seconds")
        put(self, "leeway", leeway)
        check_text(self.realm, "BEARERGUARD_REALM")
        for name, env in (("scope_claims", "SCOPE_CLAIMS"), ("required_claims", "REQUIRED_CLAIMS")):
            put(self, name, _as_tuple(getattr(self, name), f"BEARERGUARD_{env}"))
        types = tuple(t.lower() for t in _as_tuple(self.token_types, "BEARERGUARD_TOKEN_TYPES"))
        types = tuple("at+jwt" if t == "application/at+jwt" else t for t in types)
        bad = [t for t in types if t not in KNOWN_TOKEN_TYPES]
        if bad or not types:
            raise ValueError("BEARERGUARD_TOKEN_TYPES must be 'at+jwt' and/or 'jwt'")
        put(self, "token_types", types)
        locs = tuple(
            x.lower() for x in _as_tuple(self.token_locations, "BEARERGUARD_TOKEN_LOCATIONS")
        )
        if not locs or any(x not in LOCATIONS for x in locs):
            raise ValueError("BEARERGUARD_TOKEN_LOCATIONS must be among header, query, form")
        put(self, "token_locations", locs)
        try:
            size = int(self.max_token_size)
        except (TypeError, ValueError):
            raise ValueError("BEARERGUARD_MAX_TOKEN_SIZE must be an integer") from None
        if not 256 <= size <= 1024 * 1024:
            raise ValueError("BEARERGUARD_MAX_TOKEN_SIZE must be between 256 and 1048576")
        put(self, "max_token_size", size)

    # Typed views (the fields hold tuples once validated).
    @property
    def issuers(self) -> tuple[str, ...]:
        """The configured issuers."""
        return self.issuer if isinstance(self.issuer, tuple) else (self.issuer,)

    @property
    def audiences(self) -> tuple[str, ...]:
        """The configured audiences."""
        return self.audience if isinstance(self.audience, tuple) else (self.audience,)

    def tuple_of(self, name: str) -> tuple[str, ...]:
        """A list-valued setting as a tuple of strings."""
        value = getattr(self, name)
        return value if isinstance(value, tuple) else (value,)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], prefix: str = "BEARERGUARD_") -> Settings:
        """Build settings from ``BEARERGUARD_*`` keys (strings or Python values).

        Unknown ``BEARERGUARD_*`` keys are an error, so a typo cannot silently
        disable a check.
        """
        kwargs: dict[str, Any] = {}
        for key, value in mapping.items():
            if not key.startswith(prefix):
                continue
            name = _ENV_FIELDS.get(key[len(prefix) :])
            if name is None:
                if prefix == "BEARERGUARD_" and key[len(prefix) :] in _IGNORED_KEYS:
                    continue
                raise ValueError(f"unknown setting {key}")
            if value is None or value == "":
                continue
            kwargs[name] = value
        return cls(**kwargs)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the process environment (``BEARERGUARD_*``)."""
        return cls.from_mapping(os.environ if environ is None else environ)


# Keys read by adapters, not by the core (Django/Flask extras).
_IGNORED_KEYS = frozenset(
    {"PROTECTED_PATHS", "EXEMPT_PATHS", "USER_HOOK", "TOKEN_CACHE_SIZE", "TOKEN_CACHE"}
)
