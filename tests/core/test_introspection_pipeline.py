"""Opaque tokens through the request pipeline (issue #16): ``BEARERGUARD_TOKEN_FORMATS``.

A real test issuer serves the introspection endpoint over HTTP; the verifier discovers it
from the issuer's metadata. Every answer is the same ``Decision`` as for a JWT.
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
from tests.expect import challenge

AUD = "https://api.example.com"
CLIENT_ID, SECRET = "api", "s3cret-for-introspection"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD) as iss:
        iss.register_client(CLIENT_ID, SECRET, scopes=())
        yield iss


def verifier(issuer: Issuer, formats: str = "jwt,opaque", **kw: Any) -> Verifier:
    return Verifier(
        issuer=issuer.issuer,
        audience=AUD,
        jwks_uri=issuer.jwks_uri,
        token_formats=formats,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        **kw,
    )


def answer(decision: Decision) -> tuple[int, str | None, dict[str, Any]]:
    status, headers, body = decision.response()
    return status, dict(headers).get("WWW-Authenticate"), json.loads(body)


def test_active_opaque_token_is_accepted(issuer: Issuer) -> None:
    v = verifier(issuer)
    token = issuer.opaque_token(scopes=("read:messages",), claims={"tenant": "acme"})
    decision = v.decide(f"Bearer {token}", required=True)
    assert decision.token is not None
    assert decision.token.subject == "user-1"
    assert decision.token.scopes == frozenset({"read:messages"})
    assert decision.token["tenant"] == "acme"
    assert issuer.introspection_calls == 1
    # cached within the TTL: no second call
    assert v.decide(f"Bearer {token}").token is not None
    assert issuer.introspection_calls == 1


def test_async_path(issuer: Issuer) -> None:
    v = verifier(issuer)
    token = issuer.opaque_token()
    decision = asyncio.run(v.decide_async(f"Bearer {token}", required=True))
    assert decision.token is not None and decision.token.subject == "user-1"


def test_scopes_of_an_introspected_token_are_enforced(issuer: Issuer) -> None:
    from bearerguard import Requirements

    v = verifier(issuer)
    token = issuer.opaque_token(scopes=("read:messages",))
    decision = v.decide(f"Bearer {token}", requirements=Requirements(scopes=["admin"]))
    assert answer(decision) == (
        403,
        challenge("insufficient_scope", scope="admin"),
        {
            "error": "insufficient_scope",
            "error_description": DESCRIPTIONS["insufficient_scope"],
            "reason": "insufficient_scope",
        },
    )


def test_revoked_token_with_ttl_zero(issuer: Issuer) -> None:
    v = verifier(issuer, introspection_cache_ttl=0)
    token = issuer.opaque_token()
    assert v.decide(f"Bearer {token}").token is not None
    assert issuer.revoke(token)
    status, www, body = answer(v.decide(f"Bearer {token}"))
    assert (status, body["reason"]) == (401, "token_inactive")
    assert www == challenge("invalid_token", "token_inactive")
    assert issuer.introspection_calls == 2


def test_unknown_token_is_inactive(issuer: Issuer) -> None:
    status, _, body = answer(verifier(issuer).decide("Bearer not-a-token-it-knows"))
    assert (status, body["reason"]) == (401, "token_inactive")


def test_jwt_verified_locally_in_mixed_mode(issuer: Issuer) -> None:
    v = verifier(issuer)
    assert v.decide(f"Bearer {issuer.token()}").token is not None
    assert issuer.introspection_calls == 0


def test_every_token_introspected_in_opaque_mode(issuer: Issuer) -> None:
    v = verifier(issuer, formats="opaque")
    assert v.decide(f"Bearer {issuer.token()}").token is not None
    assert issuer.introspection_calls == 1


def test_endpoint_down_is_503(issuer: Issuer) -> None:
    v = verifier(issuer)
    token = issuer.opaque_token()
    issuer.introspection_behaviour = "error"
    status, www, body = answer(v.decide(f"Bearer {token}"))
    assert (status, www) == (503, None)
    assert body == {
        "error_description": DESCRIPTIONS["introspection_unavailable"],
        "reason": "introspection_unavailable",
    }


def test_bad_client_credentials_are_503(issuer: Issuer) -> None:
    v = Verifier(
        issuer=issuer.issuer,
        audience=AUD,
        jwks_uri=issuer.jwks_uri,
        token_formats="jwt,opaque",
        client_id=CLIENT_ID,
        client_secret="wrong-secret",
    )
    status, _, body = answer(v.decide(f"Bearer {issuer.opaque_token()}"))
    assert (status, body["reason"]) == (503, "introspection_unavailable")


def test_bound_opaque_token_needs_its_proof(issuer: Issuer) -> None:
    key = DPoPKey()
    v = verifier(issuer)
    token = issuer.opaque_token(claims={"cnf": {"jkt": key.thumbprint}}, token_type="DPoP")
    _, _, body = answer(v.decide(f"Bearer {token}"))
    assert body["reason"] == "bound_token"
    url = "https://api.example.com/api/private"
    proof = key.proof("GET", url, access_token=token)
    decision = v.decide(f"DPoP {token}", method="GET", url=url, dpop=[proof])
    assert decision.token is not None and decision.token.jkt == key.thumbprint
