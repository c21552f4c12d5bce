"""Hints of ``bearerguard doctor``: what to change, for the provider at hand.

A hint is keyed on the refusal's reason, the configured preset (``BEARERGUARD_PROVIDER``)
and the token's shape (an issuer URL or an ``aud`` a provider is known for), so a Keycloak
token gets the Keycloak advice even with the generic preset. Hints name claims and
settings, never the token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bearerguard.providers import PRESETS
from bearerguard.settings import Settings

__all__ = ["hint", "provider_of", "relative"]

Hint = Callable[[Settings, Mapping[str, Any], Mapping[str, Any], dict[str, Any]], "str | None"]

_SHAPES = (
    ("auth0", re.compile(r"^https://[^/]+\.auth0\.com/")),
    ("okta", re.compile(r"^https://[^/]+\.(okta|oktapreview|okta-emea)\.com(/|$)")),
    ("entra", re.compile(r"^https://(login\.microsoftonline\.com|sts\.windows\.net)/")),
    ("cognito", re.compile(r"^https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/")),
    ("keycloak", re.compile(r"/realms/[^/]+/?$")),
)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_GRAPH = frozenset({"00000003-0000-0000-c000-000000000000", "https://graph.microsoft.com"})
_UNITS = (("day", 86400), ("h", 3600), ("min", 60), ("s", 1))


def provider_of(settings: Settings, claims: Mapping[str, Any]) -> str:
    """The preset, or (with ``generic``) the provider the issuers look like."""
    configured = str(getattr(settings, "provider", "generic") or "generic")
    if configured != "generic":
        return configured
    iss = claims.get("iss")
    for url in ([iss] if isinstance(iss, str) else []) + list(settings.issuers):
        for name, shape in _SHAPES:
            if shape.search(url):
                return name
    if claims.get("aud") == "account" or "realm_access" in claims:
        return "keycloak"
    if "token_use" in claims:
        return "cognito"
    return "generic"


def duration(seconds: float) -> str:
    """``2 h 5 min``, ``40 s``: the two largest units of *seconds* (absolute value)."""
    left = int(abs(seconds))
    parts: list[str] = []
    for name, size in _UNITS:
        if left >= size or (name == "s" and not parts):
            count, left = divmod(left, size)
            parts.append(f"{count} {name}{'s' if name == 'day' and count != 1 else ''}")
        if len(parts) == 2:
            break
    return " ".join(parts)


def relative(seconds: float) -> str:
    """``in 5 min`` or ``5 min ago``."""
    return f"in {duration(seconds)}" if seconds > 0 else f"{duration(seconds)} ago"


def _auds(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def _issuer(
    s: Settings, header: Mapping[str, Any], claims: Mapping[str, Any], x: dict[str, Any]
) -> str | None:
    iss = claims.get("iss")
    if not isinstance(iss, str):
        return "the token has no `iss` string: it was not issued by an OAuth authorization server"
    provider = provider_of(s, claims)
    for configured in x.get("issuers") or s.issuers:
        if iss.rstrip("/") == configured.rstrip("/"):
            where = "in the token but not in your settings"
            if configured.endswith("/"):
                where = "in your settings but not in the token"
            extra = " (Auth0 issuers end with a slash)" if provider == "auth0" else ""
            return f"the issuer has a trailing slash {where}: they must match exactly{extra}"
        if iss.lower() == configured.lower():
            return "the issuers differ in letter case only: they must match exactly"
        if iss.split("://", 1)[-1] == configured.split("://", 1)[-1]:
            return (
                "the issuers differ in their scheme (http/https): the server builds `iss` from "
                "the URL it believes it serves (behind a proxy, tell it the public URL)"
            )
    if provider == "okta" and "/oauth2/" not in iss:
        return (
            "this token comes from Okta's org authorization server, meant for Okta's own APIs: "
            "request tokens from a custom authorization server (https://<org>.okta.com/oauth2/default)"
        )
    if provider == "entra":
        if iss.startswith("https://sts.windows.net/"):
            return (
                'this is an Entra ID v1.0 token: set "accessTokenAcceptedVersion": 2 in the '
                "API's app manifest, or configure the v1 issuer https://sts.windows.net/<tenant>/"
            )
        return (
            "Entra ID issuers name the tenant (https://login.microsoftonline.com/<tenant>/v2.0): "
            "a token from another tenant needs BEARERGUARD_ISSUER with {tenantid} and "
            "BEARERGUARD_TENANTS"
        )
    if provider == "keycloak":
        return (
            "Keycloak writes into `iss` the URL the client reached it by (and /auth/realms/ "
            "before version 17): set its hostname (KC_HOSTNAME) so every token names one issuer"
        )
    return None


def _audience(
    s: Settings, header: Mapping[str, Any], claims: Mapping[str, Any], x: dict[str, Any]
) -> str | None:
    auds = _auds(claims)
    provider = provider_of(s, claims)
    if "account" in auds and provider in ("keycloak", "generic"):
        return (
            "Keycloak sets `aud` to `account` unless an audience mapper adds your API: add an "
            "Audience mapper (Included Custom Audience: your API) to the client's dedicated scope"
        )
    if "aud" not in claims:
        if claims.get("token_use") == "access" or provider == "cognito":
            return (
                "Cognito access tokens carry no `aud`: set BEARERGUARD_PROVIDER=cognito, which "
                "matches BEARERGUARD_AUDIENCE (your app client id) against `client_id`"
            )
        return "the token has no `aud`: request it for this API (its audience or resource)"
    if any(a in _GRAPH for a in auds):
        return (
            "this token is for Microsoft Graph, not your API: request a scope of your API "
            "(api://<client id>/.default or api://<client id>/<scope>)"
        )
    if any(a.endswith("/userinfo") for a in auds):
        return (
            "Auth0 gives a token for your API only when the request names it: pass "
            "audience=<your API identifier> to /authorize or /oauth/token"
        )
    if provider == "entra" or any(_GUID.match(a) for a in auds):
        return (
            "Entra ID v2.0 tokens carry the API's client id (a GUID) as `aud`, v1.0 tokens its "
            "Application ID URI (api://…): list the one your tokens carry in BEARERGUARD_AUDIENCE"
        )
    if "api://default" in auds:
        return (
            "Okta's default authorization server uses the audience api://default: set "
            "BEARERGUARD_AUDIENCE=api://default or change the server's audience"
        )
    for aud in auds:
        if any(aud.rstrip("/") == c.rstrip("/") for c in s.audiences):
            return "the audiences differ by a trailing slash: they must match exactly"
    return None


def _id_token(
    s: Settings, header: Mapping[str, Any], claims: Mapping[str, Any], x: dict[str, Any]
) -> str:
    why = "it carries at_hash/c_hash"
    if str(claims.get("token_use", "")).lower() == "id":
        why = "Cognito marks it `token_use: id`"
    elif str(claims.get("typ", "")).lower() == "id":
        why = "Keycloak marks it `typ: ID`"
    elif "at_hash" not in claims and "c_hash" not in claims:
        why = "its `aud` is the client (`azp`), not your API"
        if provider_of(s, claims) == "entra":
            why = (
                "Entra ID marks it by its `nonce`"
                if "nonce" in claims
                else "it names no client in azp/appid, as Entra ID's ID tokens do"
            )
    return f"this is an ID token ({why}): send the access token"


def _keys(
    s: Settings, header: Mapping[str, Any], claims: Mapping[str, Any], x: dict[str, Any]
) -> str:
    kids = ", ".join(x.get("kids", ())) or "none"
    if "nonce" in header:
        return (
            "a `nonce` in the header marks a Microsoft Graph token: it is for Graph and cannot "
            "be verified by your API; request a scope of your API"
        )
    return (
        f"the key set has: {kids}. The token was signed by another issuer (or tenant, or "
        "realm), or by a key the issuer does not publish (any more): check BEARERGUARD_JWKS_URI "
        "or the issuer"
    )


def _alg(
    s: Settings, header: Mapping[str, Any], claims: Mapping[str, Any], x: dict[str, Any]
) -> str:
    alg = str(header.get("alg"))
    if alg.startswith("HS"):
        return (
            f"{alg} is a shared-secret algorithm: it needs BEARERGUARD_SHARED_SECRET and {alg} in "
            "BEARERGUARD_ALGORITHMS; providers sign access tokens with RS256 by default"
        )
    return f"if your issuer really signs with {alg}, add it to BEARERGUARD_ALGORITHMS"


def _discovery(
    s: Settings, header: Mapping[str, Any], claims: Mapping[str, Any], x: dict[str, Any]
) -> str:
    found = x.get("metadata_issuer")
    if isinstance(found, str):
        for configured in s.issuers:
            if found != configured and found.rstrip("/") == configured.rstrip("/"):
                return (
                    f"the metadata names the issuer {found}: a trailing slash differs from "
                    "BEARERGUARD_ISSUER; they must match exactly"
                )
        return f"the metadata names the issuer {found}, not a configured one"
    return (
        "the keys cannot be fetched: is BEARERGUARD_ISSUER (or BEARERGUARD_JWKS_URI) right and "
        "reachable from here? The app would answer 503 (not the token's fault)"
    )


def _lifetime(
    s: Settings, header: Mapping[str, Any], claims: Mapping[str, Any], x: dict[str, Any]
) -> str:
    now, leeway = float(x.get("now", 0.0)), float(x.get("leeway", 0.0))
    return {
        "expired": lambda: (
            f"it expired {duration(now - claims['exp'])} ago (leeway {leeway:g} s): "
            "get a fresh token (the client should refresh it)"
        ),
        "not_yet_valid": lambda: (
            f"it becomes valid in {duration(claims['nbf'] - now)}: this "
            "machine's clock and the issuer's differ by more than BEARERGUARD_LEEWAY"
        ),
        "issued_in_future": lambda: (
            f"it was issued {duration(claims['iat'] - now)} in the "
            "future: this machine's clock and the issuer's differ by more than BEARERGUARD_LEEWAY"
        ),
    }[str(x["reason"])]()


def _fixed(text: str) -> Hint:
    return lambda s, header, claims, x: text


_HINTS: dict[str, Hint] = {
    "token_too_large": _fixed(
        "raise BEARERGUARD_MAX_TOKEN_SIZE if your issuer really issues tokens this large "
        "(many groups or roles make tokens grow)"
    ),
    "malformed_token": _fixed(
        "is this the whole token? A copy may have cut it. A token without dots is opaque: "
        "it is introspected with BEARERGUARD_TOKEN_FORMATS=jwt,opaque (Auth0 issues opaque "
        "tokens when no audience is requested)"
    ),
    "jwe_not_supported": _fixed(
        "this token is encrypted (JWE): turn token encryption off for this API at the issuer"
    ),
    "alg_none": _fixed("unsigned tokens are never accepted"),
    "alg_not_allowed": _alg,
    "crit_unsupported": _fixed("bearerguard understands no JWS extension (crit, b64)"),
    "unknown_kid": _keys,
    "ambiguous_key": _fixed(
        "the token names no `kid` and several published keys fit its alg: the issuer should "
        "put `kid` in its tokens"
    ),
    "key_alg_mismatch": _fixed("the key this token names does not fit its `alg`"),
    "weak_key": _fixed("the key is an RSA key under 2048 bits: the issuer must use a larger key"),
    "bad_signature": _fixed(
        "the key did not verify the signature: the token was altered or cut, or signed by "
        "another issuer (or tenant) that uses the same kid"
    ),
    "invalid_typ": _fixed(
        "BEARERGUARD_TOKEN_TYPES decides: `at+jwt` accepts RFC 9068 tokens only; add `jwt` for "
        "providers that send typ JWT (Auth0, Okta, Keycloak, Entra ID)"
    ),
    "invalid_issuer": _issuer,
    "invalid_audience": _audience,
    "id_token_presented": _id_token,
    "invalid_token_type": _fixed("this is a refresh token: send the access token"),
    "expired": _lifetime,
    "not_yet_valid": _lifetime,
    "issued_in_future": _lifetime,
    "missing_claim": _fixed(
        "the token lacks `exp` or a claim of BEARERGUARD_REQUIRED_CLAIMS: add it at the "
        "issuer (a mapper or rule) or stop requiring it"
    ),
    "invalid_claim": _fixed(
        "a registered claim has the wrong type: dates are seconds since the epoch (not "
        "milliseconds, not strings), sub/client_id/jti/azp are strings"
    ),
    "keys_unavailable": _discovery,
    "insufficient_scope": _fixed(
        "scopes are read from BEARERGUARD_SCOPE_CLAIMS (`scope`, `scp`, …): request the scope, "
        "or read Auth0 RBAC `permissions` / Entra ID app `roles` by listing that claim there"
    ),
}


#: When neither a shape-specific hint nor the preset's has anything to say.
_GENERIC = {
    "invalid_issuer": "the token's `iss` must equal one of BEARERGUARD_ISSUER exactly",
    "invalid_audience": "the token's `aud` must contain one of BEARERGUARD_AUDIENCE: "
    "request the token for this API (its audience, or RFC 8707 `resource`)",
    "okta_org_server": "Okta's org authorization server mints tokens for Okta's own APIs: use "
    "a custom authorization server (https://<org>.okta.com/oauth2/default)",
    "keycloak_default_audience": "Keycloak sets `aud` to `account` unless an audience mapper "
    "adds your API",
    "tenant_mismatch": "the token's `tid` must equal the tenant in its `iss`",
    "insufficient_role": "the token lacks a role the route requires",
}


def hint(
    reason: str,
    settings: Settings,
    header: Mapping[str, Any],
    claims: Mapping[str, Any],
    **extra: Any,
) -> str | None:
    """A hint for a refusal with *reason* (``None`` when there is nothing to add).

    A hint for the token's shape comes first, then the preset's own (by
    ``BEARERGUARD_PROVIDER``, or the provider the issuer looks like), then a generic one.
    """
    fn = _HINTS.get(reason)
    specific = None if fn is None else fn(settings, header, claims, {"reason": reason, **extra})
    preset = PRESETS.get(provider_of(settings, claims))
    return specific or (preset.hints.get(reason) if preset else None) or _GENERIC.get(reason)
