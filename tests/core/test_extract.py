"""RFC 6750 §2: finding the token in the Authorization header, query or form."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from bearerguard import BearerError, InvalidRequest, Verifier, extract_token
from bearerguard.errors import DESCRIPTIONS
from tests.expect import DPOP_CHALLENGE

ISS = "https://tenant.example.com/"
AUD = "https://api.example.com"
ALL = ("header", "query", "form")


def verifier(*locations: str, realm: str = "api") -> Verifier:
    # No key is ever fetched here: extraction needs none.
    return Verifier(issuer=ISS, audience=AUD, realm=realm, token_locations=locations or ("header",))


def assert_invalid_request(
    exc: BearerError, reason: str, description: str, realm: str = "api"
) -> None:
    assert isinstance(exc, InvalidRequest)
    assert exc.reason == reason
    assert exc.status_code == 400
    assert exc.www_authenticate == (
        f'Bearer realm="{realm}", error="invalid_request", error_description="{description}"'
    )
    assert json.loads(exc.body()) == {
        "error": "invalid_request",
        "error_description": description,
        "reason": reason,
    }
    assert exc.body() == (
        b'{"error":"invalid_request","error_description":"'
        + description.encode()
        + b'","reason":"'
        + reason.encode()
        + b'"}'
    )


EMPTY = DESCRIPTIONS["empty_token"]
MALFORMED = DESCRIPTIONS["malformed_authorization"]
MULTIPLE_HEADERS = DESCRIPTIONS["multiple_authorization_headers"]
MULTIPLE_TOKENS = DESCRIPTIONS["multiple_tokens"]
BAD_PARAM = DESCRIPTIONS["malformed_parameter"]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("bEaReR abc", "abc"),
        ("Bearer    abc", "abc"),  # RFC 7235: 1*SP
        ("  Bearer abc \t", "abc"),  # surrounding OWS is not part of the field value
        ("Bearer aZ09-._~+/", "aZ09-._~+/"),
        ("Bearer abc==", "abc=="),  # b64token may end in '='
        ("Bearer eyJh.eyJz.c2ln", "eyJh.eyJz.c2ln"),
    ],
)
def test_header_token_found(header: str, token: str) -> None:
    assert verifier().extract(header) == token
    assert verifier().extract([header]) == token
    assert extract_token(header) == token


@pytest.mark.parametrize(
    "header",
    [None, "", [], "Basic dXNlcjpwYXNz", "Digest username=x", "DPoP abc", "Bearerx abc", "Token"],
)
def test_no_bearer_credentials(header: str | list[str] | None) -> None:
    assert verifier().extract(header) is None
    assert verifier(*ALL).extract(header) is None


@pytest.mark.parametrize(
    ("header", "reason", "description"),
    [
        ("Bearer", "empty_token", EMPTY),
        ("bearer", "empty_token", EMPTY),
        ("Bearer   ", "empty_token", EMPTY),
        ("Bearer a b", "malformed_authorization", MALFORMED),
        ("Bearer  abc def", "malformed_authorization", MALFORMED),
        ("Bearer\tabc", "malformed_authorization", MALFORMED),
        ("Bearer a\tb", "malformed_authorization", MALFORMED),
        ('Bearer a"b', "malformed_authorization", MALFORMED),
        ("Bearer a=b", "malformed_authorization", MALFORMED),
        ("Bearer =abc", "malformed_authorization", MALFORMED),
        ("Bearer ab\u00e9", "malformed_authorization", MALFORMED),
        ("Bearer abc\r\nX: y", "malformed_authorization", MALFORMED),
        ("Bearer=abc", "malformed_authorization", MALFORMED),
    ],
)
def test_malformed_header(header: str, reason: str, description: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        verifier().extract(header)
    assert_invalid_request(info.value, reason, description)


@pytest.mark.parametrize(
    "headers",
    [["Bearer a", "Bearer b"], ["Bearer a", "Bearer a"], ["Basic x", "Bearer a"], ["", ""]],
)
def test_two_authorization_headers(headers: list[str]) -> None:
    with pytest.raises(InvalidRequest) as info:
        verifier().extract(headers)
    assert_invalid_request(info.value, "multiple_authorization_headers", MULTIPLE_HEADERS)


@pytest.mark.parametrize(
    "header", ["Bearer a,Bearer b", "Bearer a, bearer b", "Basic x, Bearer a", "Bearer a,b"]
)
def test_repeated_header_lines_joined_by_comma(header: str) -> None:
    # RFC 9110 §5.3: a server may join repeated field lines with ","; b64token has no ",".
    with pytest.raises(InvalidRequest) as info:
        verifier().extract(header)
    assert_invalid_request(info.value, "multiple_authorization_headers", MULTIPLE_HEADERS)


def test_realm_of_the_verifier_is_used() -> None:
    v = verifier(realm="photos")
    decision = v.decide("Bearer")
    assert decision.error is not None
    assert_invalid_request(decision.error, "empty_token", EMPTY)  # on its own: default realm
    status, headers, _ = decision.response()  # rendered by the verifier: its realm
    assert status == 400
    assert dict(headers)["WWW-Authenticate"] == (
        f'Bearer realm="photos", error="invalid_request", error_description="{EMPTY}", '
        f"{DPOP_CHALLENGE}"
    )


def test_query_and_form_are_opt_in() -> None:
    v = verifier()
    assert v.token_locations == ("header",)
    assert v.extract(None, query=["abc"]) is None
    assert v.extract(None, form=["abc"]) is None
    # A disabled form location is not inspected: no 400 for a duplicate there.
    assert v.extract("Bearer abc", form=["z", "y"]) == "abc"


def test_header_and_query_token_refused_even_with_query_off() -> None:
    # Issue #13.2, RFC 6750 §2: a URL-borne token never slips by beside a header one.
    v = verifier()
    assert v.token_locations == ("header",)
    with pytest.raises(InvalidRequest) as info:
        v.extract("Bearer abc", query=["x"])
    assert_invalid_request(info.value, "multiple_tokens", DESCRIPTIONS["multiple_tokens"])
    with pytest.raises(InvalidRequest):
        v.extract("Bearer abc", query=["x", "y"])
    assert v.extract("Basic dXNlcjpwYXNz", query=["x"]) is None  # no bearer header: ignored
    assert v.extract(None, query=["x"]) is None  # alone: no credentials


@pytest.mark.parametrize("where", ["query", "form"])
def test_parameter_location_when_enabled(where: str) -> None:
    v = verifier("header", where)
    params: dict[str, Sequence[str]] = {where: ["abc.def.ghi"]}
    assert v.extract(None, **params) == "abc.def.ghi"
    # Another scheme in the header is not bearer credentials: no conflict.
    assert v.extract("Basic dXNlcjpwYXNz", **params) == "abc.def.ghi"
    assert v.extract(None, **{where: []}) is None


def test_header_not_enabled() -> None:
    v = verifier("query")
    assert v.extract("Bearer abc") is None
    assert v.extract("Bearer abc", query=["q"]) == "q"


@pytest.mark.parametrize(
    ("values", "reason", "description"),
    [
        (["a", "b"], "multiple_tokens", MULTIPLE_TOKENS),
        (["a", "a"], "multiple_tokens", MULTIPLE_TOKENS),
        ([""], "empty_token", EMPTY),
        (["a b"], "malformed_parameter", BAD_PARAM),
        (["Bearer abc"], "malformed_parameter", BAD_PARAM),
        (["a\u00e9"], "malformed_parameter", BAD_PARAM),
    ],
)
@pytest.mark.parametrize("where", ["query", "form"])
def test_bad_parameter(where: str, values: list[str], reason: str, description: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        verifier(*ALL).extract(None, **{where: values})
    assert_invalid_request(info.value, reason, description)


@pytest.mark.parametrize(
    ("header", "query", "form"),
    [
        ("Bearer abc", ["abc"], None),
        ("Bearer abc", None, ["abc"]),
        (None, ["abc"], ["abc"]),
        ("Bearer abc", ["abc"], ["abc"]),
        ("Bearer abc", ["xyz"], None),
    ],
)
def test_token_sent_by_two_methods(
    header: str | None, query: list[str] | None, form: list[str] | None
) -> None:
    # RFC 6750 §2: clients MUST NOT use more than one method per request.
    with pytest.raises(InvalidRequest) as info:
        verifier(*ALL).extract(header, query=query, form=form)
    assert_invalid_request(info.value, "multiple_tokens", MULTIPLE_TOKENS)


def test_authenticate_without_credentials_returns_none() -> None:
    v = verifier()
    assert v.authenticate(None) is None
    assert v.authenticate("Basic dXNlcjpwYXNz") is None
    with pytest.raises(InvalidRequest) as info:
        v.authenticate("Bearer a b")
    assert_invalid_request(info.value, "malformed_authorization", MALFORMED)
