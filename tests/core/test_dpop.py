"""DPoP proof verification (RFC 9449 §4.3): known answers, every defect, nonces, replay."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bearerguard.dpop import (
    DPOP_DESCRIPTIONS,
    DPoPChecker,
    DPoPError,
    DPoPProof,
    NonceSource,
    UseDPoPNonce,
    jwk_thumbprint,
    normalize_htu,
)
from bearerguard.errors import BearerError
from bearerguard.store import MemoryStore, RedisStore, StoreUnavailable
from bearerguard.testing.dpop import DPoPKey
from tests import redis_server as _redis_fixtures
from tests.redis_server import RedisServer

redis_server = _redis_fixtures.redis_server
private_redis = _redis_fixtures.private_redis

URL = "https://api.example.com/messages"
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2ln"  # any string: ath covers it as is

# RFC 7638 §3.1
RFC7638_JWK = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
# RFC 9449 §4.1 Figure 2 (token request) and §7.1 Figure 13 (resource request), with the
# access token of §7.1 Figure 12; the key's thumbprint is the jkt of §6.1 Figure 7.
RFC9449_JWK_HEADER = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgt"
    "MzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VO"
    "SmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19"
)
RFC9449_FIG2 = (
    RFC9449_JWK_HEADER
    + ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4"
    "YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ"
    ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
RFC9449_FIG13 = (
    RFC9449_JWK_HEADER
    + ".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5l"
    "eGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJa"
    "M0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9"
    ".2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
)
RFC9449_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC9449_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

SECRET = b"0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey("ES256")


@pytest.fixture(scope="module")
def other_key() -> DPoPKey:
    return DPoPKey("ES256")


def checker(**kw: Any) -> DPoPChecker:
    kw.setdefault("store", MemoryStore())
    return DPoPChecker(**kw)


def check(c: DPoPChecker, proof: str | list[str], **kw: Any) -> DPoPProof:
    kw.setdefault("method", "GET")
    kw.setdefault("url", URL)
    kw.setdefault("access_token", TOKEN)
    kw.setdefault("jkt", None)
    return c.check([proof] if isinstance(proof, str) else proof, **kw)


def reason(c: DPoPChecker, proof: str | list[str], **kw: Any) -> str:
    with pytest.raises(BearerError) as info:
        check(c, proof, **kw)
    return info.value.reason


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- known answers -------------------------------------------------------------------------


def test_rfc7638_thumbprint() -> None:
    assert jwk_thumbprint(RFC7638_JWK) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_rfc9449_key_thumbprint() -> None:
    jwk = json.loads(base64.urlsafe_b64decode(RFC9449_JWK_HEADER + "=="))["jwk"]
    assert jwk_thumbprint(jwk) == RFC9449_JKT


@pytest.mark.parametrize(
    "jwk", [{}, {"kty": "XYZ"}, {"kty": "EC", "crv": "P-256", "x": "AA"}, {"kty": "RSA", "n": 1}]
)
def test_thumbprint_refuses_incomplete_keys(jwk: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        jwk_thumbprint(jwk)


def test_rfc9449_resource_proof_verifies_at_its_time() -> None:
    c = checker(clock=lambda: 1562262618 + 10)
    proof = check(
        c,
        RFC9449_FIG13,
        url="https://resource.example.org/protectedresource",
        access_token=RFC9449_TOKEN,
        jkt=RFC9449_JKT,
    )
    assert proof == DPoPProof(
        RFC9449_JKT, hashlib.sha256(b"e1j3V_bKic8-LAEB").hexdigest(), 1562262618, None
    )
    # ... and nowadays it is far too old.
    now = checker()
    assert (
        reason(
            now,
            RFC9449_FIG13,
            url="https://resource.example.org/protectedresource",
            access_token=RFC9449_TOKEN,
        )
        == "dpop_iat_too_old"
    )


def test_rfc9449_token_request_proof_has_no_ath() -> None:
    # Figure 2 is a proof for the token endpoint: it verifies, but lacks the ath a
    # resource server requires (RFC 9449 §4.3 (12)).
    c = checker(clock=lambda: 1562262616 + 10)
    got = reason(c, RFC9449_FIG2, method="POST", url="https://server.example.com/token")
    assert got == "dpop_missing_claim"
    # Its signature is checked before its claims: a tampered signature is bad_signature.
    tampered = RFC9449_FIG2[:-2] + ("AA" if not RFC9449_FIG2.endswith("AA") else "BA")
    assert reason(c, tampered, method="POST", url="https://server.example.com/token") == (
        "dpop_bad_signature"
    )


# -- a valid proof ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "PS256", "RS256", "EdDSA", "Ed25519"])
def test_valid_proof_each_algorithm(alg: str) -> None:
    k = DPoPKey(alg)
    store = MemoryStore()
    c = checker(store=store)
    proof = k.proof("POST", URL, access_token=TOKEN, jti="jti-1")
    result = check(c, proof, method="POST", jkt=k.thumbprint)
    assert result.thumbprint == k.thumbprint
    assert result.jti_hash == hashlib.sha256(b"jti-1").hexdigest()
    assert result.nonce is None
    replay_key = "dpop:" + k.thumbprint + ":" + hashlib.sha256(b"jti-1").hexdigest()
    assert store.get(replay_key) == b"1"


def test_async_check(key: DPoPKey) -> None:
    c = checker()
    proof = key.proof("GET", URL, access_token=TOKEN)

    async def main() -> DPoPProof:
        return await c.check_async([proof], method="GET", url=URL, access_token=TOKEN, jkt=None)

    assert asyncio.run(main()).thumbprint == key.thumbprint
    with pytest.raises(DPoPError) as info:
        asyncio.run(main())
    assert info.value.reason == "dpop_replayed"


@pytest.mark.parametrize("typ", ["dpop+jwt", "DPoP+JWT", "application/dpop+jwt"])
def test_typ_spellings_accepted(key: DPoPKey, typ: str) -> None:
    assert check(checker(), key.proof("GET", URL, access_token=TOKEN, typ=typ))


# -- every defect, its reason ---------------------------------------------------------------


def test_error_shape(key: DPoPKey) -> None:
    proof = key.proof("GET", URL, access_token=TOKEN)
    with pytest.raises(DPoPError) as info:
        check(checker(), proof, method="POST")
    err = info.value
    assert (err.status_code, err.error, err.reason) == (
        401,
        "invalid_dpop_proof",
        "dpop_htm_mismatch",
    )
    assert err.description == "The DPoP proof was made for another HTTP method"
    assert err.body_dict() == {
        "error": "invalid_dpop_proof",
        "error_description": "The DPoP proof was made for another HTTP method",
        "reason": "dpop_htm_mismatch",
    }
    assert proof not in str(err) and TOKEN not in str(err)


def test_structure_defects(key: DPoPKey) -> None:
    c = checker()
    good = key.proof("GET", URL, access_token=TOKEN)
    h, p, s = good.split(".")
    assert reason(c, []) == "dpop_proof_missing"
    assert reason(c, [good, good]) == "dpop_multiple_proofs"
    assert reason(c, good + "," + good) == "dpop_multiple_proofs"
    big = key.proof("GET", URL, access_token=TOKEN, extra_claims={"pad": "x" * 9000})
    assert reason(c, big) == "dpop_proof_too_large"
    assert reason(checker(max_proof_size=100), good) == "dpop_proof_too_large"
    not_json = b64(b"not json")
    dup = b64(b'{"a":1,"a":2}')
    for bad in [
        "",
        "abc",
        "a.b",
        f"{h}.{p}.{s}.x",
        f".{p}.{s}",
        f"{h}..{s}",
        f"{h}+.{p}.{s}",
        f"{h}.{p}.{s}=",
        f"{not_json}.{p}.{s}",
        f"{b64(b'[1]')}.{p}.{s}",
        f"{dup}.{p}.{s}",
        f"{h}.{b64(bytes([0xFF, 0xFE]))}.{s}",
        f"{h}.{b64(b'[' * 5000)}.{s}",
        f"{h}.{p}.{s}\u00e9",
    ]:
        assert reason(c, bad) == "dpop_malformed", bad


def test_header_defects(key: DPoPKey) -> None:
    c = checker()
    proof = key.proof

    def r(**kw: Any) -> str:
        return reason(c, proof("GET", URL, access_token=TOKEN, **kw))

    assert r(typ=None) == "dpop_invalid_typ"
    assert r(typ="JWT") == "dpop_invalid_typ"
    assert r(typ="at+jwt") == "dpop_invalid_typ"
    assert r(extra_header={"typ": 1}) == "dpop_invalid_typ"
    assert r(alg="none") == "dpop_alg_not_allowed"
    assert r(alg="HS256") == "dpop_alg_not_allowed"
    assert r(extra_header={"alg": ["ES256"]}) == "dpop_alg_not_allowed"
    assert r(extra_header={"crit": ["exp"], "exp": 1}) == "dpop_crit_unsupported"
    ps = DPoPKey("PS256")
    only_es = checker(algorithms=("ES256",))
    assert reason(only_es, ps.proof("GET", URL, access_token=TOKEN)) == "dpop_alg_not_allowed"


def test_jwk_defects(key: DPoPKey, other_key: DPoPKey) -> None:
    c = checker()

    def r(k: DPoPKey = key, **kw: Any) -> str:
        return reason(c, k.proof("GET", URL, access_token=TOKEN, **kw))

    assert r(extra_header={"jwk": None}) == "dpop_invalid_jwk"  # missing
    assert r(jwk="not an object") == "dpop_invalid_jwk"  # type: ignore[arg-type]
    assert r(include_private=True) == "dpop_invalid_jwk"
    assert r(DPoPKey("RS256"), include_private=True) == "dpop_invalid_jwk"
    assert r(DPoPKey("EdDSA"), include_private=True) == "dpop_invalid_jwk"
    assert r(jwk={"kty": "oct", "k": b64(b"0" * 32)}) == "dpop_invalid_jwk"  # symmetric
    assert r(jwk={**key.jwk, "k": "AA"}) == "dpop_invalid_jwk"
    assert r(jwk={"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}) == "dpop_invalid_jwk"
    assert r(jwk={**key.jwk, "alg": "ES384"}) == "dpop_invalid_jwk"  # not matching alg
    assert r(jwk={**key.jwk, "use": "enc"}) == "dpop_invalid_jwk"
    assert r(jwk={**key.jwk, "key_ops": ["encrypt"]}) == "dpop_invalid_jwk"
    rsa = DPoPKey("RS256")
    assert r(rsa, alg="ES256", signed_by=key) == "dpop_invalid_jwk"  # RSA key, EC alg
    assert r(DPoPKey("ES384"), alg="ES256", signed_by=key) == "dpop_invalid_jwk"  # wrong curve
    assert r(DPoPKey("RS256", size=1024)) == "dpop_invalid_jwk"  # too weak
    # A correct jwk alg member, and the Ed25519/EdDSA aliases, are fine.
    assert check(c, key.proof("GET", URL, access_token=TOKEN, jwk={**key.jwk, "alg": "ES256"}))
    ed = DPoPKey("Ed25519")
    assert check(c, ed.proof("GET", URL, access_token=TOKEN, jwk={**ed.jwk, "alg": "EdDSA"}))


def test_signature_defects(key: DPoPKey, other_key: DPoPKey) -> None:
    c = checker()

    def r(**kw: Any) -> str:
        return reason(c, key.proof("GET", URL, access_token=TOKEN, **kw))

    assert r(signed_by=other_key) == "dpop_bad_signature"
    assert r(signature=b"\x00" * 64) == "dpop_bad_signature"
    assert r(signature=b"") == "dpop_bad_signature"
    assert r(signature=b"\x01" * 72) == "dpop_bad_signature"  # DER-length, not R || S
    good = key.proof("GET", URL, access_token=TOKEN)
    h, _, s = good.split(".")
    other = key.proof("GET", URL, access_token=TOKEN).split(".")[1]
    assert reason(c, f"{h}.{other}.{s}") == "dpop_bad_signature"  # claims swapped


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat", "ath"])
def test_missing_claim(key: DPoPKey, claim: str) -> None:
    proof = key.proof("GET", URL, access_token=TOKEN, drop=[claim])
    assert reason(checker(), proof) == "dpop_missing_claim"


@pytest.mark.parametrize(
    "claims",
    [
        {"jti": 123},
        {"jti": ""},
        {"jti": "x" * 257},
        {"iat": "1700000000"},
        {"iat": True},
        {"iat": 2**60},
        {"htm": ["GET"]},
        {"htu": {"url": URL}},
        {"ath": 0},
    ],
)
def test_invalid_claim(key: DPoPKey, claims: dict[str, Any]) -> None:
    proof = key.proof("GET", URL, access_token=TOKEN, extra_claims=claims)
    assert reason(checker(), proof) == "dpop_invalid_claim"


def test_jti_length_limit(key: DPoPKey) -> None:
    assert check(checker(), key.proof("GET", URL, access_token=TOKEN, jti="x" * 256))
    short = checker(max_jti_length=8)
    assert reason(short, key.proof("GET", URL, access_token=TOKEN, jti="x" * 9)) == (
        "dpop_invalid_claim"
    )


def test_request_binding_defects(key: DPoPKey, other_key: DPoPKey) -> None:
    c = checker()
    proof = key.proof

    assert reason(c, proof("POST", URL, access_token=TOKEN)) == "dpop_htm_mismatch"
    assert reason(c, proof("get", URL, access_token=TOKEN)) == "dpop_htm_mismatch"
    assert reason(c, proof("GET", URL + "/x", access_token=TOKEN)) == "dpop_htu_mismatch"
    assert reason(c, proof("GET", "not a url", access_token=TOKEN)) == "dpop_htu_mismatch"
    assert reason(c, proof("GET", URL, access_token="other")) == "dpop_ath_mismatch"
    assert reason(c, proof("GET", URL, ath="\ud800")) == "dpop_ath_mismatch"
    assert reason(c, proof("GET", URL, access_token=TOKEN), jkt=other_key.thumbprint) == (
        "dpop_key_mismatch"
    )
    assert reason(c, proof("GET", URL, access_token=TOKEN), jkt="\u00e9") == "dpop_key_mismatch"


@pytest.mark.parametrize(
    ("htu", "request_url"),
    [
        ("https://api.example.com/items", "https://api.example.com/items?page=2"),
        ("https://api.example.com/items?page=2", "https://api.example.com/items?page=2"),
        ("https://api.example.com/items?other=1#f", "https://api.example.com/items"),
        ("HTTPS://API.EXAMPLE.COM:443/items", "https://api.example.com/items"),
        ("https://api.example.com/%69tems", "https://api.example.com/items"),
        ("http://127.0.0.1:8000/a/../items", "http://127.0.0.1:8000/items"),
    ],
)
def test_htu_accepted(key: DPoPKey, htu: str, request_url: str) -> None:
    assert check(checker(), key.proof("GET", htu, access_token=TOKEN), url=request_url)


@pytest.mark.parametrize(
    "htu",
    [
        "http://api.example.com/items",
        "https://api.example.com:8443/items",
        "https://api.example.org/items",
        "https://api.example.com/items/",
        "https://api.example.com/Items",
        "https://api.example.com/items%2F",
        "/items",
    ],
)
def test_htu_refused(key: DPoPKey, htu: str) -> None:
    proof = key.proof("GET", htu, access_token=TOKEN)
    assert reason(checker(), proof, url="https://api.example.com/items") == "dpop_htu_mismatch"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://API.Example.COM/a", "https://api.example.com/a"),
        ("https://api.example.com:443/a", "https://api.example.com/a"),
        ("http://api.example.com:80/a", "http://api.example.com/a"),
        ("https://api.example.com:8443/a", "https://api.example.com:8443/a"),
        ("http://api.example.com:443/a", "http://api.example.com:443/a"),
        ("https://api.example.com", "https://api.example.com/"),
        ("https://api.example.com?x=1", "https://api.example.com/"),
        ("https://api.example.com/a?b=c#frag", "https://api.example.com/a"),
        ("https://api.example.com/a#frag?x", "https://api.example.com/a"),
        ("https://api.example.com/%7euser/%2f", "https://api.example.com/~user/%2F"),
        ("https://api.example.com/%41%62c%2D%5F%2e", "https://api.example.com/Abc-_."),
        ("https://api.example.com/%3a%40", "https://api.example.com/%3A%40"),
        ("https://api.example.com/a/./b/../c", "https://api.example.com/a/c"),
        ("https://api.example.com/a/b/..", "https://api.example.com/a/"),
        ("https://api.example.com/../a", "https://api.example.com/a"),
        ("https://api.example.com/caf\u00e9", "https://api.example.com/caf%C3%A9"),
        ("https://api.example.com/a b", "https://api.example.com/a%20b"),
        ("https://api.example.com/A/B", "https://api.example.com/A/B"),
        ("https://[::1]:443/x", "https://[::1]/x"),
        ("https://[2001:DB8::1]:8443/x", "https://[2001:db8::1]:8443/x"),
    ],
)
def test_normalize_htu(url: str, expected: str) -> None:
    assert normalize_htu(url) == expected


@pytest.mark.parametrize(
    "url",
    ["/relative", "api.example.com/x", "https:///path", "https://host:99999/", "https://h:x/"],
)
def test_normalize_htu_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        normalize_htu(url)


def test_iat_window(key: DPoPKey) -> None:
    now = 1_800_000_000.0
    c = checker(clock=lambda: now)

    def r(iat: Any) -> str:
        return reason(c, key.proof("GET", URL, access_token=TOKEN, iat=iat))

    assert check(c, key.proof("GET", URL, access_token=TOKEN, iat=now - 300))
    assert check(c, key.proof("GET", URL, access_token=TOKEN, iat=now + 60))
    assert check(c, key.proof("GET", URL, access_token=TOKEN, iat=now - 0.5))
    assert r(now - 300.5) == "dpop_iat_too_old"
    assert r(now + 60.5) == "dpop_iat_in_future"
    short = checker(clock=lambda: now, max_age=10, leeway=0)
    assert reason(short, key.proof("GET", URL, access_token=TOKEN, iat=now - 11)) == (
        "dpop_iat_too_old"
    )
    assert reason(short, key.proof("GET", URL, access_token=TOKEN, iat=now + 1)) == (
        "dpop_iat_in_future"
    )


def test_descriptions_are_fixed_and_complete() -> None:
    assert all(isinstance(v, str) and "{" not in v for v in DPOP_DESCRIPTIONS.values())
    for name in DPOP_DESCRIPTIONS:
        err: BearerError = UseDPoPNonce(name, nonce="n") if "nonce" in name else DPoPError(name)
        assert err.description == DPOP_DESCRIPTIONS[name]


# -- replay ----------------------------------------------------------------------------------


def test_replay_refused_with_memory_store(key: DPoPKey) -> None:
    store = MemoryStore()
    c = checker(store=store)
    proof = key.proof("GET", URL, access_token=TOKEN)
    check(c, proof)
    assert reason(c, proof) == "dpop_replayed"
    # A second checker sharing the store is a second "worker" of the same process.
    assert reason(checker(store=store), proof) == "dpop_replayed"


def test_replay_key_kept_for_max_age_plus_leeway(key: DPoPKey) -> None:
    clock_now = [1_800_000_000.0]
    store = MemoryStore(clock=lambda: clock_now[0])
    c = checker(store=store, clock=lambda: clock_now[0], max_age=100, leeway=20)
    proof = key.proof("GET", URL, access_token=TOKEN, iat=clock_now[0] + 20)
    check(c, proof)
    clock_now[0] += 119  # the proof's iat still passes: its jti is still remembered
    assert reason(c, proof) == "dpop_replayed"


def test_failed_proof_does_not_consume_its_jti(key: DPoPKey) -> None:
    store = MemoryStore()
    c = checker(store=store)
    assert reason(c, key.proof("GET", URL, access_token="x", jti="j")) == "dpop_ath_mismatch"
    assert reason(c, key.proof("GET", URL, access_token=TOKEN, jti="j"), jkt="other") == (
        "dpop_key_mismatch"
    )
    assert len(store) == 0
    assert check(c, key.proof("GET", URL, access_token=TOKEN, jti="j"))


def test_same_jti_under_two_keys_is_two_proofs(key: DPoPKey, other_key: DPoPKey) -> None:
    c = checker()
    check(c, key.proof("GET", URL, access_token=TOKEN, jti="shared"))
    check(c, other_key.proof("GET", URL, access_token=TOKEN, jti="shared"))


def test_replay_across_two_workers_sharing_redis(redis_server: RedisServer, key: DPoPKey) -> None:
    one, two = RedisStore(redis_server.url), RedisStore(redis_server.url)
    worker1, worker2 = checker(store=one), checker(store=two)
    try:
        proof = key.proof("GET", URL, access_token=TOKEN)
        assert check(worker1, proof).thumbprint == key.thumbprint
        assert reason(worker2, proof) == "dpop_replayed"
        assert reason(worker1, proof) == "dpop_replayed"

        async def twice() -> list[Any]:
            p = key.proof("GET", URL, access_token=TOKEN)
            kw: dict[str, Any] = {"method": "GET", "url": URL, "access_token": TOKEN, "jkt": None}
            results = await asyncio.gather(
                worker1.check_async([p], **kw),
                worker2.check_async([p], **kw),
                return_exceptions=True,
            )
            await one.aclose()
            await two.aclose()
            return results

        results = asyncio.run(twice())
        assert sum(isinstance(r, DPoPProof) for r in results) == 1
        assert [r.reason for r in results if isinstance(r, DPoPError)] == ["dpop_replayed"]
    finally:
        one.close()
        two.close()


def test_parallel_replay_accepted_once(redis_server: RedisServer, key: DPoPKey) -> None:
    stores = [RedisStore(redis_server.url) for _ in range(4)]
    workers = [checker(store=s) for s in stores]
    proof = key.proof("GET", URL, access_token=TOKEN)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def run(i: int) -> None:
        barrier.wait()
        try:
            check(workers[i % 4], proof)
            outcomes.append("ok")
        except DPoPError as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    for s in stores:
        s.close()
    assert sorted(outcomes) == ["dpop_replayed"] * 7 + ["ok"]


def test_store_down_propagates(private_redis: RedisServer, key: DPoPKey) -> None:
    store = RedisStore(private_redis.url)
    c = checker(store=store)
    check(c, key.proof("GET", URL, access_token=TOKEN))
    private_redis.stop()
    with pytest.raises(StoreUnavailable):
        check(c, key.proof("GET", URL, access_token=TOKEN))

    async def main() -> None:
        try:
            p = key.proof("GET", URL, access_token=TOKEN)
            await c.check_async([p], method="GET", url=URL, access_token=TOKEN, jkt=None)
        finally:
            await store.aclose()

    with pytest.raises(StoreUnavailable):
        asyncio.run(main())
    # A proof that fails on its own merits is refused before the store is asked.
    assert reason(c, key.proof("POST", URL, access_token=TOKEN)) == "dpop_htm_mismatch"
    store.close()


# -- nonces ----------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_nonce_shape_and_two_workers() -> None:
    clock = Clock()
    a, b = NonceSource(SECRET, clock=clock), NonceSource(SECRET, clock=clock)
    nonce = a.issue()
    assert len(nonce) == 32
    assert set(nonce) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert b.valid(nonce) and a.valid(nonce)
    assert not NonceSource(b"another-secret-of-32-bytes-long!", clock=clock).valid(nonce)
    clock.now += 300  # next window: still accepted
    assert b.valid(nonce)
    clock.now += 300  # two windows on: stale
    assert not b.valid(nonce)


def test_nonce_forgeries_refused() -> None:
    source = NonceSource(SECRET, clock=Clock())
    nonce = source.issue()
    flipped = nonce[:-1] + ("A" if nonce[-1] != "A" else "B")
    raw = base64.urlsafe_b64decode(nonce + "==")
    future = b64((int.from_bytes(raw[:8], "big") + 1).to_bytes(8, "big") + raw[8:])
    for bad in [flipped, future, "", nonce + "A", nonce[:-1], "!" * 32, None, 123]:
        assert not source.valid(bad)
    with pytest.raises(ValueError, match="16 bytes"):
        NonceSource(b"short")
    with pytest.raises(ValueError, match="window"):
        NonceSource(SECRET, window=0)


def test_checker_nonce_flow(key: DPoPKey) -> None:
    clock = Clock()
    worker1 = checker(nonces=NonceSource(SECRET, clock=clock), clock=clock)
    worker2 = checker(nonces=NonceSource(SECRET, clock=clock), clock=clock)
    iat = clock.now
    with pytest.raises(UseDPoPNonce) as info:
        check(worker1, key.proof("GET", URL, access_token=TOKEN, iat=iat))
    err = info.value
    assert (err.status_code, err.error, err.reason) == (
        401,
        "use_dpop_nonce",
        "dpop_nonce_required",
    )
    assert err.headers()["DPoP-Nonce"] == err.nonce
    # The nonce worker 1 issued is accepted by worker 2.
    proof = key.proof("GET", URL, access_token=TOKEN, nonce=err.nonce, iat=iat)
    assert check(worker2, proof).nonce == err.nonce
    stale = key.proof("GET", URL, access_token=TOKEN, nonce="made-up", iat=iat)
    with pytest.raises(UseDPoPNonce) as info2:
        check(worker1, stale)
    assert info2.value.reason == "dpop_nonce_stale"
    assert worker1.nonces is not None and worker1.nonces.valid(info2.value.nonce)
    # A defective proof is invalid_dpop_proof even without a nonce.
    assert reason(worker1, key.proof("POST", URL, access_token=TOKEN, iat=iat)) == (
        "dpop_htm_mismatch"
    )


def test_nonce_claim_reported_without_nonce_source(key: DPoPKey) -> None:
    proof = key.proof("GET", URL, access_token=TOKEN, nonce="client-sent")
    assert check(checker(), proof).nonce == "client-sent"


def test_checker_refuses_bad_configuration() -> None:
    for algs in [(), ("HS256",), ("none",), ("ES256", "RS1")]:
        with pytest.raises(ValueError, match="algorithms"):
            checker(algorithms=algs)
    with pytest.raises(ValueError):
        checker(max_age=0)
    with pytest.raises(ValueError):
        checker(leeway=-1)


# -- fuzzing ---------------------------------------------------------------------------------

_FUZZ_KEY = DPoPKey("ES256")
_FUZZ_GOOD = _FUZZ_KEY.proof("GET", URL, access_token=TOKEN, iat=2_000_000_000)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
_header_like = st.fixed_dictionaries(
    {},
    optional={
        "typ": st.sampled_from(["dpop+jwt", "JWT"]) | st.text(max_size=10),
        "alg": st.sampled_from(["ES256", "none", "HS256", "EdDSA"]) | _json,
        "jwk": st.just(_FUZZ_KEY.jwk) | _json,
        "crit": _json,
    },
)


def _segment(obj: Any) -> str:
    return b64(json.dumps(obj).encode())


_proofs = (
    st.text(max_size=300)
    | st.from_regex(
        r"[A-Za-z0-9_\-]{0,60}\.[A-Za-z0-9_\-]{0,60}\.[A-Za-z0-9_\-]{0,90}", fullmatch=True
    )
    | st.builds(
        lambda h, p, s: f"{h}.{p}.{s}",
        st.sampled_from([_FUZZ_GOOD.split(".")[0]]) | _header_like.map(_segment),
        st.sampled_from([_FUZZ_GOOD.split(".")[1]]) | _json.map(_segment),
        st.sampled_from([_FUZZ_GOOD.split(".")[2], ""]) | st.binary(max_size=80).map(b64),
    )
).filter(lambda s: s != _FUZZ_GOOD)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proof=_proofs)
def test_fuzzed_proofs_only_refused(proof: str) -> None:
    c = checker(clock=lambda: 2_000_000_000, nonces=NonceSource(SECRET))
    try:
        c.check([proof], method="GET", url=URL, access_token=TOKEN, jkt=_FUZZ_KEY.thumbprint)
    except (DPoPError, UseDPoPNonce) as exc:
        assert exc.description in DPOP_DESCRIPTIONS.values()
        assert exc.status_code == 401
    else:
        pytest.fail("a fuzzed proof was accepted")


def test_fuzz_reference_proof_is_valid() -> None:
    # The fuzzer's unmutated proof passes, so its mutations test the checks, not setup.
    c = checker(clock=lambda: 2_000_000_000)
    assert check(c, _FUZZ_GOOD, jkt=_FUZZ_KEY.thumbprint).thumbprint == _FUZZ_KEY.thumbprint


def test_wall_clock_default(key: DPoPKey) -> None:
    assert check(checker(), key.proof("GET", URL, access_token=TOKEN, iat=int(time.time())))
