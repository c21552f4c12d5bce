"""The table of settings: every ``BEARERGUARD_*`` setting defined once.

Each :class:`Field` names a setting (keyword and ``BEARERGUARD_*`` name), its default,
its parser (here for the settings of DPoP, RFC 9728, introspection and presets, in
``bearerguard._settings_parsers`` for the others) and a one-line description; the
:class:`~bearerguard.Settings` dataclass, ``Settings.from_mapping`` and the settings
reference in the documentation are all derived from :data:`FIELDS`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from bearerguard import _settings_parsers as p
from bearerguard._settings_parsers import DEFAULT_ALGORITHMS, optional_str, split_url, strings
from bearerguard.challenge import SCOPE_TOKEN
from bearerguard.claimpath import ClaimPath
from bearerguard.dpop import DEFAULT_ALGORITHMS as DPOP_ALGORITHMS
from bearerguard.issuers import issuer_settings
from bearerguard.providers import NAMES as PROVIDER_NAMES
from bearerguard.tokens import CLIENT_ID_CLAIMS

__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_TOKEN_SIZE",
    "DPOP_ALGORITHMS",
    "FIELDS",
    "PREFIX",
    "Field",
]

DEFAULT_LEEWAY = 60
DEFAULT_MAX_TOKEN_SIZE = 16 * 1024
PREFIX = "BEARERGUARD_"


TOKEN_FORMATS = ("jwt", "opaque")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# RFC 3986 §2: the characters a URI may hold (unreserved, reserved, percent signs).
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
# RFC 6749 Appendix A.1/A.2: client_id and client_secret are *VSCHAR.
_VSCHARS = re.compile(r"[\x20-\x7e]+")
_TENANT_ID = re.compile(r"[A-Za-z0-9._-]+")


# Parsers of the settings of DPoP, RFC 9728 metadata, introspection and presets (those
# of the plain bearer JWT settings, and the shared ones, are in _settings_parsers).


def choice(*options: str) -> Callable[[Any], str]:
    """A parser of one of *options* (case-insensitive)."""

    def parse(value: Any) -> str:
        option = value.strip().lower() if isinstance(value, str) else None
        if option in options:
            return str(option)
        raise ValueError(f"must be one of {', '.join(options)}")

    return parse


def on_off(value: Any) -> bool:
    """``on`` or ``off`` (or a Python bool) as a bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("on", "off"):
        return value.strip().lower() == "on"
    raise ValueError("must be 'on' or 'off'")


def store(value: Any) -> str:
    """``memory`` or a ``redis://``/``rediss://`` URL with a host (redis is not imported here)."""
    what = "'memory' or a redis:// or rediss:// URL with a host"
    if not isinstance(value, str):
        raise ValueError(f"must be {what}")
    url: str = value.strip()
    if url.lower() == "memory":
        return "memory"
    parts = split_url(url, what)  # the message never repeats the URL: it may hold a password
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError(f"must be {what}")
    db = parts.path.strip("/")
    if db and not (db.isascii() and db.isdigit()):
        raise ValueError("must name the redis database by its number")
    return url


def _secure_url(value: Any, *, loopback_http: bool) -> str | None:
    url = optional_str(value)
    if url is None:
        return None
    what = "an https URL" + (" (http only on 127.0.0.1, localhost or [::1])" * loopback_http)
    if not _URI_CHARS.fullmatch(url):
        raise ValueError(f"must be {what}, without spaces or characters a URL cannot hold")
    parts = split_url(url, what)
    if "@" in parts.netloc:  # never echoed: user information may hold a password
        raise ValueError("must not hold user information")
    host = parts.hostname
    secure = parts.scheme == "https" or (loopback_http and parts.scheme == "http")
    if not secure or not host or (parts.scheme == "http" and host not in LOOPBACK_HOSTS):
        raise ValueError(f"must be {what}, got {url!r}")
    return url


def resource(value: Any) -> str | None:
    """This API's resource identifier, as clients and tokens name it byte for byte."""
    url = _secure_url(value, loopback_http=True)
    if url is None:
        return None
    # RFC 9728 §1.2: an https URL with no fragment; RFC 8707 §2: no query either (a
    # SHOULD NOT there, refused here so that the path-inserted metadata URL is plain).
    if "#" in url:
        raise ValueError(f"must not have a fragment (RFC 9728 §1.2), got {url!r}")
    if "?" in url:
        raise ValueError(f"must not have a query (RFC 8707 §2), got {url!r}")
    # Compared byte for byte (RFC 9728 §3.3): refuse a spelling others would normalize.
    parts = urlsplit(url)
    if (
        not url.startswith(parts.scheme + "://")
        or parts.netloc != parts.netloc.lower()
        or parts.netloc.endswith(":")
        or parts.port == _DEFAULT_PORTS[parts.scheme]
    ):
        raise ValueError(
            f"must be in canonical form: lower-case scheme and host, no default port, got {url!r}"
        )
    return url


