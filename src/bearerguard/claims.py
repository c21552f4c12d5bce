"""The claim checks of a verified JWT (RFC 7519 §4.1, RFC 9068 §4), one small function each.

Each takes the claims (and what it compares them with) and raises
:class:`~bearerguard.InvalidToken` with its reason, or returns. :class:`ClaimRules` runs
them in the order the README documents, for one configuration.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from bearerguard._jose import is_number
from bearerguard._settings_parsers import TENANT_PLACEHOLDER
from bearerguard.claimpath import ClaimPath
from bearerguard.errors import InvalidToken
from bearerguard.providers import Preset, is_app_only, okta_org_server
from bearerguard.settings import Settings
from bearerguard.tokens import AccessToken, read_roles

__all__ = [
    "ClaimRules",
    "IssuerRules",
    "check_audience",
    "check_id_token_markers",
    "check_issuer",
    "check_lifetime",
    "check_provider",
    "check_required",
    "check_types",
]

#: Claims only an ID token carries (OpenID Connect Core §2, §3.1.3.6, §3.3.2.11).
ID_TOKEN_ONLY = ("nonce", "at_hash", "c_hash", "s_hash")
#: Claims that must be strings when present. Scope claims are not here: an unusable
#: scope value gives no scopes (:func:`bearerguard.tokens.read_scopes`).
STRING_CLAIMS = ("sub", "client_id", "jti", "azp")
#: Claims that must be NumericDates when present (RFC 7519 §2).
NUMERIC_CLAIMS = ("exp", "nbf", "iat", "auth_time")


def check_issuer(claims: Mapping[str, Any], issuers: Collection[str]) -> None:
    """``iss`` is one of *issuers*, compared exactly (RFC 9068 §4: a trailing slash matters)."""
    iss = claims.get("iss")
    if not isinstance(iss, str) or iss not in issuers:
        raise InvalidToken("invalid_issuer")


def _looks_like_id_token(claims: Mapping[str, Any], aud: Any) -> bool:
    return not claims.keys().isdisjoint(ID_TOKEN_ONLY) or (
        isinstance(claims.get("azp"), str) and aud == claims["azp"]
    )


def check_audience(claims: Mapping[str, Any], audiences: frozenset[str]) -> None:
    """``aud`` (a string or a non-empty array of strings) contains one of *audiences*.

    A refused token that looks like an ID token is refused as ``id_token_presented``, so
    the client developer learns to send the access token instead.
    """
    aud = claims.get("aud")
    if isinstance(aud, str):
        ok = aud in audiences
    elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
        ok = not audiences.isdisjoint(aud)
    else:
        ok = False
    if not ok:
        raise InvalidToken(
            "id_token_presented" if _looks_like_id_token(claims, aud) else "invalid_audience"
        )


def check_id_token_markers(claims: Mapping[str, Any]) -> None:
    """A token with our audience is still refused when it declares itself an ID token.

    When the API's audience is also the client id that receives ID tokens (one app
    registration for SPA and API in Entra ID, a Keycloak client used for both, Cognito),
    the audience cannot tell them apart; these markers can:

    * ``at_hash`` / ``c_hash`` (OIDC Core §3.1.3.6, §3.3.2.11) only ever appear in ID tokens;
    * ``token_use: "id"`` (AWS Cognito; its access tokens say ``"access"``);
    * the claim ``typ: "ID"`` (Keycloak; its access tokens say ``"Bearer"``), and
      ``typ: "Refresh"`` / ``token_use: "refresh"`` — not access tokens either.

    A ``nonce`` alone does not refuse: some servers (Keycloak before 2024) copy it into
    access tokens. An ID token with none of these (a generic issuer, Okta, Auth0 without
    ``at_hash``) and our audience cannot be told apart from an access token by its claims:
    ``BEARERGUARD_TOKEN_TYPES=at+jwt`` (RFC 9068 ``typ`` header) closes that; the ``entra``
    preset recognises Entra ID's (:func:`check_provider`).
    """
    if "at_hash" in claims or "c_hash" in claims:
        raise InvalidToken("id_token_presented")
    for name in ("token_use", "typ"):
        marker = claims.get(name)
        if isinstance(marker, str):
            kind = marker.lower()
            if kind == "id":
                raise InvalidToken("id_token_presented")
            if kind == "refresh":
                raise InvalidToken("invalid_token_type")


def check_types(claims: Mapping[str, Any]) -> None:
    """Typed registered claims: NumericDates in range, string claims strings."""
    for name in NUMERIC_CLAIMS:
        if name in claims and not is_number(claims[name]):
            raise InvalidToken("invalid_claim")
    for name in STRING_CLAIMS:
        if not isinstance(claims.get(name, ""), str):
            raise InvalidToken("invalid_claim")


def check_required(claims: Mapping[str, Any], required: Collection[str]) -> None:
    """Every *required* claim is present, and ``exp`` always (RFC 9068 §2.2)."""
    for name in required:
        if name not in claims:
            raise InvalidToken("missing_claim")
    if "exp" not in claims:
        raise InvalidToken("missing_claim")


def check_lifetime(claims: Mapping[str, Any], now: float, leeway: float) -> None:
    """``exp`` not passed, ``nbf`` and ``iat`` not in the future, each within *leeway*."""
    if now >= claims["exp"] + leeway:
        raise InvalidToken("expired")
    nbf = claims.get("nbf")
    if nbf is not None and now < nbf - leeway:
        raise InvalidToken("not_yet_valid")
    iat = claims.get("iat")
    if iat is not None and now < iat - leeway:
        raise InvalidToken("issued_in_future")


def check_provider(claims: Mapping[str, Any], preset: Preset, audiences: frozenset[str]) -> None:
    """The audience as the preset *preset* reads it, then its own markers (providers.py).

    Replaces :func:`check_audience` for a preset: Cognito access tokens carry no ``aud``
    (their ``client_id`` is matched instead); a Keycloak token whose only audience is
    ``account`` is refused as ``keycloak_default_audience``.
    """
    if preset.aud_from_client_id and "aud" not in claims:
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or client_id not in audiences:
            raise InvalidToken("invalid_audience")
    else:
        try:
            check_audience(claims, audiences)
        except InvalidToken as err:
            aud = claims.get("aud")
            if (
                preset.account_audience
                and err.reason == "invalid_audience"
                and aud in ("account", ["account"])
            ):
                raise InvalidToken("keycloak_default_audience") from None
            raise
    check_id_token_markers(claims)
    for name in preset.id_token_claims:
        if name in claims:
            raise InvalidToken("id_token_presented")
    if preset.client_claims and not any(
        isinstance(claims.get(n), str) for n in preset.client_claims
    ):
        # Entra ID: every access token names its client (azp or appid); its ID tokens do not.
        raise InvalidToken("id_token_presented")
    if preset.token_use is not None and claims.get("token_use") != preset.token_use:
        raise InvalidToken("invalid_token_type")


_TENANT = re.compile(r"[A-Za-z0-9._-]+")


class IssuerRules:
    """The checks and readings of one group of issuers sharing settings (a
    :meth:`Settings.profiles` entry): exact issuers and ``{tenantid}`` templates."""

    __slots__ = (
        "algorithms",
        "audiences",
        "client_id_claims",
        "clock",
        "exact",
        "jwks_uri",
        "leeway",
        "org_servers",
        "preset",
        "required",
        "role_paths",
        "scope_claims",
        "templates",
        "tenants",
    )

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        issuers = settings.tuple_of("issuer")
        self.exact = frozenset(i for i in issuers if TENANT_PLACEHOLDER not in i)
        #: (pattern, template) of each issuer holding ``{tenantid}``
        self.templates = tuple(
            (re.compile(re.escape(t).replace(re.escape(TENANT_PLACEHOLDER), "([^/]+)")), t)
            for t in issuers
            if TENANT_PLACEHOLDER in t
        )
        tenants = settings.tuple_of("tenants")
        #: the allowed tenants, or ``None`` for any (``*``)
        self.tenants: frozenset[str] | None = None if tenants == ("*",) else frozenset(tenants)
        self.preset = settings.preset
        self.org_servers = frozenset(
            i for i in self.exact if self.preset.org_server_refused and okta_org_server(i)
        )
        self.audiences = frozenset(settings.audiences)
        self.algorithms = frozenset(settings.tuple_of("algorithms"))
        self.required = tuple(c for c in settings.tuple_of("required_claims") if c != "exp")
        self.leeway = float(settings.leeway)
        self.clock = clock
        self.jwks_uri: str | None = settings.jwks_uri
        self.scope_claims = settings.tuple_of("scope_claims")
        self.client_id_claims = settings.tuple_of("client_id_claims")
        clients = (*settings.audiences, *((settings.client_id,) if settings.client_id else ()))
        paths: list[ClaimPath] = []
        for spelled in settings.tuple_of("role_claims"):
            path = ClaimPath.parse(spelled)
            if "{client}" not in path.segments:
                paths.append(path)
                continue
            for client in dict.fromkeys(clients):  # resource_access.<client>.roles
                paths.append(
                    ClaimPath(tuple(client if s == "{client}" else s for s in path.segments))
                )
        self.role_paths = tuple(dict.fromkeys(paths))

    def tenant_of(self, iss: str) -> tuple[str, str] | None:
        """(template, tenant) when *iss* is a template's issuer for an allowed tenant."""
        for pattern, template in self.templates:
            m = pattern.fullmatch(iss)
            if m is not None:
                tenant = m.group(1)
                if _TENANT.fullmatch(tenant) and (self.tenants is None or tenant in self.tenants):
                    return template, tenant
        return None

    def check(self, claims: Mapping[str, Any], tenant: str | None) -> None:
        """Every check but the issuer's (the caller selected these rules by ``iss``)."""
        check_provider(claims, self.preset, self.audiences)
        if tenant is not None and claims.get(self.preset.tenant_claim or "tid") != tenant:
            raise InvalidToken("tenant_mismatch")  # the token's tid must be its iss's tenant
        if claims["iss"] in self.org_servers:
            raise InvalidToken("okta_org_server")
        check_types(claims)
        check_required(claims, self.required)
        check_lifetime(claims, self.clock(), self.leeway)

    def token(
        self, claims: dict[str, Any], header: dict[str, Any], scopes: frozenset[str]
    ) -> AccessToken:
        """The :class:`AccessToken` of checked *claims*: roles, client id and app-only read
        as these settings and the preset say."""
        roles = read_roles(claims, self.role_paths) if self.role_paths else frozenset()
        client_id = None
        for name in self.client_id_claims:
            value = claims.get(name)
            if isinstance(value, str):
                client_id = value
                break
        return AccessToken(
            claims,
            header,
            scopes,
            roles=roles,
            client_id_claims=self.client_id_claims,
            app_only=is_app_only(claims, client_id, self.preset.app_only),
        )


