"""The test issuer (bearerguard.testing.Issuer) over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import re
import socket
import threading
import time
import types
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bearerguard.testing import Issuer, IssuerKey
from bearerguard.testing._server import GARBAGE, HUGE_BYTES

AUD = "https://api.example.com"
NOW = 1_700_000_000


def b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    h, p, s = token.split(".")
    return json.loads(b64d(h)), json.loads(b64d(p)), b64d(s)


def fetch(
    url: str, data: bytes | None = None, timeout: float = 3.0
) -> tuple[int, Message[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, data=data, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, err.read()


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD, algs=("ES256",)) as iss:
        yield iss


@pytest.fixture
def rsa_issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD, algs=("RS256",), path="/tenant-a/", mint_endpoint=True) as iss:
        yield iss


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.SimpleNamespace(time=lambda: NOW + 0.75)
    monkeypatch.setattr("bearerguard.testing.issuer.time", fake)


def test_addresses_and_discovery(rsa_issuer: Issuer) -> None:
    base = f"http://127.0.0.1:{rsa_issuer.port}/tenant-a"
    assert rsa_issuer.url == base
    assert rsa_issuer.issuer == base + "/"
    assert rsa_issuer.jwks_uri == base + "/.well-known/jwks.json"
    expected = {
        "issuer": base + "/",
        "jwks_uri": base + "/.well-known/jwks.json",
        # Only what the issuer serves (issue #15): no /authorize endpoint.
        "token_endpoint": base + "/token",
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "grant_types_supported": ["client_credentials"],
        "introspection_endpoint": base + "/introspect",
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "introspection_signing_alg_values_supported": ["RS256"],  # RFC 9701 §7
        "revocation_endpoint": base + "/revoke",
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    oidc = fetch(base + "/.well-known/openid-configuration")
    rfc8414 = fetch(
        f"http://127.0.0.1:{rsa_issuer.port}/.well-known/oauth-authorization-server/tenant-a"
    )
    for status, headers, body in (oidc, rfc8414):
        assert status == 200
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body) == expected
    assert rsa_issuer.discovery_fetches == 2
    assert rsa_issuer.jwks_fetches == 0


def test_metadata_overrides(issuer: Issuer) -> None:
    issuer.metadata_overrides = {"issuer": "https://evil.example/", "jwks_uri": None}
    _, _, body = fetch(issuer.url + "/.well-known/openid-configuration")
    doc = json.loads(body)
    assert doc["issuer"] == "https://evil.example/"
    assert "jwks_uri" not in doc


def test_jwks_content_and_headers(rsa_issuer: Issuer) -> None:
    key = rsa_issuer.current_key
    assert isinstance(key.private_key, rsa.RSAPrivateKey)
    nums = key.private_key.public_key().public_numbers()
    status, headers, body = fetch(rsa_issuer.jwks_uri)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "max-age=300"
    assert json.loads(body) == {
        "keys": [
            {
                "kty": "RSA",
                "kid": key.kid,
                "use": "sig",
                "alg": "RS256",
                "n": base64.urlsafe_b64encode(nums.n.to_bytes(256, "big")).rstrip(b"=").decode(),
                "e": "AQAB",
            }
        ]
    }
    assert json.loads(body) == rsa_issuer.jwks()
    assert rsa_issuer.jwks_fetches == 1


def test_cache_control_none_and_extra_jwks(issuer: Issuer) -> None:
    issuer.cache_control = None
    issuer.extra_jwks.append({"kty": "foo", "kid": "weird"})
    _, headers, body = fetch(issuer.jwks_uri)
    assert headers["Cache-Control"] is None
    keys = json.loads(body)["keys"]
    assert [k["kid"] for k in keys] == [issuer.current_key.kid, "weird"]
    assert keys[1] == {"kty": "foo", "kid": "weird"}


def test_counters_are_thread_safe(issuer: Issuer) -> None:
    threads = [threading.Thread(target=fetch, args=(issuer.jwks_uri,)) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fetch(issuer.url + "/.well-known/openid-configuration")
    assert (issuer.jwks_fetches, issuer.discovery_fetches) == (12, 1)
    issuer.reset_counters()
    assert (issuer.jwks_fetches, issuer.discovery_fetches) == (0, 0)


def test_unknown_paths_and_methods(issuer: Issuer) -> None:
    assert fetch(issuer.url + "/nope")[0] == 404
    assert fetch(issuer.url + "/mint")[0] == 404  # mint_endpoint defaults to False
    assert fetch(issuer.jwks_uri, data=b"x=1")[0] == 405
    assert issuer.jwks_fetches == 1


def test_behaviour_error_and_outage(issuer: Issuer) -> None:
    disco = issuer.url + "/.well-known/openid-configuration"
    with issuer.outage():
        assert issuer.behaviour == "error"
        assert fetch(issuer.jwks_uri)[0] == 503
        assert fetch(disco)[0] == 503
    assert issuer.behaviour == "ok"
    assert fetch(issuer.jwks_uri)[0] == 200
    assert (issuer.jwks_fetches, issuer.discovery_fetches) == (2, 1)
    with pytest.raises(ValueError, match="behaviour"):
        issuer.behaviour = "broken"


def test_behaviour_garbage_and_empty(issuer: Issuer) -> None:
    issuer.behaviour = "garbage"
    status, _, body = fetch(issuer.jwks_uri)
    assert (status, body) == (200, GARBAGE)
    with pytest.raises(ValueError):
        json.loads(body)
    issuer.behaviour = "empty"
    status, _, body = fetch(issuer.jwks_uri)
    assert (status, json.loads(body)) == (200, {"keys": []})
    # Discovery still points at the (empty) key set.
    _, _, body = fetch(issuer.url + "/.well-known/openid-configuration")
    assert json.loads(body)["jwks_uri"] == issuer.jwks_uri


def test_behaviour_huge(issuer: Issuer) -> None:
    issuer.behaviour = "huge"
    status, headers, body = fetch(issuer.jwks_uri)
    assert status == 200
    assert len(body) > HUGE_BYTES
    assert int(headers["Content-Length"]) == len(body)
    assert json.loads(body)["keys"] == issuer.jwks()["keys"]


def test_behaviour_close(issuer: Issuer) -> None:
    issuer.behaviour = "close"
    with pytest.raises(http.client.RemoteDisconnected):
        fetch(issuer.jwks_uri)
    assert issuer.jwks_fetches == 1


def test_behaviour_hang_and_delay(issuer: Issuer) -> None:
    issuer.behaviour = "hang"
    issuer.delay = 0.4
    with pytest.raises(TimeoutError):
        fetch(issuer.jwks_uri, timeout=0.1)
    issuer.behaviour = "ok"
    issuer.delay = 0.15
    start = time.monotonic()
    assert fetch(issuer.url + "/nope")[0] == 404  # delay applies to every request
    assert time.monotonic() - start >= 0.15


def test_hang_without_delay_is_cut_short_by_stop() -> None:
    iss = Issuer(algs=("ES256",)).start()
    iss.behaviour = "hang"
    result: list[int] = []
    client = threading.Thread(target=lambda: result.append(fetch(iss.jwks_uri, timeout=10)[0]))
    client.start()
    time.sleep(0.2)
    start = time.monotonic()
    iss.stop()
    client.join(5)
    assert time.monotonic() - start < 2
    assert result == [200]


def test_stop_closes_socket_and_start_rebinds() -> None:
    iss = Issuer(algs=("ES256",))
    with pytest.raises(RuntimeError):
        _ = iss.url
    states = []
    with iss:
        port = iss.port
        states.append(iss.running)
    states.append(iss.running)
    assert states == [True, False]
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    iss.start()
    try:
        assert iss.port == port
        assert fetch(iss.jwks_uri)[0] == 200
    finally:
        iss.stop()
    iss.stop()  # idempotent


def test_rotation(issuer: Issuer) -> None:
    first = issuer.current_key
    second = issuer.rotate()
    assert second.alg == "ES256"
    assert issuer.current_key is second
    assert [k.kid for k in issuer.keys] == [first.kid, second.kid]
    assert [k["kid"] for k in json.loads(fetch(issuer.jwks_uri)[2])["keys"]] == [
        first.kid,
        second.kid,
    ]
    assert parts(issuer.token())[0]["kid"] == second.kid
    third = issuer.rotate("EdDSA", remove_old=True)
    assert issuer.keys == [third]
    assert [k["kid"] for k in json.loads(fetch(issuer.jwks_uri)[2])["keys"]] == [third.kid]
    # An unpublished old key still signs when named.
    header, _, sig = parts(issuer.token(kid=first.kid))
    assert (header["alg"], header["kid"], len(sig)) == ("ES256", first.kid, 64)
    issuer.publish(first)
    assert issuer.keys == [third, first]
    issuer.remove_key(third.kid)
    assert issuer.keys == [first]
    with pytest.raises(KeyError):
        issuer.remove_key("missing")


@pytest.mark.usefixtures("frozen")
def test_token_default_claims(rsa_issuer: Issuer) -> None:
    header, payload, sig = parts(rsa_issuer.token())
    assert header == {"alg": "RS256", "kid": rsa_issuer.current_key.kid, "typ": "at+jwt"}
    jti = payload.pop("jti")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", jti)
    assert payload == {
        "iss": rsa_issuer.issuer,
        "sub": "user-1",
        "aud": AUD,
        "iat": NOW,
        "exp": NOW + 300,
        "client_id": "test-client",
        "scope": "read:messages",
    }
    assert len(sig) == 256


@pytest.mark.usefixtures("frozen")
def test_token_options(issuer: Issuer) -> None:
    token = issuer.token(
        "alice",
        ("read:messages", "write:messages"),
        {"tenant": "acme", "client_id": "other"},
        scope_claim="permissions",
        audience=["a", "b"],
        issuer="https://elsewhere/",
        expires_in=60,
        nbf="soon",
        drop=("jti",),
        typ=None,
    )
    header, payload, _ = parts(token)
    assert header == {"alg": "ES256", "kid": issuer.current_key.kid}
    assert payload == {
        "iss": "https://elsewhere/",
        "sub": "alice",
        "aud": ["a", "b"],
        "iat": NOW,
        "nbf": "soon",
        "exp": NOW + 60,
        "client_id": "other",
        "permissions": ["read:messages", "write:messages"],
        "tenant": "acme",
    }
    _, payload, _ = parts(issuer.token(scope_claim="scp", iat="x", exp="y"))
    assert (payload["scp"], payload["iat"], payload["exp"]) == (["read:messages"], "x", "y")
    assert parts(issuer.token(scopes="a b"))[1]["scope"] == "a b"
    header = parts(issuer.token(header={"kid": None, "typ": None, "x5u": "https://h/x"}))[0]
    assert header == {"alg": "ES256", "x5u": "https://h/x"}
    assert parts(issuer.token(kid=""))[0] == {"alg": "ES256", "typ": "at+jwt"}
    assert parts(issuer.token(kid="unknown"))[0]["kid"] == "unknown"


def test_alg_none_and_raw_signature(issuer: Issuer) -> None:
    token = issuer.token(alg="nOnE")
    assert token.endswith(".")
    assert parts(token)[0]["alg"] == "nOnE"
    forged = issuer.sign({"alg": "ES256"}, {"sub": "x"}, raw_signature=b"\x01\x02")
    assert forged == "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.AQI"
    assert issuer.sign(b"not json", "plain", raw_signature=b"") == "bm90IGpzb24.cGxhaW4."
    # No string alg in the header: signed per the issuer's current key.
    assert len(parts(issuer.sign({"alg": 7}, [1, 2]))[2]) == 64
    with pytest.raises(ValueError):
        issuer.sign({"alg": "XY999"}, {}, issuer.current_key)


def test_es256_signature_is_raw_r_s(issuer: Issuer) -> None:
    token = issuer.token()
    signing_input, _, sig_b64 = token.rpartition(".")
    sig = b64d(sig_b64)
    assert len(sig) == 64
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    pub = issuer.current_key.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    pub.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        pub.verify(der, signing_input.encode() + b"x", ec.ECDSA(hashes.SHA256()))
    es512 = issuer.new_key("ES512")
    assert len(parts(issuer.token(key=es512))[2]) == 132


def test_eddsa_rsa_and_pss_signatures_verify(issuer: Issuer) -> None:
    for alg, curve in (("EdDSA", None), ("Ed25519", None), ("EdDSA", "Ed448")):
        key = issuer.new_key(alg, curve=curve)
        signing_input, _, sig = issuer.token(alg=alg, kid=key.kid).rpartition(".")
        pub = key.public_key()
        assert isinstance(pub, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
        pub.verify(b64d(sig), signing_input.encode())
        assert key.public_jwk["crv"] == (curve or "Ed25519")
    rsa_key = issuer.new_key("RS256", size=1024, publish=False)
    assert len(b64d(rsa_key.public_jwk["n"])) == 128
    pub = rsa_key.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)
    signing_input, _, sig = issuer.token(key=rsa_key).rpartition(".")
    pub.verify(b64d(sig), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    signing_input, _, sig = issuer.token(key=rsa_key, alg="PS384").rpartition(".")
    pss = padding.PSS(padding.MGF1(hashes.SHA384()), 48)
    pub.verify(b64d(sig), signing_input.encode(), pss, hashes.SHA384())
    assert rsa_key not in issuer.keys


def test_hs256_secret_and_alg_confusion(issuer: Issuer) -> None:
    shared = issuer.new_key("HS256", secret=b"s" * 32, publish=False)
    signing_input, _, sig = issuer.token(alg="HS256").rpartition(".")
    assert b64d(sig) == hmac.new(b"s" * 32, signing_input.encode(), hashlib.sha256).digest()
    assert shared.public_jwk == {
        "kty": "oct",
        "kid": shared.kid,
        "use": "sig",
        "alg": "HS256",
        "k": "c3Nz" * 10 + "c3M",
    }
    # HS256 with an asymmetric key: its SubjectPublicKeyInfo PEM is the HMAC secret.
    ec_key = issuer.current_key
    token = issuer.sign({"alg": "HS256", "kid": ec_key.kid}, {"sub": "x"}, ec_key)
    signing_input, _, sig = token.rpartition(".")
    assert (
        b64d(sig) == hmac.new(ec_key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    )


def test_key_exports(issuer: Issuer) -> None:
    with pytest.raises(LookupError):
        issuer.token(alg="RS256")  # no RSA key known to this issuer yet
    rsa_key = issuer.new_key("PS256", size=1024, include_alg=False, use=None, kid="k1")
    assert rsa_key.public_jwk.keys() == {"kty", "kid", "n", "e"}
    assert rsa_key.public_pem().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert rsa_key.public_pkcs1_pem().startswith(b"-----BEGIN RSA PUBLIC KEY-----\n")
    loaded = serialization.load_der_public_key(rsa_key.public_der())
    assert loaded.public_numbers() == rsa_key.public_key().public_numbers()  # type: ignore[union-attr]
    ec_key = issuer.new_key("ES384")
    assert (ec_key.public_jwk["crv"], len(b64d(ec_key.public_jwk["x"]))) == ("P-384", 48)
    with pytest.raises(TypeError):
        ec_key.public_pkcs1_pem()
    hs_key = issuer.new_key("HS512", publish=False)
    assert hs_key.secret is not None and len(hs_key.secret) == 64
    with pytest.raises(TypeError):
        hs_key.public_pem()
    assert repr(hs_key) == f"IssuerKey(kid='{hs_key.kid}', alg='HS512')"
    with pytest.raises(ValueError):
        issuer.new_key("XS256")
    assert isinstance(IssuerKey.generate("ES256"), IssuerKey)


@pytest.mark.usefixtures("frozen")
def test_id_token_shape(issuer: Issuer) -> None:
    header, payload, _ = parts(issuer.id_token("alice"))
    assert header == {"alg": "ES256", "kid": issuer.current_key.kid, "typ": "JWT"}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", payload.pop("at_hash"))
    payload.pop("jti")
    assert payload == {
        "iss": issuer.issuer,
        "sub": "alice",
        "aud": "spa-client",
        "azp": "spa-client",
        "iat": NOW,
        "exp": NOW + 300,
        "auth_time": NOW,
        "nonce": "n-0S6_WzA2Mj",
    }


def test_mint_endpoint(rsa_issuer: Issuer) -> None:
    form = urllib.parse.urlencode(
        {
            "sub": "bob",
            "scope": "read:messages write:messages",
            "aud": "https://x",
            "expires_in": "60",
        }
    ).encode()
    status, headers, body = fetch(rsa_issuer.url + "/mint", data=form)
    doc = json.loads(body)
    assert (status, headers["Cache-Control"]) == (200, "no-store")
    assert doc.keys() == {"access_token", "token_type", "expires_in"}
    assert (doc["token_type"], doc["expires_in"]) == ("Bearer", 60)
    header, payload, _ = parts(doc["access_token"])
    assert header["typ"] == "at+jwt"
    assert (payload["sub"], payload["aud"], payload["scope"]) == (
        "bob",
        "https://x",
        "read:messages write:messages",
    )
    assert payload["exp"] - payload["iat"] == 60
    query = urllib.parse.urlencode({"kind": "id", "claims": '{"tenant": "acme"}'})
    doc = json.loads(fetch(rsa_issuer.url + "/mint?" + query)[2])
    header, payload, _ = parts(doc["access_token"])
    assert (header["typ"], payload["aud"], payload["tenant"]) == ("JWT", "spa-client", "acme")
    assert doc["id_token"] == doc["access_token"]
    assert fetch(rsa_issuer.url + "/mint?kind=refresh")[0] == 400
    assert fetch(rsa_issuer.url + "/mint?expires_in=soon")[0] == 400
