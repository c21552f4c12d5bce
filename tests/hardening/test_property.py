"""Property-based hardening of the core: every hostile input ends in a clean 400/401.

Over the Authorization header (Verifier.extract) and over each token segment
(Verifier.verify): every outcome is a BearerError with status 400 or 401, a well-formed
RFC 9110 / RFC 6750 challenge and the three-key JSON body. Never another exception,
never an acceptance. The time-claim property pins the clock and predicts the exact reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from bearerguard import BearerError, Verifier
from bearerguard.testing import Issuer

from ._contract import check_refusal
from ._helpers import b64, good_claims
from ._strategies import (
    B64TOKEN,
    B64URL,
    CLAIMS,
    HEADERS,
    header_values,
    json_values,
    segments,
    signatures,
)

NOW = 1_750_000_000
LEEWAY = 60
FAST = settings(
    deadline=None,
    max_examples=500,
    database=None,  # no .hypothesis directory in the tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def verifier(issuer: Issuer) -> Verifier:
    """Static keys (no fetch), pinned clock, header/query/form all enabled."""
    return Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        keys=issuer.jwks(),
        leeway=LEEWAY,
        token_locations=("header", "query", "form"),
        clock=lambda: float(NOW),
    )


def _outcome_of_header(v: Verifier, authorization: Any, **params: Any) -> BearerError:
    try:
        token = v.authenticate(authorization, **params)
    except BearerError as err:
        return err
    assert token is None, f"accepted: {token!r}"
    return v.missing()


def _refusal(v: Verifier, token: str) -> BearerError:
    try:
        accepted = v.verify(token)
    except BearerError as err:
        return err
    raise AssertionError(f"accepted: {accepted!r}")


# -- properties ------------------------------------------------------------------------


@FAST
@given(authorization=st.none() | header_values() | st.lists(header_values(), max_size=3))
@example(authorization="Bearer x\r\nSet-Cookie: a=b")
@example(authorization="Bearer \x00")
@example(authorization="Bearer " + "a" * 100_000)
@example(authorization=["Bearer a.b.c", "Bearer a.b.c"])
@example(authorization="Bearer")
@example(authorization="Basic dXNlcjpwYXNz")
def test_authorization_header_never_accepted(verifier: Verifier, authorization: Any) -> None:
    err = _outcome_of_header(verifier, authorization)
    check_refusal(err)


@FAST
@given(
    authorization=st.none() | header_values(),
    query=st.none() | st.lists(st.text(max_size=40), max_size=3),
    form=st.none() | st.lists(st.text(alphabet=B64TOKEN + "=\r\n ", max_size=40), max_size=3),
)
def test_all_token_locations_never_accepted(
    verifier: Verifier, authorization: Any, query: Any, form: Any
) -> None:
    check_refusal(_outcome_of_header(verifier, authorization, query=query, form=form))


@FAST
@given(header=segments(HEADERS), payload=segments(CLAIMS), signature=signatures())
@example(header=b64(b'{"alg":"none"}'), payload=b64(b"{}"), signature="")
@example(header=b64(b"[" * 5000 + b"]" * 5000), payload="", signature="")
def test_token_segments_never_accepted(
    verifier: Verifier, header: str, payload: str, signature: str
) -> None:
    check_refusal(_refusal(verifier, f"{header}.{payload}.{signature}"))


@FAST
@given(parts=st.lists(st.text(alphabet=B64URL + ".", max_size=30), min_size=0, max_size=7))
def test_any_segment_count_is_refused(verifier: Verifier, parts: list[str]) -> None:
    check_refusal(_refusal(verifier, ".".join(parts)))


@FAST
@given(data=st.data())
def test_mutated_valid_token_never_accepted(
    verifier: Verifier, issuer: Issuer, data: st.DataObject
) -> None:
    token = issuer.sign(
        {"alg": "RS256", "kid": issuer.current_key.kid, "typ": "at+jwt"},
        good_claims(issuer, iat=NOW, exp=NOW + 300),
    )
    verifier.verify(token)  # the unmutated token is good
    signed_part = token.rindex(".")
    kind = data.draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
    if kind == "replace":
        # The signature's last character may carry unused bits (RFC 4648 §3.5): leave it.
        pos = data.draw(st.integers(0, len(token) - 2))
        ch = data.draw(st.characters(codec="utf-8"))
        assume(ch != token[pos] and pos != signed_part)
        mutated = token[:pos] + ch + token[pos + 1 :]
    elif kind == "insert":
        pos = data.draw(st.integers(0, len(token)))
        mutated = token[:pos] + data.draw(st.text(min_size=1, max_size=3)) + token[pos:]
    elif kind == "delete":
        pos = data.draw(st.integers(0, len(token) - 1))
        mutated = token[:pos] + token[pos + 1 :]
    else:
        mutated = token[: data.draw(st.integers(0, len(token) - 1))]
    check_refusal(_refusal(verifier, mutated))


# -- claims of a correctly signed token: the exact reason is predicted ------------------

TIME_VALUES = st.one_of(
    st.integers(NOW - 1000, NOW + 1000),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(NOW - 200.0, NOW + 200.0),
    st.sampled_from([NOW - LEEWAY, NOW - LEEWAY + 1, NOW + LEEWAY, NOW + LEEWAY + 1, True]),
    st.sampled_from(["1750000000", "", None, [], {}, [NOW], "NaN"]),
)
ABSENT = object()


def _expected_reason(exp: Any, nbf: Any, iat: Any) -> str | None:
    present = [v for v in (exp, nbf, iat) if v is not ABSENT]
    for value in present:
        if type(value) not in (int, float) or not math.isfinite(value):
            return "invalid_claim"
        # Issue #11 finding 6: a NumericDate lies between the epoch and 9999-12-31T23:59:59Z.
        if not 0 <= value <= 253402300799:
            return "invalid_claim"
    if exp is ABSENT:
        return "missing_claim"
    if exp + LEEWAY <= NOW:  # the verifier's `now >= exp + leeway`
        return "expired"
    if nbf is not ABSENT and nbf - LEEWAY > NOW:
        return "not_yet_valid"
    if iat is not ABSENT and iat - LEEWAY > NOW:
        return "issued_in_future"
    return None


@FAST
@given(
    exp=TIME_VALUES | st.just(ABSENT),
    nbf=TIME_VALUES | st.just(ABSENT),
    iat=TIME_VALUES | st.just(ABSENT),
)
@example(exp=NOW - LEEWAY, nbf=ABSENT, iat=ABSENT)  # just past the leeway
@example(exp=NOW - LEEWAY + 1, nbf=ABSENT, iat=ABSENT)  # just inside it
@example(exp=2**63, nbf=-(2**63), iat=-(2**63))
def test_time_claims_exact_reason(
    verifier: Verifier, issuer: Issuer, exp: Any, nbf: Any, iat: Any
) -> None:
    claims = good_claims(issuer)
    for name, value in (("exp", exp), ("nbf", nbf), ("iat", iat)):
        claims.pop(name, None)
        if value is not ABSENT:
            claims[name] = value
    token = issuer.sign({"alg": "RS256", "kid": issuer.current_key.kid, "typ": "at+jwt"}, claims)
    expected = _expected_reason(exp, nbf, iat)
    try:
        result = verifier.verify(token)
    except BearerError as err:
        check_refusal(err, statuses=(401,))
        assert err.reason == expected
    else:
        assert expected is None
        assert result.subject == "user-1"


SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)


@FAST
@given(
    # iss stays hashable here: lists/dicts are covered in test_attacks_claims.py.
    iss=st.sampled_from(["<ours>", "<ours-no-slash>"]) | SCALARS,
    aud=st.sampled_from(["<ours>", "<ours-in-list>"]) | json_values(4),
    others=st.dictionaries(
        st.sampled_from(
            [
                "sub",
                "client_id",
                "scope",
                "scp",
                "permissions",
                "azp",
                "jti",
                "nonce",
                "auth_time",
                "roles",
                "at_hash",
                "c_hash",
            ]
        ),
        json_values(4),
        max_size=4,
    ),
)
def test_signed_claims_accepted_only_when_sound(
    verifier: Verifier, issuer: Issuer, iss: Any, aud: Any, others: dict[str, Any]
) -> None:
    iss = {"<ours>": issuer.issuer, "<ours-no-slash>": issuer.issuer[:-1]}.get(iss, iss)
    aud = {"<ours>": issuer.audience, "<ours-in-list>": ["x", issuer.audience]}.get(
        aud if isinstance(aud, str) else "", aud
    )
    claims = {**good_claims(issuer, iat=NOW, exp=NOW + 300, iss=iss, aud=aud), **others}
    token = issuer.sign({"alg": "RS256", "kid": issuer.current_key.kid, "typ": "at+jwt"}, claims)
    try:
        result = verifier.verify(token)
    except BearerError as err:
        check_refusal(err, statuses=(401,))
        return
    # Accepted: every invariant the verifier promises must hold.
    assert claims["iss"] == issuer.issuer
    assert aud == issuer.audience or (isinstance(aud, list) and issuer.audience in aud)
    assert all(isinstance(a, str) for a in ([aud] if isinstance(aud, str) else aud))
    # ID-token-only hashes; a bare nonce with our audience is accepted by design.
    assert "at_hash" not in claims and "c_hash" not in claims
    for name in ("sub", "client_id", "jti", "azp"):
        assert name not in claims or isinstance(claims[name], str)
    assert "auth_time" not in claims or type(claims["auth_time"]) in (int, float)
    assert all(s for s in result.scopes)  # never an empty scope
    json.dumps(dict(result.claims))


def _iter_causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


@FAST
@given(header=segments(HEADERS), payload=segments(CLAIMS), signature=signatures())
def test_refusals_never_carry_the_token(
    verifier: Verifier, header: str, payload: str, signature: str
) -> None:
    token = f"{header}.{payload}.{signature}"
    assume(len(token) >= 12)  # short strings occur in any text by chance
    err = _refusal(verifier, token)
    for exc in _iter_causes(err):
        for text in (str(exc), repr(exc), repr(exc.args)):
            assert token not in text
    assert token not in err.body().decode()
    assert all(token not in v for v in err.headers().values())
