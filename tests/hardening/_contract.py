"""Strict checks of a refusal: RFC 9110 §11.6.1 challenge syntax, RFC 6750 §3, JSON body.

The parser here is deliberately independent of ``bearerguard.challenge``: it accepts only
``Bearer`` or ``Bearer k="v", k="v"`` with RFC 6750's character rules, so a rendering bug in
the core cannot hide behind a parser that shares its assumptions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from bearerguard import BearerError
from bearerguard.errors import DESCRIPTIONS
from tests.expect import DPOP_ALGS

# RFC 9110 §5.6.2 token
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# RFC 9110 §5.6.4 quoted-string, narrowed to RFC 6750 §3 (no quoted-pair needed for the
# values bearerguard sends: %x20-21 / %x23-5B / %x5D-7E) plus quoted-pairs for the realm.
_QUOTED = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*)"')
# RFC 6750 §3 and RFC 9449 §7.1 (algs), RFC 9728 §5.1 (resource_metadata),
# RFC 9470 §3 (acr_values, max_age: the step-up challenge).
_ALLOWED_PARAMS = frozenset(
    {
        "realm",
        "error",
        "error_description",
        "scope",
        "algs",
        "resource_metadata",
        "acr_values",
        "max_age",
    }
)
_RFC6750_VALUE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")

REALM = "api"
CHALLENGE_BARE = 'Bearer realm="api"'


def parse_challenges(value: str) -> dict[str, dict[str, str]]:
    """Parse a ``WWW-Authenticate`` value strictly: scheme -> its auth-params.

    Raises ``AssertionError`` on any deviation from RFC 9110 §11.6.1 as we send it (one
    space after the scheme, ``", "`` between parameters and between challenges).
    """
    assert "\r" not in value and "\n" not in value and "\x00" not in value, repr(value)
    assert value.isascii(), repr(value)
    out: dict[str, dict[str, str]] = {}
    pos = 0
    while True:
        m = _TOKEN.match(value, pos)
        assert m is not None, f"scheme expected at {pos} in {value!r}"
        scheme, pos = m.group(0), m.end()
        assert scheme not in out, f"duplicate challenge {scheme!r} in {value!r}"
        params = out[scheme] = {}
        if pos == len(value):
            return out
        if value[pos : pos + 2] == ", ":  # a bare challenge followed by another
            pos += 2
            continue
        assert value[pos] == " " and value[pos + 1 : pos + 2] != " ", repr(value)
        pos += 1
        while True:
            m = _TOKEN.match(value, pos)
            assert m is not None, f"auth-param name expected at {pos} in {value!r}"
            name = m.group(0).lower()
            pos = m.end()
            assert value[pos : pos + 1] == "=", f"'=' expected at {pos} in {value!r}"
            q = _QUOTED.match(value, pos + 1)
            assert q is not None, f"quoted-string expected at {pos + 1} in {value!r}"
            assert name not in params, f"duplicate auth-param {name!r} in {value!r}"
            assert name in _ALLOWED_PARAMS, f"unexpected auth-param {name!r}"
            params[name] = re.sub(r"\\(.)", r"\1", q.group(1))
            pos = q.end()
            if pos == len(value):
                return out
            assert value[pos : pos + 2] == ", ", f"', ' expected at {pos} in {value!r}"
            pos += 2
            nxt = _TOKEN.match(value, pos)
            if nxt is not None and value[nxt.end() : nxt.end() + 1] != "=":
                break  # a new challenge starts here


def parse_challenge(value: str) -> dict[str, str]:
    """The Bearer challenge's params; any DPoP challenge beside it must be the bare offer."""
    challenges = parse_challenges(value)
    assert next(iter(challenges)) == "Bearer", repr(value)
    dpop = challenges.get("DPoP")
    if dpop is not None:
        assert dpop == {"algs": DPOP_ALGS}, repr(value)
    assert set(challenges) <= {"Bearer", "DPoP"}, repr(value)
    return challenges["Bearer"]


