"""Claim paths: parsing (dots, URLs, escapes, tuples) and resolving on any claims shape."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bearerguard.claimpath import MISSING, ClaimPath, resolve
from bearerguard.tokens import freeze

KEYCLOAK = freeze(
    {
        "realm_access": {"roles": ["offline_access", "admin"]},
        "resource_access": {
            "my.api": {"roles": ["writer"]},
            "account": {"roles": ["view-profile"]},
        },
        "https://example.com/roles": ["editor"],
        "https://hasura.io/jwt/claims": {"x-hasura-allowed-roles": ["user"]},
        "a.b": "top-level name with a dot",
        "a": {"b": "nested"},
        "nil": None,
        "flag": False,
        "zero": 0,
        "list": [{"x": 1}],
        "text": "abc",
    }
)


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("sub", ("sub",)),
        ("realm_access.roles", ("realm_access", "roles")),
        ("resource_access.account.roles", ("resource_access", "account", "roles")),
        ("https://example.com/roles", ("https://example.com/roles",)),
        ("https://example.com/claims.v2/roles", ("https://example.com/claims.v2/roles",)),
        ("urn:example:roles", ("urn:example:roles",)),
        ("cognito:groups", ("cognito:groups",)),
        ("resource_access.my\\.api.roles", ("resource_access", "my.api", "roles")),
        ("a\\.b", ("a.b",)),
        ("back\\\\slash", ("back\\slash",)),
        ("back\\\\.x", ("back\\", "x")),
        (("https://hasura.io/jwt/claims", "r"), ("https://hasura.io/jwt/claims", "r")),
        (["a.b", "c"], ("a.b", "c")),
        (("a\\.b",), ("a\\.b",)),  # a tuple is taken verbatim: no unescaping
        (" spaced . out ", (" spaced ", " out ")),
    ],
)
def test_parse(path: Any, segments: tuple[str, ...]) -> None:
    assert ClaimPath.parse(path).segments == segments


def test_parse_returns_a_path_unchanged() -> None:
    p = ClaimPath(("a", "b"))
    assert ClaimPath.parse(p) is p


@pytest.mark.parametrize(
    "path",
    ["", ".", "..", "a..b", ".a", "a.", "a\\", "a\\b", "a\\:b", (), [], ("a", ""), ("",)],
)
def test_bad_paths_are_configuration_errors(path: Any) -> None:
    with pytest.raises(ValueError, match="claim path"):
        ClaimPath.parse(path)


@pytest.mark.parametrize("path", [None, 3, b"a.b", {"a": "b"}, ("a", 1), ["a", None]])
def test_non_string_paths_are_type_errors(path: Any) -> None:
    with pytest.raises(TypeError, match="claim path"):
        ClaimPath.parse(path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("realm_access.roles", ["offline_access", "admin"]),
        ("resource_access.my\\.api.roles", ["writer"]),
        (("resource_access", "my.api", "roles"), ["writer"]),
        ("https://example.com/roles", ["editor"]),
        (("https://hasura.io/jwt/claims", "x-hasura-allowed-roles"), ["user"]),
        ("a.b", "nested"),  # dots separate: never the top-level "a.b"
        ("a\\.b", "top-level name with a dot"),
        ("nil", None),  # a JSON null is a value, not MISSING
        ("flag", False),
        ("zero", 0),
    ],
)
def test_resolve(path: Any, expected: Any) -> None:
    assert resolve(KEYCLOAK, path) == expected
    assert type(resolve(KEYCLOAK, path)) is not type(MISSING)


@pytest.mark.parametrize(
    "path",
    [
        "realm_access.groups",  # absent member
        "realm_access.roles.0",  # no array indices
        "list.0.x",
        "text.length",  # a string is not an object
        "nil.x",
        "zero.x",
        "flag.x",
        "absent",
        "absent.deeper",
        "https://example.com/roles.x",  # one name with '://': absent as a whole
        "resource_access.my.api.roles",  # unescaped: my -> api -> roles does not exist
    ],
)
def test_resolve_missing(path: str) -> None:
    assert resolve(KEYCLOAK, path) is MISSING


@pytest.mark.parametrize("claims", [None, [], "realm_access", 42, 1.5, True, object()])
def test_resolve_on_non_mappings_is_missing(claims: Any) -> None:
    assert resolve(claims, "realm_access.roles") is MISSING


def test_resolve_on_a_hostile_mapping_is_missing() -> None:
    class Hostile(dict):  # type: ignore[type-arg]
        def get(self, *args: Any) -> Any:
            raise RuntimeError("boom")

    assert resolve(Hostile(), "a") is MISSING
    assert resolve({"a": Hostile()}, "a.b") is MISSING


def test_missing_is_falsy_and_named() -> None:
    assert not MISSING
    assert repr(MISSING) == "MISSING"
    assert str(MISSING) == "MISSING"


@pytest.mark.parametrize(
    ("segments", "text"),
    [
        (("realm_access", "roles"), "realm_access.roles"),
        (("https://example.com/roles",), "https://example.com/roles"),
        (("my.api", "roles"), "my\\.api.roles"),
        (("back\\",), "back\\\\"),
        (("https://x.example/c", "r"), "('https://x.example/c', 'r')"),
    ],
)
def test_str(segments: tuple[str, ...], text: str) -> None:
    assert str(ClaimPath(segments)) == text


def test_nested() -> None:
    assert ClaimPath.parse("a.b").nested
    assert not ClaimPath.parse("https://example.com/a.b").nested


def test_paths_are_values() -> None:
    assert ClaimPath.parse("a.b") == ClaimPath.parse(("a", "b"))
    assert hash(ClaimPath.parse("a.b")) == hash(ClaimPath(("a", "b")))
    with pytest.raises(AttributeError):
        ClaimPath.parse("a").segments = ("b",)  # type: ignore[misc]


_segment = st.text(min_size=1, max_size=8).filter(lambda s: "://" not in s)


@given(st.lists(_segment, min_size=1, max_size=4))
def test_str_round_trips(segments: list[str]) -> None:
    path = ClaimPath(tuple(segments))
    assert ClaimPath.parse(str(path)) == path


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)


@given(_json, st.lists(_segment, min_size=1, max_size=4))
def test_resolve_never_raises(claims: Any, segments: list[str]) -> None:
    value = resolve(freeze(claims), tuple(segments))
    # What comes back is either MISSING or really found by walking the objects.
    node: Any = claims
    for seg in segments:
        if not isinstance(node, dict) or seg not in node:
            assert value is MISSING
            return
        node = node[seg]
    assert value == node or (value != value and node != node)  # NaN
