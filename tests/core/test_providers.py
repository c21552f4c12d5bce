"""Provider presets: tokens shaped as Auth0, Okta, Keycloak, Entra ID and Cognito document
them (user and client-credentials access tokens, ID tokens), minted by real test issuers
on 127.0.0.1 whose discovery serves the keys. Issuer URLs are local: the presets work by
the shape of claims and paths, never by host names.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bearerguard import (
    AccessToken,
    InsufficientScope,
    InvalidToken,
    Requirements,
    Settings,
    Verifier,
)
from bearerguard.claimpath import ClaimPath
from bearerguard.providers import APP_ONLY, DELEGATED, PRESETS, okta_org_server, preset
from bearerguard.settings import SettingError
from bearerguard.testing import Issuer
from bearerguard.tokens import read_roles

API = "https://api.example.com"
SPA = "spa-client"


def mint(issuer: Issuer, claims: dict[str, Any], *, typ: str | None = "JWT", **kw: Any) -> str:
    """A token holding exactly *claims* plus iss, iat, exp, jti (``aud`` only when given)."""
    drop = () if "aud" in claims else ("aud",)
    return issuer.token(
        sub=None, scopes=None, client_id=None, claims=claims, typ=typ, drop=drop, **kw
    )


def reason(verifier: Verifier, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token)
    return info.value.reason


# -- the presets themselves ---------------------------------------------------------------


def test_every_documented_provider_has_a_preset() -> None:
    assert sorted(PRESETS) == ["auth0", "cognito", "entra", "generic", "keycloak", "okta"]
    assert preset("generic").defaults == {}


@pytest.mark.parametrize(
    ("provider", "scope_claims", "role_claims", "client_id_claims"),
    [
        ("generic", ("scope", "scp"), (), ("client_id", "azp", "cid", "appid")),
        ("auth0", ("permissions", "scope"), (), ("client_id", "azp")),
        ("okta", ("scp",), ("groups",), ("cid",)),
        ("keycloak", ("scope",), ("realm_access.roles", "resource_access.{client}.roles"),
         ("azp", "client_id")),
        ("entra", ("scp",), ("roles",), ("azp", "appid")),
        ("cognito", ("scope",), ("cognito:groups",), ("client_id",)),
    ],
)  # fmt: skip
def test_a_preset_fills_defaults(
    provider: str,
    scope_claims: tuple[str, ...],
    role_claims: tuple[str, ...],
    client_id_claims: tuple[str, ...],
) -> None:
    s = Settings(issuer="https://idp.example/", audience=API, provider=provider)
    assert (s.scope_claims, s.role_claims, s.client_id_claims) == (
        scope_claims,
        role_claims,
        client_id_claims,
    )


def test_explicit_settings_win_over_the_preset() -> None:
    s = Settings(
        issuer="https://idp.example/oauth2/default",
        audience=API,
        provider="okta",
        scope_claims="scope",
        role_claims="https://example.com/roles",
    )
    assert s.scope_claims == ("scope",)
    assert s.role_claims == ("https://example.com/roles",)
    assert s.client_id_claims == ("cid",)  # not given: the preset's
    env = Settings.from_env(
        {
            "BEARERGUARD_ISSUER": "https://idp.example/oauth2/default",
            "BEARERGUARD_AUDIENCE": API,
            "BEARERGUARD_PROVIDER": "OKTA",
            "BEARERGUARD_CLIENT_ID_CLAIMS": "client_id,cid",
        }
    )
    assert (env.provider, env.client_id_claims, env.scope_claims) == (
        "okta",
        ("client_id", "cid"),
        ("scp",),
    )


def test_unknown_provider_and_bad_role_path_are_setting_errors() -> None:
    with pytest.raises(SettingError) as info:
        Settings(issuer="https://i.example/", audience=API, provider="ping")
    assert info.value.setting == "BEARERGUARD_PROVIDER"
    with pytest.raises(SettingError) as info:
        Settings(issuer="https://i.example/", audience=API, role_claims="realm_access..roles")
    assert info.value.setting == "BEARERGUARD_ROLE_CLAIMS"


def test_auth0_adds_the_trailing_slash_to_a_bare_tenant_domain_only() -> None:
    s = Settings(issuer="https://acme.eu.auth0.com", audience=API, provider="auth0")
    assert s.issuer == ("https://acme.eu.auth0.com/",)
    # A URL with a path is kept; another provider never gets a slash added.
    assert Settings(issuer="https://a.example/x", audience=API, provider="auth0").issuer == (
        "https://a.example/x",
    )
    assert Settings(issuer="https://acme.auth0.com", audience=API).issuer == (
        "https://acme.auth0.com",
    )


@pytest.mark.parametrize(
    ("issuer", "org"),
    [
        ("https://acme.okta.com", True),
        ("https://acme.okta.com/", True),
        ("https://acme.okta.com/oauth2/default", False),
        ("https://acme.okta.com/oauth2/aus2b3c4d5/", False),
        ("https://login.acme.com/oauth2/", True),
        ("https://acme.okta.com/oauth2/default/extra", True),
    ],
)
def test_okta_org_server_is_judged_by_path_shape(issuer: str, org: bool) -> None:
    assert okta_org_server(issuer) is org


def test_read_roles_unions_every_path() -> None:
    paths = tuple(
        ClaimPath.parse(p) for p in ("realm_access.roles", "role", "groups", "absent.path")
    )
    claims = {
        "realm_access": {"roles": ["a", "b", 7, None, "", ["x"]]},
        "role": "one role with spaces",  # a string is one role, never split
        "groups": {"not": "a list"},
    }
    assert read_roles(claims, paths) == frozenset({"a", "b", "one role with spaces"})
    assert read_roles({"realm_access": ["a"]}, paths) == frozenset()
    assert read_roles({}, ()) == frozenset()


def test_access_token_defaults() -> None:
    token = AccessToken({"sub": "u", "cid": "c"}, {"alg": "RS256"}, frozenset())
    assert (token.roles, token.app_only, token.client_id) == (frozenset(), False, "c")
    token = AccessToken(
        {"azp": "a", "cid": "c"},
        {},
        frozenset(),
        roles=frozenset({"r"}),
        client_id_claims=("cid",),
        app_only=True,
    )
    assert (token.roles, token.app_only, token.client_id) == (frozenset({"r"}), True, "c")


# -- Auth0 --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def auth0() -> Iterator[Issuer]:
    with Issuer(audience=API) as iss:  # iss = "http://127.0.0.1:<port>/" (trailing slash)
        yield iss


def test_auth0(auth0: Issuer) -> None:
    # The settings name the tenant domain without its slash, as Auth0's dashboard shows it.
    v = Verifier(issuer=auth0.url, audience=API, provider="auth0")
    now = int(time.time())
    user = mint(
        auth0,
        {
            "sub": "auth0|6543",
            "aud": [API, auth0.issuer + "userinfo"],
            "azp": SPA,
            "scope": "openid profile email read:messages",
            "permissions": ["read:messages", "write:messages"],
            "https://example.com/tenant": "acme",
            "auth_time": now,
        },
    )
    at = v.verify(user)
    assert at.scopes == frozenset({"read:messages", "write:messages"})  # RBAC permissions
    assert (at.client_id, at.subject, at.app_only) == (SPA, "auth0|6543", False)
    assert at["https://example.com/tenant"] == "acme"
    assert at.roles == frozenset()
    m2m = mint(
        auth0,
        {
            "sub": "m2m-client@clients",
            "aud": API,
            "azp": "m2m-client",
            "scope": "read:messages",
            "gty": "client-credentials",
        },
    )
    at = v.verify(m2m)
    assert (at.scopes, at.client_id, at.app_only) == (
        frozenset({"read:messages"}),
        "m2m-client",
        True,
    )
    v.authorize(at, Requirements(claims=[APP_ONLY]))
    with pytest.raises(InsufficientScope) as info:
        v.authorize(at, Requirements(claims=[DELEGATED]))
    assert info.value.reason == "claim_requirement_failed"
    # The ID token: aud is the SPA's client id.
    id_token = mint(
        auth0,
        {
            "sub": "auth0|6543",
            "aud": SPA,
            "nonce": "n-1",
            "sid": "s",
            "name": "Ann",
            "auth_time": now,
        },
    )
    assert reason(v, id_token) == "id_token_presented"
    # A token requested without `audience=`: only for /userinfo.
    userinfo_only = mint(auth0, {"sub": "auth0|6543", "aud": auth0.issuer + "userinfo", "azp": SPA})
    assert reason(v, userinfo_only) == "invalid_audience"


# -- Okta ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def okta() -> Iterator[Issuer]:
    with Issuer(audience="api://default", path="oauth2/default") as iss:
        yield iss


@pytest.fixture(scope="module")
def okta_org() -> Iterator[Issuer]:
    with Issuer(audience="api://default") as iss:
        yield iss


def test_okta(okta: Issuer) -> None:
    v = Verifier(issuer=okta.issuer, audience="api://default", provider="okta")
    now = int(time.time())
    user = mint(
        okta,
        {
            "ver": 1,
            "aud": "api://default",
            "cid": "0oa1spa",
            "uid": "00u1alice",
            "scp": ["openid", "email", "read:messages"],
            "auth_time": now,
            "sub": "alice@example.com",
            "groups": ["Everyone", "Admins"],
        },
        typ=None,  # Okta's header has kid and alg only
    )
    at = v.verify(user)
    assert at.scopes == frozenset({"openid", "email", "read:messages"})
    assert at.roles == frozenset({"Everyone", "Admins"})
    assert (at.client_id, at["uid"], at.app_only) == ("0oa1spa", "00u1alice", False)
    cc = mint(
        okta,
        {
            "ver": 1,
            "aud": "api://default",
            "cid": "0oa2svc",
            "scp": ["read:messages"],
            "sub": "0oa2svc",
        },
        typ=None,
    )
    at = v.verify(cc)
    assert (at.client_id, at.app_only, at.roles) == ("0oa2svc", True, frozenset())
    id_token = mint(
        okta,
        {
            "ver": 1,
            "sub": "00u1alice",
            "aud": "0oa1spa",
            "amr": ["pwd"],
            "idp": "00o1",
            "nonce": "n-1",
            "auth_time": now,
            "at_hash": "x7Y2nQ",
        },
        typ=None,
    )
    assert reason(v, id_token) == "id_token_presented"


def test_okta_org_authorization_server_tokens_are_refused(okta_org: Issuer) -> None:
    v = Verifier(issuer=okta_org.issuer, audience="api://default", provider="okta")
    token = mint(
        okta_org,
        {"ver": 1, "aud": "api://default", "cid": "0oa1", "scp": ["okta.users.read"], "sub": "u"},
        typ=None,
    )
    assert reason(v, token) == "okta_org_server"
    # Without the preset the same token is accepted: the check is the preset's.
    assert Verifier(issuer=okta_org.issuer, audience="api://default").verify(token)["cid"] == "0oa1"


# -- Keycloak -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keycloak() -> Iterator[Issuer]:
    with Issuer(audience="orders-api", path="realms/demo") as iss:
        yield iss


def _kc_user(keycloak: Issuer, aud: Any) -> str:
    return mint(
        keycloak,
        {
            "auth_time": int(time.time()),
            "aud": aud,
            "sub": "7c1d2a9e-61b1-4c1c-9c4f-6a0c1f0b9e11",
            "typ": "Bearer",
            "azp": SPA,
            "sid": "b6f0",
            "acr": "1",
            "allowed-origins": ["https://app.example.com"],
            "realm_access": {"roles": ["offline_access", "default-roles-demo", "user"]},
            "resource_access": {
                "orders-api": {"roles": ["orders:admin"]},
                "account": {"roles": ["manage-account", "view-profile"]},
            },
            "scope": "openid profile email",
            "email_verified": False,
            "preferred_username": "alice",
        },
    )


def test_keycloak(keycloak: Issuer) -> None:
    v = Verifier(issuer=keycloak.issuer, audience="orders-api", provider="keycloak")
    at = v.verify(_kc_user(keycloak, ["orders-api", "account"]))  # with an audience mapper
    # Realm roles and this API's client roles; another client's (account) are not ours.
    assert at.roles == frozenset({"offline_access", "default-roles-demo", "user", "orders:admin"})
    assert at.scopes == frozenset({"openid", "profile", "email"})
    assert (at.client_id, at.app_only) == (SPA, False)
    service = mint(
        keycloak,
        {
            "aud": "orders-api",
            "sub": "0b5c3c1e-2f7a-4d0e-8d8f-2d1b9a0c7e55",
            "typ": "Bearer",
            "azp": "orders-worker",
            "scope": "profile email",
            "client_id": "orders-worker",
            "clientHost": "10.0.0.7",
            "preferred_username": "service-account-orders-worker",
            "realm_access": {"roles": ["default-roles-demo"]},
            "resource_access": {"orders-api": {"roles": ["orders:sync"]}},
        },
    )
    at = v.verify(service)
    assert (at.client_id, at.app_only) == ("orders-worker", True)
    assert at.roles == frozenset({"default-roles-demo", "orders:sync"})
    with pytest.raises(InsufficientScope):
        v.authorize(at, Requirements(claims=[DELEGATED]))


def test_keycloak_default_account_audience_is_explained(keycloak: Issuer) -> None:
    v = Verifier(issuer=keycloak.issuer, audience="orders-api", provider="keycloak")
    with pytest.raises(InvalidToken) as info:
        v.verify(_kc_user(keycloak, "account"))
    assert info.value.reason == "keycloak_default_audience"
    assert info.value.description == (
        "The token's audience is Keycloak's default 'account': an audience mapper must add this API"
    )
    assert reason(v, _kc_user(keycloak, ["account"])) == "keycloak_default_audience"
    # Another audience is a plain wrong audience; without the preset "account" is too.
    assert reason(v, _kc_user(keycloak, ["billing-api", "account"])) == "invalid_audience"
    generic = Verifier(issuer=keycloak.issuer, audience="orders-api")
    assert reason(generic, _kc_user(keycloak, "account")) == "invalid_audience"


def test_keycloak_id_token_is_refused_by_its_typ_claim(keycloak: Issuer) -> None:
    # One client for the SPA and the API: the ID token's aud is the API's too.
    v = Verifier(issuer=keycloak.issuer, audience="orders-api", provider="keycloak")
    id_token = mint(
        keycloak,
        {
            "aud": "orders-api",
            "sub": "7c1d",
            "typ": "ID",
            "azp": "orders-api",
            "sid": "b6f0",
            "email_verified": False,
            "preferred_username": "alice",
        },
    )
    assert reason(v, id_token) == "id_token_presented"


# -- Entra ID (single tenant; multi-tenant in test_providers_issuers.py) ------------------

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
API_GUID = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
SPA_GUID = "1d7a1a5b-5a59-4d8e-8e52-4b3b0b5c0f11"


@pytest.fixture(scope="module")
def entra() -> Iterator[Issuer]:
    # v2-shaped issuer path: /<tenant>/v2.0 (the local issuer adds a trailing slash).
    with Issuer(audience=API_GUID, path=f"{TENANT}/v2.0") as iss:
        yield iss


def _entra_claims(**extra: Any) -> dict[str, Any]:
    claims = {
        "aud": API_GUID,
        "nbf": int(time.time()) - 5,
        "aio": "AWQAm/8T",
        "oid": "9a3f",
        "rh": "0.AR8A",
        "sub": "Qb1h",
        "tid": TENANT,
        "uti": "Kd7l",
        "ver": "2.0",
    }
    claims.update(extra)
    return claims


def test_entra_v2_delegated_and_app_only(entra: Issuer) -> None:
    v = Verifier(issuer=entra.issuer, audience=API_GUID, provider="entra")
    delegated = mint(
        entra,
        _entra_claims(
            azp=SPA_GUID,
            azpacr="0",
            name="Ann",
            preferred_username="ann@contoso.com",
            scp="access_as_user Orders.Read",
            roles=["Orders.Approver"],
        ),
    )
    at = v.verify(delegated)
    assert at.scopes == frozenset({"access_as_user", "Orders.Read"})
    assert at.roles == frozenset({"Orders.Approver"})
    assert (at.client_id, at.app_only) == (SPA_GUID, False)
    v.authorize(at, Requirements(claims=[DELEGATED]))
    app = mint(entra, _entra_claims(azp="c0ffee00-0000-4000-8000-000000000001", azpacr="1",
                                    roles=["Orders.Read.All"], idtyp="app"))  # fmt: skip
    at = v.verify(app)
    assert (at.scopes, at.roles, at.app_only) == (
        frozenset(),
        frozenset({"Orders.Read.All"}),
        True,
    )
    v.authorize(at, Requirements(claims=[APP_ONLY]))
    with pytest.raises(InsufficientScope) as info:
        v.authorize(at, Requirements(claims=[DELEGATED]))
    assert info.value.reason == "claim_requirement_failed"


def test_entra_id_token_refused_with_a_shared_app_registration(entra: Issuer) -> None:
    # SPA and API share one registration: the ID token's aud is the API's client id.
    v = Verifier(issuer=entra.issuer, audience=API_GUID, provider="entra")
    id_token = mint(entra, _entra_claims(name="Ann", nonce="n-1", preferred_username="ann@c.com"))
    assert reason(v, id_token) == "id_token_presented"
    no_nonce = mint(entra, _entra_claims(name="Ann", preferred_username="ann@c.com"))
    assert reason(v, no_nonce) == "id_token_presented"  # no azp/appid: not an access token
    # The generic verifier cannot tell it from an access token (documented gap it closes).
    assert Verifier(issuer=entra.issuer, audience=API_GUID).verify(no_nonce)["tid"] == TENANT


@pytest.fixture(scope="module")
def entra_v1() -> Iterator[Issuer]:
    with Issuer(audience="api://orders", path=TENANT) as iss:  # v1: https://sts.windows.net/<tid>/
        yield iss


def test_entra_v1_token_with_application_id_uri(entra_v1: Issuer) -> None:
    v = Verifier(issuer=entra_v1.issuer, audience=["api://orders", API_GUID], provider="entra")
    token = mint(
        entra_v1,
        _entra_claims(
            aud="api://orders",
            ver="1.0",
            appid=SPA_GUID,
            appidacr="0",
            amr=["pwd"],
            upn="ann@contoso.com",
            unique_name="ann@contoso.com",
            scp="access_as_user",
        ),
    )
    at = v.verify(token)
    assert (at.client_id, at.scopes, at.app_only) == (
        SPA_GUID,
        frozenset({"access_as_user"}),
        False,
    )


# -- Cognito ------------------------------------------------------------------------------

POOL_CLIENT = "7abc1defghij2klmno3pqrs4tu"


@pytest.fixture(scope="module")
def cognito() -> Iterator[Issuer]:
    with Issuer(audience=POOL_CLIENT, path="us-east-1_Ab12Cd34") as iss:
        yield iss


def test_cognito(cognito: Issuer) -> None:
    v = Verifier(issuer=cognito.issuer, audience=POOL_CLIENT, provider="cognito")
    now = int(time.time())
    user = mint(
        cognito,
        {
            "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            "cognito:groups": ["admin", "readers"],
            "version": 2,
            "client_id": POOL_CLIENT,
            "origin_jti": "o-1",
            "event_id": "e-1",
            "token_use": "access",
            "scope": "openid profile orders/read",
            "auth_time": now,
            "username": "alice",
        },
        typ=None,
    )
    at = v.verify(user)
    assert at.roles == frozenset({"admin", "readers"})
    assert at.scopes == frozenset({"openid", "profile", "orders/read"})
    assert (at.client_id, at.app_only, at.audience) == (POOL_CLIENT, False, ())
    cc = mint(
        cognito,
        {"sub": POOL_CLIENT, "token_use": "access", "scope": "orders/read", "auth_time": now,
         "version": 2, "client_id": POOL_CLIENT},
        typ=None,
    )  # fmt: skip
    assert v.verify(cc).app_only is True
    id_token = mint(
        cognito,
        {
            "at_hash": "h",
            "sub": "aaaaaaaa",
            "cognito:groups": ["admin"],
            "email_verified": True,
            "cognito:username": "alice",
            "origin_jti": "o-1",
            "aud": POOL_CLIENT,
            "event_id": "e-1",
            "token_use": "id",
            "auth_time": now,
            "email": "alice@example.com",
        },
        typ=None,
    )
    assert reason(v, id_token) == "id_token_presented"
    # ID token without at_hash: still refused by token_use.
    plain_id = mint(cognito, {"sub": "a", "aud": POOL_CLIENT, "token_use": "id"}, typ=None)
    assert reason(v, plain_id) == "id_token_presented"
    other_client = mint(
        cognito, {"sub": "a", "client_id": "other", "token_use": "access"}, typ=None
    )
    assert reason(v, other_client) == "invalid_audience"
    no_use = mint(cognito, {"sub": "a", "client_id": POOL_CLIENT}, typ=None)
    assert reason(v, no_use) == "invalid_token_type"
    # Without the preset every Cognito access token is refused (no aud).
    assert reason(Verifier(issuer=cognito.issuer, audience=POOL_CLIENT), user) == "invalid_audience"


# -- roles of introspected (opaque) tokens ------------------------------------------------


def test_introspected_token_gets_roles_and_client_id(keycloak: Issuer) -> None:
    keycloak.register_client("orders-api", "s3cret-of-the-api", scopes=())
    v = Verifier(
        issuer=keycloak.issuer,
        audience="orders-api",
        provider="keycloak",
        token_formats="jwt,opaque",
        client_id="orders-api",
        client_secret="s3cret-of-the-api",
    )
    opaque = keycloak.opaque_token(
        "alice",
        ["openid"],
        {
            "azp": SPA,
            "realm_access": {"roles": ["user"]},
            "resource_access": {"orders-api": {"roles": ["orders:admin"]}, "x": {"roles": ["no"]}},
        },
        client_id=None,
    )
    at = v.check_token(opaque)
    assert at.roles == frozenset({"user", "orders:admin"})
    assert (at.client_id, at.scopes, at.app_only) == (SPA, frozenset({"openid"}), False)


@pytest.fixture(scope="module")
def odd(cognito: Issuer, keycloak: Issuer) -> list[tuple[Issuer, str, str, Verifier]]:
    cases = [
        (cognito, "cognito", POOL_CLIENT),
        (keycloak, "keycloak", "orders-api"),
        (keycloak, "entra", "orders-api"),
    ]
    return [
        (i, p, a, Verifier(issuer=i.issuer, audience=a, provider=p, token_cache_size=0))
        for i, p, a in cases
    ]


ODD_VALUES = [None, 7, True, [], ["x"], {}, {"a": ["b"]}, "", "account", [["account"]]]


@pytest.mark.parametrize("value", ODD_VALUES)
@pytest.mark.parametrize(
    "name",
    ["aud", "client_id", "cid", "azp", "appid", "tid", "token_use", "typ", "gty", "groups",
     "roles", "scp", "realm_access", "resource_access", "cognito:groups", "preferred_username",
     "nonce", "permissions", "sub"],
)  # fmt: skip
def test_odd_claim_values_are_refused_or_read_never_crash(
    odd: list[tuple[Issuer, str, str, Verifier]], name: str, value: Any
) -> None:
    # Whatever a signed token holds, each preset answers with a token or an InvalidToken.
    for issuer, provider, audience, v in odd:
        claims = {"client_id": POOL_CLIENT, "token_use": "access", "azp": "spa", name: value}
        if name != "aud" and provider != "cognito":
            claims.setdefault("aud", audience)
        try:
            at = v.verify(mint(issuer, claims))
        except InvalidToken as err:
            assert err.status_code == 401
        else:
            assert isinstance(at.roles, frozenset) and all(type(r) is str for r in at.roles)
            assert at.client_id is None or type(at.client_id) is str