def check_refusal(
    err: BearerError, *, statuses: tuple[int, ...] = (400, 401), realm: str = REALM
) -> dict[str, str]:
    """Assert *err* renders a well-formed RFC 6750 refusal; return the challenge params."""
    assert err.status_code in statuses, (err.status_code, err.reason)
    assert err.reason in DESCRIPTIONS, err.reason
    headers = err.headers()
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    for name, value in headers.items():
        assert _TOKEN.fullmatch(name), name
        assert value.isascii() and not set(value) & {"\r", "\n", "\x00"}, (name, value)
    body = json.loads(err.body())
    # Issue #13.6: no "error" member (rather than null) when there is no error code.
    expected_keys = {"error_description", "reason"} | ({"error"} if err.error else set())
    assert set(body) == expected_keys, body
    assert body["reason"] == err.reason
    assert body["error_description"] == DESCRIPTIONS[err.reason]
    if err.status_code == 503:
        assert "WWW-Authenticate" not in headers
        return {}
    params = parse_challenge(headers["WWW-Authenticate"])
    assert params["realm"] == realm
    if err.error is None:
        assert params == {"realm": realm}, params
        assert err.status_code == 401 and "error" not in body
        return params
    assert body["error"] == err.error == params["error"]
    assert params["error_description"] == body["error_description"]
    assert _RFC6750_VALUE.fullmatch(params["error"])
    assert _RFC6750_VALUE.fullmatch(params["error_description"])
    expected_error = {
        400: ("invalid_request",),
        # RFC 9470 §3: a valid token whose user authentication is too weak or too old.
        401: ("invalid_token", "insufficient_user_authentication"),
        403: ("insufficient_scope",),
    }
    assert err.error in expected_error[err.status_code]
    if "scope" in params:
        assert _SCOPE.fullmatch(params["scope"]), params
    return params


def challenge(reason: str, error: str = "invalid_token") -> str:
    """The exact ``WWW-Authenticate`` value bearerguard must send for *reason*."""
    return f'Bearer realm="api", error="{error}", error_description="{DESCRIPTIONS[reason]}"'


def body(reason: str, error: str | None = "invalid_token") -> dict[str, str | None]:
    """The exact JSON body for *reason*."""
    return {"error": error, "error_description": DESCRIPTIONS[reason], "reason": reason}


def assert_exact(
    err: BearerError, reason: str, status: int = 401, error: str | None = "invalid_token"
) -> None:
    """Assert the exact status, challenge, headers and body of a refusal."""
    check_refusal(err, statuses=(status,))
    assert (err.status_code, err.reason) == (status, reason)
    expected: Mapping[str, str] = {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        **({"WWW-Authenticate": challenge(reason, error)} if error else {}),
    }
    assert err.headers() == expected
    assert json.loads(err.body()) == body(reason, error)


def check_http_refusal(
    status: int,
    headers: list[tuple[str, str]],
    content: bytes,
    *,
    statuses: tuple[int, ...] = (400, 401),
) -> dict[str, object]:
    """Assert a refusal as it went over the wire: status, headers, JSON body; return the body."""
    assert status in statuses, (status, content[:200])
    names = [k.lower() for k, _ in headers]
    for name, value in headers:
        assert _TOKEN.fullmatch(name), name
        assert value.isascii() and not set(value) & {"\r", "\n", "\x00"}, (name, value)
    assert len(names) == len(set(names)), names  # no duplicated header
    h = {k.lower(): v for k, v in headers}
    assert h["content-type"] == "application/json"
    assert h["cache-control"] == "no-store"
    assert h["content-length"] == str(len(content))
    doc = json.loads(content)
    assert set(doc) - {"error"} == {"error_description", "reason"}, doc
    assert doc["error_description"] == DESCRIPTIONS[doc["reason"]]
    params = parse_challenge(h["www-authenticate"])
    assert params["realm"] == REALM
    if status == 401 and "error" not in doc:
        assert params == {"realm": REALM} and doc["reason"] == "missing_token"
    else:
        expected = {400: "invalid_request", 401: "invalid_token"}[status]
        assert doc["error"] == params["error"] == expected
        assert params["error_description"] == doc["error_description"]
    return dict(doc)
