"""The test issuer's token endpoint (client credentials, RFC 8707) and introspection endpoint."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest

from bearerguard import Verifier
from bearerguard.testing import Issuer
from bearerguard.testing.cli import main as cli_main

AUD = "https://api.example.com"
RESOURCE = "https://mcp.example.com/mcp"
SECRET = "top secret:+/"
FORM = "application/x-www-form-urlencoded"


def basic(client_id: str, secret: str) -> str:
    # RFC 6749 §2.3.1: form-urlencode, then base64.
    pair = f"{urllib.parse.quote_plus(client_id)}:{urllib.parse.quote_plus(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def post(
    url: str, form: list[tuple[str, str]], authorization: str | None = None
) -> tuple[int, Message[str, str], dict[str, Any]]:
    headers = {"Content-Type": FORM}
    if authorization is not None:
        headers["Authorization"] = authorization
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.headers, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, json.loads(err.read())


def payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    doc: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return doc


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD, algs=("ES256",), mint_endpoint=True) as iss:
        iss.register_client("agent", SECRET, scopes=["read:messages", "write:messages"])
        yield iss


def test_metadata_advertises_only_served_endpoints(issuer: Issuer) -> None:
    with urllib.request.urlopen(issuer.url + "/.well-known/openid-configuration") as resp:
        doc = json.loads(resp.read())
    assert "authorization_endpoint" not in doc
    assert doc["token_endpoint"] == issuer.url + "/token"
    assert doc["introspection_endpoint"] == issuer.url + "/introspect"
    assert doc["grant_types_supported"] == ["client_credentials"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(issuer.url + "/authorize")
    assert info.value.code == 404
    info.value.close()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(issuer.url + "/token")
    assert info.value.code == 405
    assert info.value.headers["Allow"] == "POST"
    info.value.close()


def test_client_credentials_with_resource(issuer: Issuer) -> None:
    status, headers, doc = post(
        issuer.url + "/token",
        [("grant_type", "client_credentials"), ("scope", "read:messages"), ("resource", RESOURCE)],
        basic("agent", SECRET),
    )
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"  # RFC 6749 §5.1
    assert headers["Pragma"] == "no-cache"
    assert set(doc) == {"access_token", "token_type", "expires_in", "scope"}
    assert doc["token_type"] == "Bearer"
    assert doc["expires_in"] == 300
    assert doc["scope"] == "read:messages"
    claims = payload(doc["access_token"])
    assert claims["aud"] == RESOURCE
    assert claims["sub"] == "agent"
    assert claims["client_id"] == "agent"
    assert claims["iss"] == issuer.issuer
    assert claims["exp"] - claims["iat"] == 300
    verifier = Verifier(issuer=issuer.issuer, audience=RESOURCE, jwks_uri=issuer.jwks_uri)
    token = verifier.verify(doc["access_token"])
    assert token.scopes == frozenset({"read:messages"})
    assert issuer.token_calls == 1


def test_client_secret_post_default_scopes_and_audience(issuer: Issuer) -> None:
    status, _, doc = post(
        issuer.url + "/token",
        [("grant_type", "client_credentials"), ("client_id", "agent"), ("client_secret", SECRET)],
    )
    assert status == 200
    assert doc["scope"] == "read:messages write:messages"
    assert payload(doc["access_token"])["aud"] == AUD


def test_two_resources_give_two_audiences(issuer: Issuer) -> None:
    _, _, doc = post(
        issuer.url + "/token",
        [
            ("grant_type", "client_credentials"),
            ("resource", RESOURCE),
            ("resource", "https://other.example.com/"),
        ],
        basic("agent", SECRET),
    )
    assert payload(doc["access_token"])["aud"] == [RESOURCE, "https://other.example.com/"]


@pytest.mark.parametrize(
    "authorization",
    [basic("agent", "wrong"), basic("nobody", SECRET), "Basic !!!", "Basic " + "YWdlbnQ="],
)
def test_bad_client_credentials(issuer: Issuer, authorization: str) -> None:
    status, headers, doc = post(
        issuer.url + "/token", [("grant_type", "client_credentials")], authorization
    )
    assert status == 401
    assert doc["error"] == "invalid_client"
    assert headers["WWW-Authenticate"] == 'Basic realm="bearerguard-test-issuer"'
    assert headers["Cache-Control"] == "no-store"


def test_no_client_authentication(issuer: Issuer) -> None:
    status, _, doc = post(issuer.url + "/token", [("grant_type", "client_credentials")])
    assert (status, doc["error"]) == (401, "invalid_client")


def test_two_authentication_methods(issuer: Issuer) -> None:
    status, _, doc = post(
        issuer.url + "/token",
        [("grant_type", "client_credentials"), ("client_id", "agent"), ("client_secret", SECRET)],
        basic("agent", SECRET),
    )
    assert (status, doc["error"]) == (400, "invalid_request")  # RFC 6749 §2.3


def test_scope_not_allowed(issuer: Issuer) -> None:
    status, headers, doc = post(
        issuer.url + "/token",
        [("grant_type", "client_credentials"), ("scope", "read:messages admin")],
        basic("agent", SECRET),
    )
    assert status == 400
    assert doc["error"] == "invalid_scope"
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ([], "invalid_request"),
        ([("grant_type", "password")], "unsupported_grant_type"),
        ([("grant_type", "client_credentials"), ("resource", "/relative")], "invalid_target"),
        ([("grant_type", "client_credentials"), ("resource", RESOURCE + "#f")], "invalid_target"),
        ([("grant_type", "client_credentials"), ("scope", "a"), ("scope", "b")], "invalid_request"),
    ],
)
def test_bad_requests(issuer: Issuer, form: list[tuple[str, str]], error: str) -> None:
    status, _, doc = post(issuer.url + "/token", form, basic("agent", SECRET))
    assert (status, doc["error"]) == (400, error)


def test_introspection_endpoint(issuer: Issuer) -> None:
    opaque = issuer.opaque_token("alice", ["read:messages"], expires_in=60)
    status, headers, doc = post(
        issuer.url + "/introspect", [("token", opaque)], basic("agent", SECRET)
    )
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert doc == {
        "active": True,
        "iss": issuer.issuer,
        "sub": "alice",
        "aud": AUD,
        "client_id": "test-client",
        "token_type": "Bearer",
        "iat": doc["iat"],
        "exp": doc["iat"] + 60,
        "scope": "read:messages",
    }
    assert issuer.revoke(opaque) is True
    assert issuer.revoke("never-issued") is False
    _, _, doc = post(
        issuer.url + "/introspect",
        [("token", opaque), ("client_id", "agent"), ("client_secret", SECRET)],
    )
    assert doc == {"active": False}
    status, headers, doc = post(
        issuer.url + "/introspect", [("token", opaque)], basic("agent", "x")
    )
    assert (status, doc["error"]) == (401, "invalid_client")  # RFC 7662 §2.3
    status, _, doc = post(issuer.url + "/introspect", [], basic("agent", SECRET))
    assert (status, doc["error"]) == (400, "invalid_request")
    assert issuer.introspection_calls == 4


def test_introspection_outage_switch(issuer: Issuer) -> None:
    issuer.introspection_behaviour = "error"
    status, headers, _ = post(issuer.url + "/introspect", [("token", "t")], basic("agent", SECRET))
    assert status == 503
    assert headers["Retry-After"] == "1"


def test_cli_mints_opaque_token(issuer: Issuer, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["token", "--issuer-url", issuer.url, "--opaque", "--scope", "a b"]) == 0
    token = capsys.readouterr().out.strip()
    assert "." not in token  # not a JWT
    _, _, doc = post(issuer.url + "/introspect", [("token", token)], basic("agent", SECRET))
    assert doc["active"] is True
    assert doc["scope"] == "a b"
    assert doc["sub"] == "user-1"


def test_revocation_endpoint(issuer: Issuer) -> None:
    doc = json.loads(
        urllib.request.urlopen(issuer.url + "/.well-known/openid-configuration").read()
    )
    assert doc["revocation_endpoint"] == issuer.url + "/revoke"
    assert doc["revocation_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    issuer.register_client("other", "other-secret")
    mine = issuer.opaque_token("alice", claims={"client_id": "agent"})
    jwt = issuer.token("alice", client_id="agent")
    theirs = issuer.opaque_token("bob", claims={"client_id": "other"})
    revoke = issuer.url + "/revoke"
    # RFC 7009 §2.1: only the client the token was issued to may revoke it.
    status, _, doc = post(revoke, [("token", theirs)], basic("agent", SECRET))
    assert (status, doc) == (
        400,
        {
            "error": "invalid_request",
            "error_description": "the token was not issued to this client",
        },
    )
    status, headers, doc = post(
        revoke, [("token", mine), ("token_type_hint", "refresh_token")], basic("agent", SECRET)
    )
    assert (status, doc, headers["Cache-Control"]) == (200, {}, "no-store")
    status, _, doc = post(
        revoke, [("token", jwt), ("client_id", "agent"), ("client_secret", SECRET)]
    )
    assert (status, doc) == (200, {})
    # RFC 7009 §2.2: an unknown token is no error.
    assert post(revoke, [("token", "never-issued")], basic("agent", SECRET))[:3:2] == (200, {})
    for token, active in ((mine, False), (jwt, False), (theirs, True)):
        _, _, doc = post(
            issuer.url + "/introspect", [("token", token)], basic("other", "other-secret")
        )
        assert doc["active"] is active
    status, _, doc = post(revoke, [("token", theirs)], basic("agent", "wrong"))
    assert (status, doc["error"]) == (401, "invalid_client")
    status, _, doc = post(revoke, [], basic("agent", SECRET))
    assert (status, doc["error"]) == (400, "invalid_request")
    status, _, doc = post(revoke, [("token", mine), ("token", jwt)], basic("agent", SECRET))
    assert (status, doc["error"]) == (400, "invalid_request")
