"""``decide`` takes a shortcut for a lone ``Bearer <token>`` header; it must change nothing.

The shortcut (``bearerguard.pipeline``) skips the general header parser, and for a cached
token everything else. Every header below is decided by a verifier whose cache already
holds the token and by one with the cache off, through ``decide`` and ``decide_async``, as
a string and as a one-item list (the shortcut's forms); the decisions (the token's claims,
or the error class, reason and the rendered response) must be identical to ``decide`` given
the same header in a form that takes the full extraction path (a one-item list holding a
``str`` subclass: the shortcut only takes exact ``str`` values).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bearerguard import Decision, Verifier
from bearerguard.testing import Issuer

Outcome = tuple[str, Any]
PREFIXES = ["Bearer ", "bearer ", "BEARER ", "Bearer  ", " Bearer ", "Bearer\t", "Basic ", ""]
# Characters around the token alphabet: b64token extras, separators, whitespace, non-ASCII.
ODD = [*"=.,;~+/-_ \t\"'\\", "\x00", "\x7f", "é", "\u2028"]


class Header(str):
    """An ``Authorization`` value the shortcut does not take (its type is not ``str``)."""


def outcome(decision: Decision) -> Outcome:
    if decision.error is not None:
        err = decision.error
        return ("refused", (type(err).__name__, err.reason, repr(decision.response())))
    token = decision.token
    return ("accepted", None if token is None else json.dumps(dict(token.claims), sort_keys=True))


def decisions(v: Verifier, values: list[Any]) -> set[Outcome]:
    """The outcome of ``decide`` and ``decide_async`` for each form of the header."""
    results = {outcome(v.decide(value)) for value in values}
    loop = asyncio.new_event_loop()
    try:
        for value in values:
            results.add(outcome(loop.run_until_complete(v.decide_async(value))))
    finally:
        loop.close()
    return results


def full_path(v: Verifier, header: str) -> set[Outcome]:
    return decisions(v, [[Header(header)]])


def fast_path(v: Verifier, header: str) -> set[Outcome]:
    return decisions(v, [header, [header]])


@pytest.fixture(scope="module")
def verifiers(issuer: Issuer) -> tuple[Verifier, Verifier, str]:
    token = issuer.token()
    kw: dict[str, Any] = {
        "issuer": issuer.issuer,
        "audience": issuer.audience,
        "keys": issuer.jwks(),
    }
    warm = Verifier(realm="fast-path", **kw)
    warm.verify(token)  # now cached
    cold = Verifier(realm="fast-path", token_cache_size=0, **kw)
    return warm, cold, token


def check(verifiers: tuple[Verifier, Verifier, str], header: str) -> Outcome:
    warm, cold, _ = verifiers
    expected = full_path(cold, header)
    assert len(expected) == 1, header[:40]
    assert full_path(warm, header) == expected, header[:40]
    assert fast_path(warm, header) == expected, header[:40]
    assert fast_path(cold, header) == expected, header[:40]
    return next(iter(expected))


@pytest.fixture
def parser_calls(
    verifiers: tuple[Verifier, Verifier, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[Any]]:
    calls: list[Any] = []
    for v in verifiers[:2]:
        real = v.credentials  # the full extraction (RFC 6750 §2, RFC 9449 §7.1)

        def spy(*args: Any, _real: Callable[..., Any] = real, **kwargs: Any) -> Any:
            calls.append(args[0])
            return _real(*args, **kwargs)

        monkeypatch.setattr(v, "credentials", spy)
    yield calls


def test_the_forms_take_the_paths_they_are_meant_to(
    verifiers: tuple[Verifier, Verifier, str], parser_calls: list[Any]
) -> None:
    # The full extraction path runs the header parser; the shortcut, for a token that
    # verifies (cached or not), never does. Otherwise this file would compare a path with itself.
    warm, cold, token = verifiers
    header = "Bearer " + token
    for v in (warm, cold):
        fast_path(v, header)
        assert parser_calls == []
        full_path(v, header)
        assert len(parser_calls) == 2  # decide and decide_async
        parser_calls.clear()


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
    assert kind == "refused"
    assert detail[:2] == expected
    assert 'realm="fast-path"' in detail[2]  # the verifier's realm, on every path


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
