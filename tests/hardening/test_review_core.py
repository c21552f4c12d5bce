"""Regression tests for the outside review's core findings (issue #11: 3, 4, 6, 9, 12).

Each test is named after its finding and fails on the code before the fix.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import pickle
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from bearerguard import BearerError, ClaimIncludes, Requirements, Verifier
from bearerguard.testing import Issuer
from bearerguard.tokens import token_identity
from tests.hardening._helpers import b64, good_claims

# The order of the P-256 group (SEC 2 §2.4.2).
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _verifier(issuer: Issuer, **kw: object) -> Verifier:
    return Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks(), **kw)  # type: ignore[arg-type]


def _sign(issuer: Issuer, claims: dict[str, object]) -> str:
    return issuer.sign({"alg": "RS256", "kid": issuer.current_key.kid, "typ": "at+jwt"}, claims)


def _reason(verifier: Verifier, token: str) -> str:
    with pytest.raises(BearerError) as info:
        verifier.verify(token)
    return info.value.reason


# -- 3: refused tokens pin memory ---------------------------------------------------------


def test_finding_3_refused_tokens_do_not_pin_memory(issuer: Issuer) -> None:
    verifier = _verifier(issuer)
    kid = issuer.current_key.kid
    good = issuer.token()
    _, payload, sig = good.split(".")
    for i in range(200):  # each a distinct large header, signed by nobody
        header = {"alg": "RS256", "kid": kid, "typ": "at+jwt", "pad": "x" * 8000 + str(i)}
        token = f"{b64(json.dumps(header).encode())}.{payload}.{sig}"
        assert _reason(verifier, token) == "bad_signature"
    assert verifier.cache_info()["headers"] == 0
    assert verifier.cache_info()["header_bytes"] == 0


def test_finding_3_verified_headers_are_bounded_in_count_and_bytes(issuer: Issuer) -> None:
    verifier = _verifier(issuer)
    kid = issuer.current_key.kid
    for i in range(100):
        big = {"alg": "RS256", "kid": kid, "typ": "at+jwt", "x": "y" * 2000 + str(i)}
        small = {"alg": "RS256", "kid": kid, "typ": "at+jwt", "x": str(i)}
        verifier.verify(issuer.sign(big, good_claims(issuer)))
        verifier.verify(issuer.sign(small, good_claims(issuer)))
    info = verifier.cache_info()
    assert info["headers"] == 64
    # only small headers are remembered: at most 64 of at most 1024 characters
    assert info["header_bytes"] <= 64 * 1024


# -- 4: scopes split on any Unicode whitespace --------------------------------------------


@pytest.mark.parametrize("sep", ["\u00a0", "\t", "\u2003", "\n", "\u3000"])
def test_finding_4_scope_not_split_on_other_whitespace(issuer: Issuer, sep: str) -> None:
    verifier = _verifier(issuer)
    token = verifier.verify(issuer.token(scopes=None, claims={"scope": f"tenant:acme{sep}admin"}))
    assert token.scopes == frozenset({f"tenant:acme{sep}admin"})
    with pytest.raises(BearerError) as info:
        verifier.authorize(token, Requirements(scopes=["admin"]))
    assert info.value.status_code == 403


def test_finding_4_claim_includes_splits_on_space_only(issuer: Issuer) -> None:
    verifier = _verifier(issuer)
    token = verifier.verify(issuer.token(claims={"groups": "staff\u00a0admin"}))
    assert not ClaimIncludes("groups", "admin")(token)
    assert ClaimIncludes("groups", "staff\u00a0admin")(token)
    token = verifier.verify(issuer.token(claims={"groups": "staff  admin"}))
    assert ClaimIncludes("groups", "admin")(token)


# -- 6: NumericDate bounds ----------------------------------------------------------------


@pytest.mark.parametrize(
    "exp",
    [
        1e300,  # a float far beyond any date
        253402300800,  # one second after 9999-12-31T23:59:59Z
        int(time.time() * 1000) + 3_600_000,  # a millisecond timestamp
        float(2**53 + 10),
        -1,
    ],
)
def test_finding_6_numeric_dates_out_of_range_are_refused(issuer: Issuer, exp: float) -> None:
    verifier = _verifier(issuer)
    assert _reason(verifier, _sign(issuer, good_claims(issuer, exp=exp))) == "invalid_claim"


@pytest.mark.parametrize("name", ["nbf", "iat", "auth_time"])
def test_finding_6_every_numeric_date_is_bounded(issuer: Issuer, name: str) -> None:
    verifier = _verifier(issuer)
    token = _sign(issuer, good_claims(issuer, **{name: 1e300}))
    assert _reason(verifier, token) == "invalid_claim"


def test_finding_6_latest_accepted_expiry_has_a_datetime(issuer: Issuer) -> None:
    verifier = _verifier(issuer)
    token = verifier.verify(_sign(issuer, good_claims(issuer, exp=253402300799)))
    assert token.expires_at == datetime.datetime(
        9999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc
    )


# -- 9: claims shared through the cache are mutable ---------------------------------------


def test_finding_9_cached_claims_are_deeply_immutable(issuer: Issuer) -> None:
    verifier = _verifier(issuer)
    raw = issuer.token(claims={"roles": ["reader"], "org": {"teams": ["a"]}})
    first = verifier.verify(raw)
    with pytest.raises(TypeError):
        first["roles"].append("admin")
    with pytest.raises(TypeError):
        first["org"]["teams"].append("b")
    with pytest.raises(TypeError):
        first["org"]["extra"] = 1
    with pytest.raises(TypeError):
        first.claims["roles"] += ["admin"]  # type: ignore[index]
    second = verifier.verify(raw)  # a cache hit: the same claims as issued
    assert second["roles"] == ["reader"]
    assert second["org"] == {"teams": ["a"]}
    assert not ClaimIncludes("roles", "admin")(second)


def test_finding_9_frozen_claims_still_serialise_and_copy(issuer: Issuer) -> None:
    verifier = _verifier(issuer)
    token = verifier.verify(issuer.token(claims={"roles": ["reader"], "org": {"teams": ["a"]}}))
    assert json.loads(json.dumps(dict(token.claims)))["org"] == {"teams": ["a"]}
    assert isinstance(token["roles"], list) and isinstance(token["org"], dict)
    mine = copy.deepcopy(token["org"])
    mine["teams"].append("b")  # a copy is the app's own, mutable
    assert token["org"] == {"teams": ["a"]}
    assert pickle.loads(pickle.dumps(token["roles"])) == ["reader"]


def test_finding_9_header_members_are_immutable(issuer: Issuer) -> None:
    verifier = _verifier(issuer)
    kid = issuer.current_key.kid
    token = verifier.verify(
        issuer.sign({"alg": "RS256", "kid": kid, "typ": "at+jwt", "x": [1]}, good_claims(issuer))
    )
    with pytest.raises(TypeError):
        token.header["x"].append(2)


# -- 12: token malleability ---------------------------------------------------------------


def _respell_last(segment: str, bits: int) -> list[str]:
    """Every spelling of *segment* that differs only in the *bits* unused trailing bits."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    base = alphabet.index(segment[-1]) & ~((1 << bits) - 1)
    return [segment[:-1] + alphabet[base | extra] for extra in range(1 << bits)]


