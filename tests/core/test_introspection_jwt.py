"""RFC 9701 signed introspection answers, against the real test issuer over HTTP.

Expected values come from RFC 9701 (§4 the ``Accept`` media type, §5 ``typ``, ``iss``, ``aud``,
``iat`` and the ``token_introspection`` claim) and from the 503 contract of DESIGN.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from bearerguard import InvalidToken, SettingError, Settings, StaticKeySource, Verifier
from bearerguard._introspection_io import urllib_poster
from bearerguard.errors import DESCRIPTIONS
from bearerguard.introspection import IntrospectionUnavailable, Introspector
from bearerguard.jwk import import_static
from bearerguard.testing import Issuer
from bearerguard.testing.issuer import JWT_BEHAVIOURS

AUD = "https://api.example.com"
CLIENT_ID = "resource-server"
SECRET = "s3cret-of-the-api"
MEDIA = "application/token-introspection+jwt"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD, algs=("ES256",)) as iss:
        iss.register_client(CLIENT_ID, SECRET, scopes=())
        yield iss


class RecordingPoster:
    """The real HTTP poster, remembering the headers of each request."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    def __call__(
        self, url: str, *, data: bytes, headers: Mapping[str, str], timeout: float, max_bytes: int
    ) -> tuple[int, bytes]:
        self.headers.append(dict(headers))
        return urllib_poster(url, data=data, headers=headers, timeout=timeout, max_bytes=max_bytes)


def make(issuer: Issuer, **kw: Any) -> Introspector:
    options: dict[str, Any] = {
        "issuers": [issuer.issuer],
        "audiences": [AUD],
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "jwt_response": True,
    }
    options.update(kw)
    return Introspector(**options)


def verifier(issuer: Issuer, **kw: Any) -> Verifier:
    return Verifier(
        issuer=issuer.issuer,
        audience=AUD,
        token_formats="jwt,opaque",
        client_id=CLIENT_ID,
        client_secret=SECRET,
        introspection_jwt="on",
        **kw,
    )


def assert_503(err: IntrospectionUnavailable, reason: str) -> None:
    assert (err.status_code, err.reason) == (503, reason)
    assert err.headers() == {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "Retry-After": "5",
    }
    assert json.loads(err.body()) == {"error_description": DESCRIPTIONS[reason], "reason": reason}


def unavailable(intro: Introspector, token: str, reason: str) -> None:
    with pytest.raises(IntrospectionUnavailable) as info:
        intro.introspect(token)
    assert_503(info.value, reason)


# -- the request and a good answer ---------------------------------------------------------


def test_asks_for_a_jwt_and_accepts_the_signed_answer(issuer: Issuer) -> None:
    token = issuer.opaque_token("alice", ["read:messages"], {"tenant": "acme"})
    poster = RecordingPoster()
    at = make(issuer, poster=poster).introspect(token)
    assert poster.headers[0]["Accept"] == "application/token-introspection+jwt"
    assert at.subject == "alice"
    assert at.scopes == frozenset({"read:messages"})
    assert at["tenant"] == "acme"
    assert at["active"] is True
    # The claims are the answer inside the JWT, not the JWT's own envelope.
    assert "token_introspection" not in at.claims
    assert at.claims["aud"] == AUD
    assert at.claims["iss"] == issuer.issuer


def test_without_the_setting_plain_json_is_asked_for(issuer: Issuer) -> None:
    token = issuer.opaque_token("alice")
    poster = RecordingPoster()
    at = make(issuer, poster=poster, jwt_response=False).introspect(token)
    assert poster.headers[0]["Accept"] == "application/json"
    assert at.subject == "alice"


