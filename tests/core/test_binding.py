"""Sender-constrained tokens through the request pipeline (RFC 9449; issues #13.4, #14).

``Verifier.decide`` with the DPoP scheme, bound tokens under the Bearer scheme, each
``BEARERGUARD_DPOP`` mode, nonces across two verifiers ("workers"), replay, the store
failing closed, and the exact challenges (DESIGN.md "Beyond plain bearer JWTs").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from bearerguard import Verifier
from bearerguard.errors import DESCRIPTIONS
from bearerguard.pipeline import Decision
from bearerguard.testing import Issuer
from bearerguard.testing.dpop import DPoPKey
from tests.expect import DPOP_ALGS
from tests.redis_server import RedisServer, private_redis, redis_server  # noqa: F401

URL = "https://api.example.com/api/private"
SECRET = "n" * 32


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience="https://api.example.com") as iss:
        yield iss


@pytest.fixture
def key() -> DPoPKey:
    return DPoPKey("ES256")


def verifier(issuer: Issuer, **kw: Any) -> Verifier:
    return Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks(), **kw)


def bound(issuer: Issuer, key: DPoPKey, **kw: Any) -> str:
    return issuer.token(claims={"cnf": {"jkt": key.thumbprint}}, **kw)


def dpop_request(
    v: Verifier, token: str, proofs: list[str], method: str = "GET", url: str = URL
) -> Decision:
    return v.decide(f"DPoP {token}", method=method, url=url, dpop=proofs, required=True)


def refusal(decision: Decision) -> tuple[int, dict[str, str], dict[str, Any]]:
    status, headers, body = decision.response()
    return status, dict(headers), json.loads(body)


def dpop_error(error: str, reason: str) -> str:
    return (
        f'Bearer realm="api", DPoP error="{error}", '
        f'error_description="{DESCRIPTIONS[reason]}", algs="{DPOP_ALGS}"'
    )


def test_bound_token_with_its_proof_is_accepted(issuer: Issuer, key: DPoPKey) -> None:
    v = verifier(issuer)
    token = bound(issuer, key)
    decision = dpop_request(v, token, [key.proof("GET", URL, access_token=token)])
    assert decision.error is None and decision.token is not None
    assert decision.token.scheme == "DPoP"
    assert decision.token.jkt == key.thumbprint
    assert decision.headers == ()
    # The query is not part of htu (RFC 9449 §4.3): a client naming it is still accepted.
    proof = key.proof("GET", URL + "?a=1", access_token=token)
    assert dpop_request(v, token, [proof], url=URL + "?a=1").token is not None


def test_async_path_agrees(issuer: Issuer, key: DPoPKey) -> None:
    v = verifier(issuer)
    token = bound(issuer, key)
    proof = key.proof("POST", URL, access_token=token)
    decision = asyncio.run(
        v.decide_async(f"DPoP {token}", method="POST", url=lambda: URL, dpop=[proof])
    )
    assert decision.token is not None and decision.token.jkt == key.thumbprint
    again = asyncio.run(
        v.decide_async(f"DPoP {token}", method="POST", url=lambda: URL, dpop=[proof])
    )
    assert refusal(again)[2]["reason"] == "dpop_replayed"


def test_stolen_bound_token_is_refused_as_bearer(issuer: Issuer, key: DPoPKey) -> None:
    v = verifier(issuer)
    token = bound(issuer, key)
    assert dpop_request(v, token, [key.proof("GET", URL, access_token=token)]).token
    # Now cached: a thief presenting it as Bearer is still refused (issue #13.4).
    for _ in range(2):
        status, headers, body = refusal(v.decide(f"Bearer {token}", required=True))
        assert status == 401
        assert headers["WWW-Authenticate"] == (
            f'Bearer realm="api", error="invalid_token", '
            f'error_description="{DESCRIPTIONS["bound_token"]}", DPoP algs="{DPOP_ALGS}"'
        )
        assert body == {
            "error": "invalid_token",
            "error_description": DESCRIPTIONS["bound_token"],
            "reason": "bound_token",
        }


@pytest.mark.parametrize(
    "cnf", [{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, {"unknown": 1}, {}]
)
@pytest.mark.parametrize("dpop", ["off", "allowed"])
def test_any_cnf_is_never_a_plain_bearer_token(issuer: Issuer, cnf: Any, dpop: str) -> None:
    v = verifier(issuer, dpop=dpop)
    token = issuer.token(claims={"cnf": cnf})
    _, _, body = refusal(v.decide(f"Bearer {token}"))
    assert body["reason"] == "bound_token"


def test_unbound_token_under_dpop_is_refused(issuer: Issuer, key: DPoPKey) -> None:
    v = verifier(issuer)
    token = issuer.token()
    status, headers, body = refusal(
        dpop_request(v, token, [key.proof("GET", URL, access_token=token)])
    )
    assert status == 401
    assert body["reason"] == "dpop_unbound_token"
    assert headers["WWW-Authenticate"] == dpop_error("invalid_token", "dpop_unbound_token")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda k, t: [], "dpop_proof_missing"),
        (lambda k, t: [k.proof("GET", URL, access_token=t)] * 2, "dpop_multiple_proofs"),
        (lambda k, t: [k.proof("POST", URL, access_token=t)], "dpop_htm_mismatch"),
        (lambda k, t: [k.proof("GET", URL + "/x", access_token=t)], "dpop_htu_mismatch"),
        (lambda k, t: [k.proof("GET", URL, access_token=t + "x")], "dpop_ath_mismatch"),
        (lambda k, t: [k.proof("GET", URL)], "dpop_missing_claim"),
        (lambda k, t: [k.proof("GET", URL, access_token=t, typ="jwt")], "dpop_invalid_typ"),
        (lambda k, t: [DPoPKey().proof("GET", URL, access_token=t)], "dpop_key_mismatch"),
        (
            lambda k, t: [k.proof("GET", URL, access_token=t, include_private=True)],
            "dpop_invalid_jwk",
        ),
        (lambda k, t: ["not.a.proof"], "dpop_malformed"),
    ],
)
def test_each_proof_defect(issuer: Issuer, key: DPoPKey, make: Any, reason: str) -> None:
    v = verifier(issuer)
    token = bound(issuer, key)
    status, headers, body = refusal(dpop_request(v, token, make(key, token)))
    assert status == 401
    assert headers["WWW-Authenticate"] == dpop_error("invalid_dpop_proof", reason)
    assert body == {
        "error": "invalid_dpop_proof",
        "error_description": DESCRIPTIONS[reason],
        "reason": reason,
    }


def test_replayed_proof_is_refused(issuer: Issuer, key: DPoPKey) -> None:
    v = verifier(issuer)
    token = bound(issuer, key)
    proof = key.proof("GET", URL, access_token=token)
    assert dpop_request(v, token, [proof]).token is not None
    assert refusal(dpop_request(v, token, [proof]))[2]["reason"] == "dpop_replayed"


def test_required_mode_refuses_bearer(issuer: Issuer) -> None:
    v = verifier(issuer, dpop="required")
    status, headers, body = refusal(v.decide(f"Bearer {issuer.token()}"))
    assert status == 401
    assert body["reason"] == "dpop_required"
    # Bearer is not offered: the error goes on the DPoP challenge, the only one.
    assert headers["WWW-Authenticate"] == (
        f'DPoP error="invalid_token", error_description="{DESCRIPTIONS["dpop_required"]}", '
        f'algs="{DPOP_ALGS}"'
    )
    _, headers, body = refusal(v.decide(None, required=True))
    assert headers["WWW-Authenticate"] == f'DPoP algs="{DPOP_ALGS}"'
    assert body == {"error_description": "Authentication required", "reason": "missing_token"}


def test_off_mode_treats_dpop_scheme_as_no_credentials(issuer: Issuer, key: DPoPKey) -> None:
    v = verifier(issuer, dpop="off")
    token = bound(issuer, key)
    proof = key.proof("GET", URL, access_token=token)
    status, headers, body = refusal(dpop_request(v, token, [proof]))
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert body["reason"] == "missing_token"
    assert v.decide(f"DPoP {token}", dpop=[proof]).token is None  # anonymous where allowed


def test_no_credentials_offers_both_schemes(issuer: Issuer) -> None:
    _, headers, _ = refusal(verifier(issuer).decide(None, required=True))
    assert headers["WWW-Authenticate"] == f'Bearer realm="api", DPoP algs="{DPOP_ALGS}"'
    v = verifier(issuer, dpop_algorithms="ES256,EdDSA", realm="photos")
    _, headers, _ = refusal(v.decide(None, required=True))
    assert headers["WWW-Authenticate"] == 'Bearer realm="photos", DPoP algs="ES256 EdDSA"'


def test_nonce_flow_across_two_workers(issuer: Issuer, key: DPoPKey) -> None:
    worker_a = verifier(issuer, dpop_nonce="on", dpop_nonce_secret=SECRET)
    worker_b = verifier(issuer, dpop_nonce="on", dpop_nonce_secret=SECRET)
    token = bound(issuer, key)
    status, headers, body = refusal(
        dpop_request(worker_a, token, [key.proof("GET", URL, access_token=token)])
    )
    assert status == 401 and body["reason"] == "dpop_nonce_required"
    assert headers["WWW-Authenticate"] == dpop_error("use_dpop_nonce", "dpop_nonce_required")
    assert headers["Cache-Control"] == "no-store"
    assert headers["Access-Control-Expose-Headers"] == "DPoP-Nonce"
    nonce = headers["DPoP-Nonce"]
    # The nonce worker A issued is accepted by worker B; success carries the next one.
    proof = key.proof("GET", URL, access_token=token, nonce=nonce)
    decision = dpop_request(worker_b, token, [proof])
    assert decision.token is not None
    names = dict(decision.headers)
    assert set(names) == {"DPoP-Nonce", "Access-Control-Expose-Headers"}
    stale = key.proof("GET", URL, access_token=token, nonce="A" * 32)
    _, headers, body = refusal(dpop_request(worker_a, token, [stale]))
    assert body["reason"] == "dpop_nonce_stale" and "DPoP-Nonce" in headers


def test_replay_across_workers_sharing_redis(
    issuer: Issuer,
    key: DPoPKey,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    workers = [verifier(issuer, store=redis_server.url) for _ in range(3)]
    token = bound(issuer, key)
    proof = key.proof("GET", URL, access_token=token)
    outcomes = [dpop_request(w, token, [proof]) for w in workers]
    assert [d.token is not None for d in outcomes] == [True, False, False]
    assert {refusal(d)[2]["reason"] for d in outcomes[1:]} == {"dpop_replayed"}


def test_nonce_secret_from_redis_is_shared(
    issuer: Issuer,
    key: DPoPKey,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    a = verifier(issuer, store=redis_server.url, dpop_nonce="on")
    b = verifier(issuer, store=redis_server.url, dpop_nonce="on")
    token = bound(issuer, key)
    _, headers, _ = refusal(dpop_request(a, token, [key.proof("GET", URL, access_token=token)]))
    proof = key.proof("GET", URL, access_token=token, nonce=headers["DPoP-Nonce"])
    assert dpop_request(b, token, [proof]).token is not None


def test_store_down_fails_closed(
    issuer: Issuer,
    key: DPoPKey,
    private_redis: RedisServer,  # noqa: F811
) -> None:
    v = verifier(issuer, store=private_redis.url)
    token = bound(issuer, key)
    assert dpop_request(v, token, [key.proof("GET", URL, access_token=token)]).token
    private_redis.stop()
    status, headers, body = refusal(
        dpop_request(v, token, [key.proof("GET", URL, access_token=token)])
    )
    assert status == 503
    assert "WWW-Authenticate" not in headers
    assert int(headers["Retry-After"]) >= 1
    assert body == {
        "error_description": DESCRIPTIONS["store_unavailable"],
        "reason": "store_unavailable",
    }