def https_url(value: Any) -> str | None:
    """An https URL, or ``None`` when blank."""
    return _secure_url(value, loopback_http=False)


def introspection_uri(value: Any) -> str | None:
    """The introspection endpoint: https (RFC 7662 §4: TLS is a MUST), http on loopback only."""
    return _secure_url(value, loopback_http=True)


def scopes(value: Any) -> tuple[str, ...]:
    """RFC 6750 §3 scope-tokens."""
    out = strings(value)
    for scope in out:
        if not SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"must hold RFC 6750 scope-tokens (§3), got {scope!r}")
    return out


def text(value: Any) -> str | None:
    """Printable text, or ``None`` when blank."""
    out = optional_str(value)
    if out is not None and not out.isprintable():
        raise ValueError("must be printable text")
    return out


def client_id(value: Any) -> str | None:
    """A client identifier (RFC 6749 Appendix A.1: printable ASCII), or ``None``."""
    out = optional_str(value)
    if out is not None and not _VSCHARS.fullmatch(out):
        raise ValueError("must be printable ASCII (RFC 6749 Appendix A.1)")
    return out


def client_secret(value: Any) -> str | None:
    """A client secret (RFC 6749 Appendix A.2: printable ASCII), kept as given; never echoed."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _VSCHARS.fullmatch(value):
        raise ValueError("must be printable ASCII (RFC 6749 Appendix A.2)")
    return value


def token_formats(value: Any) -> tuple[str, ...]:
    """``jwt`` and/or ``opaque``, in that order."""
    formats = {f.lower() for f in strings(value)}
    if not formats or not formats <= set(TOKEN_FORMATS):
        raise ValueError("must be 'jwt', 'opaque' or 'jwt,opaque'")
    return tuple(f for f in TOKEN_FORMATS if f in formats)


def tenants(value: Any) -> tuple[str, ...]:
    """Tenant ids allowed in ``{tenantid}``, or ``*`` alone for any."""
    out = strings(value)
    if "*" in out:
        if len(out) > 1:
            raise ValueError("must be '*' alone or a list of tenant ids")
        return out
    for tenant in out:
        if not _TENANT_ID.fullmatch(tenant):
            raise ValueError(
                f"must hold tenant ids (letters, digits, '.', '_', '-'), got {tenant!r}"
            )
    return out


def claim_paths(value: Any) -> tuple[str, ...]:
    """Claim paths (:mod:`bearerguard.claimpath`), comma-separated or a list."""
    out = strings(value)
    for path in out:
        try:
            ClaimPath.parse(path)
        except ValueError as exc:
            raise ValueError(f"must hold claim paths: {exc}") from None
    return out


@dataclasses.dataclass(frozen=True)
class Field:
    """One setting: its keyword ``name``, ``env`` name, default, parser and description.

    ``parse(value)`` returns the normalized value or raises ``ValueError`` with a phrase
    that follows the setting's name. ``secret`` fields are left out of ``repr``.
    ``shown`` is the default as documentation shows it, when not ``default`` itself.
    """

    name: str
    default: Any
    parse: Callable[[Any], Any]
    description: str
    secret: bool = False
    shown: str | None = None
    env: str = ""

    def __post_init__(self) -> None:
        if not self.env:
            object.__setattr__(self, "env", PREFIX + self.name.upper())


F = Field
_ASYM = "RS/PS/ES 256-512, EdDSA, Ed25519"
#: Every setting, in documentation order.
FIELDS: tuple[Field, ...] = (
    F("issuer", (), p.issuer, "issuer identifier(s), comma-separated; `iss` must equal one "
      "exactly (a trailing slash matters); `{tenantid}` stands for a tenant (see TENANTS)",
      shown="required"),
    F("audience", (), p.strings, "your API's identifier(s); `aud` must contain one. Required "
      "(defaults to RESOURCE): without it an API accepts tokens minted for other APIs",
      shown="required"),
    F("jwks_uri", None, p.optional_url, "key-set URL; otherwise found at "
      "`{issuer}/.well-known/openid-configuration`, then RFC 8414's "
      "`/.well-known/oauth-authorization-server`", shown="discovered"),
    F("algorithms", DEFAULT_ALGORITHMS, p.algorithms, "allow list; `none` is never accepted; "
      "HS256/384/512 only with a shared secret, never against a JWKS", shown=_ASYM),
    F("leeway", DEFAULT_LEEWAY, p.seconds(0, 600),
      "seconds of clock skew tolerated on `exp`, `nbf`, `iat` (0-600)"),
    F("realm", "api", p.realm, "the `realm` of every challenge"),
    F("scope_claims", ("scope", "scp"), p.strings, "where scopes are read, the first claim "
      "present winning (space-separated string or array; Auth0's `permissions` array)",
      shown="the preset's, else `scope, scp`"),
    F("role_claims", (), claim_paths, "claim paths whose values are the caller's roles "
      "(`AccessToken.roles`): every path present adds its string, or its array's strings; "
      "nested with dots (`realm_access.roles`); `{client}` stands for each AUDIENCE and "
      "CLIENT_ID", shown="the preset's, else none"),
    F("client_id_claims", CLIENT_ID_CLAIMS, p.strings, "where `AccessToken.client_id` is "
      "read, the first string present winning (Okta `cid`, Entra ID `azp`/`appid`)",
      shown="the preset's, else `client_id, azp, cid, appid`"),
    F("scope_implications", (), p.scope_implications, "a scope hierarchy: a broad scope "
      "grants the narrower ones it implies, e.g. `messages:admin>messages:read "
      "messages:write;files:admin>files:read` (a mapping in Python)", shown="none"),
    F("required_claims", (), p.strings, "claims that must be present besides `exp`"),
    F("token_types", ("at+jwt", "jwt"), p.token_types, "accepted `typ`: `at+jwt` (RFC 9068, "
      "also `application/at+jwt`) and/or `jwt` (which also admits a token without `typ`)"),
    F("token_locations", ("header",), p.token_locations,
      "`header`, and opt-in `query` / `form` (RFC 6750 §2.2-2.3)"),
    F("shared_secret", None, p.secret, "enables HS* (at least 32 bytes)", secret=True),
    F("max_token_size", DEFAULT_MAX_TOKEN_SIZE, p.max_token_size,
      "longer tokens are refused before any decoding"),
    F("token_cache_size", 1024, p.token_cache_size,
      "verified tokens remembered (0 disables the cache)"),
    F("protected_paths", (), p.path_prefixes,
      "path prefixes that need a token, for the middleware that reads settings"),
    F("exempt_paths", (), p.path_prefixes,
      "path prefixes passed on untouched, without looking at credentials"),
    F("dpop", "allowed", choice("off", "allowed", "required"),
      "`off`, `allowed` (Bearer or DPoP), `required` (DPoP only) — RFC 9449"),
    F("dpop_algorithms", DPOP_ALGORITHMS, p.dpop_algorithms,
      "proof algorithms (asymmetric only); listed in `DPoP algs=\"…\"`", shown=_ASYM),
    F("dpop_nonce", False, on_off, "`on`: server-provided nonces (`DPoP-Nonce`, "
      "`use_dpop_nonce`), valid on every worker", shown="off"),
    F("dpop_nonce_secret", None, p.long_secret, "the key of stateless DPoP nonces (at least "
      "32 bytes, the same on every worker); required with DPOP_NONCE unless STORE is redis",
      secret=True),
    F("dpop_max_age", 300, p.seconds(1, 3600), "seconds a proof's `iat` may lie in the past "
      "(leeway applies to the future; 1-3600)"),
    F("store", "memory", store, "where shared state lives (DPoP `jti` replay, introspection "
      "cache): `memory` or `redis://host:port/db`"),
    F("resource", None, resource, "this API's resource identifier (RFC 9728, RFC 8707); "
      "when set, metadata is served and every 401 names it; AUDIENCE defaults to it"),
    F("scopes_supported", (), scopes, "optional RFC 9728 metadata: `scopes_supported`"),
    F("resource_name", None, text, "optional RFC 9728 metadata: `resource_name`"),
    F("resource_documentation", None, https_url,
      "optional RFC 9728 metadata: `resource_documentation` (an https URL)"),
    F("token_formats", ("jwt",), token_formats, "`jwt`, `opaque` or `jwt,opaque`: what is "
      "not a JWT (or everything, with `opaque` alone) is introspected (RFC 7662)"),
    F("introspection_uri", None, introspection_uri,
      "else the metadata's `introspection_endpoint`", shown="discovered"),
    F("client_id", None, client_id, "how the API authenticates to the introspection "
      "endpoint: its client id"),
    F("client_secret", None, client_secret, "how the API authenticates to the "
      "introspection endpoint: its client secret", secret=True),
    F("client_auth", "client_secret_basic", choice("client_secret_basic", "client_secret_post"),
      "how the client credentials are sent: `client_secret_basic` or `client_secret_post`"),
    F("introspection_cache_ttl", 60, p.seconds(0, 86400), "seconds an introspection answer "
      "is reused (never past the token's `exp`; `0` = never)"),
    F("introspection_jwt", False, on_off, "`on`: ask for RFC 9701 signed answers "
      "(`application/token-introspection+jwt`), verified with the issuer's keys; an unsigned "
      "or badly signed answer is a 503", shown="off"),
    F("provider", "generic", choice(*PROVIDER_NAMES), "a preset: `auth0`, `okta`, "
      "`keycloak`, `entra`, `cognito`; it fills the settings not given (see Providers)"),
    F("tenants", (), tenants, "with an issuer containing `{tenantid}` (Entra ID "
      "multi-tenant): the allowed tenant ids, comma-separated, or `*`"),
    F("issuer_settings", (), issuer_settings, "more issuers, each with its own settings: "
      "JSON `{\"<issuer>\": {\"audience\": …, \"provider\": …}}` (a list of "
      "`IssuerSettings` in Python; see Several issuers)", shown="none"),
)  # fmt: skip
