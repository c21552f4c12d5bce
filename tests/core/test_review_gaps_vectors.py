"""Issue #12's review gaps, part 2: independent tokens, RFC vectors, fixed descriptions.

- Access tokens signed by an independent JOSE library (joserfc) verify: RS256, PS256,
  ES256, EdDSA and RFC 9864's Ed25519.
- RFC 7515 Appendix A.2 (RS256) and A.3 (ES256): the published signature verifies with
  bearerguard's JWK import and verify callables; one flipped bit refuses. Only signatures:
  the examples' claims (iss "joe", exp 1300819380) would not pass claim checks.
- A literal snapshot of every reason's description (errors.DESCRIPTIONS): a changed text
  fails the build. New reasons extend the snapshot.
"""

from __future__ import annotations

import base64
import time
import warnings
from typing import Any

import pytest
from joserfc import errors as joserfc_errors
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

from bearerguard import InvalidToken, Verifier
from bearerguard.errors import DESCRIPTIONS
from bearerguard.jwk import import_jwk

ISSUER = "https://idp.example/"
AUDIENCE = "https://api.example.com"

# -- tokens minted by joserfc ----------------------------------------------------------------

KEYS: dict[str, Any] = {
    "RS256": lambda: RSAKey.generate_key(2048),
    "PS256": lambda: RSAKey.generate_key(2048),
    "ES256": lambda: ECKey.generate_key("P-256"),
    "EdDSA": lambda: OKPKey.generate_key("Ed25519"),
    "Ed25519": lambda: OKPKey.generate_key("Ed25519"),
}


def mint(alg: str, key: Any, claims: dict[str, Any]) -> str:
    header = {"alg": alg, "kid": f"joserfc-{alg}", "typ": "at+jwt"}
    with warnings.catch_warnings():
        # joserfc deprecates the name "EdDSA" (RFC 9864); providers still sign with it.
        # joserfc >= 1.1 warns that "EdDSA" is deprecated (RFC 9864); 1.0 has no such class
        warnings.simplefilter("ignore", getattr(joserfc_errors, "SecurityWarning", Warning))
        try:
            return jwt.encode(header, claims, key, algorithms=[alg])
        except ValueError as exc:  # joserfc 1.0 (minversions) cannot sign RFC 9864's name
            if "not supported" in str(exc):
                pytest.skip(f"this joserfc cannot mint {alg}: {exc}")
            raise


@pytest.mark.parametrize("alg", list(KEYS))
def test_token_minted_by_joserfc_verifies(alg: str) -> None:
    key = KEYS[alg]()
    public = {**key.as_dict(private=False), "kid": f"joserfc-{alg}", "use": "sig"}
    assert "d" not in public
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "user-42",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "jti": "jti-1",
        "client_id": "spa",
        "scope": "read:messages write:messages",
    }
    token = mint(alg, key, claims)
    v = Verifier(issuer=ISSUER, audience=AUDIENCE, keys={"keys": [public]})
    at = v.verify(token)
    assert at.subject == "user-42"
    assert at.client_id == "spa"
    assert at.scopes == frozenset({"read:messages", "write:messages"})
    assert at.header == {"alg": alg, "kid": f"joserfc-{alg}", "typ": "at+jwt"}
    assert dict(at.claims) == claims
    # A key joserfc made for another token does not verify this one.
    other = {**KEYS[alg]().as_dict(private=False), "kid": f"joserfc-{alg}"}
    with pytest.raises(InvalidToken) as info:
        Verifier(issuer=ISSUER, audience=AUDIENCE, keys={"keys": [other]}).verify(token)
    assert info.value.reason == "bad_signature"


# -- RFC 7515 Appendix A.2 and A.3 -----------------------------------------------------------

