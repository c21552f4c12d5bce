"""RFC 6750 §3 / RFC 9110 §11.6.1 challenge rendering, and the refusal responses."""

from __future__ import annotations

import json
import re

import pytest

from bearerguard import (
    BearerError,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    KeysUnavailable,
    MissingToken,
    error_response,
)
from bearerguard.challenge import check_scope, check_text, quote, render
from bearerguard.errors import DESCRIPTIONS

# RFC 6750 §3: error_description = *( %x20-21 / %x23-5B / %x5D-7E )
RFC6750_TEXT = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")
JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def test_bare_challenge() -> None:
    assert render("api") == 'Bearer realm="api"'
    assert render("my api") == 'Bearer realm="my api"'
    assert render(None) == "Bearer"
    # RFC 6750 §3.1: without credentials, no error code even if a description is given.
    assert render("api", None, "ignored", ("a",)) == 'Bearer realm="api"'


def test_full_challenge() -> None:
    assert render("api", "insufficient_scope", "Needs more", ("read:a", "write:b")) == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="Needs more", scope="read:a write:b"'
    )
    assert render("api", "invalid_token") == 'Bearer realm="api", error="invalid_token"'
    assert render(None, "invalid_request", "x") == (
        'Bearer error="invalid_request", error_description="x"'
    )


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("api", '"api"'),
        ("", '""'),
        ('a"b', '"a\\"b"'),
        ("a\\b", '"a\\\\b"'),
        ('\\"', '"\\\\\\""'),
        ("tab\there", '"tab\there"'),
        ("line\r\nX-Evil: 1", '"line??X-Evil: 1"'),  # a header can never be split
        ("caf\u00e9", '"caf?"'),
        ("\x00\x7f", '"??"'),
    ],
)
def test_quoting(value: str, quoted: str) -> None:
    assert quote(value) == quoted


def test_realm_is_escaped_in_refusals() -> None:
    err = InvalidToken("expired", realm='say "hi" \\o/')
    assert err.www_authenticate == (
        'Bearer realm="say \\"hi\\" \\\\o/", error="invalid_token", '
        f'error_description="{DESCRIPTIONS["expired"]}"'
    )


@pytest.mark.parametrize("text", ['say "hi"', "back\\slash", "tab\t", "caf\u00e9", "cr\r", "\x7f"])
def test_error_description_charset_is_enforced(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 6750"):
        check_text(text, "error_description")
    with pytest.raises(ValueError, match="RFC 6750"):
        render("api", "invalid_token", text)


@pytest.mark.parametrize("scope", ["", "a b", 'a"b', "a\\b", "caf\u00e9", "a\tb"])
def test_scope_token_charset_is_enforced(scope: str) -> None:
    with pytest.raises(ValueError, match="scope-token"):
        check_scope(scope)
    with pytest.raises(ValueError, match="scope-token"):
        render("api", "insufficient_scope", "x", (scope,))


def test_scope_token_full_range() -> None:
    scope = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\')
    assert check_scope(scope) == scope
    assert render("api", "insufficient_scope", None, (scope,)) == (
        f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'
    )


@pytest.mark.parametrize(("reason", "description"), sorted(DESCRIPTIONS.items()))
def test_every_description_fits_rfc6750(reason: str, description: str) -> None:
    assert RFC6750_TEXT.fullmatch(description), reason
    assert InvalidToken(reason).description == description


def test_missing_token() -> None:
    err = MissingToken(realm="api")
    assert (err.status_code, err.error, err.reason) == (401, None, "missing_token")
    assert err.www_authenticate == 'Bearer realm="api"'
    assert err.headers() == {**JSON_HEADERS, "WWW-Authenticate": 'Bearer realm="api"'}
    assert err.body() == (
        b'{"error_description":"' + DESCRIPTIONS["missing_token"].encode() + b'",'
        b'"reason":"missing_token"}'
    )
    assert error_response(err) == (
        401,
        [
            ("Content-Type", "application/json"),
            ("Cache-Control", "no-store"),
            ("WWW-Authenticate", 'Bearer realm="api"'),
        ],
        err.body(),
    )


@pytest.mark.parametrize(
    ("err", "status", "error"),
    [
        (InvalidRequest("empty_token"), 400, "invalid_request"),
        (InvalidToken("bad_signature"), 401, "invalid_token"),
        (InsufficientScope("claim_requirement_failed"), 403, "insufficient_scope"),
    ],
)
def test_error_challenges(err: BearerError, status: int, error: str) -> None:
    description = DESCRIPTIONS[err.reason]
    challenge = f'Bearer realm="api", error="{error}", error_description="{description}"'
    assert err.status_code == status
    assert err.www_authenticate == challenge
    assert err.headers() == {**JSON_HEADERS, "WWW-Authenticate": challenge}
    assert json.loads(err.body()) == {
        "error": error,
        "error_description": description,
        "reason": err.reason,
    }
    assert error_response(err) == (status, list(err.headers().items()), err.body())


def test_insufficient_scope_names_the_scopes() -> None:
    err = InsufficientScope(scopes=("read:messages", "write:messages"), realm="photos")
    assert err.www_authenticate == (
        'Bearer realm="photos", error="insufficient_scope", '
        f'error_description="{DESCRIPTIONS["insufficient_scope"]}", '
        'scope="read:messages write:messages"'
    )
    assert err.body() == (
        b'{"error":"insufficient_scope","error_description":"'
        + DESCRIPTIONS["insufficient_scope"].encode()
        + b'","reason":"insufficient_scope"}'
    )


@pytest.mark.parametrize(("retry_after", "header"), [(7, "7"), (0, "1"), (-5, "1"), (2.9, "2")])
def test_503_has_retry_after_and_no_challenge(retry_after: float, header: str) -> None:
    err = KeysUnavailable(retry_after=retry_after)  # type: ignore[arg-type]
    assert err.status_code == 503
    assert err.www_authenticate is None
    assert err.headers() == {**JSON_HEADERS, "Retry-After": header}
    assert "WWW-Authenticate" not in err.headers()
    assert err.body() == (
        b'{"error_description":"'
        + DESCRIPTIONS["keys_unavailable"].encode()
        + b'","reason":"keys_unavailable"}'
    )
    status, headers, body = error_response(err)
    assert status == 503
    assert headers == [
        ("Content-Type", "application/json"),
        ("Cache-Control", "no-store"),
        ("Retry-After", header),
    ]
    assert body == err.body()


def test_str_is_reason_and_description() -> None:
    err = InvalidToken("expired")
    assert str(err) == f"expired: {DESCRIPTIONS['expired']}"
    assert err.args == ("expired",)
