"""AccessToken: what the verifier hands the app."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from bearerguard import AccessToken, JWKSKeySource, Verifier
from bearerguard.testing import Issuer
from bearerguard.tokens import read_scopes

ROLES = "https://example.com/roles"


def test_subject_and_standard_claims(issuer: Issuer, verifier: Verifier) -> None:
    token = verifier.verify(issuer.token(sub="auth0|42", exp=4102444800))
    assert token.subject == "auth0|42"
    assert token.issuer == issuer.issuer
    assert token.audience == (issuer.audience,)
    assert token.expires_at == datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
    assert token.token_id == token["jti"]
    assert token.header["alg"] == "RS256"
    assert token.header["typ"] == "at+jwt"


@pytest.mark.parametrize(
    ("scope_claim", "scopes", "expected"),
    [
        ("scope", ("read:messages", "write:messages"), {"read:messages", "write:messages"}),
        ("scp", ("read", "write"), {"read", "write"}),
        ("permissions", ("read:messages",), set()),  # not a default scope claim (issue #13)
        ("scope", (), set()),
        (None, None, set()),
    ],
)
def test_scopes(
    issuer: Issuer,
    verifier: Verifier,
    scope_claim: str | None,
    scopes: tuple[str, ...] | None,
    expected: set[str],
) -> None:
    token = verifier.verify(issuer.token(scopes=scopes, scope_claim=scope_claim))
    assert token.scopes == frozenset(expected)
    assert token.has_scopes(*expected)
    assert not token.has_scopes("admin")


def test_first_present_scope_claim_supplies_the_scopes(issuer: Issuer, verifier: Verifier) -> None:
    # Issue #13: a second claim can never widen what the first grants.
    claims = {"scp": ["read:messages"], "permissions": ["admin"]}
    token = verifier.verify(issuer.token(scopes=("write:messages",), claims=claims))
    assert token.scopes == frozenset({"write:messages"})
    # an empty scope string is present: scp is not read
    token = verifier.verify(issuer.token(scopes=(), claims=claims))
    assert token.scopes == frozenset()
    # no scope: scp supplies them; permissions is not a default scope claim
    token = verifier.verify(issuer.token(scopes=None, claims=claims))
    assert token.scopes == frozenset({"read:messages"})


@pytest.mark.parametrize("value", [None, 42, 1.5, {"a": "b"}, ["a", 3], ["a", None], True])
def test_unusable_scope_value_gives_no_scopes(
    issuer: Issuer, verifier: Verifier, value: object
) -> None:
    # RFC 9068 §2.2.3: scope is a string. An unusable type grants nothing and the token
    # stays valid (as Spring maps it to no authorities); scp is not consulted either.
    token = verifier.verify(issuer.token(scopes=None, claims={"scope": value, "scp": ["x"]}))
    assert token.scopes == frozenset()
    assert token["scope"] == value


def test_scopes_split_on_space_only(issuer: Issuer, verifier: Verifier) -> None:
    # Issue #11 finding 4: RFC 6749 §3.3 scope-tokens are separated by %x20 alone.
    token = verifier.verify(
        issuer.token(scopes=None, claims={"scope": "tenant:acme\u00a0admin  read\tx"})
    )
    assert token.scopes == frozenset({"tenant:acme\u00a0admin", "read\tx"})
    assert "admin" not in token.scopes


def test_scope_claims_setting(issuer: Issuer) -> None:
    source = JWKSKeySource(issuer.jwks_uri, cooldown=0.2, min_ttl=0)
    v = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        key_source=source,
        scope_claims="permissions",
    )
    token = v.verify(issuer.token(scopes=("a",), claims={"permissions": ["p"]}))
    assert token.scopes == frozenset({"p"})


def test_scope_array_in_scope_claim(issuer: Issuer, verifier: Verifier) -> None:
    # Some providers send "scope" as an array; it is accepted.
    token = verifier.verify(issuer.token(scopes=None, claims={"scope": ["x", "y"]}))
    assert token.scopes == frozenset({"x", "y"})


@pytest.mark.parametrize(
    ("claims", "client_id"),
    [
        ({"client_id": "cli"}, "cli"),
        ({"client_id": "cli", "azp": "other"}, "cli"),
        ({"azp": "spa"}, "spa"),
        ({"cid": "okta-app"}, "okta-app"),
        ({"appid": "entra-app"}, "entra-app"),
        ({}, None),
    ],
)
def test_client_id(
    issuer: Issuer, verifier: Verifier, claims: dict[str, Any], client_id: str | None
) -> None:
    token = verifier.verify(issuer.token(client_id=None, claims=claims))
    assert token.client_id == client_id


def test_claims_are_read_only_and_namespaced_claims_readable(
    issuer: Issuer, verifier: Verifier
) -> None:
    token = verifier.verify(issuer.token(claims={ROLES: ["writer"], "tenant": "acme"}))
    assert token[ROLES] == ["writer"]
    assert token.claims[ROLES] == ["writer"]
    assert token.get("tenant") == "acme"
    assert token.get("missing") is None
    assert "tenant" in token and "missing" not in token
    assert set(token) == set(token.claims) and len(token) == len(token.claims)
    with pytest.raises(TypeError):
        token.claims["tenant"] = "evil"  # type: ignore[index]
    with pytest.raises(TypeError):
        token["tenant"] = "evil"  # type: ignore[index]
    with pytest.raises(TypeError):
        token.header["alg"] = "none"  # type: ignore[index]
    with pytest.raises(KeyError):
        token["missing"]
    assert token["tenant"] == "acme"


def test_repr_has_no_token_text(issuer: Issuer, verifier: Verifier) -> None:
    raw = issuer.token(sub="user-7", scopes=("b", "a"), claims={"secret": "s3cr3t-value"})
    token = verifier.verify(raw)
    text = repr(token) + str(token)
    assert repr(token) == "<AccessToken sub='user-7' client_id='test-client' scopes=['a', 'b']>"
    for part in raw.split("."):
        assert part not in text
    assert "s3cr3t-value" not in text
    assert not hasattr(token, "raw")


def test_direct_construction() -> None:
    token = AccessToken(
        {"iss": "https://i.example/", "sub": 5, "aud": None, "exp": 0},
        {"alg": "ES256"},
        frozenset({"x"}),
    )
    assert token.subject is None  # not a string
    assert token.client_id is None
    assert token.audience == ()
    assert token.token_id is None
    assert token.expires_at == datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def test_read_scopes() -> None:
    claims = {"scope": " a  b ", "scp": "c", "permissions": ["d", 1, None, ""], "other": "e"}
    assert read_scopes(claims, ("scope", "scp", "permissions")) == frozenset("ab")
    assert read_scopes(claims, ("scp", "scope")) == frozenset("c")
    assert read_scopes(claims, ("permissions", "scope")) == frozenset()  # holds non-strings
    assert read_scopes({"permissions": ["d", ""]}, ("permissions",)) == frozenset("d")
    assert read_scopes(claims, ("other",)) == frozenset({"e"})
    assert read_scopes(claims, ("missing",)) == frozenset()
    assert read_scopes({"scope": 5, "scp": "x"}, ("scope", "scp")) == frozenset()