# RFC 7515 A.2/A.3: the JWS Payload shared by the examples, base64url (line breaks removed).
RFC7515_PAYLOAD = (
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
)
# RFC 7515 A.2.1: the RSA key (public members) and the compact serialization's parts.
RFC7515_A2_JWK = {
    "kty": "RSA",
    "n": (
        "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddx"
        "HmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMs"
        "D1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSH"
        "SXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdV"
        "MTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8"
        "NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"
    ),
    "e": "AQAB",
}
RFC7515_A2_HEADER = "eyJhbGciOiJSUzI1NiJ9"
RFC7515_A2_SIGNATURE = (
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4"
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K"
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv"
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB"
    "p0igcN_IoypGlUPQGe77Rw"
)
# RFC 7515 A.3.1: the P-256 key (d included: a private member import must ignore).
RFC7515_A3_JWK = {
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
}
RFC7515_A3_HEADER = "eyJhbGciOiJFUzI1NiJ9"
RFC7515_A3_SIGNATURE = (
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)
VECTORS = {
    "A.2 RS256": ("RS256", RFC7515_A2_JWK, RFC7515_A2_HEADER, RFC7515_A2_SIGNATURE),
    "A.3 ES256": ("ES256", RFC7515_A3_JWK, RFC7515_A3_HEADER, RFC7515_A3_SIGNATURE),
}