class ClaimRules:
    """Every claim check of one configuration, in order, for each configured issuer.

    ``check(claims)`` selects the issuer's rules by ``iss`` (exactly, or by a
    ``{tenantid}`` template for an allowed tenant) and returns them.
    """

    __slots__ = ("audiences", "by_issuer", "clock", "issuers", "leeway", "profiles", "required")

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self.profiles = tuple(IssuerRules(p, clock) for p in settings.profiles())
        self.by_issuer = {iss: rules for rules in self.profiles for iss in rules.exact}
        self.issuers = frozenset(settings.issuers)
        self.audiences = frozenset(a for rules in self.profiles for a in rules.audiences)
        self.required = self.profiles[0].required
        self.leeway = float(settings.leeway)
        self.clock = clock

    def select(self, iss: Any) -> tuple[IssuerRules, str | None]:
        """The rules of the issuer *iss* names, and its tenant (for a template); raises
        ``invalid_issuer`` when *iss* is none of the configured issuers."""
        if isinstance(iss, str):
            rules = self.by_issuer.get(iss)
            if rules is not None:
                return rules, None
            for rules in self.profiles:
                if rules.templates:
                    found = rules.tenant_of(iss)
                    if found is not None:
                        return rules, found[1]
        raise InvalidToken("invalid_issuer")

    def check(self, claims: Mapping[str, Any], alg: str | None = None) -> IssuerRules:
        """Raise :class:`~bearerguard.InvalidToken` unless *claims* (signed with *alg*)
        pass every check; return the rules of their issuer."""
        rules, tenant = self.select(claims.get("iss"))
        if alg is not None and alg not in rules.algorithms:
            raise InvalidToken("alg_not_allowed")
        rules.check(claims, tenant)
        return rules
