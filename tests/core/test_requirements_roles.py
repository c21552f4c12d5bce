"""Role requirements (all / any) and claim requirements on nested claim paths → 403."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bearerguard import (
    AccessToken,
    ClaimEquals,
    ClaimIncludes,
    InsufficientScope,
    Requirements,
    Verifier,
)
from bearerguard.testing import Issuer
from bearerguard.tokens import freeze

ISS = "https://tenant.example.com/"
ROLE = "The access token lacks a required role"
CLAIM = "The access token does not meet this resource's requirements"
SCOPE = "The access token lacks a required scope"


def token(roles: tuple[str, ...] = (), scopes: tuple[str, ...] = (), **claims: Any) -> AccessToken:
    base: dict[str, Any] = {"iss": ISS, "sub": "user-1", "exp": 4102444800}
    base.update(claims)
    return AccessToken(base, {"alg": "RS256"}, frozenset(scopes), roles=frozenset(roles))


def refused(req: Requirements, tok: AccessToken) -> tuple[int, str, dict[str, Any], str]:
    """(status, WWW-Authenticate, JSON body, reason) of the refusal, as the verifier renders it."""
    v = Verifier(issuer=ISS, audience="urn:api", realm="photos", dpop="off")
    with pytest.raises(InsufficientScope) as info:
        v.authorize(tok, req)
    status, headers, body = v.render(info.value, req)
    return status, dict(headers)["WWW-Authenticate"], json.loads(body), info.value.reason


def role_refusal(scope: str = "") -> tuple[int, str, dict[str, Any], str]:
    www = f'Bearer realm="photos", error="insufficient_scope", error_description="{ROLE}"'
    www += f', scope="{scope}"' if scope else ""
    body = {"error": "insufficient_scope", "error_description": ROLE, "reason": "insufficient_role"}
    return 403, www, body, "insufficient_role"


CLAIM_REFUSAL = (
    403,
    f'Bearer realm="photos", error="insufficient_scope", error_description="{CLAIM}"',
    {
        "error": "insufficient_scope",
        "error_description": CLAIM,
        "reason": "claim_requirement_failed",
    },
    "claim_requirement_failed",
)


# --- construction ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (None, ()),
        ((), ()),
        ("admin", ("admin",)),
        ("admin  editor admin", ("admin", "editor")),
        (["Realm Admin", "editor", "editor"], ("Realm Admin", "editor")),  # lists: verbatim
        (("a:b/c", "https://roles.example.com/x"), ("a:b/c", "https://roles.example.com/x")),
        (frozenset({"x"}), ("x",)),
    ],
)
def test_roles_are_normalised(given: Any, stored: tuple[str, ...]) -> None:
    assert Requirements(roles=given).roles == stored
    assert Requirements(any_roles=given).any_roles == stored


@pytest.mark.parametrize("bad", [[""], ["admin", None], [1], [b"admin"], [("a",)]])
@pytest.mark.parametrize("kw", ["roles", "any_roles"])
def test_bad_roles_are_configuration_errors(kw: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=f"{kw}: a role is a non-empty string"):
        Requirements(**{kw: bad})


def test_roles_make_requirements_truthy() -> None:
    assert not Requirements()
    assert Requirements(roles="a")
    assert Requirements(any_roles="a")


def test_roles_take_part_in_equality() -> None:
    assert Requirements(roles="a b") == Requirements(roles=["a", "b"])
    assert Requirements(roles="a") != Requirements(any_roles="a")
    assert Requirements(roles="a") != Requirements(scopes="a")


# --- all / any roles -----------------------------------------------------------------


def test_all_roles() -> None:
    req = Requirements(roles=["admin", "editor"])
    req.check(token(("admin", "editor", "viewer")))
    assert req.met_by(token(("editor", "admin")))
    for have in [(), ("admin",), ("editor", "viewer")]:
        assert not req.met_by(token(have))
        assert refused(req, token(have)) == role_refusal()


def test_any_roles() -> None:
    req = Requirements(any_roles="admin editor")
    req.check(token(("editor",)))
    req.check(token(("admin", "viewer")))
    assert not req.met_by(token(("viewer",)))
    assert refused(req, token(("viewer",))) == role_refusal()
    assert refused(req, token()) == role_refusal()


def test_roles_and_any_roles_together() -> None:
    req = Requirements(roles="staff", any_roles="admin editor")
    req.check(token(("staff", "admin")))
    assert refused(req, token(("admin",))) == role_refusal()
    assert refused(req, token(("staff",))) == role_refusal()


def test_roles_are_not_scopes() -> None:
    # A scope named like a role grants no role, and a role grants no scope.
    assert refused(Requirements(roles="admin"), token(scopes=("admin",))) == role_refusal()
    v = Verifier(issuer=ISS, audience="urn:api", realm="photos", dpop="off")
    with pytest.raises(InsufficientScope) as info:
        v.authorize(token(roles=("admin",)), Requirements(scopes="admin"))
    assert info.value.reason == "insufficient_scope"


def test_role_names_match_exactly() -> None:
    req = Requirements(roles=["admin"])
    for near in ["Admin", "admin ", " admin", "admins", "adm"]:
        assert refused(req, token((near,))) == role_refusal()


def test_a_role_refusal_names_the_routes_scopes() -> None:
    # As for claim failures: a 403 names the route's scopes when the error names none.
    req = Requirements(scopes="read:photos", roles="admin")
    assert refused(req, token(scopes=("read:photos",))) == role_refusal("read:photos")


def test_order_scopes_then_roles_then_claims() -> None:
    req = Requirements(scopes="a", roles="admin", claims=[ClaimEquals("tenant", "acme")])
    status, www, body, reason = refused(req, token(("admin",), (), tenant="acme"))
    assert (status, reason) == (403, "insufficient_scope")
    assert www == (
        f'Bearer realm="photos", error="insufficient_scope", error_description="{SCOPE}", scope="a"'
    )
    assert refused(req, token((), ("a",), tenant="acme")) == role_refusal("a")
    status, www, body, reason = refused(req, token(("admin",), ("a",), tenant="other"))
    assert (status, body, reason) == (403, CLAIM_REFUSAL[2], "claim_requirement_failed")
    assert www == CLAIM_REFUSAL[1] + ', scope="a"'
    req.check(token(("admin",), ("a",), tenant="acme"))


def test_all_of_merges_roles() -> None:
    merged = Requirements.all_of(
        Requirements(roles="staff", any_roles="admin editor"),
        Requirements(roles="auditor", any_roles="eu us"),
    )
    assert merged is not None
    assert merged.roles == ("staff", "auditor")
    merged.check(token(("staff", "auditor", "editor", "us")))
    # The second any-of set is enforced too, and refused as a role.
    assert refused(merged, token(("staff", "auditor", "editor"))) == role_refusal()
    assert not merged.met_by(token(("staff", "auditor", "editor")))
    assert refused(merged, token(("staff", "editor", "us"))) == role_refusal()


def test_a_dpop_bound_token_is_refused_on_the_dpop_challenge() -> None:
    tok = token(cnf={"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"})
    v = Verifier(issuer=ISS, audience="urn:api", realm="photos", dpop="allowed")
    with pytest.raises(InsufficientScope) as info:
        v.authorize(tok, Requirements(roles="admin"))
    _, headers, _ = v.render(info.value)
    www = dict(headers)["WWW-Authenticate"]
    assert www.startswith('Bearer realm="photos", DPoP error="insufficient_scope", ')
    assert f'error_description="{ROLE}"' in www


_role = st.sampled_from(["admin", "Admin", "editor", "a b", "x", "https://r.example/1"])


@given(st.frozensets(_role), st.lists(_role, min_size=1), st.lists(_role))
def test_role_sets(have: frozenset[str], need: list[str], any_of: list[str]) -> None:
    req = Requirements(roles=need, any_roles=any_of)
    expected = set(need) <= have and (not any_of or bool(have & set(any_of)))
    assert req.met_by(token(tuple(have))) is expected
    if expected:
        req.check(token(tuple(have)))
    else:
        assert refused(req, token(tuple(have))) == role_refusal()


# --- claim paths -----------------------------------------------------------------------

KEYCLOAK = {
    "realm_access": {"roles": ["offline_access", "admin"]},
    "resource_access": {"my.api": {"roles": ["writer"]}, "account": {"roles": ["view"]}},
    "https://example.com/tenant": "acme",
    "https://example.com/roles": ["editor"],
    "org": {"id": 7, "flags": {"beta": True}},
    "a.b": "flat",
}


@pytest.mark.parametrize(
    "check",
    [
        ClaimIncludes("realm_access.roles", "admin"),
        ClaimIncludes(("realm_access", "roles"), "admin"),
        ClaimIncludes(["resource_access", "my.api", "roles"], "writer"),
        ClaimIncludes("resource_access.my\\.api.roles", "writer"),
        ClaimIncludes("https://example.com/roles", "editor"),
        ClaimEquals("https://example.com/tenant", "acme"),
        ClaimEquals("org.id", 7),
        ClaimEquals("org.flags.beta", True),
        ClaimEquals("a\\.b", "flat"),
    ],
)
def test_nested_claims_granted(check: Any) -> None:
    Requirements(claims=[check]).check(token(**KEYCLOAK))
    assert check(token(**KEYCLOAK)) is True


@pytest.mark.parametrize(
    "check",
    [
        ClaimIncludes("realm_access.roles", "writer"),  # present, not included
        ClaimIncludes("realm_access.groups", "admin"),  # absent member
        ClaimIncludes("resource_access.other.roles", "writer"),  # absent object
        ClaimIncludes("resource_access.my.api.roles", "writer"),  # unescaped dot nests
        ClaimIncludes("realm_access", "admin"),  # an object is not an array
        ClaimIncludes("realm_access.roles.admin", "admin"),  # an array is not an object
        ClaimIncludes("realm_access.roles.1", "admin"),  # no array indices
        ClaimEquals("org.id", "7"),  # type-strict
        ClaimEquals("org.flags.beta", 1),
        ClaimEquals("org.id.x", 7),  # a number is not an object
        ClaimEquals("a.b", "flat"),  # dots nest: a.b is not the flat claim "a.b"
        ClaimEquals("https://example.com/tenant.x", "acme"),  # one claim name, absent
        ClaimEquals("missing.path", None),  # absent is not null
    ],
)
def test_nested_claims_refused(check: Any) -> None:
    assert check(token(**KEYCLOAK)) is False
    assert refused(Requirements(claims=[check]), token(**KEYCLOAK)) == CLAIM_REFUSAL


@pytest.mark.parametrize(
    "shape",
    [None, "admin", 1, True, [], ["admin"], [{"roles": ["admin"]}], {"roles": None}, {}],
)
def test_hostile_shapes_fail_the_requirement(shape: Any) -> None:
    req = Requirements.claim("realm_access.roles", includes="admin")
    assert refused(req, token(realm_access=shape)) == CLAIM_REFUSAL


def test_requirements_claim_takes_paths() -> None:
    req = Requirements.claim(("https://example.com/roles",), includes="editor")
    req.check(token(**KEYCLOAK))
    assert req.claims == (ClaimIncludes(("https://example.com/roles",), "editor"),)
    assert Requirements.claim("org.id", equals=7).claims == (ClaimEquals("org.id", 7),)


@pytest.mark.parametrize("bad", ["", "a..b", "a.", ".a", "a\\x", ()])
def test_bad_paths_fail_at_configuration(bad: Any) -> None:
    with pytest.raises(ValueError, match="claim path"):
        ClaimEquals(bad, 1)
    with pytest.raises(ValueError, match="claim path"):
        ClaimIncludes(bad, 1)
    with pytest.raises(ValueError, match="claim path"):
        Requirements.claim(bad, equals=1)


def test_claim_checks_stay_hashable_values() -> None:
    a = ClaimIncludes(["realm_access", "roles"], "admin")
    assert a.name == ("realm_access", "roles")
    assert a == ClaimIncludes(("realm_access", "roles"), "admin")
    assert hash(a) == hash(ClaimIncludes(("realm_access", "roles"), "admin"))
    assert str(a.path) == "realm_access.roles"


def test_nested_claim_through_a_verified_token(issuer: Issuer, verifier: Verifier) -> None:
    req = Requirements.claim("realm_access.roles", includes="admin")
    ok = verifier.verify(issuer.token(claims={"realm_access": {"roles": ["admin"]}}))
    verifier.authorize(ok, req)
    for claims in [{"realm_access": {"roles": ["user"]}}, {"realm_access.roles": ["admin"]}, {}]:
        tok = verifier.verify(issuer.token(claims=claims))
        with pytest.raises(InsufficientScope) as info:
            verifier.authorize(tok, req)
        assert info.value.reason == "claim_requirement_failed"
        assert info.value.status_code == 403


@pytest.mark.parametrize(
    ("check", "ok"),
    [
        (ClaimEquals("realm_access.roles", ["offline_access", "admin"]), True),
        (ClaimEquals("realm_access.roles", ["admin", "offline_access"]), False),  # order counts
        (ClaimEquals("realm_access.roles", ["admin"]), False),
        (ClaimEquals("org", {"id": 7, "flags": {"beta": True}}), True),
        (ClaimEquals("org", {"id": 7, "flags": {"beta": 1}}), False),  # type-strict inside
        (ClaimEquals("org", {"id": 7.0, "flags": {"beta": True}}), False),
        (ClaimEquals("org", {"id": 7}), False),
        (ClaimEquals("org.flags", {"beta": True}), True),
        (ClaimEquals("realm_access.roles", ("offline_access", "admin")), False),  # not JSON
    ],
)
def test_claim_equals_compares_arrays_and_objects(check: Any, ok: bool) -> None:
    # A token's claims are read-only copies (FrozenList / FrozenDict): still equal to JSON.
    tok = token(**{k: freeze(v) for k, v in KEYCLOAK.items()})
    assert check(tok) is ok