def b64d(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.mark.parametrize("name", list(VECTORS))
def test_rfc7515_example_signature_verifies(name: str) -> None:
    alg, jwk, header, signature = VECTORS[name]
    key = import_jwk(jwk)
    assert key is not None
    assert key.kty == jwk["kty"]
    verify = key.verifier(alg)
    signing_input = f"{header}.{RFC7515_PAYLOAD}".encode("ascii")
    sig = b64d(signature)
    assert len(sig) == {"RS256": 256, "ES256": 64}[alg]
    assert verify(signing_input, sig) is True
    # One flipped bit, in the signature or in the signing input, refuses.
    for i in (0, len(sig) // 2, len(sig) - 1):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        assert verify(signing_input, bytes(bad)) is False
    tampered = bytearray(signing_input)
    tampered[-1] ^= 0x01
    assert verify(bytes(tampered), sig) is False


def test_rfc7515_examples_header_and_payload_literals() -> None:
    # The decoded parts, as RFC 7515 A.2.1 / A.3.1 print them (CRLF and spaces included).
    assert b64d(RFC7515_A2_HEADER) == b'{"alg":"RS256"}'
    assert b64d(RFC7515_A3_HEADER) == b'{"alg":"ES256"}'
    assert b64d(RFC7515_PAYLOAD) == (
        b'{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}'
    )


def test_rfc7515_es256_signature_in_der_is_refused() -> None:
    # RFC 7518 §3.4: R || S, 64 octets; a DER-encoded signature is not a JWS signature.
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    key = import_jwk(RFC7515_A3_JWK)
    assert key is not None
    sig = b64d(RFC7515_A3_SIGNATURE)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    signing_input = f"{RFC7515_A3_HEADER}.{RFC7515_PAYLOAD}".encode("ascii")
    assert key.verifier("ES256")(signing_input, der) is False


# -- every reason's description, as a literal ------------------------------------------------

DESCRIPTIONS_SNAPSHOT = {
    "missing_token": "Authentication required",
    "empty_token": "The Bearer scheme was sent without a token",
    "malformed_authorization": "The Authorization header is not a valid Bearer credential",
    "multiple_authorization_headers": "The request carries more than one Authorization credential",
    "multiple_tokens": "The access token was sent by more than one method",
    "malformed_parameter": "The access_token parameter is malformed",
    "multiple_credentials": "The request carries credentials for more than one identity",
    "token_too_large": "The access token is too large",
    "malformed_token": "The access token is not a well-formed JWT",
    "jwe_not_supported": "Encrypted tokens (JWE) are not accepted",
    "alg_none": "Unsigned tokens are not accepted",
    "alg_not_allowed": "The token's signing algorithm is not allowed",
    "crit_unsupported": "The token has critical header parameters that are not understood",
    "unknown_kid": "The token was signed with an unknown key",
    "ambiguous_key": "The token names no key and several keys could apply",
    "key_alg_mismatch": "The token's algorithm does not fit its key",
    "weak_key": "The token was signed with a key that is too weak",
    "bad_signature": "The token signature is invalid",
    "invalid_typ": "The token type is not accepted",
    "invalid_issuer": "The token was issued by an untrusted issuer",
    "invalid_audience": "The token is not intended for this API",
    "id_token_presented": "An ID token was presented; send the access token instead",
    "expired": "The access token expired",
    "not_yet_valid": "The access token is not valid yet",
    "issued_in_future": "The access token was issued in the future",
    "missing_claim": "The access token lacks a required claim",
    "invalid_claim": "The access token has a claim of the wrong type",
    "okta_org_server": "The token is from Okta's org authorization server, meant for Okta's own APIs",
    "keycloak_default_audience": "The token's audience is Keycloak's default 'account': an audience mapper must add this API",
    "tenant_mismatch": "The token's tenant does not match the tenant of its issuer",
    "insufficient_scope": "The access token lacks a required scope",
    "claim_requirement_failed": "The access token does not meet this resource's requirements",
    "insufficient_role": "The access token lacks a required role",
    "acr_missing": "The access token does not say how the user authenticated",
    "acr_not_accepted": "A stronger user authentication is required",
    "auth_time_missing": "The access token does not say when the user authenticated",
    "auth_too_old": "A more recent user authentication is required",
    "bound_token": "The access token is bound to a key; present it with the DPoP scheme and a proof",
    "dpop_required": "This API accepts only DPoP-bound access tokens with a DPoP proof",
    "dpop_unbound_token": "The access token is not bound to the DPoP proof's key",
    "dpop_proof_missing": "The DPoP scheme requires a DPoP proof header",
    "dpop_multiple_proofs": "The request carries more than one DPoP proof",
    "dpop_proof_too_large": "The DPoP proof is too large",
    "dpop_malformed": "The DPoP proof is not a well-formed JWT",
    "dpop_invalid_typ": "The DPoP proof's type is not dpop+jwt",
    "dpop_alg_not_allowed": "The DPoP proof's signing algorithm is not allowed",
    "dpop_crit_unsupported": "The DPoP proof has critical header parameters that are not understood",
    "dpop_invalid_jwk": "The DPoP proof's jwk header is not a usable public key",
    "dpop_bad_signature": "The DPoP proof signature is invalid",
    "dpop_missing_claim": "The DPoP proof lacks a required claim",
    "dpop_invalid_claim": "The DPoP proof has a claim of the wrong type or size",
    "dpop_htm_mismatch": "The DPoP proof was made for another HTTP method",
    "dpop_htu_mismatch": "The DPoP proof was made for another URL",
    "dpop_ath_mismatch": "The DPoP proof was made for another access token",
    "dpop_iat_too_old": "The DPoP proof is too old",
    "dpop_iat_in_future": "The DPoP proof was issued in the future",
    "dpop_key_mismatch": "The DPoP proof key is not the key the access token is bound to",
    "dpop_replayed": "The DPoP proof was already used",
    "dpop_nonce_required": "A DPoP nonce is required",
    "dpop_nonce_stale": "The DPoP nonce is not current",
    "token_inactive": "The access token is not active",
    "invalid_token_type": "The token is not an access token",
    "keys_unavailable": "The signing keys cannot be retrieved right now",
    "store_unavailable": "The shared state store cannot be reached right now",
    "introspection_unavailable": "The access token cannot be checked right now",
    "introspection_response_bad_signature": (
        "The authorization server's introspection answer has an invalid signature"
    ),
    "introspection_response_invalid": (
        "The authorization server's introspection answer is not a valid signed answer"
    ),
    "introspection_response_unsigned": "The authorization server's introspection answer is not signed",
}


def test_descriptions_snapshot() -> None:
    assert len(DESCRIPTIONS_SNAPSHOT) == 68
    assert DESCRIPTIONS == DESCRIPTIONS_SNAPSHOT
