"""Attack corpus, keys and algorithms: each known JWT attack with the exact refusal it gets.

Every refusal is checked byte for byte (status, WWW-Authenticate, JSON body) and the token
must not appear in the exception's str/repr or its chained causes. Claims-side attacks are
in test_attacks_claims.py.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import warnings
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from joserfc.errors import SecurityWarning

from bearerguard import Verifier
from bearerguard.testing import Issuer, IssuerKey

from ._contract import assert_exact
from ._helpers import (
    NOW,
    b64,
    compact,
    good_claims,
    header_for,
    jwks_verifier,
    now_claims,
    refuse,
    static_verifier,
)

SECRET = b"a-shared-secret-of-at-least-32-bytes!!"


# -- alg none ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", [b"", b"sig", b"\x00" * 256])
def test_alg_none_every_casing(issuer: Issuer, alg: str, signature: bytes) -> None:
    issuer.reset_counters()
    token = compact(header_for(issuer.current_key, alg), good_claims(issuer), signature)
    assert_exact(refuse(jwks_verifier(issuer), token), "alg_none")
    assert issuer.jwks_fetches == 0  # refused before any key lookup


def test_alg_none_with_real_rs256_signature(issuer: Issuer) -> None:
    good = issuer.token()
    _, p, s = good.split(".")
    none_header = b64(json.dumps(header_for(issuer.current_key, "none")).encode())
    assert_exact(refuse(jwks_verifier(issuer), f"{none_header}.{p}.{s}"), "alg_none")


# -- HS256 with the public key as the secret (algorithm confusion) ------------------------


def _public_forms(key: IssuerKey) -> dict[str, bytes]:
    jwk = key.public_jwk
    return {
        "spki_pem": key.public_pem(),
        "spki_pem_stripped": key.public_pem().strip(),
        "pkcs1_pem": key.public_pkcs1_pem(),
        "der": key.public_der(),
        "pkcs1_der": key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        ),
        "jwk_json": json.dumps(jwk).encode(),
        "jwk_json_compact": json.dumps(jwk, separators=(",", ":")).encode(),
        "jwk_json_sorted": json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode(),
        "jwks_json": json.dumps({"keys": [jwk]}).encode(),
    }


FORMS = [
    "spki_pem", "spki_pem_stripped", "pkcs1_pem", "der", "pkcs1_der",
    "jwk_json", "jwk_json_compact", "jwk_json_sorted", "jwks_json",
]  # fmt: skip


def _hs_token(issuer: Issuer, secret: bytes, alg: str = "HS256") -> str:
    key = issuer.current_key
    header = b64(json.dumps(header_for(key, alg)).encode())
    payload = b64(json.dumps(good_claims(issuer)).encode())
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    sig = hmac.new(secret, f"{header}.{payload}".encode(), digest).digest()
    return f"{header}.{payload}.{b64(sig)}"


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hs_with_public_key_refused_without_shared_secret(
    issuer: Issuer, form: str, alg: str
) -> None:
    issuer.reset_counters()
    token = _hs_token(issuer, _public_forms(issuer.current_key)[form], alg)
    assert_exact(refuse(jwks_verifier(issuer), token), "alg_not_allowed")
    assert issuer.jwks_fetches == 0


@pytest.mark.parametrize("form", FORMS)
def test_hs_with_public_key_refused_with_a_real_shared_secret(issuer: Issuer, form: str) -> None:
    v = jwks_verifier(issuer, algorithms=("RS256", "HS256"), shared_secret=SECRET)
    token = _hs_token(issuer, _public_forms(issuer.current_key)[form])
    assert_exact(refuse(v, token), "bad_signature")
    # Control: the same verifier accepts a token HMAC'd with the real secret.
    assert v.verify(_hs_token(issuer, SECRET)).subject == "user-1"


def test_issuer_sign_builds_the_confusion_token_too(issuer: Issuer) -> None:
    # Issuer.sign with an asymmetric key and an HS* alg uses the public PEM as the secret.
    token = issuer.sign(header_for(issuer.current_key, "HS256"), good_claims(issuer))
    assert_exact(refuse(jwks_verifier(issuer), token), "alg_not_allowed")


# -- keys that must not be used ----------------------------------------------------------


def test_kid_of_a_published_encryption_key(fresh_issuer: Issuer) -> None:
    enc = fresh_issuer.new_key("RS256", use="enc")
    token = fresh_issuer.token(key=enc, kid=enc.kid)
    assert enc.kid in {k["kid"] for k in fresh_issuer.jwks()["keys"]}
    assert_exact(refuse(jwks_verifier(fresh_issuer), token), "unknown_kid")


@pytest.mark.parametrize(
    "overrides", [{"use": "enc"}, {"key_ops": ["encrypt"]}, {"key_ops": "verify"}, {"use": "SIG"}]
)
def test_kid_of_an_extra_jwks_non_signing_key(
    fresh_issuer: Issuer, overrides: dict[str, Any]
) -> None:
    hidden = fresh_issuer.new_key("RS256", publish=False)
    fresh_issuer.extra_jwks = [{**hidden.public_jwk, **overrides}]
    token = fresh_issuer.token(key=hidden, kid=hidden.kid)
    assert_exact(refuse(jwks_verifier(fresh_issuer), token), "unknown_kid")


def test_symmetric_key_in_the_jwks_is_never_used(fresh_issuer: Issuer) -> None:
    fresh_issuer.extra_jwks = [{"kty": "oct", "kid": "shared", "k": b64(SECRET), "alg": "HS256"}]
    v = jwks_verifier(fresh_issuer, algorithms=("RS256", "HS256"), shared_secret=b"x" * 32)
    token = _hs_token(fresh_issuer, SECRET)
    assert_exact(refuse(v, token), "bad_signature")


def test_weak_1024_bit_rsa_key_as_deployed(fresh_issuer: Issuer) -> None:
    # A deployment does not turn warnings into errors: joserfc's SecurityWarning is ignored.
    weak = fresh_issuer.new_key("RS256", size=1024)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        v = static_verifier(fresh_issuer)
    assert_exact(refuse(v, fresh_issuer.token(key=weak)), "weak_key")


def test_weak_1024_bit_rsa_key_under_warnings_as_errors(fresh_issuer: Issuer) -> None:
    weak = fresh_issuer.new_key("RS256", size=1024)
    assert_exact(refuse(static_verifier(fresh_issuer), fresh_issuer.token(key=weak)), "weak_key")


def test_weak_1024_bit_rsa_key_from_a_jwks_is_refused(fresh_issuer: Issuer) -> None:
    weak = fresh_issuer.new_key("RS256", size=1024)
    err = refuse(jwks_verifier(fresh_issuer), fresh_issuer.token(key=weak))
    assert err.status_code == 401 and err.reason in ("weak_key", "unknown_kid")


def test_der_encoded_ecdsa_signature(fresh_issuer: Issuer) -> None:
    es = fresh_issuer.new_key("ES256")
    h = b64(json.dumps(header_for(es)).encode())
    p = b64(json.dumps(now_claims(fresh_issuer)).encode())
    pk = es.private_key
    assert isinstance(pk, ec.EllipticCurvePrivateKey)
    der = pk.sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))  # RFC 7518 §3.4 wants R||S
    v = static_verifier(fresh_issuer)
    assert_exact(refuse(v, f"{h}.{p}.{b64(der)}"), "bad_signature")
    assert v.verify(fresh_issuer.sign(header_for(es), now_claims(fresh_issuer))).subject == "user-1"


# -- keys injected through the token header ------------------------------------------------


def _self_signed_x5c(key: IssuerKey) -> list[str]:
    pk = key.private_key
    assert isinstance(pk, rsa.RSAPrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(pk.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(pk, hashes.SHA256())
    )
    return [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]


def _injections(attacker: Issuer) -> dict[str, dict[str, Any]]:
    evil = attacker.current_key
    return {
        "jku": {"jku": attacker.jwks_uri},
        "x5u": {"x5u": attacker.url + "/cert.pem"},
        "jwk": {"jwk": evil.public_jwk},
        "x5c": {"x5c": _self_signed_x5c(evil)},
        "all": {
            "jku": attacker.jwks_uri,
            "x5u": attacker.url + "/cert.pem",
            "jwk": evil.public_jwk,
            "x5c": _self_signed_x5c(evil),
        },
    }


@pytest.mark.parametrize("where", ["jku", "x5u", "jwk", "x5c", "all"])
@pytest.mark.parametrize(
    ("kid", "reason"), [("attacker", "unknown_kid"), ("victim", "bad_signature")]
)
def test_header_keys_are_ignored(
    issuer: Issuer, attacker: Issuer, where: str, kid: str, reason: str
) -> None:
    issuer.reset_counters()
    evil = attacker.current_key
    header = header_for(evil, **_injections(attacker)[where])
    if kid == "victim":
        header["kid"] = issuer.current_key.kid
    token = attacker.sign(header, good_claims(issuer), key=evil)
    v = jwks_verifier(issuer)
    assert_exact(refuse(v, token), reason)
    assert (attacker.jwks_fetches, attacker.discovery_fetches) == (0, 0)
    assert issuer.jwks_fetches == 1  # our own JWKS, once


def test_header_key_without_kid_is_ignored(issuer: Issuer, attacker: Issuer) -> None:
    evil = attacker.current_key
    header = {"alg": "RS256", "typ": "at+jwt", **_injections(attacker)["all"]}
    token = attacker.sign(header, good_claims(issuer), key=evil)
    assert_exact(refuse(jwks_verifier(issuer), token), "bad_signature")
    assert (attacker.jwks_fetches, attacker.discovery_fetches) == (0, 0)


def test_discovery_verifier_never_follows_the_token(issuer: Issuer, attacker: Issuer) -> None:
    # No jwks_uri: keys come from the configured issuer's metadata, never from iss or jku.
    evil = attacker.current_key
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience)
    header = header_for(evil, jku=attacker.jwks_uri)
    token = attacker.sign(header, good_claims(issuer), key=evil)
    assert_exact(refuse(v, token), "unknown_kid")
    token = attacker.sign(header, good_claims(attacker), key=evil)  # iss = the attacker
    assert_exact(refuse(v, token), "invalid_issuer")  # no key source for an unknown issuer
    assert (attacker.jwks_fetches, attacker.discovery_fetches) == (0, 0)


# -- header parameters we do not understand ------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["exp"], "exp": NOW + 300},
        {"crit": ["http://example.com/x"], "http://example.com/x": True},
        {"crit": []},
        {"crit": "b64"},
        {"b64": False, "crit": ["b64"]},
        {"b64": False},
        {"b64": True},
    ],
)
def test_crit_and_b64_are_refused(issuer: Issuer, extra: dict[str, Any]) -> None:
    token = issuer.sign(header_for(issuer.current_key, **extra), good_claims(issuer))
    assert_exact(refuse(jwks_verifier(issuer), token), "crit_unsupported")


def test_unencoded_payload_b64_false(issuer: Issuer) -> None:
    # RFC 7797: the payload travels unencoded; we refuse before reading it.
    header = b64(json.dumps(header_for(issuer.current_key, b64=False, crit=["b64"])).encode())
    token = f"{header}.{json.dumps(good_claims(issuer))}.{b64(b'sig')}"
    err = refuse(jwks_verifier(issuer), token)
    assert err.status_code == 401
    assert err.reason in ("crit_unsupported", "malformed_token")


def test_jwe_is_refused(issuer: Issuer) -> None:
    header = b64(json.dumps({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "x"}).encode())
    assert_exact(refuse(jwks_verifier(issuer), f"{header}.a.b.c.d"), "jwe_not_supported")
    assert_exact(refuse(jwks_verifier(issuer), f"{header}.a.b"), "jwe_not_supported")
