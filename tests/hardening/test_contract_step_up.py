"""The strict challenge parser of ``_contract`` against RFC 9470 step-up refusals.

RFC 9470 §3 adds ``acr_values`` and ``max_age`` to the Bearer challenge, with
``error="insufficient_user_authentication"`` and status 401.
"""

from __future__ import annotations

import pytest

from bearerguard import BearerError, Requirements, Verifier
from bearerguard.testing import Issuer

from ._contract import check_refusal, parse_challenge
from ._helpers import NOW, static_verifier

MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


def _refusal(v: Verifier, token: str, requirements: Requirements) -> BearerError:
    accepted = v.verify(token)
    with pytest.raises(BearerError) as info:
        v.authorize(accepted, requirements)
    return info.value


def test_acr_and_max_age_challenge_parses(issuer: Issuer) -> None:
    v = static_verifier(issuer)
    token = issuer.token(acr="pwd", auth_time=NOW - 5, iat=NOW, exp=NOW + 300)
    err = _refusal(v, token, Requirements(acr_values=[MFA], max_age=600))
    params = check_refusal(err, statuses=(401,))
    assert params == {
        "realm": "api",
        "error": "insufficient_user_authentication",
        "error_description": "A stronger user authentication is required",
        "acr_values": MFA,
        "max_age": "600",
    }


def test_max_age_alone_parses(issuer: Issuer) -> None:
    v = static_verifier(issuer)
    token = issuer.token(acr=MFA, auth_time=NOW - 3600, iat=NOW, exp=NOW + 300)
    err = _refusal(v, token, Requirements(max_age=600))
    assert err.reason == "auth_too_old"
    headers = err.headers()
    assert headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_user_authentication", '
        'error_description="A more recent user authentication is required", max_age="600"'
    )
    assert parse_challenge(headers["WWW-Authenticate"]) == {
        "realm": "api",
        "error": "insufficient_user_authentication",
        "error_description": "A more recent user authentication is required",
        "max_age": "600",
    }


def test_unknown_param_still_refused() -> None:
    with pytest.raises(AssertionError, match="unexpected auth-param 'claims'"):
        parse_challenge('Bearer realm="api", error="insufficient_claims", claims="e30"')
