"""Settings: one frozen dataclass, validated at construction.

The same names are used everywhere: ``BEARERGUARD_ISSUER`` in the environment,
in Django settings and in Flask's ``app.config``; ``issuer=`` in Python.
:data:`FIELDS` (in ``bearerguard._settings_fields``, re-exported here) is the one place
a setting is defined: keyword and ``BEARERGUARD_*`` name, default, parser, description.
Each field is parsed on its own; the rules across settings follow, one small function each.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from bearerguard import _settings_parsers as p
from bearerguard import providers
from bearerguard._settings_fields import (
    DEFAULT_LEEWAY,
    DEFAULT_MAX_TOKEN_SIZE,
    DPOP_ALGORITHMS,
    FIELDS,
    PREFIX,
    Field,
)
from bearerguard._settings_parsers import (
    ASYMMETRIC_ALGORITHMS,
    DEFAULT_ALGORITHMS,
    HMAC_ALGORITHMS,
    KNOWN_TOKEN_TYPES,
    TENANT_PLACEHOLDER,
)
from bearerguard.issuers import IssuerSettings

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_TOKEN_SIZE",
    "DPOP_ALGORITHMS",
    "FIELDS",
    "HMAC_ALGORITHMS",
    "KNOWN_TOKEN_TYPES",
    "PRESET_FIELDS",
    "Field",
    "IssuerSettings",
    "SettingError",
    "Settings",
]


class SettingError(ValueError):
    """A ``BEARERGUARD_*`` setting is wrong.

    Attributes:
        setting: the ``BEARERGUARD_*`` name of the setting at fault (also in the message).
        missing: True when a required setting has no value.
    """

    def __init__(self, setting: str, message: str, *, missing: bool = False) -> None:
        if setting not in message:
            message = f"{setting}: {message}"
        super().__init__(message)
        self.setting = setting
        self.missing = missing


_BY_NAME = {f.name: f for f in FIELDS}
_BY_ENV = {f.env: f for f in FIELDS}


#: Settings a provider preset fills when they are not given (``bearerguard.providers``).
PRESET_FIELDS = ("scope_claims", "role_claims", "client_id_claims")
_UNSET: Any = type("_Unset", (), {"__repr__": lambda self: "<preset's>"})()


def _field(name: str) -> Any:
    f = _BY_NAME[name]
    default = _UNSET if name in PRESET_FIELDS else f.default
    return dataclasses.field(default=default, repr=not f.secret)


def _parse(f: Field, value: Any) -> Any:
    try:
        return f.parse(value)
    except (TypeError, ValueError) as exc:
        missing = isinstance(exc, p.Missing)
        raise SettingError(f.env, f"{f.env} {exc}", missing=missing) from None


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a :class:`~bearerguard.Verifier` needs, validated once.

    Each keyword is a field of :data:`FIELDS` (which describes it); values are given as
    Python values or strings (lists comma-separated) and held normalized: lists as
    tuples of strings, secrets as bytes, numbers as numbers. Raises :class:`SettingError`
    (a ``ValueError``) naming the ``BEARERGUARD_*`` setting when a value is wrong.
    """

    # Defaults, and which fields repr hides, come from FIELDS (evaluated once, on purpose).
    issuer: tuple[str, ...] | str = _field("issuer")
    audience: tuple[str, ...] | str = _field("audience")
    jwks_uri: Any = _field("jwks_uri")  # noqa: RUF009
    algorithms: tuple[str, ...] | str = _field("algorithms")
    leeway: Any = _field("leeway")  # noqa: RUF009
    realm: str = _field("realm")
    scope_claims: tuple[str, ...] | str = _field("scope_claims")
    role_claims: tuple[str, ...] | str = _field("role_claims")
    client_id_claims: tuple[str, ...] | str = _field("client_id_claims")
    scope_implications: Any = _field("scope_implications")  # noqa: RUF009
    required_claims: tuple[str, ...] | str = _field("required_claims")
    token_types: tuple[str, ...] | str = _field("token_types")
    token_locations: tuple[str, ...] | str = _field("token_locations")
    shared_secret: bytes | str | None = _field("shared_secret")
    max_token_size: Any = _field("max_token_size")  # noqa: RUF009
    token_cache_size: Any = _field("token_cache_size")  # noqa: RUF009
    protected_paths: tuple[str, ...] | str = _field("protected_paths")
    exempt_paths: tuple[str, ...] | str = _field("exempt_paths")
    dpop: str = _field("dpop")
    dpop_algorithms: tuple[str, ...] | str = _field("dpop_algorithms")
    dpop_nonce: bool | str = _field("dpop_nonce")
    dpop_nonce_secret: bytes | str | None = _field("dpop_nonce_secret")
    dpop_max_age: Any = _field("dpop_max_age")  # noqa: RUF009
    store: str = _field("store")
    resource: str | None = _field("resource")
    scopes_supported: tuple[str, ...] | str = _field("scopes_supported")
    resource_name: str | None = _field("resource_name")
    resource_documentation: str | None = _field("resource_documentation")
    token_formats: tuple[str, ...] | str = _field("token_formats")
    introspection_uri: str | None = _field("introspection_uri")
    client_id: str | None = _field("client_id")
    client_secret: str | None = _field("client_secret")
    client_auth: str = _field("client_auth")
    introspection_cache_ttl: Any = _field("introspection_cache_ttl")  # noqa: RUF009
    introspection_jwt: bool | str = _field("introspection_jwt")
    provider: str = _field("provider")
    tenants: tuple[str, ...] | str = _field("tenants")
    issuer_settings: Any = _field("issuer_settings")  # noqa: RUF009

    def __post_init__(self) -> None:
        # A preset fills the settings not given; given ones always win.
        preset = providers.preset(_parse(_BY_NAME["provider"], self.provider))
        explicit = []
        for f in FIELDS:
            value = getattr(self, f.name)
            if value is _UNSET:
                value = preset.defaults.get(f.name, f.default)
            elif f.name in PRESET_FIELDS:
                explicit.append(f.name)
            if f.name == "issuer" and value == () and self.issuer_settings:
                continue  # every issuer has settings of its own
            object.__setattr__(self, f.name, _parse(f, value))
        object.__setattr__(self, "_explicit", tuple(explicit))
        if preset.slash_issuer:
            # Auth0's iss is the tenant's origin with a trailing slash: add it to a bare origin.
            slashed = tuple(i + "/" if not urlsplit(i).path else i for i in self.tuple_of("issuer"))
            object.__setattr__(self, "issuer", slashed)
        for rule in _CROSS_RULES:
            rule(self)
        object.__setattr__(self, "_profiles", _profiles(self))

    # Typed views (the fields hold tuples once validated).
    @property
    def issuers(self) -> tuple[str, ...]:
        """Every trusted issuer: ``issuer`` and those of ``issuer_settings``."""
        own = self.issuer if isinstance(self.issuer, tuple) else (self.issuer,)
        return own + tuple(i.issuer for i in self.issuer_settings)

    @property
    def preset(self) -> providers.Preset:
        """The provider preset (:mod:`bearerguard.providers`)."""
        return providers.preset(self.provider)

    def profiles(self) -> tuple[Settings, ...]:
        """One settings object per group of issuers sharing settings: these settings for
        ``issuer`` (when given), then one per ``issuer_settings`` entry, whose unset
        fields come from these settings (``jwks_uri``, ``tenants`` and ``provider``
        excepted: they describe one server; preset-filled values are not inherited)."""
        result: tuple[Settings, ...] = self.__dict__["_profiles"]
        return result

    @property
    def audiences(self) -> tuple[str, ...]:
        """The configured audiences."""
        return self.audience if isinstance(self.audience, tuple) else (self.audience,)

    def tuple_of(self, name: str) -> tuple[str, ...]:
        """A list-valued setting as a tuple of strings."""
        value = getattr(self, name)
        return value if isinstance(value, tuple) else (value,)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], prefix: str = PREFIX) -> Settings:
        """Build settings from ``BEARERGUARD_*`` keys (strings or Python values).

        Keys without *prefix* are ignored, and so are ``None`` and empty values.
        Unknown ``BEARERGUARD_*`` keys are a :class:`SettingError`, so a typo cannot
        silently disable a check.
        """
        kwargs: dict[str, Any] = {}
        for key, value in mapping.items():
            if not key.startswith(prefix):
                continue
            suffix = key[len(prefix) :]
            f = _BY_ENV.get(PREFIX + suffix)
            if f is None:
                if prefix == PREFIX and suffix in _IGNORED_KEYS:
                    continue
                raise SettingError(key, f"unknown setting {key}")
            if value is None or value == "":
                continue
            kwargs[f.name] = value
        return cls(**kwargs)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the process environment (``BEARERGUARD_*``)."""
        return cls.from_mapping(os.environ if environ is None else environ)


if [f.name for f in dataclasses.fields(Settings)] != list(_BY_NAME):  # pragma: no cover
    raise RuntimeError("Settings and FIELDS must list the same settings")

# Keys read by adapters, not by the core (Django/Flask extras).
_IGNORED_KEYS = frozenset({"USER_HOOK", "TOKEN_CACHE"})


# Rules across settings, checked after every field parsed.


def _audience(s: Settings) -> None:
    if not s.audience and s.resource:
        # RFC 9728 §3.3/RFC 8707: tokens for this resource name it in `aud`.
        object.__setattr__(s, "audience", (s.resource,))
    own = s.issuer != () or any(i.audience is None for i in s.issuer_settings)
    if not s.audience and own:
        raise SettingError(
            "BEARERGUARD_AUDIENCE",
            "BEARERGUARD_AUDIENCE is required: without an audience check the API "
            "would accept tokens minted for other APIs",
            missing=True,
        )


def _shared_secret(s: Settings) -> None:
    if not any(a in HMAC_ALGORITHMS for a in s.tuple_of("algorithms")):
        return
    if not s.shared_secret:
        raise SettingError(
            "BEARERGUARD_ALGORITHMS",
            "BEARERGUARD_ALGORITHMS: HS* algorithms need BEARERGUARD_SHARED_SECRET",
        )
    if len(s.shared_secret) < 32:  # RFC 7518 §3.2: a key at least as long as the hash
        raise SettingError(
            "BEARERGUARD_SHARED_SECRET", "BEARERGUARD_SHARED_SECRET must be at least 32 bytes"
        )


def _nonce_secret(s: Settings) -> None:
    if s.dpop_nonce is True and s.dpop_nonce_secret is None and s.store == "memory":
        raise SettingError(
            "BEARERGUARD_DPOP_NONCE_SECRET",
            "BEARERGUARD_DPOP_NONCE_SECRET is required with BEARERGUARD_DPOP_NONCE=on "
            "(the same secret on every worker) unless BEARERGUARD_STORE is redis",
            missing=True,
        )


def _introspection_client(s: Settings) -> None:
    if "opaque" not in s.tuple_of("token_formats"):
        return
    for name in ("client_id", "client_secret"):
        if getattr(s, name) is None:
            env = _BY_NAME[name].env
            message = f"{env} is required to introspect opaque tokens (RFC 7662 §2.1)"
            raise SettingError(env, message, missing=True)


def _tenants(s: Settings) -> None:
    templated = any(TENANT_PLACEHOLDER in iss for iss in s.tuple_of("issuer"))
    if templated and not s.tenants:
        raise SettingError(
            "BEARERGUARD_TENANTS",
            "BEARERGUARD_TENANTS is required when BEARERGUARD_ISSUER contains {tenantid}",
            missing=True,
        )
    if s.tenants and not templated:
        raise SettingError(
            "BEARERGUARD_TENANTS",
            "BEARERGUARD_TENANTS needs a BEARERGUARD_ISSUER containing {tenantid}",
        )


def _profiles(s: Settings) -> tuple[Settings, ...]:
    base = (s,) if s.issuer != () else ()
    if not s.issuer_settings:
        return base
    skip = {"issuer", "jwks_uri", "tenants", "issuer_settings", *PRESET_FIELDS, "provider"}
    inherited = {f.name: getattr(s, f.name) for f in FIELDS if f.name not in skip}
    inherited.update({name: getattr(s, name) for name in s.__dict__["_explicit"]})
    out = list(base)
    for entry in s.issuer_settings:
        kwargs = {**inherited, **entry.given()}
        try:
            out.append(Settings(**kwargs))
        except SettingError as exc:
            raise SettingError(
                "BEARERGUARD_ISSUER_SETTINGS", f"BEARERGUARD_ISSUER_SETTINGS: {entry.issuer}: {exc}"
            ) from None
    seen: set[str] = set()
    for profile in out:
        for iss in profile.tuple_of("issuer"):
            if iss in seen:
                raise SettingError(
                    "BEARERGUARD_ISSUER_SETTINGS",
                    f"BEARERGUARD_ISSUER_SETTINGS: the issuer {iss!r} is configured twice",
                )
            seen.add(iss)
    return tuple(out)


_CROSS_RULES: tuple[Callable[[Settings], None], ...] = (
    _audience,
    _shared_secret,
    _nonce_secret,
    _introspection_client,
    _tenants,
)