def test_finding_12_non_canonical_base64url_is_refused(issuer: Issuer) -> None:
    verifier = _verifier(issuer, token_cache_size=0)
    token = issuer.token()  # RS256 (256-byte signature: 342 characters, 4 spare bits)
    head, payload, sig = token.split(".")
    assert len(sig) % 4 == 2
    spellings = _respell_last(sig, 4)
    assert len(spellings) == 16 and sig in spellings
    accepted = []
    for spelled in spellings:
        try:
            verifier.verify(f"{head}.{payload}.{spelled}")
            accepted.append(spelled)
        except BearerError as err:
            assert err.reason == "malformed_token"
    assert accepted == [sig]


def test_finding_12_non_canonical_header_or_payload_is_refused(issuer: Issuer) -> None:
    verifier = _verifier(issuer, token_cache_size=0)
    for claims in (good_claims(issuer, x="a"), good_claims(issuer, x="ab")):
        head, payload, sig = _sign(issuer, claims).split(".")
        for part in (0, 1):
            pieces = [head, payload, sig]
            segment = pieces[part]
            spare = {2: 4, 3: 2}.get(len(segment) % 4)
            if spare is None:
                continue
            for spelled in _respell_last(segment, spare):
                if spelled == segment:
                    continue
                pieces[part] = spelled
                assert _reason(verifier, ".".join(pieces)) == "malformed_token"


def test_finding_12_ecdsa_twin_has_one_identity(issuer: Issuer) -> None:
    # High-S signatures are not refused (ordinary signers make them), but anything keyed
    # on a token uses token_identity, which is the same for both spellings.
    key = issuer.new_key("ES256")
    verifier = _verifier(issuer, token_cache_size=0)
    token = issuer.token(key=key)
    head, payload, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    twin_raw = r.to_bytes(32, "big") + (P256_N - s).to_bytes(32, "big")
    twin = f"{head}.{payload}.{b64(twin_raw)}"
    assert twin != token
    assert decode_dss_signature(encode_dss_signature(r, P256_N - s)) == (r, P256_N - s)
    assert verifier.verify(twin).subject == verifier.verify(token).subject
    assert token_identity(twin) == token_identity(token)
    assert token_identity(token).startswith("sha256:") and len(token_identity(token)) == 71
    assert token_identity(issuer.token()) != token_identity(token)
    assert token_identity("opaque-token-1") != token_identity("opaque-token-2")
