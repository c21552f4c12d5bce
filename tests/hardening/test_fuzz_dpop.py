"""Fuzzing the ``DPoP`` header and proof segments (RFC 9449) through the real pipeline.

Every request carries a valid ``cnf.jkt``-bound access token (``Authorization: DPoP …``) and
a hostile ``DPoP`` header: random bytes and text, random JSON headers and claims, proofs
correctly signed but with one or more definite defects, a valid proof with one segment
replaced, duplicated or comma-joined headers, huge values. Through ``Verifier.decide`` and
``decide_async`` (the same answer on both paths), then through a real uvicorn server running
the Starlette contract app: never accepted, no exception and no 5xx, always 400/401 with a
known reason code, a well-formed challenge and no echo of the token or the proof.
"""

from __future__ import annotations

import asyncio
import base64
import json
import string
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bearerguard import Verifier
from bearerguard.errors import DESCRIPTIONS
from bearerguard.testing import Issuer
from bearerguard.testing.dpop import DPoPKey, access_token_hash
from tests.contract.servers import request, serve_app
from tests.expect import DPOP_ALGS

from ._contract import REALM, parse_challenges
from ._strategies import json_values

FUZZ = settings(
    deadline=None,
    max_examples=300,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SERVER_FUZZ = settings(FUZZ, max_examples=120)

URL = "https://api.example.com/api/messages?page=2"  # htu is compared without the query
HTU = "https://api.example.com/api/messages"
B64URL = string.ascii_letters + string.digits + "-_"
# RFC 9449 §7.1 / §12.2: the DPoP errors; every other refusal is an RFC 6750 one.
EXPECTED_ERRORS = {
    400: {"invalid_request"},
    401: {"invalid_token", "invalid_dpop_proof", "use_dpop_nonce"},
}
NONCE_REASONS = {"dpop_nonce_required", "dpop_nonce_stale"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: Any) -> str:
    return b64(json.dumps(obj).encode())


# -- the refusal a client receives ------------------------------------------------------------
def check_refusal(
    status: int, headers: Sequence[tuple[str, str]], content: bytes, secrets: Sequence[str]
) -> str:
    """Assert a well-formed 400/401 refusal (RFC 6750 §3, RFC 9449 §7.1); return its reason."""
    assert status in EXPECTED_ERRORS, (status, content[:200])
    h: dict[str, str] = {}
    for name, value in headers:
        assert value.isascii() and not set(value) & {"\r", "\n", "\x00"}, (name, value)
        h[name.lower()] = value
    assert h["content-type"] == "application/json"
    assert h["cache-control"] == "no-store"
    doc = json.loads(content)
    reason = doc["reason"]
    assert reason in DESCRIPTIONS, reason
    # A request with credentials always gets an error code (only "no credentials" has none).
    assert set(doc) == {"error", "error_description", "reason"}, doc
    assert doc["error_description"] == DESCRIPTIONS[reason]
    error = doc["error"]
    assert error in EXPECTED_ERRORS[status], (status, error, reason)
    assert (error == "use_dpop_nonce") == (reason in NONCE_REASONS), (error, reason)
    challenges = parse_challenges(h["www-authenticate"])
    assert list(challenges) == ["Bearer", "DPoP"], challenges  # both offered (allowed)
    carrying = [name for name, params in challenges.items() if "error" in params]
    assert len(carrying) == 1, challenges  # the error is named once
    if error in ("invalid_dpop_proof", "use_dpop_nonce"):
        assert carrying == ["DPoP"], challenges
    described = {"error": error, "error_description": DESCRIPTIONS[reason]}
    bearer = {"realm": REALM, **(described if carrying == ["Bearer"] else {})}
    dpop = {**(described if carrying == ["DPoP"] else {}), "algs": DPOP_ALGS}
    assert challenges == {"Bearer": bearer, "DPoP": dpop}
    if error == "use_dpop_nonce":  # RFC 9449 §8: a fresh nonce, readable cross-origin
        assert len(h["dpop-nonce"]) == 32 and set(h["dpop-nonce"]) <= set(B64URL)
    else:
        assert "dpop-nonce" not in h
    # Nothing of the token or of the proof is echoed (descriptions are fixed strings).
    sent = content.decode() + "".join(v for k, v in headers if k.lower() != "dpop-nonce")
    for secret in secrets:
        for piece in secret.split("."):
            if len(piece) >= 24 and len(set(piece)) > 8:  # random enough to mean an echo
                assert piece not in sent
    return str(reason)


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture(scope="module")
def keys() -> dict[str, DPoPKey]:
    return {"key": DPoPKey("ES256"), "other": DPoPKey("ES256"), "ed": DPoPKey("EdDSA")}


@pytest.fixture(scope="module")
def token(issuer: Issuer, keys: dict[str, DPoPKey]) -> str:
    return issuer.token(claims={"cnf": {"jkt": keys["key"].thumbprint}})


@pytest.fixture(scope="module", params=["nonce off", "nonce on"])
def verifier(request: pytest.FixtureRequest, issuer: Issuer) -> Verifier:
    nonce = request.param == "nonce on"
    return Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        keys=issuer.jwks(),
        dpop_nonce=nonce,
        dpop_nonce_secret="fuzz-nonce-secret-of-32-bytes!!!" if nonce else None,
    )


