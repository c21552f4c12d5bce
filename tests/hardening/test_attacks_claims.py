"""Attack corpus, claims side: ID tokens, time, issuer, audience, smuggling, known core bugs.

Exact status, WWW-Authenticate and JSON body for each case; smuggled CR/LF, quotes and
header-like text must not reach response headers, bodies, exceptions or captured logs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bearerguard import BearerError, InsufficientScope, Requirements, Verifier
from bearerguard.testing import Issuer

from ._contract import assert_exact
from ._helpers import (
    NOW,
    compact,
    good_claims,
    header_for,
    jwks_verifier,
    now_claims,
    refuse,
    static_verifier,
)

# -- wrong kind of token ---------------------------------------------------------------------


def test_id_token_replayed_as_access_token(issuer: Issuer) -> None:
    assert_exact(refuse(jwks_verifier(issuer), issuer.id_token()), "id_token_presented")


def test_id_token_with_our_audience(issuer: Issuer) -> None:
    token = issuer.id_token(audience=issuer.audience, typ="at+jwt")
    assert_exact(refuse(jwks_verifier(issuer), token), "id_token_presented")


# -- time, issuer, audience ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": NOW - 60}, "expired"),  # now >= exp + leeway: just past
        ({"exp": NOW - 59}, None),  # just inside
        ({"exp": NOW - 60.001}, "expired"),
        ({"exp": NOW - 59.999}, None),
        ({"nbf": NOW + 61}, "not_yet_valid"),
        ({"nbf": NOW + 60}, None),
        ({"iat": NOW + 61}, "issued_in_future"),
        ({"iat": NOW + 60}, None),
    ],
)
def test_leeway_boundaries(issuer: Issuer, claims: dict[str, Any], reason: str | None) -> None:
    v = static_verifier(issuer, leeway=60)
    token = issuer.sign(header_for(issuer.current_key), now_claims(issuer, **claims))
    if reason is None:
        assert v.verify(token).subject == "user-1"
    else:
        assert_exact(refuse(v, token), reason)


def test_cached_token_expires_on_time(issuer: Issuer) -> None:
    clock = [float(NOW)]
    v = static_verifier(issuer, leeway=0, clock=lambda: clock[0])
    token = issuer.sign(header_for(issuer.current_key), now_claims(issuer, exp=NOW + 10))
    assert v.verify(token).subject == "user-1"
    clock[0] = NOW + 10.0
    assert_exact(refuse(v, token), "expired")


def test_issuer_without_trailing_slash(issuer: Issuer) -> None:
    assert issuer.issuer.endswith("/")
    token = issuer.sign(header_for(issuer.current_key), now_claims(issuer, iss=issuer.url))
    assert_exact(refuse(static_verifier(issuer), token), "invalid_issuer")


def test_issuer_with_trailing_slash_against_slashless_config(issuer: Issuer) -> None:
    v = Verifier(
        issuer=issuer.url, audience=issuer.audience, keys=issuer.jwks(), clock=lambda: float(NOW)
    )
    slash = issuer.sign(header_for(issuer.current_key), now_claims(issuer))
    assert_exact(refuse(v, slash), "invalid_issuer")
    plain = issuer.sign(header_for(issuer.current_key), now_claims(issuer, iss=issuer.url))
    assert v.verify(plain).issuer == issuer.url


@pytest.mark.parametrize(
    "aud",
    [
        ["https://other.example.com", "https://api.example.com/"],
        [],
        ["https://API.example.com"],
        "https://api.example.com/",
        [["https://api.example.com"]],
        None,
    ],
)
def test_audience_without_ours(issuer: Issuer, aud: Any) -> None:
    token = issuer.sign(header_for(issuer.current_key), now_claims(issuer, aud=aud))
    assert_exact(refuse(static_verifier(issuer), token), "invalid_audience")


# -- smuggling through claims and headers ------------------------------------------------------

SMUGGLED = [
    "x\r\nSet-Cookie: a=b",
    'x", error="none',
    'api", realm="evil',
    "x\nX-Injected: 1",
    "\x00nul",
    "\u2028line-sep",
]


def _all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
    return "\n".join(parts)


def _assert_nothing_leaks(err: BearerError, secrets: list[str], logs: str) -> None:
    rendered = json.dumps(err.headers()) + "\n" + err.body().decode() + "\n" + str(err)
    for value in secrets:
        assert value not in rendered
        assert value not in logs
        assert value not in repr(err)
    for name, val in err.headers().items():
        assert "\r" not in val and "\n" not in val, name


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="bearerguard")
    yield lambda: _all_log_text(caplog)


@pytest.mark.parametrize("text", SMUGGLED)
def test_smuggled_claims_in_a_refused_token(
    issuer: Issuer, logs: Callable[[], str], text: str
) -> None:
    v = jwks_verifier(issuer)
    token = issuer.token(sub=text, claims={"name": text, "scope": text}, expires_in=-3600)
    err = refuse(v, token)
    assert_exact(err, "expired")
    _assert_nothing_leaks(err, [token, text], logs())


@pytest.mark.parametrize("text", SMUGGLED)
def test_smuggled_kid_is_not_echoed(issuer: Issuer, logs: Callable[[], str], text: str) -> None:
    v = jwks_verifier(issuer)
    token = issuer.token(kid=text, key=issuer.current_key)
    err = refuse(v, token)
    assert_exact(err, "unknown_kid")
    _assert_nothing_leaks(err, [token, text], logs())


@pytest.mark.parametrize("text", SMUGGLED)
def test_smuggled_typ_and_alg_are_not_echoed(
    issuer: Issuer, logs: Callable[[], str], text: str
) -> None:
    v = jwks_verifier(issuer)
    typ_token = issuer.token(typ=text)
    err = refuse(v, typ_token)
    assert_exact(err, "invalid_typ")
    _assert_nothing_leaks(err, [typ_token, text], logs())
    alg_token = compact({"alg": text, "kid": issuer.current_key.kid}, good_claims(issuer), b"s")
    err = refuse(v, alg_token)
    assert_exact(err, "alg_not_allowed")
    _assert_nothing_leaks(err, [alg_token, text], logs())


@pytest.mark.parametrize(
    "scope", ['read" realm="evil', "read\r\nWWW-Authenticate: Basic", 'a", scope="admin']
)
def test_realm_ish_scope_claims_do_not_reach_the_403_challenge(
    issuer: Issuer, logs: Callable[[], str], scope: str
) -> None:
    v = jwks_verifier(issuer)
    token = issuer.token(
        scopes=None, claims={"scope": scope, "scp": [scope], "permissions": [scope]}
    )
    accepted = v.verify(token)
    with pytest.raises(InsufficientScope) as info:
        v.authorize(accepted, Requirements(scopes=["write:messages"]))
    err = info.value
    assert err.status_code == 403
    assert err.headers()["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token lacks a required scope", scope="write:messages"'
    )
    assert json.loads(err.body()) == {
        "error": "insufficient_scope",
        "error_description": "The access token lacks a required scope",
        "reason": "insufficient_scope",
    }
    _assert_nothing_leaks(err, [token, scope], logs())
    assert token not in repr(accepted)


def test_accepted_token_repr_does_not_carry_the_token(issuer: Issuer) -> None:
    token = issuer.token(sub="alice")
    accepted = jwks_verifier(issuer).verify(token)
    assert token not in repr(accepted) and token not in str(accepted)
    assert token.split(".")[2] not in repr(dict(accepted.claims)) + repr(dict(accepted.header))


# -- known core bugs (see the final report for the proposed fix) ------------------------------


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat", "auth_time"])
def test_huge_integer_time_claim(issuer: Issuer, claim: str) -> None:
    token = issuer.sign(header_for(issuer.current_key), now_claims(issuer, **{claim: 10**400}))
    assert_exact(refuse(static_verifier(issuer), token), "invalid_claim")


@pytest.mark.parametrize("iss", [["https://x/"], {"a": 1}])
def test_unhashable_iss_in_a_signed_token(issuer: Issuer, iss: Any) -> None:
    token = issuer.sign(header_for(issuer.current_key), now_claims(issuer, iss=iss))
    assert_exact(refuse(static_verifier(issuer), token), "invalid_issuer")


@pytest.mark.parametrize("iss", [["https://x/"], {"a": 1}])
def test_unhashable_iss_unsigned_in_discovery_mode(issuer: Issuer, iss: Any) -> None:
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience)
    token = compact(header_for(issuer.current_key), {"iss": iss}, b"forged")
    assert_exact(refuse(v, token), "invalid_issuer")
