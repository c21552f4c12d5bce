"""Settings: every bad value fails at construction, naming its BEARERGUARD_* setting."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from bearerguard import Settings, Verifier
from bearerguard.settings import DEFAULT_ALGORITHMS

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
        pytest.param({"algorithms": ("HS256",)}, "BEARERGUARD_SHARED_SECRET", id="hs-no-secret"),
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
    with pytest.raises(ValueError, match=re.escape(setting)):
        make(**overrides)
    # The verifier's keyword form validates the same way.
    with pytest.raises(ValueError, match=re.escape(setting)):
        Verifier(**{"issuer": ISS, "audience": AUD, **overrides})


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
    with pytest.raises(ValueError, match=r"^unknown setting BEARERGUARD_AUDIENCES$"):
        Settings.from_mapping(
            {"BEARERGUARD_ISSUER": ISS, "BEARERGUARD_AUDIENCE": AUD, "BEARERGUARD_AUDIENCES": AUD}
        )


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
    assert s == make()


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