def nonce_for(verifier: Verifier, token: str, key: DPoPKey) -> str | None:
    """The nonce a client is given (RFC 9449 §8) when the verifier demands one, else None."""
    if not verifier.settings.dpop_nonce:
        return None
    proof = key.proof("GET", HTU, access_token=token)  # no nonce: 401 and a fresh nonce
    decision = verifier.decide(f"DPoP {token}", method="GET", url=URL, dpop=[proof])
    nonce = dict(decision.response()[1])["DPoP-Nonce"]
    assert decision.error is not None and decision.error.reason == "dpop_nonce_required"
    return nonce


def refused_everywhere(
    verifier: Verifier,
    runner: asyncio.Runner,
    token: str,
    dpop: Sequence[str],
    *,
    method: str = "GET",
    url: str = URL,
    authorization: str | None = None,
) -> str:
    """Decide on the sync and the async path: both refuse alike; return the reason."""
    authorization = authorization or f"DPoP {token}"
    kwargs: dict[str, Any] = {"method": method, "url": url, "dpop": list(dpop)}
    reasons = []
    for decision in (
        verifier.decide(authorization, **kwargs),
        runner.run(verifier.decide_async(authorization, **kwargs)),
    ):
        assert decision.token is None, "a hostile DPoP header was accepted"
        assert decision.error is not None
        reasons.append(check_refusal(*decision.response(), secrets=[token, *dpop]))
    assert reasons[0] == reasons[1], reasons
    return reasons[0]


# -- strategies -------------------------------------------------------------------------------
def garbage() -> st.SearchStrategy[str]:
    """One DPoP header value: anything a client or an attacker could send."""
    b64_bytes = st.binary(max_size=120).map(b64)
    return st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
        st.text(alphabet=B64URL + ".", max_size=300),
        st.lists(b64_bytes, min_size=1, max_size=6).map(".".join),
        st.tuples(json_values(), json_values(), b64_bytes).map(
            lambda t: f"{segment(t[0])}.{segment(t[1])}.{t[2]}"
        ),
        st.integers(8000, 120_000).map(lambda n: "A" * n),  # over the size cap
        st.integers(1, 4000).map(lambda n: "a." * n),
        st.sampled_from(["", " ", ".", "..", "...", "a.b.c", "a..c", ".b.", "\t", ","]),
    )


