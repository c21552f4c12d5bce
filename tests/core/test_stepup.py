"""RFC 9470 step-up: ``Requirements(acr_values=..., max_age=...)`` checked against ``acr``
and ``auth_time``, refused with 401 ``insufficient_user_authentication``."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from bearerguard import (
    AccessToken,
    InsufficientScope,
    InsufficientUserAuthentication,
    Requirements,
    Verifier,
    error_response,
)
from bearerguard.testing import Issuer
from tests.expect import DPOP_ALGS

ISS = "https://tenant.example.com/"
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
NOW = 1_800_000_000
MFA_600 = Requirements(acr_values=[MFA], max_age=600)


def token(scopes: tuple[str, ...] = (), jkt: str | None = None, **claims: Any) -> AccessToken:
    base: dict[str, Any] = {"iss": ISS, "sub": "user-1", "exp": NOW + 300}
    if jkt is not None:
        base["cnf"] = {"jkt": jkt}
    base.update(claims)
    return AccessToken(base, {"alg": "RS256"}, frozenset(scopes))


def reason(req: Requirements, tok: AccessToken, leeway: float = 0) -> str | None:
    try:
        req.check(tok, now=NOW, leeway=leeway)
    except InsufficientUserAuthentication as err:
        assert req.met_by(tok, now=NOW, leeway=leeway) is False
        return err.reason
    assert req.met_by(tok, now=NOW, leeway=leeway) is True
    return None


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"acr": MFA, "auth_time": NOW - 10}, None),
        ({"acr": MFA, "auth_time": NOW - 600}, None),  # exactly max_age: still fresh
        ({"acr": MFA, "auth_time": NOW - 601}, "auth_too_old"),
        ({"acr": MFA, "auth_time": float(NOW - 100)}, None),
        ({"auth_time": NOW}, "acr_missing"),  # fails closed
        ({"acr": None, "auth_time": NOW}, "acr_missing"),
        ({"acr": "urn:pwd", "auth_time": NOW}, "acr_not_accepted"),
        ({"acr": [MFA], "auth_time": NOW}, "acr_not_accepted"),  # not a string
        ({"acr": MFA}, "auth_time_missing"),  # fails closed
        ({"acr": MFA, "auth_time": "1800000000"}, "auth_time_missing"),
        ({"acr": MFA, "auth_time": True}, "auth_time_missing"),
    ],
)
def test_acr_and_auth_time(claims: dict[str, Any], expected: str | None) -> None:
    assert reason(MFA_600, token(**claims)) == expected


def test_leeway_applies_to_max_age() -> None:
    tok = token(acr=MFA, auth_time=NOW - 650)
    assert reason(MFA_600, tok, leeway=0) == "auth_too_old"
    assert reason(MFA_600, tok, leeway=60) is None
    assert reason(MFA_600, token(acr=MFA, auth_time=NOW - 661), leeway=60) == "auth_too_old"


def test_acr_alone_and_max_age_alone() -> None:
    assert reason(Requirements(acr_values="urn:a urn:b"), token(acr="urn:b")) is None
    assert reason(Requirements(max_age=0), token(auth_time=NOW)) is None
    assert reason(Requirements(max_age=0), token(auth_time=NOW - 1)) == "auth_too_old"
    assert Requirements(acr_values="urn:a urn:b").acr_values == ("urn:a", "urn:b")


def test_scopes_and_claims_are_checked_first() -> None:
    req = Requirements(scopes="files:read", acr_values=[MFA])
    with pytest.raises(InsufficientScope):
        req.check(token(acr="urn:pwd"), now=NOW)
    claim = Requirements.all_of(Requirements.claim("tenant", equals="acme"), MFA_600)
    assert claim is not None
    with pytest.raises(InsufficientScope, match="claim_requirement_failed"):
        claim.check(token(tenant="other"), now=NOW)


def test_requirements_values() -> None:
    assert bool(Requirements(max_age=0)) is True
    assert Requirements().step_up is False and MFA_600.step_up is True
    with pytest.raises(ValueError, match="max_age"):
        Requirements(max_age=-1)
    with pytest.raises(ValueError, match="max_age"):
        Requirements(max_age=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="acr"):
        Requirements(acr_values=['urn:"quoted"'])
    merged = Requirements.all_of(
        Requirements(scopes="a", max_age=900), Requirements(acr_values=[MFA], max_age=300)
    )
    assert merged == Requirements(scopes="a", acr_values=[MFA], max_age=300)


# -- the refusal -------------------------------------------------------------------------

DESC = "A stronger user authentication is required"


def refusal(v: Verifier, tok: AccessToken, req: Requirements) -> tuple[int, dict[str, str], Any]:
    try:
        v.authorize(tok, req)
    except InsufficientUserAuthentication as err:
        status, headers, body = v.render(err, req)
        return status, dict(headers), json.loads(body)
    raise AssertionError("not refused")


def test_challenge_bearer_request() -> None:
    v = Verifier(issuer=ISS, audience="urn:api", clock=lambda: NOW)
    status, headers, body = refusal(v, token(acr="urn:pwd", auth_time=NOW), MFA_600)
    assert status == 401
    assert headers["WWW-Authenticate"] == (
        f'Bearer realm="api", error="insufficient_user_authentication", error_description="{DESC}", '
        f'acr_values="{MFA}", max_age="600", DPoP algs="{DPOP_ALGS}"'
    )
    assert headers["Cache-Control"] == "no-store"
    assert body == {
        "error": "insufficient_user_authentication",
        "error_description": DESC,
        "reason": "acr_not_accepted",
    }


def test_challenge_dpop_request_with_scopes_and_metadata() -> None:
    v = Verifier(
        issuer=ISS, audience="urn:api", resource="https://api.example.com", clock=lambda: NOW
    )
    req = Requirements(scopes="files:read", max_age=60)
    tok = token(
        ("files:read",), jkt="0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", auth_time=NOW - 200
    )
    meta = 'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"'
    status, headers, body = refusal(v, tok, req)
    assert status == 401
    # The token is DPoP-bound, so the request used DPoP: the error goes on that challenge.
    assert headers["WWW-Authenticate"] == (
        f'Bearer realm="api", {meta}, DPoP error="insufficient_user_authentication", '
        'error_description="A more recent user authentication is required", '
        f'scope="files:read", max_age="60", algs="{DPOP_ALGS}", {meta}'
    )
    assert body["reason"] == "auth_too_old"


def test_verifier_clock_and_leeway_decide() -> None:
    req = Requirements(max_age=100)
    tok = token(auth_time=NOW - 150)
    assert (
        Verifier(issuer=ISS, audience="urn:api", clock=lambda: NOW, leeway=60).authorize(tok, req)
        is None
    )
    with pytest.raises(InsufficientUserAuthentication):
        Verifier(issuer=ISS, audience="urn:api", clock=lambda: NOW, leeway=0).authorize(tok, req)


def test_standalone_rendering() -> None:
    err = InsufficientUserAuthentication("auth_time_missing", acr_values=("urn:a", "urn:b"))
    status, headers, _ = error_response(err)
    assert status == 401
    assert dict(headers)["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_user_authentication", '
        'error_description="The access token does not say when the user authenticated", '
        'acr_values="urn:a urn:b"'
    )
    assert err.www_authenticate == dict(headers)["WWW-Authenticate"]


# -- through the pipeline, with real tokens (the cached fast path included) ---------------


def test_decide_with_real_tokens(issuer: Issuer) -> None:
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience, dpop="off")
    fresh = issuer.token(acr=MFA, auth_time=int(time.time()) - 30)
    stale = issuer.token(acr=MFA, auth_time=int(time.time()) - 3600)
    for _ in range(2):  # the second time from the token cache
        assert v.decide(f"Bearer {fresh}", requirements=MFA_600, required=True).token is not None
        decision = v.decide(f"Bearer {stale}", requirements=MFA_600, required=True)
        assert decision.error is not None and decision.error.reason == "auth_too_old"
        status, headers, _ = decision.response()
        assert status == 401
        assert dict(headers)["WWW-Authenticate"] == (
            'Bearer realm="api", error="insufficient_user_authentication", '
            'error_description="A more recent user authentication is required", '
            f'acr_values="{MFA}", max_age="600"'
        )
    assert len(v.tokens) == 2


def test_decide_async_with_real_tokens(issuer: Issuer) -> None:
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience)
    weak = issuer.token(acr="urn:pwd", auth_time=int(time.time()))

    async def run() -> None:
        for _ in range(2):
            decision = await v.decide_async(f"Bearer {weak}", requirements=MFA_600)
            assert decision.error is not None and decision.error.reason == "acr_not_accepted"

    asyncio.run(run())


def test_issuer_mints_acr_and_auth_time(issuer: Issuer) -> None:
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience)
    tok = v.verify(issuer.token(acr=MFA, auth_time=NOW))
    assert (tok["acr"], tok["auth_time"]) == (MFA, NOW)
    assert "acr" not in v.verify(issuer.token()).claims
