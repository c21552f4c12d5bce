"""Verifier rules: one test per refusal reason, with real keys of every algorithm.

Keys come from real test issuers over HTTP (``issuer`` / ``verifier`` from conftest, and a
module issuer publishing one key per algorithm); static keys are in test_keys.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from bearerguard import AccessToken, InvalidToken, JWKSKeySource, Verifier
from bearerguard.errors import DESCRIPTIONS
from bearerguard.testing import Issuer, IssuerKey
from tests.expect import DPOP_CHALLENGE

ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000

#: Every 401 reason the verifier can produce; each has a test below.
INVALID_TOKEN_REASONS = {
    "token_too_large", "malformed_token", "jwe_not_supported", "alg_none", "alg_not_allowed",
    "crit_unsupported", "unknown_kid", "ambiguous_key", "key_alg_mismatch", "weak_key",
    "bad_signature", "invalid_typ", "invalid_issuer", "invalid_audience", "id_token_presented",
    "expired", "not_yet_valid", "issued_in_future", "missing_claim", "invalid_claim",
}  # fmt: skip
OTHER_REASONS = {
    "missing_token", "empty_token", "malformed_authorization", "multiple_authorization_headers",
    "multiple_tokens", "malformed_parameter", "insufficient_scope", "claim_requirement_failed",
    "keys_unavailable",
    "multiple_credentials",  # Django session + token rule: tests/adapters/django
    "insufficient_role",  # role requirements: tests/core/test_requirements_roles.py
}  # fmt: skip
#: Sender-constrained tokens and DPoP proofs: tests/core/test_dpop.py, tests/core/test_binding.py.
DPOP_REASONS = {
    "bound_token", "dpop_required", "dpop_unbound_token", "store_unavailable",
    "dpop_proof_missing", "dpop_multiple_proofs", "dpop_proof_too_large", "dpop_malformed",
    "dpop_invalid_typ", "dpop_alg_not_allowed", "dpop_crit_unsupported", "dpop_invalid_jwk",
    "dpop_bad_signature", "dpop_missing_claim", "dpop_invalid_claim", "dpop_htm_mismatch",
    "dpop_htu_mismatch", "dpop_ath_mismatch", "dpop_iat_too_old", "dpop_iat_in_future",
    "dpop_key_mismatch", "dpop_replayed", "dpop_nonce_required", "dpop_nonce_stale",
}  # fmt: skip
#: Introspection (RFC 7662): tests/core/test_introspection.py.
INTROSPECTION_REASONS = {"token_inactive", "invalid_token_type", "introspection_unavailable"}
#: RFC 9701 signed introspection answers: tests/core/test_introspection_jwt.py.
SIGNED_INTROSPECTION_REASONS = {
    "introspection_response_unsigned",
    "introspection_response_bad_signature",
    "introspection_response_invalid",
}
#: RFC 9470 step-up: tests/core/test_stepup.py.
STEP_UP_REASONS = {"acr_missing", "acr_not_accepted", "auth_time_missing", "auth_too_old"}
#: Provider presets: tests/core/test_providers.py.
PROVIDER_REASONS = {"okta_org_server", "keycloak_default_audience", "tenant_mismatch"}


def test_every_reason_is_covered() -> None:
    # A new reason in errors.DESCRIPTIONS needs a test here (or in the extract/requirements tests).
    assert set(DESCRIPTIONS) == (
        INVALID_TOKEN_REASONS
        | OTHER_REASONS
        | DPOP_REASONS
        | INTROSPECTION_REASONS
        | SIGNED_INTROSPECTION_REASONS
        | STEP_UP_REASONS
        | PROVIDER_REASONS
    )


@pytest.fixture(scope="module")
def multi() -> Iterator[Issuer]:
    """An issuer publishing one key per algorithm (first = current: RS256)."""
    with Issuer(algs=ALGS) as issuer:
        yield issuer


def jwks_verifier(issuer: Issuer, **options: Any) -> Verifier:
    source = JWKSKeySource(issuer.jwks_uri, cooldown=0.2, min_ttl=0, default_ttl=60)
    options.setdefault("issuer", issuer.issuer)
    options.setdefault("audience", issuer.audience)
    return Verifier(key_source=source, **options)


def both(verifier: Verifier, token: str) -> AccessToken:
    """verify() and verify_async() agree; return the token."""
    got = verifier.verify(token)
    again = asyncio.run(verifier.verify_async(token))
    assert dict(again.claims) == dict(got.claims)
    return got


def assert_refused(verifier: Verifier, token: str, reason: str, realm: str = "api") -> None:
    """Both entry points refuse *token* with exactly this 401 response."""
    description = DESCRIPTIONS[reason]

    async def run_async() -> None:
        await verifier.verify_async(token)

    runners: list[Callable[[], object]] = [
        lambda: verifier.verify(token),
        lambda: asyncio.run(run_async()),
    ]
    for run in runners:
        with pytest.raises(InvalidToken) as info:
            run()
        exc = info.value
        assert exc.reason == reason
        assert exc.status_code == 401
        # The realm is the verifier's, rendered at response time (issue #12).
        dpop = f", {DPOP_CHALLENGE}" if verifier.settings.dpop != "off" else ""
        assert dict(verifier.render(exc)[1])["WWW-Authenticate"] == (
            f'Bearer realm="{realm}", error="invalid_token", error_description="{description}"'
            + dpop
        )
        assert (
            exc.body()
            == json.dumps(
                {"error": "invalid_token", "error_description": description, "reason": reason},
                separators=(",", ":"),
            ).encode()
        )
        if len(token) > 20:  # no token text in anything a log could show
            assert token not in str(exc) + repr(exc) + exc.body().decode()


def claims(issuer: Issuer, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    doc: dict[str, Any] = {"iss": issuer.issuer, "aud": issuer.audience, "sub": "user-1"}
    doc.update({"iat": now, "exp": now + 300, "client_id": "c", "jti": "j1"})
    doc.update(extra)
    return {k: v for k, v in doc.items() if v is not None}


def header(issuer: Issuer, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"alg": "RS256", "kid": issuer.current_key.kid, "typ": "at+jwt"}
    doc.update(extra)
    return {k: v for k, v in doc.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- accepted tokens ---------------------------------------------------------------------


def test_valid_token(issuer: Issuer, verifier: Verifier) -> None:
    token = both(verifier, issuer.token(scopes=("read:messages", "write:messages")))
    assert token.subject == "user-1"
    assert token.scopes == frozenset({"read:messages", "write:messages"})
    assert token.header["kid"] == issuer.current_key.kid
    assert verifier.authenticate("Bearer " + issuer.token()) is not None


@pytest.mark.parametrize("alg", ALGS)
def test_every_algorithm(multi: Issuer, alg: str) -> None:
    token = both(jwks_verifier(multi), multi.token(alg=alg))
    assert token.header["alg"] == alg


def test_ed25519_header_alg_with_eddsa_jwk(multi: Issuer) -> None:
    # RFC 9864: "Ed25519" in a token header is the fully-specified name of EdDSA over Ed25519.
    key = next(k for k in multi.keys if k.alg == "EdDSA")
    assert key.public_jwk["alg"] == "EdDSA"
    token = both(jwks_verifier(multi), multi.token(alg="Ed25519", kid=key.kid))
    assert token.header["alg"] == "Ed25519"


def test_eddsa_header_alg_with_ed25519_jwk() -> None:
    with Issuer(algs=("Ed25519",)) as issuer:
        assert issuer.current_key.public_jwk["alg"] == "Ed25519"
        v = jwks_verifier(issuer)
        both(v, issuer.token(alg="EdDSA"))
        both(v, issuer.token(alg="Ed25519"))


def test_hs256_with_shared_secret(issuer: Issuer) -> None:
    hs = IssuerKey.generate("HS256", secret=SECRET)
    v = Verifier(
        issuer=issuer.issuer, audience=issuer.audience, algorithms="HS256", shared_secret=SECRET
    )
    assert both(v, issuer.token(key=hs, alg="HS256")).subject == "user-1"
    other = IssuerKey.generate("HS256", secret=b"x" * 32)
    assert_refused(v, issuer.token(key=other, alg="HS256"), "bad_signature")


def test_hs256_signed_with_rsa_public_pem_is_refused(issuer: Issuer, verifier: Verifier) -> None:
    # The algorithm-confusion attack: the public PEM used as an HMAC secret.
    forged = issuer.token(alg="HS256", kid=issuer.current_key.kid)
    h64 = forged.split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(h64 + "=" * (-len(h64) % 4)))["alg"] == "HS256"
    assert_refused(verifier, forged, "alg_not_allowed")
    # With a secret configured the PEM is simply the wrong secret.
    v = jwks_verifier(issuer, algorithms="RS256,HS256", shared_secret=SECRET)
    assert_refused(v, forged, "bad_signature")
    both(v, issuer.token())


# -- structure ---------------------------------------------------------------------------


def test_token_too_large(verifier: Verifier) -> None:
    assert_refused(verifier, "a" * 16385, "token_too_large")
    assert_refused(verifier, "a" * 16384, "malformed_token")  # the limit itself is allowed
    # Refused before anything else: this verifier's issuer does not even exist.
    small = Verifier(issuer="https://t.example/", audience="urn:api", max_token_size=256)
    assert_refused(small, "e." * 128 + "e", "token_too_large")


def _malformed(issuer: Issuer) -> dict[str, str]:
    good = issuer.token()
    h64, p64, s64 = good.split(".")
    hdr, body = header(issuer), claims(issuer)
    sign = issuer.sign
    return {
        "empty": "",
        "one-segment": h64,
        "two-segments": f"{h64}.{p64}",
        "four-segments": f"{good}.x",
        "bad-base64-header": f"!!!.{p64}.{s64}",
        "bad-base64-payload": f"{h64}.a*b.{s64}",
        "bad-base64-signature": f"{h64}.{p64}.a$b",
        "padded-header": f"{h64}=.{p64}.{s64}" if len(h64) % 4 else f"{h64}==.{p64}.{s64}",
        "padded-payload": f"{h64}.{p64}=.{s64}",
        "base64-length": f"{h64}.{p64 + 'A' * ((1 - len(p64)) % 4)}.{s64}",
        "standard-base64": f"{h64}.{p64}.{s64.replace('-', '+').replace('_', '/')}+/",
        "header-not-json": sign(b"not json", body, issuer.current_key),
        "payload-not-json": sign(hdr, b"{'sub': 1}"),
        "payload-not-utf8": sign(hdr, b'{"sub":"\xff"}'),
        "header-array": sign(b'["RS256"]', body, issuer.current_key),
        "payload-array": sign(hdr, [body]),
        "payload-string": sign(hdr, b'"x"'),
        "duplicate-header-member": sign(
            b'{"alg":"RS256","alg":"RS256","kid":"%s"}' % issuer.current_key.kid.encode(),
            body,
            issuer.current_key,
        ),
        "duplicate-claim": sign(hdr, json.dumps(body)[:-1].encode() + b',"sub":"admin"}'),
        "nan": sign(hdr, json.dumps(body)[:-1].encode() + b',"exp2":NaN}'),
        "infinity": sign(hdr, json.dumps(body)[:-1].encode() + b',"x":-Infinity}'),
        "deep-nesting": sign(hdr, b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}"),
        "alg-missing": sign(header(issuer, alg=None), body, issuer.current_key),
        "alg-not-string": sign(header(issuer, alg=["RS256"]), body, issuer.current_key),
        "kid-not-string": sign(header(issuer, kid=7), body, issuer.current_key),
    }


MALFORMED_CASES = [
    "empty",
    "one-segment",
    "two-segments",
    "four-segments",
    "bad-base64-header",
    "bad-base64-payload",
    "bad-base64-signature",
    "padded-header",
    "padded-payload",
    "base64-length",
    "standard-base64",
    "header-not-json",
    "payload-not-json",
    "payload-not-utf8",
    "header-array",
    "payload-array",
    "payload-string",
    "duplicate-header-member",
    "duplicate-claim",
    "nan",
    "infinity",
    "deep-nesting",
    "alg-missing",
    "alg-not-string",
    "kid-not-string",
]


@pytest.mark.parametrize("case", MALFORMED_CASES)
def test_malformed_token(issuer: Issuer, verifier: Verifier, case: str) -> None:
    assert_refused(verifier, _malformed(issuer)[case], "malformed_token")


@pytest.mark.parametrize(
    "make",
    [
        lambda i: "a.b.c.d.e",
        lambda i: i.token() + ".x.y",
        lambda i: i.sign({"alg": "RSA-OAEP", "enc": "A256GCM"}, b"x", raw_signature=b"x"),
        lambda i: i.token(header={"enc": "A128CBC-HS256"}),
    ],
    ids=["five-segments", "five-from-jws", "enc-header", "enc-in-signed-header"],
)
def test_jwe_not_supported(
    issuer: Issuer, verifier: Verifier, make: Callable[[Issuer], str]
) -> None:
    assert_refused(verifier, make(issuer), "jwe_not_supported")


# -- header rules --------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", "nonE"])
def test_alg_none(issuer: Issuer, verifier: Verifier, alg: str) -> None:
    token = issuer.sign(header(issuer, alg=alg), claims(issuer))
    assert token.endswith(".")
    assert_refused(verifier, token, "alg_none")
    # A signature tacked on changes nothing.
    assert_refused(verifier, token + "c2ln", "alg_none")


def test_alg_outside_allow_list(issuer: Issuer, multi: Issuer) -> None:
    only_es = jwks_verifier(multi, algorithms="ES256")
    both(only_es, multi.token(alg="ES256"))
    for alg in ("RS256", "PS256", "ES384", "EdDSA", "Ed25519"):
        assert_refused(only_es, multi.token(alg=alg), "alg_not_allowed")
    v = jwks_verifier(issuer)
    for alg in ("HS256", "HS384", "HS512", "Ed448", "RS1", "rs256", "eddsa", "ES256K"):
        token = issuer.sign(header(issuer, alg=alg), claims(issuer), raw_signature=b"sig")
        assert_refused(v, token, "alg_not_allowed")


@pytest.mark.parametrize(
    "extra",
    [
        {"crit": ["exp"], "exp": 1},
        {"crit": []},
        {"crit": ["b64"], "b64": False},
        {"b64": False},
        {"b64": True},
    ],
    ids=["crit-exp", "crit-empty", "b64-crit", "b64-false", "b64-true"],
)
def test_crit_unsupported(issuer: Issuer, verifier: Verifier, extra: dict[str, Any]) -> None:
    assert_refused(verifier, issuer.token(header=extra), "crit_unsupported")


def test_unknown_kid(issuer: Issuer, verifier: Verifier) -> None:
    assert_refused(verifier, issuer.token(kid="no-such-key"), "unknown_kid")


def test_header_keys_are_never_trusted(issuer: Issuer, verifier: Verifier) -> None:
    # RFC 8725 §3.10: jku/x5u/jwk/x5c in a token header never choose the key.
    evil = IssuerKey.generate("RS256")
    planted = {"jwk": evil.public_jwk, "jku": "http://127.0.0.1:9/jwks", "x5u": "http://x/"}
    assert_refused(verifier, issuer.token(key=evil, header=planted), "unknown_kid")
    real_kid = issuer.current_key.kid
    assert_refused(verifier, issuer.token(key=evil, kid=real_kid, header=planted), "bad_signature")


def test_ambiguous_key_without_kid() -> None:
    with Issuer(algs=("RS256", "RS256")) as two:
        assert_refused(jwks_verifier(two), two.token(kid=""), "ambiguous_key")
    with Issuer(algs=("RS256", "ES256")) as mixed:
        # No kid, but only one published key fits the alg: it is used.
        assert "kid" not in both(jwks_verifier(mixed), mixed.token(kid="")).header
        both(jwks_verifier(mixed), mixed.token(kid="", alg="ES256"))


def test_key_alg_mismatch(multi: Issuer) -> None:
    v = jwks_verifier(multi)
    es = next(k for k in multi.keys if k.alg == "ES256")
    rs384 = next(k for k in multi.keys if k.alg == "RS384")
    # An RS256 token naming an EC key.
    assert_refused(v, multi.token(alg="RS256", kid=es.kid), "key_alg_mismatch")
    # An RSA key whose JWK says RS384, used for RS256.
    assert_refused(v, multi.token(alg="RS256", kid=rs384.kid), "key_alg_mismatch")
    # ES256 and ES384 need different curves even without a JWK "alg".
    es384 = next(k for k in multi.keys if k.alg == "ES384")
    assert_refused(v, multi.token(alg="ES256", kid=es384.kid), "key_alg_mismatch")


def test_key_alg_mismatch_without_jwk_alg() -> None:
    with Issuer(algs=()) as issuer:
        rsa_key = issuer.new_key("RS256", include_alg=False)
        ec_key = issuer.new_key("ES256", include_alg=False)
        v = jwks_verifier(issuer)
        both(v, issuer.token(alg="PS512", kid=rsa_key.kid))  # any RSA alg fits a bare RSA key
        assert_refused(
            v, issuer.token(alg="ES256", kid=rsa_key.kid, key=ec_key), "key_alg_mismatch"
        )
        assert_refused(
            v, issuer.token(alg="RS256", kid=ec_key.kid, key=rsa_key), "key_alg_mismatch"
        )


def test_weak_key_in_jwks() -> None:
    with Issuer(algs=()) as issuer:
        issuer.new_key("RS256", size=1024)
        assert_refused(jwks_verifier(issuer), issuer.token(), "weak_key")


def test_weak_key() -> None:
    with Issuer(algs=()) as issuer:
        key = issuer.new_key("RS256", size=1024)
        v = Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=key.public_key())
        assert_refused(v, issuer.token(kid=""), "weak_key")


# -- signatures ----------------------------------------------------------------------------


def test_bad_signature(issuer: Issuer, verifier: Verifier) -> None:
    good = issuer.token(sub="user-1")
    other = issuer.token(sub="admin")
    h64, _, s64 = good.split(".")
    assert_refused(verifier, f"{h64}.{other.split('.')[1]}.{s64}", "bad_signature")
    assert_refused(verifier, f"{h64}.{good.split('.')[1]}.", "bad_signature")
    assert_refused(
        verifier, good[:-4] + ("AAAA" if good[-4:] != "AAAA" else "BBBB"), "bad_signature"
    )
    stranger = IssuerKey.generate("RS256")
    forged = issuer.token(key=stranger, kid=issuer.current_key.kid)
    assert_refused(verifier, forged, "bad_signature")


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_der_encoded_ecdsa_signature_is_refused(multi: Issuer, alg: str) -> None:
    # RFC 7518 §3.4: the JWS signature is R || S; DER is another encoding and is refused.
    key = next(k for k in multi.keys if k.alg == alg)
    hdr = {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
    body = claims(multi)
    signing_input = f"{b64(json.dumps(hdr, separators=(',', ':')).encode())}."
    signing_input += b64(json.dumps(body, separators=(",", ":")).encode())
    private = key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    digest = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}[alg]
    der = private.sign(signing_input.encode(), ec.ECDSA(digest))
    v = jwks_verifier(multi)
    assert_refused(v, multi.sign(hdr, body, raw_signature=der), "bad_signature")
    both(v, multi.sign(hdr, body, key))


def test_signature_of_another_padding_is_refused() -> None:
    # A key without a JWK "alg" fits RS256 and PS256; a PS256 signature is no RS256 one.
    with Issuer(algs=()) as issuer:
        key = issuer.new_key("RS256", include_alg=False)
        ps = issuer.token(alg="PS256")
        rs_header = b64(json.dumps({"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}).encode())
        forged = ".".join([rs_header, *ps.split(".")[1:]])
        v = jwks_verifier(issuer)
        both(v, ps)
        assert_refused(v, forged, "bad_signature")


# -- typ -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typ", [None, "JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"]
)
def test_typ_accepted_by_default(issuer: Issuer, verifier: Verifier, typ: str | None) -> None:
    token = both(verifier, issuer.token(typ=typ))
    assert token.header.get("typ") == typ


@pytest.mark.parametrize("typ", ["", "JOSE", "dpop+jwt", "secevent+jwt", "at+JWT+x", "JWS", 3])
def test_typ_refused(issuer: Issuer, verifier: Verifier, typ: Any) -> None:
    assert_refused(verifier, issuer.token(header={"typ": typ}), "invalid_typ")


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
def test_rfc9068_strict_typ_accepts_at_jwt(issuer: Issuer, typ: str) -> None:
    both(jwks_verifier(issuer, token_types="at+jwt"), issuer.token(typ=typ))


@pytest.mark.parametrize("typ", [None, "JWT", "jwt", "application/jwt"])
def test_rfc9068_strict_typ_refuses_jwt(issuer: Issuer, typ: str | None) -> None:
    assert_refused(
        jwks_verifier(issuer, token_types="at+jwt"), issuer.token(typ=typ), "invalid_typ"
    )


# -- issuer and audience ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        lambda i: i.url,  # trailing slash matters (exact match)
        lambda i: i.issuer + "/",
        lambda i: i.issuer.upper(),
        lambda i: "https://evil.example.com/",
        lambda i: "",
        lambda i: None,
    ],
    ids=["no-trailing-slash", "extra-slash", "case", "other", "empty", "missing"],
)
def test_invalid_issuer(issuer: Issuer, verifier: Verifier, iss: Callable[[Issuer], Any]) -> None:
    value = iss(issuer)
    token = issuer.token(issuer="x", claims={"iss": value}, drop=("iss",) if value is None else ())
    assert_refused(verifier, token, "invalid_issuer")


@pytest.mark.parametrize("iss", [["x"], {"x": 1}])
def test_non_string_issuer(issuer: Issuer, verifier: Verifier, iss: Any) -> None:
    value = [issuer.issuer] if isinstance(iss, list) else {issuer.issuer: 1}
    token = issuer.token(claims={"iss": value})
    assert_refused(verifier, token, "invalid_issuer")
    # With discovery per issuer the issuer is looked up before the key.
    discovering = Verifier(issuer=issuer.issuer, audience=issuer.audience)
    assert_refused(discovering, token, "invalid_issuer")


def test_several_issuers_discovered(issuer: Issuer, es_issuer: Issuer, ed_issuer: Issuer) -> None:
    everyone = (issuer.issuer, es_issuer.issuer, ed_issuer.issuer)
    v = Verifier(issuer=everyone, audience=issuer.audience)
    for one in (issuer, es_issuer, ed_issuer):
        assert both(v, one.token()).issuer == one.issuer
    # A token claiming another issuer is refused before any key is looked for.
    assert_refused(v, issuer.token(issuer="https://evil.example.com/"), "invalid_issuer")


@pytest.mark.parametrize(
    "aud",
    [
        "https://other.example.com",
        "https://api.example.com/",
        ["https://a.example.com", "https://b.example.com"],
        [],
        ["https://api.example.com", 1],
        7,
        None,
    ],
    ids=[
        "other",
        "trailing-slash",
        "array-without-ours",
        "empty-array",
        "non-string",
        "int",
        "missing",
    ],
)
def test_invalid_audience(issuer: Issuer, verifier: Verifier, aud: Any) -> None:
    token = issuer.token(claims={"aud": aud}, drop=("aud",) if aud is None else ())
    assert_refused(verifier, token, "invalid_audience")


def test_audience_accepted(issuer: Issuer, verifier: Verifier) -> None:
    ours = "https://api.example.com"
    assert issuer.audience == ours
    token = both(verifier, issuer.token(audience=["https://other.example.com", ours]))
    assert token.audience == ("https://other.example.com", ours)
    several = jwks_verifier(issuer, audience=("urn:a", "urn:b"))
    both(several, issuer.token(audience="urn:b"))
    both(several, issuer.token(audience=["urn:x", "urn:a"]))


def test_id_token_presented(issuer: Issuer, verifier: Verifier) -> None:
    assert_refused(verifier, issuer.id_token(), "id_token_presented")
    assert_refused(verifier, issuer.id_token(nonce=None), "id_token_presented")
    # Even with our audience, an at_hash/c_hash marks an ID token.
    assert_refused(verifier, issuer.id_token(audience=issuer.audience), "id_token_presented")
    # aud == azp: the token is for the client itself.
    spa = issuer.token(audience="spa-client", claims={"azp": "spa-client"})
    assert_refused(verifier, spa, "id_token_presented")


def test_a_nonce_alone_does_not_refuse_an_access_token(issuer: Issuer, verifier: Verifier) -> None:
    # Keycloak copied the request's nonce into access tokens (keycloak/keycloak#26893).
    token = issuer.token(claims={"nonce": "n-0S6_WzA2Mj"}, typ="JWT")
    assert both(verifier, token)["nonce"] == "n-0S6_WzA2Mj"
    for name in ("at_hash", "c_hash"):  # hashes only ID tokens carry: refused
        assert_refused(verifier, issuer.token(claims={name: "x"}), "id_token_presented")
    strict = jwks_verifier(issuer, token_types=("at+jwt",))
    assert_refused(strict, issuer.token(claims={"nonce": "n"}, typ="JWT"), "invalid_typ")


# -- time ------------------------------------------------------------------------------------


def timed(issuer: Issuer, leeway: int = 60, now: float = NOW) -> Verifier:
    return jwks_verifier(issuer, leeway=leeway, clock=lambda: now)


@pytest.mark.parametrize(
    ("leeway", "times", "reason"),
    [
        (60, {"exp": NOW - 60}, "expired"),
        (60, {"exp": NOW - 59}, None),
        (0, {"exp": NOW}, "expired"),
        (0, {"exp": NOW + 1}, None),
        (60, {"nbf": NOW + 61}, "not_yet_valid"),
        (60, {"nbf": NOW + 60}, None),
        (0, {"nbf": NOW + 1}, "not_yet_valid"),
        (0, {"nbf": NOW}, None),
        (60, {"iat": NOW + 61}, "issued_in_future"),
        (60, {"iat": NOW + 60}, None),
        (0, {"iat": NOW + 1}, "issued_in_future"),
        (0, {"iat": NOW}, None),
        (60, {"exp": NOW - 600, "nbf": NOW + 600}, "expired"),
        (600, {"exp": NOW - 599.5}, None),
    ],
)
def test_time_claims(
    issuer: Issuer, leeway: int, times: dict[str, float], reason: str | None
) -> None:
    values: dict[str, Any] = {"iat": NOW - 10, "exp": NOW + 300, **times}
    token = issuer.token(iat=values["iat"], exp=values["exp"], nbf=values.get("nbf"))
    if reason is None:
        both(timed(issuer, leeway), token)
    else:
        assert_refused(timed(issuer, leeway), token, reason)


def test_cached_token_expires(issuer: Issuer) -> None:
    clock = [float(NOW)]
    v = jwks_verifier(issuer, leeway=5, clock=lambda: clock[0])
    token = issuer.token(iat=NOW, exp=NOW + 100)
    both(v, token)  # now cached
    clock[0] = NOW + 104.5
    both(v, token)
    clock[0] = NOW + 105
    assert_refused(v, token, "expired")


# -- claims ----------------------------------------------------------------------------------


def test_missing_exp(issuer: Issuer, verifier: Verifier) -> None:
    assert_refused(verifier, issuer.token(drop=("exp",)), "missing_claim")


@pytest.mark.parametrize("name", ["sub", "client_id", "iat", "jti"])
def test_rfc9068_required_claims(issuer: Issuer, name: str) -> None:
    strict = jwks_verifier(
        issuer, required_claims="sub,client_id,iat,jti,exp", token_types="at+jwt"
    )
    both(strict, issuer.token())
    assert_refused(strict, issuer.token(drop=(name,)), "missing_claim")
    both(jwks_verifier(issuer), issuer.token(drop=(name,)))  # not required by default


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("exp", "4102444800"),
        ("exp", True),
        ("exp", None),
        ("exp", [4102444800]),
        ("nbf", "0"),
        ("iat", False),
        ("auth_time", "now"),
        ("sub", 123),
        ("sub", None),
        ("sub", ["user-1"]),
        ("client_id", {"id": "x"}),
        ("jti", 5),
        ("azp", 1),
    ],
)
def test_invalid_claim(issuer: Issuer, verifier: Verifier, name: str, value: Any) -> None:
    assert_refused(verifier, issuer.token(claims={name: value}), "invalid_claim")


@pytest.mark.parametrize("name", ["exp", "nbf", "iat"])
def test_huge_integer_date_is_invalid(issuer: Issuer, verifier: Verifier, name: str) -> None:
    assert_refused(verifier, issuer.token(claims={name: 10**400}), "invalid_claim")


def test_overflowing_number_is_invalid(issuer: Issuer, verifier: Verifier) -> None:
    # 1e400 parses to inf in Python: not a NumericDate.
    body = json.dumps(claims(issuer))[:-1].encode() + b',"nbf":1e400}'
    assert_refused(verifier, issuer.sign(header(issuer), body), "invalid_claim")


def test_realm_of_refusals(issuer: Issuer) -> None:
    assert_refused(
        jwks_verifier(issuer, realm="photos"),
        issuer.token(drop=("exp",)),
        "missing_claim",
        "photos",
    )


# -- ID tokens that carry our audience (issue #13.5) ------------------------------------


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"token_use": "id"}, "id_token_presented"),  # AWS Cognito
        ({"typ": "ID"}, "id_token_presented"),  # Keycloak
        ({"typ": "id"}, "id_token_presented"),
        ({"at_hash": "x"}, "id_token_presented"),
        ({"c_hash": "x"}, "id_token_presented"),
        ({"typ": "Refresh"}, "invalid_token_type"),  # Keycloak refresh token
        ({"token_use": "refresh"}, "invalid_token_type"),
    ],
)
def test_token_declaring_itself_an_id_token_is_refused(
    issuer: Issuer, claims: dict[str, Any], reason: str
) -> None:
    # The audience is ours: only the marker tells the token apart.
    assert_refused(jwks_verifier(issuer), issuer.token(claims=claims), reason)


@pytest.mark.parametrize(
    "claims", [{"token_use": "access"}, {"typ": "Bearer"}, {"nonce": "n"}, {"typ": 5}]
)
def test_access_token_markers_are_accepted(issuer: Issuer, claims: dict[str, Any]) -> None:
    assert both(jwks_verifier(issuer), issuer.token(claims=claims)).subject == "user-1"