TYP_BAD = st.sampled_from(["jwt", "JWT", "at+jwt", "dpop", "dpop+jwt ", "", "dpop+jws"])
ALG_BAD = st.sampled_from(["none", "None", "HS256", "ES384", "RS256", "PS256", "EdDSA", ""])
HTM_BAD = st.sampled_from(["get", "POST", "HEAD", "", "GET ", "G\u0395T"])
HTU_BAD = st.sampled_from(
    [
        "https://api.example.com/api/messages/",
        "https://api.example.com/api/other",
        "http://api.example.com/api/messages",
        "https://api.example.org/api/messages",
        "https://api.example.com:8443/api/messages",
        "/api/messages",
        "api.example.com/api/messages",
        "",
        "https://",
        "https://api.example.com/api/mess%61ges%2F",
        "https://[::1/api/messages",
        "https://api.example.com:99999/api/messages",
    ]
)


def _defect(name: str, keys: dict[str, DPoPKey], token: str) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments of ``DPoPKey.proof`` making one definite defect called *name*."""
    key, other, ed = keys["key"], keys["other"], keys["ed"]
    now = int(time.time())
    not_str = json_values(2).filter(lambda v: not isinstance(v, str))
    options: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "typ": st.one_of(TYP_BAD, not_str).map(lambda v: {"extra_header": {"typ": v}})
        | st.just({"typ": None}),
        "alg": st.one_of(ALG_BAD, not_str).map(lambda v: {"extra_header": {"alg": v}}),
        # Any crit (RFC 7515 §4.1.11: no extension is understood); None would remove it.
        "crit": json_values(2)
        .filter(lambda v: v is not None)
        .map(lambda v: {"extra_header": {"crit": v}}),
        "jwk": st.one_of(
            json_values(3).map(lambda v: {"jwk": v if v is not None else {}}),
            st.just({"include_private": True}),
            st.just({"jwk": other.jwk}),  # signature by key, header names other
            st.just({"jwk": ed.jwk}),
            st.sampled_from(["kty", "crv", "x", "y"]).map(
                lambda m: {"jwk": {k: v for k, v in key.jwk.items() if k != m}}
            ),
            st.sampled_from(["RSA", "oct", "OKP", "ec", ""]).map(
                lambda kty: {"jwk": {**key.jwk, "kty": kty}}
            ),
            st.just({"jwk": {**key.jwk, "use": "enc"}}),
        ),
        "jti": st.one_of(
            st.just({"drop": ["jti"]}),
            st.just({"jti": ""}),
            not_str.map(
                lambda v: {"extra_claims": {"jti": v}} if v is not None else {"drop": ["jti"]}
            ),
            st.integers(257, 5000).map(lambda n: {"jti": "j" * n}),
        ),
        "htm": st.one_of(
            HTM_BAD.map(lambda v: {"extra_claims": {"htm": v}}), st.just({"drop": ["htm"]})
        ),
        "htu": st.one_of(
            HTU_BAD.map(lambda v: {"extra_claims": {"htu": v}}), st.just({"drop": ["htu"]})
        ),
        "iat": st.one_of(
            st.integers(600, 10**9).map(lambda d: {"iat": now - d}),  # older than max age 300
            st.integers(3600, 10**9).map(lambda d: {"iat": now + d}),  # beyond the 60 s leeway
            st.sampled_from(
                [str(now), None, True, [now], {"t": now}, -1, 10**13, 1e300, float(now) * 1000]
            ).map(lambda v: {"extra_claims": {"iat": v}} if v is not None else {"drop": ["iat"]}),
        ),
        "ath": st.one_of(
            st.just({"drop": ["ath"]}),
            st.just({"ath": access_token_hash(token + "x")}),
            st.just({"ath": access_token_hash(token)[:-1]}),
            st.just({"ath": access_token_hash(token).upper()}),
            st.text(max_size=50).map(lambda v: {"ath": v or "x"}),
            not_str.map(
                lambda v: {"extra_claims": {"ath": v}} if v is not None else {"drop": ["ath"]}
            ),
        ),
        "signature": st.one_of(
            st.just({"signed_by": other}),
            st.binary(max_size=130).map(lambda b: {"signature": b}),
            st.just({"signature": b""}),
        ),
        "other key": st.just({"_other": True}),  # a fine proof of a key the token is not bound to
    }
    return options[name]


DEFECTS = ["typ", "alg", "crit", "jwk", "jti", "htm", "htu", "iat", "ath", "signature", "other key"]


@st.composite
def defective_proofs(
    draw: st.DrawFn, keys: dict[str, DPoPKey], token: str, htu: str = HTU
) -> tuple[str, str]:
    """A proof, signed unless the signature is the defect, with 1-3 definite defects."""
    names = draw(st.lists(st.sampled_from(DEFECTS), min_size=1, max_size=3, unique=True))
    kwargs: dict[str, Any] = {"access_token": token}
    signer = keys["key"]
    for name in names:
        part = dict(draw(_defect(name, keys, token)))
        if part.pop("_other", False):
            signer = keys["other"]
        for k, v in part.items():
            if k in ("extra_header", "extra_claims"):
                kwargs[k] = {**kwargs.get(k, {}), **v}
            elif k == "drop":
                kwargs["drop"] = [*kwargs.get("drop", []), *v]
            else:
                kwargs[k] = v
    # Harmless extras beside the defects (names no check reads).
    extras = draw(
        st.dictionaries(st.sampled_from(["x_a", "x_b", "kid"]), json_values(2), max_size=2)
    )
    kwargs["extra_header"] = {**extras, **kwargs.get("extra_header", {})}
    claims = draw(
        st.dictionaries(st.sampled_from(["x_c", "sub", "exp"]), json_values(2), max_size=2)
    )
    kwargs["extra_claims"] = {**claims, **kwargs.get("extra_claims", {})}
    proof = signer.proof("GET", htu, **kwargs)
    return proof, "+".join(names)


# -- the pipeline -----------------------------------------------------------------------------
@FUZZ
@given(data=st.data())
def test_garbage_dpop_headers_are_refused(
    verifier: Verifier, runner: asyncio.Runner, token: str, data: st.DataObject
) -> None:
    values = data.draw(st.lists(garbage(), max_size=3), label="DPoP values")
    reason = refused_everywhere(verifier, runner, token, values)
    if not values:
        assert reason == "dpop_proof_missing"
    elif len(values) > 1:
        assert reason == "dpop_multiple_proofs"  # RFC 9449 §4.3 (1): exactly one header


@FUZZ
@given(data=st.data())
def test_random_json_headers_and_claims_are_refused(
    verifier: Verifier,
    runner: asyncio.Runner,
    token: str,
    keys: dict[str, DPoPKey],
    data: st.DataObject,
) -> None:
    key = keys["key"]
    header = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "typ": st.sampled_from(["dpop+jwt", "application/dpop+jwt"]) | json_values(2),
                "alg": st.sampled_from(["ES256", "EdDSA", "none"]) | json_values(2),
                "jwk": st.just(key.jwk) | json_values(3),
                "crit": json_values(2),
            },
        )
        | json_values(3),
        label="header",
    )
    claims = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "jti": st.text(max_size=20) | json_values(2),
                "htm": st.just("GET") | json_values(2),
                "htu": st.just(HTU) | json_values(2),
                "iat": st.just(int(time.time())) | json_values(2),
                "ath": st.just(access_token_hash(token)) | json_values(2),
            },
        )
        | json_values(3),
        label="claims",
    )
    signature = data.draw(st.binary(max_size=130).map(b64), label="signature")
    refused_everywhere(
        verifier, runner, token, [f"{segment(header)}.{segment(claims)}.{signature}"]
    )


@FUZZ
@given(data=st.data())
def test_signed_proofs_with_definite_defects_are_refused(
    verifier: Verifier,
    runner: asyncio.Runner,
    token: str,
    keys: dict[str, DPoPKey],
    data: st.DataObject,
) -> None:
    proof, defects = data.draw(defective_proofs(keys, token), label="proof")
    reason = refused_everywhere(verifier, runner, token, [proof])
    assert reason.startswith("dpop_"), (defects, reason)


@FUZZ
@given(data=st.data())
def test_a_valid_proof_with_one_segment_replaced_is_refused(
    verifier: Verifier,
    runner: asyncio.Runner,
    token: str,
    keys: dict[str, DPoPKey],
    data: st.DataObject,
) -> None:
    key = keys["key"]
    fresh = nonce_for(verifier, token, keys["key"])
    parts = key.proof("GET", HTU, access_token=token, nonce=fresh).split(".")
    donor = data.draw(
        st.sampled_from(
            [
                key.proof("GET", HTU, access_token=token, nonce=fresh),  # another jti
                keys["other"].proof("GET", HTU, access_token=token, nonce=fresh),
                keys["ed"].proof("GET", HTU, access_token=token, nonce=fresh),
                key.proof("POST", HTU, access_token=token, nonce=fresh),
            ]
        ),
        label="donor",
    ).split(".")
    index = data.draw(st.integers(0, 2), label="segment")
    original = parts[index]
    replacement = data.draw(
        st.one_of(
            st.just(donor[index]),
            st.binary(max_size=200).map(b64),
            json_values(3).map(segment),
            st.just(""),
            st.integers(0, len(original) - 1).map(
                lambda i: original[:i] + ("A" if original[i] != "A" else "B") + original[i + 1 :]
            ),
            st.text(alphabet=B64URL, min_size=1, max_size=4).map(lambda s: original + s),
            st.just(original[:-1]),
            st.just(original + "="),
            st.just(original.replace("-", "+").replace("_", "/")),
            st.integers(9000, 50_000).map(lambda n: "A" * n),
        ),
        label="replacement",
    )
    assume(replacement != original)
    parts[index] = replacement
    refused_everywhere(verifier, runner, token, [".".join(parts)])


@FUZZ
@given(data=st.data())
def test_duplicated_and_combined_headers_are_refused(
    verifier: Verifier,
    runner: asyncio.Runner,
    token: str,
    keys: dict[str, DPoPKey],
    data: st.DataObject,
) -> None:
    proof = keys["key"].proof("GET", HTU, access_token=token)
    other = data.draw(st.just(proof) | garbage(), label="second value")
    shape = data.draw(st.sampled_from(["two headers", "comma", "comma reversed"]), label="shape")
    values = {
        "two headers": [proof, other],
        "comma": [f"{proof}, {other}"],
        "comma reversed": [f"{other},{proof}"],
    }[shape]
    assert refused_everywhere(verifier, runner, token, values) == "dpop_multiple_proofs"


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "get", "PUT", "DELETE"]),
    url=st.sampled_from(
        [
            URL,
            "https://api.example.com/api/other",
            "http://api.example.com/api/messages",
            "https://evil.example/api/messages",
            "https://api.example.com/api/messages/..",
            "not a url",
            "",
        ]
    ),
)
def test_a_valid_proof_for_another_request_is_refused(
    verifier: Verifier,
    runner: asyncio.Runner,
    token: str,
    keys: dict[str, DPoPKey],
    method: str,
    url: str,
) -> None:
    assume(method != "GET" or url != URL)
    proof = keys["key"].proof(
        "GET", HTU, access_token=token, nonce=nonce_for(verifier, token, keys["key"])
    )
    reason = refused_everywhere(verifier, runner, token, [proof], method=method, url=url)
    # RFC 9449 §4.3 (8)-(9); methods are case-sensitive (RFC 9110 §9.1).
    assert reason == ("dpop_htm_mismatch" if method != "GET" else "dpop_htu_mismatch")


def test_a_malleated_ecdsa_signature_is_the_same_jti(
    verifier: Verifier, runner: asyncio.Runner, token: str, keys: dict[str, DPoPKey]
) -> None:
    # ECDSA (r, s) and (r, n - s) both verify; a replay check keyed by the signature's bytes
    # would take the second for a new proof. RFC 9449 §11.1: the jti is what is used once.
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 order
    proof = keys["key"].proof(
        "GET", HTU, access_token=token, nonce=nonce_for(verifier, token, keys["key"])
    )
    head, claims, sig = proof.split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    twin = f"{head}.{claims}.{b64(r + (n - s).to_bytes(32, 'big'))}"
    assert verifier.decide(f"DPoP {token}", method="GET", url=URL, dpop=[proof]).token is not None
    assert refused_everywhere(verifier, runner, token, [twin]) == "dpop_replayed"


def test_a_bound_token_as_bearer_with_a_proof_is_refused(
    verifier: Verifier, runner: asyncio.Runner, token: str, keys: dict[str, DPoPKey]
) -> None:
    # The proof is valid, but a cnf-bound token is never accepted under the Bearer scheme.
    proof = keys["key"].proof("GET", HTU, access_token=token)
    reason = refused_everywhere(verifier, runner, token, [proof], authorization=f"Bearer {token}")
    assert reason == "bound_token"


# -- one real server --------------------------------------------------------------------------
SERVER_PATH = "/api/private"
# What an HTTP/1.1 field value may hold (RFC 9110 §5.5), without edges that servers trim.
_FIELD = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.sampled_from(" \t"),
    max_size=300,
).map(lambda s: s.strip(" \t"))


@pytest.fixture(scope="module")
def server(issuer: Issuer) -> Iterator[str]:
    pytest.importorskip("starlette")  # the framework-free tox env (core) has no Starlette
    env = {"BEARERGUARD_ISSUER": issuer.issuer, "BEARERGUARD_AUDIENCE": issuer.audience}
    with serve_app("asgi", "tests.contract.apps.starlette_app:app", env) as url:
        yield url


@SERVER_FUZZ
@given(data=st.data())
def test_through_a_real_server(
    server: str, token: str, keys: dict[str, DPoPKey], data: st.DataObject
) -> None:
    htu = server + SERVER_PATH
    key = keys["key"]
    kind = data.draw(st.sampled_from(["garbage", "defect", "segment", "duplicate"]), label="kind")
    if kind == "garbage":
        huge = st.integers(8193, 12_000).map(lambda n: "A" * n)  # over the proof size cap
        values = data.draw(st.lists(_FIELD | huge, min_size=1, max_size=3), label="values")
    elif kind == "defect":
        proof, _ = data.draw(defective_proofs(keys, token, htu), label="proof")
        values = [proof]
    elif kind == "segment":
        parts = key.proof("GET", htu, access_token=token).split(".")
        index = data.draw(st.integers(0, 2), label="segment")
        replacement = data.draw(
            st.binary(max_size=120).map(b64) | st.text(alphabet=B64URL, max_size=120),
            label="replacement",
        )
        assume(replacement != parts[index])
        parts[index] = replacement
        values = [".".join(parts)]
    else:
        proof = key.proof("GET", htu, access_token=token)
        values = [proof, data.draw(st.just(proof) | _FIELD, label="second")]
    headers = [("Authorization", f"DPoP {token}"), *(("DPoP", v) for v in values)]
    status, response_headers, content = request(server, "GET", SERVER_PATH, headers)
    assert status < 500
    reason = check_refusal(status, list(response_headers.items()), content, [token, *values])
    if kind == "duplicate":
        assert reason == "dpop_multiple_proofs"


def test_the_server_accepts_the_valid_proof(
    server: str, token: str, keys: dict[str, DPoPKey]
) -> None:
    # The fuzzing above proves something only if the same server accepts the real thing.
    proof = keys["key"].proof("GET", server + SERVER_PATH, access_token=token)
    headers = [("Authorization", f"DPoP {token}"), ("DPoP", proof)]
    status, _, content = request(server, "GET", SERVER_PATH, headers)
    assert status == 200, content
    assert json.loads(content)["sub"] == "user-1"
    status, response_headers, content = request(server, "GET", SERVER_PATH, headers)
    assert (
        check_refusal(status, list(response_headers.items()), content, [token]) == "dpop_replayed"
    )
