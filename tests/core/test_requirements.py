"""Route requirements: scopes (all / any) and claim checks → 403 insufficient_scope."""

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
from bearerguard.errors import DESCRIPTIONS
from bearerguard.testing import Issuer

ISS = "https://tenant.example.com/"


def token(scopes: tuple[str, ...] = (), **claims: Any) -> AccessToken:
    base: dict[str, Any] = {"iss": ISS, "sub": "user-1", "exp": 4102444800}
    base.update(claims)
    return AccessToken(base, {"alg": "RS256"}, frozenset(scopes))


class Rendered:
    """A refusal as the verifier renders it: the realm comes from the verifier (issue #12)."""

    def __init__(self, err: InsufficientScope, verifier: Verifier) -> None:
        status, headers, body = verifier.render(err)
        self.reason, self.status_code = err.reason, status
        self.www_authenticate = dict(headers).get("WWW-Authenticate")
        self._body = body

    def body(self) -> bytes:
        return self._body


def refused(req: Requirements, tok: AccessToken, realm: str = "photos") -> Rendered:
    v = Verifier(issuer=ISS, audience="urn:api", realm=realm, dpop="off")  # Bearer alone
    with pytest.raises(InsufficientScope) as info:
        v.authorize(tok, req)
    return Rendered(info.value, v)


def assert_scope_refusal(err: Rendered, scope: str, realm: str = "photos") -> None:
    description = DESCRIPTIONS["insufficient_scope"]
    assert err.reason == "insufficient_scope"
    assert err.status_code == 403
    assert err.www_authenticate == (
        f'Bearer realm="{realm}", error="insufficient_scope", '
        f'error_description="{description}", scope="{scope}"'
    )
    assert json.loads(err.body()) == {
        "error": "insufficient_scope",
        "error_description": description,
        "reason": "insufficient_scope",
    }


def assert_claim_refusal(err: Rendered, realm: str = "photos") -> None:
    description = DESCRIPTIONS["claim_requirement_failed"]
    assert err.reason == "claim_requirement_failed"
    assert err.status_code == 403
    assert err.www_authenticate == (
        f'Bearer realm="{realm}", error="insufficient_scope", error_description="{description}"'
    )
    assert (
        err.body()
        == json.dumps(
            {
                "error": "insufficient_scope",
                "error_description": description,
                "reason": "claim_requirement_failed",
            },
            separators=(",", ":"),
        ).encode()
    )


@pytest.mark.parametrize("scopes", [["a", "b"], ("b", "a"), "a b", "a  b a"])
def test_all_scopes(scopes: Any) -> None:
    req = Requirements(scopes=scopes)
    req.check(token(("a", "b", "c")))
    for have in [(), ("a",), ("b", "c")]:
        err = refused(req, token(have))
        assert_scope_refusal(err, " ".join(req.scopes))
    assert set(req.scopes) == {"a", "b"}


def test_scope_order_and_duplicates_in_challenge() -> None:
    err = refused(
        Requirements(scopes=["write:messages", "read:messages", "write:messages"]), token()
    )
    assert_scope_refusal(err, "write:messages read:messages")


def test_any_scopes() -> None:
    req = Requirements(any_scopes=["read:messages", "admin"])
    req.check(token(("admin",)))
    req.check(token(("read:messages", "x")))
    assert_scope_refusal(refused(req, token(("write:messages",))), "read:messages admin")


def test_all_scopes_checked_before_any_scopes_and_claims() -> None:
    req = Requirements(scopes="a", any_scopes="x y", claims=[lambda t: False])
    assert_scope_refusal(refused(req, token(("x",))), "a")
    assert_scope_refusal(refused(req, token(("a",))), "x y")
    assert_claim_refusal(refused(req, token(("a", "y"))))


