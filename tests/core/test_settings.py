"""Settings: every bad value fails at construction, naming its BEARERGUARD_* setting."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from bearerguard import SettingError, Settings, Verifier
from bearerguard.settings import DEFAULT_ALGORITHMS, FIELDS

ISS = "https://tenant.example.com/"
AUD = "https://api.example.com"
SECRET = "s" * 32


def make(**overrides: Any) -> Settings:
    kwargs: dict[str, Any] = {"issuer": ISS, "audience": AUD}
    kwargs.update(overrides)
    return Settings(**kwargs)


def test_defaults() -> None:
    s = make()
    assert s.issuer == (ISS,)
    assert s.audience == (AUD,)
    assert s.issuers == (ISS,)
    assert s.audiences == (AUD,)
    assert s.jwks_uri is None
    assert s.algorithms == DEFAULT_ALGORITHMS
    assert "EdDSA" in s.algorithms and "Ed25519" in s.algorithms
    assert s.leeway == 60
    assert s.realm == "api"
    assert s.scope_claims == ("scope", "scp")
    assert s.required_claims == ()
    assert s.token_types == ("at+jwt", "jwt")
    assert s.token_locations == ("header",)
    assert s.shared_secret is None
    assert s.max_token_size == 16384


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        pytest.param({"issuer": ()}, "BEARERGUARD_ISSUER", id="issuer-missing"),
        pytest.param({"issuer": ""}, "BEARERGUARD_ISSUER", id="issuer-empty"),
        pytest.param({"issuer": " , "}, "BEARERGUARD_ISSUER", id="issuer-blank-list"),
        pytest.param({"issuer": "tenant.example.com"}, "BEARERGUARD_ISSUER", id="issuer-not-url"),
        pytest.param({"issuer": "ftp://t.example/"}, "BEARERGUARD_ISSUER", id="issuer-scheme"),
        pytest.param({"issuer": [ISS, 3]}, "BEARERGUARD_ISSUER", id="issuer-non-string"),
        pytest.param({"issuer": 42}, "BEARERGUARD_ISSUER", id="issuer-int"),
        pytest.param({"audience": ()}, "BEARERGUARD_AUDIENCE", id="audience-missing"),
        pytest.param({"audience": ""}, "BEARERGUARD_AUDIENCE", id="audience-empty"),
        pytest.param({"jwks_uri": "file:///etc/jwks"}, "BEARERGUARD_JWKS_URI", id="jwks-uri"),
        pytest.param({"algorithms": ("RS256", "none")}, "BEARERGUARD_ALGORITHMS", id="alg-none"),
        pytest.param({"algorithms": "NONE"}, "BEARERGUARD_ALGORITHMS", id="alg-NONE"),
        pytest.param({"algorithms": "None"}, "BEARERGUARD_ALGORITHMS", id="alg-None"),
        pytest.param({"algorithms": ("RS257",)}, "BEARERGUARD_ALGORITHMS", id="alg-unknown"),
        pytest.param({"algorithms": ("rs256",)}, "BEARERGUARD_ALGORITHMS", id="alg-case"),
        pytest.param({"algorithms": ()}, "BEARERGUARD_ALGORITHMS", id="alg-empty"),
        pytest.param({"algorithms": ("HS256",)}, "BEARERGUARD_ALGORITHMS", id="hs-no-secret"),
        pytest.param(
            {"algorithms": ("RS256", "HS512"), "shared_secret": "x" * 31},
            "BEARERGUARD_SHARED_SECRET",
            id="hs-short-secret",
        ),
        pytest.param({"leeway": "abc"}, "BEARERGUARD_LEEWAY", id="leeway-text"),
        pytest.param({"leeway": -1}, "BEARERGUARD_LEEWAY", id="leeway-negative"),
        pytest.param({"leeway": 601}, "BEARERGUARD_LEEWAY", id="leeway-large"),
        pytest.param({"leeway": True}, "BEARERGUARD_LEEWAY", id="leeway-bool"),
        pytest.param({"leeway": float("nan")}, "BEARERGUARD_LEEWAY", id="leeway-nan"),
        pytest.param({"leeway": "inf"}, "BEARERGUARD_LEEWAY", id="leeway-inf"),
        pytest.param({"leeway": None}, "BEARERGUARD_LEEWAY", id="leeway-none"),
        pytest.param({"token_types": ("opaque",)}, "BEARERGUARD_TOKEN_TYPES", id="typ-unknown"),
        pytest.param({"token_types": "at+jwt,id"}, "BEARERGUARD_TOKEN_TYPES", id="typ-extra"),
        pytest.param({"token_types": ()}, "BEARERGUARD_TOKEN_TYPES", id="typ-empty"),
        pytest.param(
            {"token_locations": ("cookie",)}, "BEARERGUARD_TOKEN_LOCATIONS", id="loc-unknown"
        ),
        pytest.param({"token_locations": ""}, "BEARERGUARD_TOKEN_LOCATIONS", id="loc-empty"),
        pytest.param({"realm": 'my "api"'}, "BEARERGUARD_REALM", id="realm-quote"),
        pytest.param({"realm": "a\\b"}, "BEARERGUARD_REALM", id="realm-backslash"),
        pytest.param({"realm": "a\r\nX-Evil: 1"}, "BEARERGUARD_REALM", id="realm-crlf"),
        pytest.param({"realm": "caf\u00e9"}, "BEARERGUARD_REALM", id="realm-non-ascii"),
        pytest.param({"scope_claims": [1]}, "BEARERGUARD_SCOPE_CLAIMS", id="scope-claims"),
        pytest.param({"required_claims": 5}, "BEARERGUARD_REQUIRED_CLAIMS", id="required"),
        pytest.param({"max_token_size": 10}, "BEARERGUARD_MAX_TOKEN_SIZE", id="size-small"),
        pytest.param({"max_token_size": "big"}, "BEARERGUARD_MAX_TOKEN_SIZE", id="size-text"),
    ],
)
def test_bad_value_names_the_setting(overrides: dict[str, Any], setting: str) -> None:
    with pytest.raises(SettingError, match=re.escape(setting)) as caught:
        make(**overrides)
    assert caught.value.setting == setting
    # The verifier's keyword form validates the same way.
    with pytest.raises(SettingError, match=re.escape(setting)) as caught:
        Verifier(**{"issuer": ISS, "audience": AUD, **overrides})
    assert caught.value.setting == setting


def test_hs_without_secret_names_both_settings() -> None:
    with pytest.raises(SettingError) as caught:
        make(algorithms="HS256")
    assert caught.value.setting == "BEARERGUARD_ALGORITHMS"
    assert str(caught.value) == (
        "BEARERGUARD_ALGORITHMS: HS* algorithms need BEARERGUARD_SHARED_SECRET"
    )


def test_hs_with_secret_is_accepted_and_secret_hidden() -> None:
    s = make(algorithms="RS256,HS256", shared_secret=SECRET)
    assert s.algorithms == ("RS256", "HS256")
    assert s.shared_secret == SECRET.encode()
    assert SECRET not in repr(s)


def test_frozen() -> None:
    s = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.leeway = 5  # type: ignore[misc]


def test_normalisation() -> None:
    s = make(
        issuer=f" {ISS} , https://other.example.com/ ,{ISS}",
        token_types="JWT, Application/AT+JWT",
        token_locations="HEADER,Query",
        leeway="30.5",
        jwks_uri="  ",
    )
    assert s.issuer == (ISS, "https://other.example.com/")
    assert s.token_types == ("jwt", "at+jwt")
    assert s.token_locations == ("header", "query")
    assert s.leeway == 30.5
    assert s.jwks_uri is None


def test_unknown_key_in_from_mapping_fails() -> None:
    with pytest.raises(SettingError, match=r"^unknown setting BEARERGUARD_AUDIENCES$") as caught:
        Settings.from_mapping(
            {"BEARERGUARD_ISSUER": ISS, "BEARERGUARD_AUDIENCE": AUD, "BEARERGUARD_AUDIENCES": AUD}
        )
    assert caught.value.setting == "BEARERGUARD_AUDIENCES"


def test_from_mapping_ignores_adapter_keys_other_prefixes_and_empty_values() -> None:
    s = Settings.from_mapping(
        {
            "BEARERGUARD_ISSUER": ISS,
            "BEARERGUARD_AUDIENCE": AUD,
            "BEARERGUARD_PROTECTED_PATHS": "/api/",
            "BEARERGUARD_EXEMPT_PATHS": "/health",
            "BEARERGUARD_USER_HOOK": "x.y",
            "BEARERGUARD_TOKEN_CACHE_SIZE": "0",
            "BEARERGUARD_JWKS_URI": "",
            "BEARERGUARD_LEEWAY": None,
            "DEBUG": True,
        }
    )
    assert s == make(protected_paths=("/api",), exempt_paths=("/health",), token_cache_size=0)


def test_from_mapping_python_values() -> None:
    s = Settings.from_mapping(
        {
            "BEARERGUARD_ISSUER": [ISS],
            "BEARERGUARD_AUDIENCE": (AUD, "urn:other"),
            "BEARERGUARD_LEEWAY": 0,
            "BEARERGUARD_MAX_TOKEN_SIZE": 4096,
        }
    )
    assert s.audience == (AUD, "urn:other")
    assert s.leeway == 0
    assert s.max_token_size == 4096


def test_from_env_parses_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "BEARERGUARD_ISSUER": f"{ISS}, https://b.example.com/",
        "BEARERGUARD_AUDIENCE": f"{AUD},urn:api",
        "BEARERGUARD_JWKS_URI": "https://tenant.example.com/.well-known/jwks.json",
        "BEARERGUARD_ALGORITHMS": "RS256, ES256,HS256",
        "BEARERGUARD_SHARED_SECRET": SECRET,
        "BEARERGUARD_LEEWAY": "30",
        "BEARERGUARD_REALM": "my api",
        "BEARERGUARD_SCOPE_CLAIMS": "scp,permissions",
        "BEARERGUARD_REQUIRED_CLAIMS": "sub, client_id,iat,jti",
        "BEARERGUARD_TOKEN_TYPES": "at+jwt",
        "BEARERGUARD_TOKEN_LOCATIONS": "header,query,form",
        "BEARERGUARD_MAX_TOKEN_SIZE": "4096",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for s in (Settings.from_env(), Settings.from_env(env)):
        assert s.issuer == (ISS, "https://b.example.com/")
        assert s.audience == (AUD, "urn:api")
        assert s.jwks_uri == "https://tenant.example.com/.well-known/jwks.json"
        assert s.algorithms == ("RS256", "ES256", "HS256")
        assert s.shared_secret == SECRET.encode()
        assert s.leeway == 30.0
        assert s.realm == "my api"
        assert s.scope_claims == ("scp", "permissions")
        assert s.required_claims == ("sub", "client_id", "iat", "jti")
        assert s.token_types == ("at+jwt",)
        assert s.token_locations == ("header", "query", "form")
        assert s.max_token_size == 4096


def test_from_env_unknown_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEARERGUARD_ISSUER", ISS)
    monkeypatch.setenv("BEARERGUARD_AUDIENCE", AUD)
    monkeypatch.setenv("BEARERGUARD_LEWAY", "5")
    with pytest.raises(ValueError, match=r"^unknown setting BEARERGUARD_LEWAY$"):
        Settings.from_env()


def test_verifier_construction_rules() -> None:
    s = make(realm="photos")
    v = Verifier(s)
    assert v.settings is s
    assert v.realm == "photos"
    assert v.token_locations == ("header",)
    with pytest.raises(TypeError):
        Verifier(s, leeway=5)
    with pytest.raises(ValueError, match="token_cache_size"):
        Verifier(s, token_cache_size=-1)
    with pytest.raises(ValueError, match="BEARERGUARD_ISSUER"):
        Verifier(audience=AUD)


# The settings of DPoP, RFC 9728 metadata, introspection and provider presets.

TENANT_ISS = "https://login.microsoftonline.com/{tenantid}/v2.0"
CLIENT = {"client_id": "api-client", "client_secret": "introspection-secret"}
DPOP_DEFAULT = (
    *("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"),
    *("EdDSA", "Ed25519"),
)


def test_new_defaults() -> None:
    s = make()
    assert s.dpop == "allowed"
    assert s.dpop_algorithms == DPOP_DEFAULT
    assert s.dpop_nonce is False
    assert s.dpop_nonce_secret is None
    assert s.dpop_max_age == 300
    assert s.store == "memory"
    assert s.resource is None
    assert s.scopes_supported == ()
    assert s.resource_name is None
    assert s.resource_documentation is None
    assert s.token_formats == ("jwt",)
    assert s.introspection_uri is None
    assert s.client_id is None
    assert s.client_secret is None
    assert s.client_auth == "client_secret_basic"
    assert s.introspection_cache_ttl == 60
    assert s.provider == "generic"
    assert s.tenants == ()
    assert s.token_cache_size == 1024
    assert s.protected_paths == ()
    assert s.exempt_paths == ()


@pytest.mark.parametrize(
    ("overrides", "name", "expected"),
    [
        ({"dpop": "off"}, "dpop", "off"),
        ({"dpop": "Allowed"}, "dpop", "allowed"),
        ({"dpop": " REQUIRED "}, "dpop", "required"),
        ({"dpop_algorithms": "ES256, EdDSA"}, "dpop_algorithms", ("ES256", "EdDSA")),
        ({"dpop_algorithms": ["Ed25519", "PS512"]}, "dpop_algorithms", ("Ed25519", "PS512")),
        ({"dpop_algorithms": "Ed448"}, "dpop_algorithms", ("Ed448",)),
        ({"dpop_nonce": "on", "dpop_nonce_secret": SECRET}, "dpop_nonce", True),
        ({"dpop_nonce": "OFF"}, "dpop_nonce", False),
        ({"dpop_nonce": True, "dpop_nonce_secret": SECRET}, "dpop_nonce", True),
        ({"dpop_nonce": False}, "dpop_nonce", False),
        ({"dpop_nonce_secret": SECRET}, "dpop_nonce_secret", SECRET.encode()),
        ({"dpop_nonce_secret": b"\x00" * 40}, "dpop_nonce_secret", b"\x00" * 40),
        ({"dpop_max_age": "1"}, "dpop_max_age", 1.0),
        ({"dpop_max_age": 3600}, "dpop_max_age", 3600),
        ({"dpop_max_age": "299.5"}, "dpop_max_age", 299.5),
        ({"store": " MEMORY "}, "store", "memory"),
        ({"store": "redis://localhost:6379/0"}, "store", "redis://localhost:6379/0"),
        ({"store": "redis://localhost"}, "store", "redis://localhost"),
        (
            {"store": "rediss://user:pw@cache.example.com:6380/2"},
            "store",
            "rediss://user:pw@cache.example.com:6380/2",
        ),
        ({"resource": AUD}, "resource", AUD),
        ({"resource": " https://api.example.com/v1/ "}, "resource", "https://api.example.com/v1/"),
        ({"resource": "https://api.example.com:8443"}, "resource", "https://api.example.com:8443"),
        ({"resource": "http://127.0.0.1:8000"}, "resource", "http://127.0.0.1:8000"),
        ({"resource": "http://localhost:8000/api"}, "resource", "http://localhost:8000/api"),
        ({"resource": "http://[::1]:8000/"}, "resource", "http://[::1]:8000/"),
        ({"resource": ""}, "resource", None),
        (
            {"scopes_supported": "read:messages, write:messages"},
            "scopes_supported",
            ("read:messages", "write:messages"),
        ),
        ({"scopes_supported": ["openid", "profile"]}, "scopes_supported", ("openid", "profile")),
        ({"resource_name": " Messages API "}, "resource_name", "Messages API"),
        ({"resource_name": "Caf\u00e9 API"}, "resource_name", "Caf\u00e9 API"),
        (
            {"resource_documentation": "https://docs.example.com/api?lang=en"},
            "resource_documentation",
            "https://docs.example.com/api?lang=en",
        ),
        ({"token_formats": "JWT"}, "token_formats", ("jwt",)),
        ({"token_formats": "opaque", **CLIENT}, "token_formats", ("opaque",)),
        ({"token_formats": "OPAQUE, jwt", **CLIENT}, "token_formats", ("jwt", "opaque")),
        (
            {"introspection_uri": "https://as.example.com/oauth2/introspect"},
            "introspection_uri",
            "https://as.example.com/oauth2/introspect",
        ),
        ({"introspection_uri": "  "}, "introspection_uri", None),
        (
            {"introspection_uri": "http://127.0.0.1:9000/introspect"},
            "introspection_uri",
            "http://127.0.0.1:9000/introspect",
        ),
        ({"client_id": " api-client "}, "client_id", "api-client"),
        ({"client_secret": "s3cr3t with space"}, "client_secret", "s3cr3t with space"),
        ({"client_auth": "client_secret_post"}, "client_auth", "client_secret_post"),
        ({"client_auth": "Client_Secret_Basic"}, "client_auth", "client_secret_basic"),
        ({"introspection_cache_ttl": "0"}, "introspection_cache_ttl", 0.0),
        ({"introspection_cache_ttl": 86400}, "introspection_cache_ttl", 86400),
        ({"provider": "auth0"}, "provider", "auth0"),
        ({"provider": "Okta"}, "provider", "okta"),
        ({"provider": "keycloak"}, "provider", "keycloak"),
        ({"provider": "entra"}, "provider", "entra"),
        ({"provider": "cognito"}, "provider", "cognito"),
        ({"issuer": TENANT_ISS, "tenants": "*"}, "tenants", ("*",)),
        (
            {"issuer": TENANT_ISS, "tenants": "72f988bf-86f1-41af-91ab-2d7cd011db47, contoso"},
            "tenants",
            ("72f988bf-86f1-41af-91ab-2d7cd011db47", "contoso"),
        ),
        ({"issuer": TENANT_ISS, "tenants": ["a.b_c-d"]}, "tenants", ("a.b_c-d",)),
    ],
)
def test_new_setting_normalized(overrides: dict[str, Any], name: str, expected: object) -> None:
    value = getattr(make(**overrides), name)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"dpop": "on"}, "BEARERGUARD_DPOP"),
        ({"dpop": ""}, "BEARERGUARD_DPOP"),
        ({"dpop": None}, "BEARERGUARD_DPOP"),
        ({"dpop": True}, "BEARERGUARD_DPOP"),
        ({"dpop_algorithms": "none"}, "BEARERGUARD_DPOP_ALGORITHMS"),
        ({"dpop_algorithms": "ES256,NONE"}, "BEARERGUARD_DPOP_ALGORITHMS"),
        ({"dpop_algorithms": "HS256"}, "BEARERGUARD_DPOP_ALGORITHMS"),
        ({"dpop_algorithms": "RS256,hs512"}, "BEARERGUARD_DPOP_ALGORITHMS"),
        ({"dpop_algorithms": "XS999"}, "BEARERGUARD_DPOP_ALGORITHMS"),
        ({"dpop_algorithms": "es256"}, "BEARERGUARD_DPOP_ALGORITHMS"),
        ({"dpop_algorithms": ()}, "BEARERGUARD_DPOP_ALGORITHMS"),
        ({"dpop_algorithms": [256]}, "BEARERGUARD_DPOP_ALGORITHMS"),
        ({"dpop_nonce": "yes"}, "BEARERGUARD_DPOP_NONCE"),
        ({"dpop_nonce": 1}, "BEARERGUARD_DPOP_NONCE"),
        ({"dpop_nonce": None}, "BEARERGUARD_DPOP_NONCE"),
        ({"dpop_nonce_secret": "x" * 31}, "BEARERGUARD_DPOP_NONCE_SECRET"),
        ({"dpop_nonce_secret": 42}, "BEARERGUARD_DPOP_NONCE_SECRET"),
        ({"dpop_max_age": 0}, "BEARERGUARD_DPOP_MAX_AGE"),
        ({"dpop_max_age": 3601}, "BEARERGUARD_DPOP_MAX_AGE"),
        ({"dpop_max_age": "soon"}, "BEARERGUARD_DPOP_MAX_AGE"),
        ({"dpop_max_age": True}, "BEARERGUARD_DPOP_MAX_AGE"),
        ({"dpop_max_age": "nan"}, "BEARERGUARD_DPOP_MAX_AGE"),
        ({"store": "redis"}, "BEARERGUARD_STORE"),
        ({"store": "redis://"}, "BEARERGUARD_STORE"),
        ({"store": "redis://cache:port/0"}, "BEARERGUARD_STORE"),
        ({"store": "redis://cache/db1"}, "BEARERGUARD_STORE"),
        ({"store": "http://cache:6379"}, "BEARERGUARD_STORE"),
        ({"store": "memcached://cache:11211"}, "BEARERGUARD_STORE"),
        ({"store": 6379}, "BEARERGUARD_STORE"),
        ({"resource": "http://api.example.com"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "http://127.0.0.2:8000"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "https://api.example.com/#top"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "https://api.example.com/#"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "https://api.example.com/?v=1"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "https://api.example.com/?"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "HTTPS://api.example.com"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "https://API.example.com"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "https://api.example.com:443/"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "http://localhost:80/"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "https://api.example.com:/"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "https://api.example.com:99999/"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "https://user@api.example.com"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "https:///path"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "api.example.com"}, "BEARERGUARD_RESOURCE"),
        ({"resource": "https://api.example.com/a b"}, "BEARERGUARD_RESOURCE"),
        ({"resource": 'https://api.example.com/"x"'}, "BEARERGUARD_RESOURCE"),
        ({"resource": "ftp://api.example.com"}, "BEARERGUARD_RESOURCE"),
        ({"resource": 42}, "BEARERGUARD_RESOURCE"),
        ({"scopes_supported": 'read "all"'}, "BEARERGUARD_SCOPES_SUPPORTED"),
        ({"scopes_supported": "a\\b"}, "BEARERGUARD_SCOPES_SUPPORTED"),
        ({"scopes_supported": ["read write"]}, "BEARERGUARD_SCOPES_SUPPORTED"),
        ({"scopes_supported": ["caf\u00e9"]}, "BEARERGUARD_SCOPES_SUPPORTED"),
        ({"scopes_supported": [1]}, "BEARERGUARD_SCOPES_SUPPORTED"),
        ({"resource_name": "a\nb"}, "BEARERGUARD_RESOURCE_NAME"),
        ({"resource_name": 5}, "BEARERGUARD_RESOURCE_NAME"),
        (
            {"resource_documentation": "http://docs.example.com"},
            "BEARERGUARD_RESOURCE_DOCUMENTATION",
        ),
        ({"resource_documentation": "docs"}, "BEARERGUARD_RESOURCE_DOCUMENTATION"),
        ({"token_formats": "jws"}, "BEARERGUARD_TOKEN_FORMATS"),
        ({"token_formats": ""}, "BEARERGUARD_TOKEN_FORMATS"),
        ({"token_formats": "jwt,paseto"}, "BEARERGUARD_TOKEN_FORMATS"),
        ({"introspection_uri": "ftp://as.example.com/x"}, "BEARERGUARD_INTROSPECTION_URI"),
        ({"introspection_uri": "introspect"}, "BEARERGUARD_INTROSPECTION_URI"),
        ({"introspection_uri": "http://as.example.com/x"}, "BEARERGUARD_INTROSPECTION_URI"),
        ({"introspection_uri": 8}, "BEARERGUARD_INTROSPECTION_URI"),
        ({"client_id": "caf\u00e9"}, "BEARERGUARD_CLIENT_ID"),
        ({"client_id": "a\tb"}, "BEARERGUARD_CLIENT_ID"),
        ({"client_id": 3}, "BEARERGUARD_CLIENT_ID"),
        ({"client_secret": "s\u00e9cret"}, "BEARERGUARD_CLIENT_SECRET"),
        ({"client_secret": "a\nb"}, "BEARERGUARD_CLIENT_SECRET"),
        ({"client_secret": 3}, "BEARERGUARD_CLIENT_SECRET"),
        ({"client_auth": "private_key_jwt"}, "BEARERGUARD_CLIENT_AUTH"),
        ({"client_auth": "none"}, "BEARERGUARD_CLIENT_AUTH"),
        ({"introspection_cache_ttl": -1}, "BEARERGUARD_INTROSPECTION_CACHE_TTL"),
        ({"introspection_cache_ttl": 86401}, "BEARERGUARD_INTROSPECTION_CACHE_TTL"),
        ({"introspection_cache_ttl": "never"}, "BEARERGUARD_INTROSPECTION_CACHE_TTL"),
        ({"provider": "google"}, "BEARERGUARD_PROVIDER"),
        ({"provider": ""}, "BEARERGUARD_PROVIDER"),
        ({"issuer": TENANT_ISS, "tenants": "*,contoso"}, "BEARERGUARD_TENANTS"),
        ({"issuer": TENANT_ISS, "tenants": "ten ant"}, "BEARERGUARD_TENANTS"),
        ({"issuer": TENANT_ISS, "tenants": "a/b"}, "BEARERGUARD_TENANTS"),
        ({"issuer": TENANT_ISS, "tenants": 7}, "BEARERGUARD_TENANTS"),
    ],
)
def test_new_setting_refused(overrides: dict[str, Any], setting: str) -> None:
    with pytest.raises(SettingError) as caught:
        make(**overrides)
    assert caught.value.setting == setting
    assert setting in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_audience_defaults_to_resource() -> None:
    s = Settings(issuer=ISS, resource="https://api.example.com/v1")
    assert s.audience == ("https://api.example.com/v1",)
    assert s.audiences == ("https://api.example.com/v1",)
    s = Settings(issuer=ISS, audience="urn:api", resource="https://api.example.com/v1")
    assert s.audience == ("urn:api",)
    with pytest.raises(SettingError) as caught:
        Settings(issuer=ISS)
    assert (caught.value.setting, caught.value.missing) == ("BEARERGUARD_AUDIENCE", True)


def test_issuer_missing_is_flagged() -> None:
    with pytest.raises(SettingError) as caught:
        Settings(audience=AUD)
    assert (caught.value.setting, caught.value.missing) == ("BEARERGUARD_ISSUER", True)
    with pytest.raises(SettingError) as caught:
        make(issuer="not-a-url")
    assert (caught.value.setting, caught.value.missing) == ("BEARERGUARD_ISSUER", False)


def test_dpop_nonce_needs_a_secret_unless_the_store_is_redis() -> None:
    with pytest.raises(SettingError) as caught:
        make(dpop_nonce="on")
    assert (caught.value.setting, caught.value.missing) == ("BEARERGUARD_DPOP_NONCE_SECRET", True)
    assert make(dpop_nonce="on", store="redis://localhost:6379/0").dpop_nonce_secret is None
    assert make(dpop_nonce="on", store="rediss://cache.example.com").dpop_nonce is True
    assert make(dpop_nonce="off", dpop_nonce_secret=SECRET).dpop_nonce_secret == SECRET.encode()


def test_opaque_tokens_need_client_credentials() -> None:
    with pytest.raises(SettingError) as caught:
        make(token_formats="opaque")
    assert (caught.value.setting, caught.value.missing) == ("BEARERGUARD_CLIENT_ID", True)
    with pytest.raises(SettingError) as caught:
        make(token_formats="jwt,opaque", client_id="api-client")
    assert (caught.value.setting, caught.value.missing) == ("BEARERGUARD_CLIENT_SECRET", True)
    with pytest.raises(SettingError) as caught:
        make(token_formats="opaque", client_secret="introspection-secret")
    assert caught.value.setting == "BEARERGUARD_CLIENT_ID"
    assert make(token_formats="opaque", **CLIENT).client_secret == "introspection-secret"
    assert make(token_formats="jwt").client_id is None


def test_tenants_go_with_a_tenantid_issuer() -> None:
    with pytest.raises(SettingError) as caught:
        make(tenants="contoso")
    assert (caught.value.setting, caught.value.missing) == ("BEARERGUARD_TENANTS", False)
    with pytest.raises(SettingError) as caught:
        make(issuer=TENANT_ISS)
    assert (caught.value.setting, caught.value.missing) == ("BEARERGUARD_TENANTS", True)
    with pytest.raises(SettingError) as caught:
        make(issuer="{tenantid}", tenants="*")
    assert caught.value.setting == "BEARERGUARD_ISSUER"
    s = make(issuer=f"{ISS},{TENANT_ISS}", tenants="*")
    assert s.issuer == (ISS, TENANT_ISS)


@pytest.mark.parametrize(
    ("overrides", "secret"),
    [
        ({"client_secret": "hunter2\u00e9"}, "hunter2"),
        ({"store": "redis://user:hunter2@cache:port/0"}, "hunter2"),
        ({"store": "redis://user:hunter2@cache/db"}, "hunter2"),
        ({"dpop_nonce_secret": "hunter2-too-short"}, "hunter2"),
        ({"resource": "http://user:hunter2@api.example.com"}, "hunter2"),
        ({"introspection_uri": "https://id:hunter2@as.example.com/x"}, "hunter2"),
        ({"algorithms": "HS256", "shared_secret": "hunter2-too-short"}, "hunter2"),
    ],
)
def test_messages_never_repeat_a_secret(overrides: dict[str, Any], secret: str) -> None:
    with pytest.raises(SettingError) as caught:
        make(**overrides)
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)


def test_secrets_hidden_from_repr() -> None:
    s = make(token_formats="opaque", dpop_nonce="on", dpop_nonce_secret="n" * 32, **CLIENT)
    assert "n" * 32 not in repr(s)
    assert "introspection-secret" not in repr(s)
    assert "api-client" in repr(s)


def test_from_env_reads_every_new_setting() -> None:
    env = {
        "BEARERGUARD_ISSUER": TENANT_ISS,
        "BEARERGUARD_DPOP": "required",
        "BEARERGUARD_DPOP_ALGORITHMS": "ES256,EdDSA",
        "BEARERGUARD_DPOP_NONCE": "on",
        "BEARERGUARD_DPOP_NONCE_SECRET": "n" * 32,
        "BEARERGUARD_DPOP_MAX_AGE": "120",
        "BEARERGUARD_STORE": "redis://127.0.0.1:6379/3",
        "BEARERGUARD_RESOURCE": "https://api.example.com/v1",
        "BEARERGUARD_SCOPES_SUPPORTED": "read:messages,write:messages",
        "BEARERGUARD_RESOURCE_NAME": "Messages API",
        "BEARERGUARD_RESOURCE_DOCUMENTATION": "https://docs.example.com/api",
        "BEARERGUARD_TOKEN_FORMATS": "jwt,opaque",
        "BEARERGUARD_INTROSPECTION_URI": "https://as.example.com/introspect",
        "BEARERGUARD_CLIENT_ID": "api-client",
        "BEARERGUARD_CLIENT_SECRET": "introspection-secret",
        "BEARERGUARD_CLIENT_AUTH": "client_secret_post",
        "BEARERGUARD_INTROSPECTION_CACHE_TTL": "30",
        "BEARERGUARD_PROVIDER": "entra",
        "BEARERGUARD_TENANTS": "contoso,fabrikam",
        "BEARERGUARD_TOKEN_CACHE_SIZE": "7",
        "BEARERGUARD_PROTECTED_PATHS": "/api/,/admin",
        "BEARERGUARD_EXEMPT_PATHS": "/api/public",
    }
    s = Settings.from_env(env)
    assert s.issuer == (TENANT_ISS,)
    assert s.audience == ("https://api.example.com/v1",)
    assert s.dpop == "required"
    assert s.dpop_algorithms == ("ES256", "EdDSA")
    assert s.dpop_nonce is True
    assert s.dpop_nonce_secret == b"n" * 32
    assert s.dpop_max_age == 120
    assert s.store == "redis://127.0.0.1:6379/3"
    assert s.resource == "https://api.example.com/v1"
    assert s.scopes_supported == ("read:messages", "write:messages")
    assert s.resource_name == "Messages API"
    assert s.resource_documentation == "https://docs.example.com/api"
    assert s.token_formats == ("jwt", "opaque")
    assert s.introspection_uri == "https://as.example.com/introspect"
    assert s.client_id == "api-client"
    assert s.client_secret == "introspection-secret"
    assert s.client_auth == "client_secret_post"
    assert s.introspection_cache_ttl == 30
    assert s.provider == "entra"
    assert s.tenants == ("contoso", "fabrikam")
    assert s.token_cache_size == 7
    assert s.protected_paths == ("/api", "/admin")
    assert s.exempt_paths == ("/api/public",)


def test_every_field_is_documented_and_named() -> None:
    names = [f.name for f in FIELDS]
    assert names == [f.name for f in dataclasses.fields(Settings)]
    assert len(set(names)) == len(names)
    envs = [f.env for f in FIELDS]
    assert len(set(envs)) == len(envs)
    for f in FIELDS:
        assert f.env == "BEARERGUARD_" + f.name.upper()
        assert re.fullmatch(r"BEARERGUARD_[A-Z0-9_]+", f.env)
        assert f.description.strip() and "\n" not in f.description
        assert f.description == f.description.strip()
        # The default is already normalized (issuer has none: it is required).
        if f.name != "issuer":
            assert f.parse(f.default) == f.default
        # Every BEARERGUARD_* name is read by from_mapping (an unknown one would raise).
        Settings.from_mapping({f.env: None, "BEARERGUARD_ISSUER": ISS, "BEARERGUARD_AUDIENCE": AUD})
    secret = {f.name for f in FIELDS if f.secret}
    assert secret == {"shared_secret", "dpop_nonce_secret", "client_secret"}
    assert {f.name for f in dataclasses.fields(Settings) if not f.repr} == secret


def test_setting_error() -> None:
    err = SettingError("BEARERGUARD_LEEWAY", "must be a number")
    assert isinstance(err, ValueError)
    assert err.setting == "BEARERGUARD_LEEWAY"
    assert err.missing is False
    assert str(err) == "BEARERGUARD_LEEWAY: must be a number"
    err = SettingError("BEARERGUARD_ISSUER", "BEARERGUARD_ISSUER is required", missing=True)
    assert str(err) == "BEARERGUARD_ISSUER is required"
    assert err.missing is True
    with pytest.raises(SettingError) as caught:
        make(leeway="soon")
    assert str(caught.value) == "BEARERGUARD_LEEWAY must be a number of seconds"


def test_normalized_values_parse_to_themselves() -> None:
    # dataclasses.replace() runs every parser again on the normalized values.
    s = make(
        issuer=f"{ISS},{TENANT_ISS}",
        tenants="contoso",
        audience=(),
        resource="http://localhost:8000/api",
        algorithms="RS256,HS256",
        shared_secret=SECRET,
        leeway="5",
        dpop="required",
        dpop_nonce="on",
        dpop_nonce_secret="n" * 32,
        token_formats="opaque,jwt",
        protected_paths="/api/",
        **CLIENT,
    )
    assert dataclasses.replace(s) == s
    assert dataclasses.replace(s, provider="okta").provider == "okta"
