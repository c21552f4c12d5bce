"""``authenticate`` takes a shortcut for a lone ``Bearer <token>`` header; it must change nothing.

The shortcut skips the general header parser (and, for a cached token, everything else).
Every header below is answered by a verifier whose cache already holds the token and by one
with the cache off, through ``authenticate`` and ``authenticate_async``, as a string and as
a one-item list; the outcomes (the token's claims, or the error class and reason) must be
identical, and must be what the full parser (``extract`` then ``verify``) gives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bearerguard import BearerError, Verifier
from bearerguard.testing import Issuer

Outcome = tuple[str, Any]
PREFIXES = ["Bearer ", "bearer ", "BEARER ", "Bearer  ", " Bearer ", "Bearer\t", "Basic ", ""]
# Characters around the token alphabet: b64token extras, separators, whitespace, non-ASCII.
ODD = [*"=.,;~+/-_ \t\"'\\", "\x00", "\x7f", "é", "\u2028"]


def outcome(call: Callable[[], Any]) -> Outcome:
    try:
        token = call()
    except BearerError as err:
        return ("refused", (type(err).__name__, err.reason, err.realm))
    return ("accepted", None if token is None else json.dumps(dict(token.claims), sort_keys=True))


def full_path(v: Verifier, header: str) -> Outcome:
    def call() -> Any:
        token = v.extract(header)
        return None if token is None else v.verify(token)

    return outcome(call)


@pytest.fixture(scope="module")
def verifiers(issuer: Issuer) -> tuple[Verifier, Verifier, str]:
    token = issuer.token()
    kw = {"issuer": issuer.issuer, "audience": issuer.audience, "keys": issuer.jwks()}
    warm = Verifier(realm="api", **kw)
    warm.verify(token)  # now cached
    cold = Verifier(realm="api", token_cache_size=0, **kw)
    return warm, cold, token


def every_path(v: Verifier, header: str) -> set[Outcome]:
    results = {
        outcome(lambda: v.authenticate(header)),
        outcome(lambda: v.authenticate([header])),
    }
    loop = asyncio.new_event_loop()
    try:
        for value in (header, [header]):
            coro = v.authenticate_async(value)
            results.add(outcome(lambda c=coro: loop.run_until_complete(c)))
    finally:
        loop.close()
    return results


def check(verifiers: tuple[Verifier, Verifier, str], header: str) -> Outcome:
    warm, cold, _ = verifiers
    expected = full_path(cold, header)
    assert every_path(warm, header) == {expected}, header[:40]
    assert every_path(cold, header) == {expected}, header[:40]
    return expected


def test_the_plain_header_is_accepted_from_the_cache_and_without_it(
    verifiers: tuple[Verifier, Verifier, str],
) -> None:
    kind, claims = check(verifiers, "Bearer " + verifiers[2])
    assert kind == "accepted"
    assert json.loads(claims)["sub"] == "user-1"


def tampered(token: str) -> str:
    """*token* with one signature character changed (still base64url, never the same token:
    replacing the last two characters with "AA" left 1 token in 256 unchanged)."""
    c = token[-10]
    return token[:-10] + ("B" if c == "A" else "A") + token[-9:]


@pytest.mark.parametrize(
    ("make_header", "expected"),
    [
        (lambda t: "Bearer " + t + "=", ("InvalidToken", "malformed_token")),
        (
            lambda t: "Bearer " + t + ",Bearer " + t,
            ("InvalidRequest", "multiple_authorization_headers"),
        ),
        (lambda t: "Bearer " + t + " x", ("InvalidRequest", "malformed_authorization")),
        (lambda t: "Bearer " + t + "é", ("InvalidRequest", "malformed_authorization")),
        (
            lambda t: "Bearer " + t.replace(".", "=", 1),
            ("InvalidRequest", "malformed_authorization"),
        ),
        (lambda t: "Bearer ", ("InvalidRequest", "empty_token")),
        (lambda t: "Bearer " + tampered(t), ("InvalidToken", "bad_signature")),
    ],
)
def test_near_misses_are_refused_as_the_full_parser_refuses_them(
    verifiers: tuple[Verifier, Verifier, str],
    make_header: Callable[[str], str],
    expected: tuple[str, str],
) -> None:
    kind, detail = check(verifiers, make_header(verifiers[2]))
    assert (kind, detail) == ("refused", (*expected, "api"))  # the realm is set on every path


@pytest.mark.parametrize("header", ["Bearer {t} ", "bearer {t}", "Bearer  {t}", "\tBearer {t}"])
def test_other_spellings_of_the_header_are_accepted(
    verifiers: tuple[Verifier, Verifier, str], header: str
) -> None:
    kind, claims = check(verifiers, header.format(t=verifiers[2]))
    assert kind == "accepted"
    assert json.loads(claims)["sub"] == "user-1"


def test_another_scheme_is_no_credentials(verifiers: tuple[Verifier, Verifier, str]) -> None:
    assert check(verifiers, "Basic " + verifiers[2]) == ("accepted", None)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(PREFIXES),
    cut=st.integers(min_value=0, max_value=3),
    inserts=st.lists(st.tuples(st.integers(min_value=0), st.sampled_from(ODD)), max_size=2),
    suffix=st.sampled_from(["", " ", "\t", ",", "=", "==", ", Bearer x", " realm=x"]),
)
def test_any_header_near_the_token_gets_the_full_parsers_answer(
    verifiers: tuple[Verifier, Verifier, str],
    prefix: str,
    cut: int,
    inserts: list[tuple[int, str]],
    suffix: str,
) -> None:
    token = verifiers[2]
    token = token[: len(token) - cut]
    for at, char in inserts:
        at %= len(token) + 1
        token = token[:at] + char + token[at:]
    check(verifiers, prefix + token + suffix)