@pytest.mark.parametrize(
    ("check", "claims", "ok"),
    [
        (ClaimEquals("tenant", "acme"), {"tenant": "acme"}, True),
        (ClaimEquals("tenant", "acme"), {"tenant": "other"}, False),
        (ClaimEquals("tenant", "acme"), {"tenant": ["acme"]}, False),
        (ClaimEquals("tenant", "acme"), {}, False),
        (ClaimEquals("level", 1), {"level": 1}, True),
        (ClaimEquals("level", 1), {"level": True}, False),  # type-strict: True == 1 in Python
        (ClaimEquals("level", 1), {"level": 1.0}, False),
        (ClaimEquals("flag", True), {"flag": 1}, False),
        (ClaimEquals("level", "1"), {"level": 1}, False),
        (ClaimEquals("x", None), {}, False),
        (ClaimEquals("x", None), {"x": None}, True),
        (ClaimIncludes("roles", "writer"), {"roles": ["reader", "writer"]}, True),
        (ClaimIncludes("roles", "writer"), {"roles": ["reader"]}, False),
        (ClaimIncludes("roles", "writer"), {"roles": "reader writer"}, True),
        (ClaimIncludes("roles", "writer"), {"roles": "writers"}, False),
        (ClaimIncludes("roles", "writer"), {"roles": "writer"}, True),
        (ClaimIncludes("roles", "writer"), {"roles": {"writer": True}}, False),
        (ClaimIncludes("roles", "writer"), {}, False),
        (ClaimIncludes("groups", 1), {"groups": [True]}, False),
        (ClaimIncludes("groups", 1), {"groups": [2, 1]}, True),
        (ClaimIncludes("groups", 1), {"groups": "1"}, False),
        (ClaimIncludes("permissions", "read:messages"), {"permissions": ["read:messages"]}, True),
    ],
)
def test_claim_checks(check: Any, claims: dict[str, Any], ok: bool) -> None:
    tok = token(**claims)
    req = Requirements(claims=[check])
    assert check(tok) is ok
    if ok:
        req.check(tok)
    else:
        assert_claim_refusal(refused(req, tok))


def test_namespaced_claim_and_predicate() -> None:
    roles = "https://example.com/roles"
    req = Requirements(
        claims=[
            ClaimIncludes(roles, "admin"),
            lambda t: t.subject is not None and t.subject.startswith("auth0|"),
        ]
    )
    admin: dict[str, Any] = {roles: ["admin"]}
    user: dict[str, Any] = {roles: ["user"]}
    req.check(token(sub="auth0|1", **admin))
    assert_claim_refusal(refused(req, token(sub="google|1", **admin)))
    assert_claim_refusal(refused(req, token(sub="auth0|1", **user)))


def test_no_requirements() -> None:
    v = Verifier(issuer=ISS, audience="urn:api")
    assert not Requirements()
    assert Requirements(scopes="a")
    v.authorize(token(), None)
    v.authorize(token(), Requirements())
    Requirements().check(token())


def test_invalid_requirements() -> None:
    with pytest.raises(ValueError, match="scope-token"):
        Requirements(scopes=['a"b'])
    with pytest.raises(ValueError, match="scope-token"):
        Requirements(any_scopes=["caf\u00e9"])
    with pytest.raises(TypeError):
        Requirements(claims=["tenant"])  # type: ignore[list-item]


def test_check_without_verifier_uses_default_realm() -> None:
    with pytest.raises(InsufficientScope) as info:
        Requirements(scopes="a").check(token())
    assert_scope_refusal(info.value, "a", realm="api")


def test_end_to_end_with_real_token(issuer: Issuer, verifier: Verifier) -> None:
    tok = verifier.verify(
        issuer.token(scopes=("read:messages",), claims={"tenant": "acme", "roles": ["writer"]})
    )
    verifier.authorize(
        tok,
        Requirements(
            scopes="read:messages",
            claims=[ClaimEquals("tenant", "acme"), ClaimIncludes("roles", "writer")],
        ),
    )
    with pytest.raises(InsufficientScope) as info:
        verifier.authorize(tok, Requirements(scopes=["read:messages", "write:messages"]))
    assert_scope_refusal(info.value, "read:messages write:messages", realm="api")


SCOPE_NAMES = st.sampled_from(["a", "b", "c", "read:x"])


@given(
    have=st.frozensets(SCOPE_NAMES),
    need=st.lists(SCOPE_NAMES, max_size=3),
    any_of=st.lists(SCOPE_NAMES, max_size=3),
    tenant=st.sampled_from(["t1", "t2", None]),
    with_claim=st.booleans(),
)
def test_met_by_agrees_with_check(
    have: frozenset[str], need: list[str], any_of: list[str], tenant: str | None, with_claim: bool
) -> None:
    # The adapters' fast path asks met_by; a refusal must come from check: never two answers.
    claims = [ClaimEquals("tenant", "t1")] if with_claim else []
    req = Requirements(scopes=need, any_scopes=any_of, claims=claims)
    tok = token(tuple(have), **({"tenant": tenant} if tenant is not None else {}))
    try:
        req.check(tok)
    except InsufficientScope:
        passed = False
    else:
        passed = True
    assert req.met_by(tok) is passed
    assert passed == (
        have.issuperset(need)
        and (not any_of or not have.isdisjoint(any_of))
        and (not with_claim or tenant == "t1")
    )