def test_issuer_serves_the_rfc9701_media_type(issuer: Issuer) -> None:
    token = issuer.opaque_token("alice")
    req = urllib.request.Request(
        issuer.url + "/introspect",
        data=f"token={token}&client_id={CLIENT_ID}&client_secret={SECRET}".encode(),
        headers={"Accept": MEDIA, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == MEDIA
        body = resp.read().decode()
    assert body.count(".") == 2
    assert issuer.metadata()["introspection_signing_alg_values_supported"] == ["ES256"]


def test_answer_is_cached_after_verification(issuer: Issuer) -> None:
    token = issuer.opaque_token("alice")
    intro = make(issuer)
    intro.introspect(token)
    calls = issuer.introspection_calls
    assert intro.introspect(token).subject == "alice"
    assert issuer.introspection_calls == calls


def test_async_path(issuer: Issuer) -> None:
    token = issuer.opaque_token("bob")

    async def main() -> str | None:
        return (await make(issuer).introspect_async(token)).subject

    assert asyncio.run(main()) == "bob"


# -- the server misbehaves: 503, each with its reason ---------------------------------------

MISBEHAVIOURS = {
    "plain": "introspection_response_unsigned",
    "unsigned": "introspection_response_unsigned",
    "bad_signature": "introspection_response_bad_signature",
    "wrong_typ": "introspection_response_invalid",
    "no_typ": "introspection_response_invalid",
    "wrong_aud": "introspection_response_invalid",
    "wrong_iss": "introspection_response_invalid",
    "stale": "introspection_response_invalid",
    "no_claim": "introspection_response_invalid",
}


def test_every_misbehaviour_is_covered() -> None:
    assert set(MISBEHAVIOURS) == JWT_BEHAVIOURS - {"ok"}


@pytest.mark.parametrize(("behaviour", "reason"), sorted(MISBEHAVIOURS.items()))
def test_misbehaving_server_is_refused(
    issuer: Issuer, behaviour: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = issuer.opaque_token("alice", claims={"secret_claim": "do-not-log"})
    issuer.introspection_jwt_behaviour = behaviour
    intro = make(issuer)
    with caplog.at_level(logging.DEBUG):
        unavailable(intro, token, reason)
    assert token not in caplog.text and "do-not-log" not in caplog.text
    # Not cached: once the server behaves, the same token is accepted.
    issuer.introspection_jwt_behaviour = "ok"
    assert intro.introspect(token).subject == "alice"


def test_unknown_behaviour_is_a_value_error(issuer: Issuer) -> None:
    with pytest.raises(ValueError, match="introspection_jwt_behaviour must be one of"):
        issuer.introspection_jwt_behaviour = "sometimes"


def test_rotated_key_unknown_kid_is_503_not_401(issuer: Issuer) -> None:
    # Keys known to us are an old snapshot: the answer's kid is unknown -> the server's fault.
    old = StaticKeySource(import_static(issuer.jwks()))
    issuer.rotate()
    token = issuer.opaque_token("alice")
    intro = make(issuer, response_keys=lambda iss: old)
    unavailable(intro, token, "introspection_response_bad_signature")


# -- the answer inside still passes the RFC 7662 rules (401 for the token) ------------------


def refused(intro: Introspector, token: str, reason: str) -> None:
    with pytest.raises(InvalidToken) as info:
        intro.introspect(token)
    assert (info.value.status_code, info.value.reason) == (401, reason)


def test_inner_rules_still_apply(issuer: Issuer) -> None:
    intro = make(issuer, cache_ttl=0)
    revoked = issuer.opaque_token("alice")
    issuer.revoke(revoked)
    refused(intro, revoked, "token_inactive")
    refused(intro, issuer.opaque_token(audience="https://other.example"), "invalid_audience")
    refused(intro, issuer.opaque_token(token_type="refresh_token"), "invalid_token_type")
    refused(intro, issuer.opaque_token(claims={"nbf": time.time() + 3600}), "not_yet_valid")


# -- crafted answers: what the issuer cannot be made to send --------------------------------


def crafted(issuer: Issuer, header: dict[str, Any], claims: dict[str, Any]) -> bytes:
    key = issuer.current_key
    return issuer.sign({"alg": key.alg, "kid": key.kid, **header}, claims, key).encode()


def check(issuer: Issuer, body: bytes) -> dict[str, Any]:
    intro = make(issuer, response_keys=lambda iss: StaticKeySource(import_static(issuer.jwks())))
    signed = intro._signed
    assert signed is not None
    return signed.verify(body)


def good(issuer: Issuer, **over: Any) -> dict[str, Any]:
    claims = {
        "iss": issuer.issuer,
        "aud": CLIENT_ID,
        "iat": int(time.time()),
        "token_introspection": {"active": True, "sub": "alice"},
    }
    claims.update(over)
    return claims


TYP = {"typ": "token-introspection+jwt"}


@pytest.mark.parametrize(
    ("header", "over"),
    [
        (TYP, {}),
        ({"typ": "application/token-introspection+jwt"}, {}),  # RFC 7515 §4.1.9 prefix
        ({"typ": "Token-Introspection+JWT"}, {}),  # media types are case-insensitive
        (TYP, {"aud": AUD}),  # RFC 9701 §5's own example names the resource
        (TYP, {"aud": ["another", CLIENT_ID]}),
    ],
)
def test_crafted_accepted(issuer: Issuer, header: dict[str, Any], over: dict[str, Any]) -> None:
    assert check(issuer, crafted(issuer, header, good(issuer, **over))) == {
        "active": True,
        "sub": "alice",
    }


@pytest.mark.parametrize(
    ("header", "over", "reason"),
    [
        (TYP, {"iat": int(time.time()) + 3600}, "introspection_response_invalid"),
        (TYP, {"iat": "now"}, "introspection_response_invalid"),
        (TYP, {"aud": []}, "introspection_response_invalid"),
        (TYP, {"iss": None}, "introspection_response_invalid"),
        (TYP, {"token_introspection": "active"}, "introspection_response_invalid"),
        ({**TYP, "crit": ["exp"]}, {}, "introspection_response_invalid"),
        ({**TYP, "kid": "unknown-kid"}, {}, "introspection_response_bad_signature"),
    ],
)
def test_crafted_refused(
    issuer: Issuer, header: dict[str, Any], over: dict[str, Any], reason: str
) -> None:
    claims = {k: v for k, v in good(issuer, **over).items() if v is not None}
    with pytest.raises(IntrospectionUnavailable) as info:
        check(issuer, crafted(issuer, header, claims))
    assert_503(info.value, reason)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'  {"active": true}\n', "introspection_response_unsigned"),
        (b"a.b.c.d.e", "introspection_response_invalid"),  # a JWE: not supported
        (b"not a jwt", "introspection_response_invalid"),
        (b"\xff.\xff.\xff", "introspection_response_invalid"),
    ],
)
def test_not_a_jws(issuer: Issuer, body: bytes, reason: str) -> None:
    with pytest.raises(IntrospectionUnavailable) as info:
        check(issuer, body)
    assert_503(info.value, reason)


