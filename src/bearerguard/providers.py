"""Provider presets: what Auth0, Okta, Keycloak, Entra ID and Cognito put in their tokens.

Each :class:`Preset` is a small declarative description: the settings it fills when
they are not given (``defaults``: where scopes, roles and the client id are read), and
the few provider rules the claim checks apply (:mod:`bearerguard.claims`). A preset
only fills defaults: a setting given explicitly always wins. Select one with
``BEARERGUARD_PROVIDER`` (or ``provider=``); :func:`preset` returns it.

``hints`` give, per refusal reason, a sentence for a person reading why a token of this
provider was refused (``bearerguard doctor`` prints them); they never reach a response.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from bearerguard.tokens import AccessToken

__all__ = [
    "APP_ONLY",
    "DELEGATED",
    "PRESETS",
    "AppOnly",
    "Delegated",
    "Preset",
    "is_app_only",
    "okta_org_server",
    "preset",
]

#: How a token obtained without a user (client credentials) is recognised:
#: ``sub_is_client`` (RFC 9068 §2.2: ``sub`` names the client), ``no_scp`` (Entra ID:
#: app-only tokens carry ``roles`` and no ``scp``), ``gty`` (Auth0:
#: ``gty: "client-credentials"``), ``service_account`` (Keycloak: a service account's
#: ``preferred_username`` is ``service-account-<client>``).
APP_ONLY_RULES = ("sub_is_client", "no_scp", "gty", "service_account")


@dataclasses.dataclass(frozen=True)
class Preset:
    """One provider's description.

    Attributes:
        name: the ``BEARERGUARD_PROVIDER`` value.
        defaults: settings filled when not given (keyword name -> value).
        slash_issuer: an issuer given as a bare origin gets its trailing slash (Auth0's
            ``iss`` is ``https://<tenant>.auth0.com/``).
        org_server_refused: tokens whose issuer has no ``/oauth2/<id>`` path are refused
            (``okta_org_server``): Okta's org authorization server mints them for Okta's
            own APIs.
        account_audience: a token whose only audience is ``account`` is refused as
            ``keycloak_default_audience`` (Keycloak's default without an audience mapper).
        aud_from_client_id: a token without ``aud`` is matched by its ``client_id``
            against the configured audiences (Cognito access tokens carry no ``aud``).
        token_use: the ``token_use`` claim every token must carry (Cognito: ``access``).
        client_claims: a token must carry one of these (Entra ID access tokens name their
            client in ``azp`` (v2) or ``appid`` (v1); its ID tokens carry neither).
        id_token_claims: claims only this provider's ID tokens carry (Entra ID: ``nonce``).
        tenant_claim: with an issuer template (``{tenantid}``), the claim that must equal
            the tenant in ``iss`` (Entra ID: ``tid``).
        app_only: how a client-credentials token is recognised (:data:`APP_ONLY_RULES`).
        hints: refusal reason -> advice for the developer (never sent to clients).
    """

    name: str
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    slash_issuer: bool = False
    org_server_refused: bool = False
    account_audience: bool = False
    aud_from_client_id: bool = False
    token_use: str | None = None
    client_claims: tuple[str, ...] = ()
    id_token_claims: tuple[str, ...] = ()
    tenant_claim: str | None = None
    app_only: str = "sub_is_client"
    hints: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.app_only not in APP_ONLY_RULES:  # pragma: no cover - a programming error
            raise ValueError(f"unknown app_only rule {self.app_only!r}")
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))
        object.__setattr__(self, "hints", MappingProxyType(dict(self.hints)))


_ID_TOKEN = "this is an ID token: send the access token"

#: Every preset, by name.
PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "generic": Preset("generic"),
        "auth0": Preset(
            "auth0",
            # RBAC: "Add Permissions in the Access Token" puts the API's permissions in
            # `permissions`; they are the scopes when present, else `scope` (M2M tokens).
            # `azp` in Auth0's default profile, `client_id` in its RFC 9068 profile.
            defaults={
                "scope_claims": ("permissions", "scope"),
                "client_id_claims": ("client_id", "azp"),
            },
            slash_issuer=True,
            app_only="gty",
            hints={
                "invalid_issuer": "Auth0's issuer is https://<tenant>.auth0.com/ with its "
                "trailing slash (or your custom domain, with the slash)",
                "invalid_audience": "request the token with audience=<your API identifier>: "
                "without it Auth0 issues a token for /userinfo only",
                "id_token_presented": _ID_TOKEN,
            },
        ),
        "okta": Preset(
            "okta",
            defaults={
                "scope_claims": ("scp",),
                "role_claims": ("groups",),
                "client_id_claims": ("cid",),
            },
            org_server_refused=True,
            hints={
                "okta_org_server": "use a custom authorization server: "
                "https://<your-okta-domain>/oauth2/default or /oauth2/<id>",
                "invalid_audience": "the audience of Okta's default server is api://default",
                "id_token_presented": _ID_TOKEN,
            },
        ),
        "keycloak": Preset(
            "keycloak",
            defaults={
                "scope_claims": ("scope",),
                "role_claims": ("realm_access.roles", "resource_access.{client}.roles"),
                "client_id_claims": ("azp", "client_id"),
            },
            account_audience=True,
            app_only="service_account",
            hints={
                "keycloak_default_audience": "Keycloak sets aud to 'account' unless an "
                "audience mapper (client scope -> Mappers -> Audience) adds your API",
                "invalid_issuer": "Keycloak's issuer is https://<host>/realms/<realm> "
                "(older versions: /auth/realms/<realm>), no trailing slash",
                "id_token_presented": _ID_TOKEN,
            },
        ),
        "entra": Preset(
            "entra",
            defaults={
                "scope_claims": ("scp",),
                "role_claims": ("roles",),
                "client_id_claims": ("azp", "appid"),
            },
            client_claims=("azp", "appid"),
            id_token_claims=("nonce",),
            tenant_claim="tid",
            app_only="no_scp",
            hints={
                "invalid_issuer": "v2 tokens: https://login.microsoftonline.com/<tenant>/v2.0; "
                "v1 tokens (accessTokenAcceptedVersion null or 1): "
                "https://sts.windows.net/<tenant>/",
                "invalid_audience": "v2 tokens carry the API's client id (a GUID), v1 tokens "
                "its Application ID URI (api://...): configure the one your tokens carry",
                "tenant_mismatch": "the token's tid differs from the tenant in its iss",
                "id_token_presented": _ID_TOKEN,
            },
        ),
        "cognito": Preset(
            "cognito",
            defaults={
                "scope_claims": ("scope",),
                "role_claims": ("cognito:groups",),
                "client_id_claims": ("client_id",),
            },
            aud_from_client_id=True,
            token_use="access",
            hints={
                "invalid_issuer": "Cognito's issuer is "
                "https://cognito-idp.<region>.amazonaws.com/<user pool id>",
                "invalid_audience": "set BEARERGUARD_AUDIENCE to the app client id: "
                "Cognito access tokens carry it in client_id (no aud)",
                "invalid_token_type": "Cognito access tokens say token_use: access",
                "id_token_presented": _ID_TOKEN,
            },
        ),
    }
)

#: Names allowed in ``BEARERGUARD_PROVIDER``.
NAMES = tuple(PRESETS)


def preset(name: str) -> Preset:
    """The preset called *name* (``generic`` fills nothing). Raises ``KeyError``."""
    return PRESETS[name]


_OKTA_CUSTOM_SERVER = re.compile(r"/oauth2/[^/]+/?\Z")


def okta_org_server(issuer: str) -> bool:
    """True when *issuer* is an Okta org authorization server: no ``/oauth2/<id>`` path.

    Judged by the path's shape only, so it works for any host (custom domains, tests).
    """
    path = issuer.split("://", 1)[-1].partition("/")[2]
    return not _OKTA_CUSTOM_SERVER.search("/" + path)


def is_app_only(claims: Mapping[str, Any], client_id: str | None, rule: str) -> bool:
    """Whether *claims* are those of a client-credentials token (no user), by *rule*."""
    if rule == "no_scp":
        return "scp" not in claims
    if rule == "gty":
        return claims.get("gty") == "client-credentials"
    if rule == "service_account":
        name = claims.get("preferred_username")
        return isinstance(name, str) and name.startswith("service-account-")
    sub = claims.get("sub")
    return client_id is not None and sub == client_id


@dataclasses.dataclass(frozen=True)
class Delegated:
    """A claim check (``Requirements(claims=[DELEGATED])``): the token acts for a user."""

    def __call__(self, token: AccessToken) -> bool:
        return not token.app_only


@dataclasses.dataclass(frozen=True)
class AppOnly:
    """A claim check (``Requirements(claims=[APP_ONLY])``): the token is an application's
    own (client credentials, no user)."""

    def __call__(self, token: AccessToken) -> bool:
        return token.app_only


#: Require a delegated (user) token.
DELEGATED = Delegated()
#: Require an app-only (client credentials) token.
APP_ONLY = AppOnly()