def test_symmetric_alg_refused(issuer: Issuer) -> None:
    hs = issuer.sign({"alg": "HS256", **TYP}, good(issuer), raw_signature=b"x" * 32).encode()
    with pytest.raises(IntrospectionUnavailable) as info:
        check(issuer, hs)
    assert_503(info.value, "introspection_response_bad_signature")


# -- through the Verifier: the setting, the shared key source, the rendered 503 -------------


def test_setting_parses() -> None:
    base = {"BEARERGUARD_ISSUER": "https://issuer.example/", "BEARERGUARD_AUDIENCE": AUD}
    assert Settings.from_mapping(base).introspection_jwt is False
    on = Settings.from_mapping({**base, "BEARERGUARD_INTROSPECTION_JWT": "on"})
    assert on.introspection_jwt is True
    with pytest.raises(SettingError, match="BEARERGUARD_INTROSPECTION_JWT"):
        Settings.from_mapping({**base, "BEARERGUARD_INTROSPECTION_JWT": "yes"})


def test_verifier_uses_its_own_key_source(issuer: Issuer) -> None:
    v = verifier(issuer)
    assert v.check_token(issuer.token("jwt-user")).subject == "jwt-user"  # loads the keys
    fetches = issuer.jwks_fetches
    assert v.check_token(issuer.opaque_token("opaque-user")).subject == "opaque-user"
    assert issuer.jwks_fetches == fetches  # the signed answer was checked with the same keys


def test_verifier_renders_503_for_a_bad_signature(issuer: Issuer) -> None:
    v = verifier(issuer)
    token = issuer.opaque_token("alice")
    issuer.introspection_jwt_behaviour = "bad_signature"
    decision = v.decide(f"Bearer {token}", method="GET", url="https://api.example.com/x")
    status, headers, body = decision.response()
    assert status == 503
    assert dict(headers) == {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "Retry-After": "5",
    }
    assert json.loads(body) == {
        "error_description": (
            "The authorization server's introspection answer has an invalid signature"
        ),
        "reason": "introspection_response_bad_signature",
    }


def test_answer_signed_with_an_algorithm_not_allowed(issuer: Issuer) -> None:
    # The issuer signs with ES256; the allow list (BEARERGUARD_ALGORITHMS) names RS256 only.
    unavailable(
        make(issuer, response_algorithms=["RS256"]),
        issuer.opaque_token(),
        "introspection_response_bad_signature",
    )


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        ("application/token-introspection+jwt", True),
        ("application/json, Application/Token-Introspection+JWT;q=0.5", True),
        ("application/token-introspection+jwt;q=0", False),
        ("application/json", False),
        (None, False),
    ],
)
def test_issuer_reads_the_accept_header(accept: str | None, wanted: bool) -> None:
    from bearerguard.testing._signed_answers import wants_jwt

    assert wants_jwt(accept) is wanted
