"""The response contract (DESIGN.md), one table, every entry point, real servers.

Each entry point's app (tests/contract/apps/) runs under uvicorn or gunicorn on
127.0.0.1 and finds the test issuer's keys by OIDC discovery over real HTTP.
Every case asserts the exact status, ``WWW-Authenticate`` and JSON body; a
new adapter cannot land without passing the whole table.
"""

from __future__ import annotations

import pytest

from bearerguard.testing import Issuer
from tests.contract.servers import Server
from tests.contract.table import (
    DOWN_ISSUER,
    ENTRY_POINTS,
    Case,
    _alg_none,
    _bad_signature,
    _unknown_kid,
    bearer,
    check_case,
    fixed,
)
from tests.contract.table import invalid as _invalid
from tests.expect import challenge

R, W = "read:messages", "write:messages"
CASES = [
    Case("public", "/api/public", 200),
    Case("public-post", "/api/public", 200, method="POST"),
    Case("no-header", "/api/private", 401, www=challenge(), reason="missing_token"),
    Case("no-header-post", "/api/private", 401, method="POST", www=challenge(), reason="missing_token"),
    Case("basic", "/api/private", 401, auth=fixed(("Authorization", "Basic dXNlcjpwYXNz")), www=challenge(), reason="missing_token"),
    Case("bearer-empty", auth=fixed(("Authorization", "Bearer")), **_invalid(400, "invalid_request", "empty_token")),
    Case("bearer-a-b", auth=fixed(("Authorization", "Bearer a b")), **_invalid(400, "invalid_request", "malformed_authorization")),
    Case("bearer-bad-chars", auth=fixed(("Authorization", "Bearer ab$cd")), **_invalid(400, "invalid_request", "malformed_authorization")),
    Case(
        "two-headers",
        auth=lambda i: [("Authorization", f"Bearer {i.token()}"), ("Authorization", f"Bearer {i.token()}")],
        **_invalid(400, "invalid_request", "multiple_authorization_headers"),
    ),
    Case("header-and-query", auth=bearer(lambda i: i.token()), query=lambda i: i.token(), **_invalid(400, "invalid_request", "multiple_tokens")),
    Case("malformed-jwt", auth=fixed(("Authorization", "Bearer abc.def")), **_invalid(401, "invalid_token", "malformed_token")),
    Case("bad-signature", auth=bearer(_bad_signature), **_invalid(401, "invalid_token", "bad_signature")),
    Case("unknown-kid", auth=bearer(_unknown_kid), **_invalid(401, "invalid_token", "unknown_kid")),
    Case("alg-none", auth=bearer(_alg_none), **_invalid(401, "invalid_token", "alg_none")),
    Case("expired", auth=bearer(lambda i: i.token(expires_in=-3600)), **_invalid(401, "invalid_token", "expired")),
    Case("wrong-issuer", auth=bearer(lambda i: i.token(issuer=i.url)), **_invalid(401, "invalid_token", "invalid_issuer")),
    Case("wrong-audience", auth=bearer(lambda i: i.token(audience="https://other.example.com")), **_invalid(401, "invalid_token", "invalid_audience")),
    Case("id-token", auth=bearer(lambda i: i.id_token()), **_invalid(401, "invalid_token", "id_token_presented")),
    Case("valid", "/api/private", 200, auth=bearer(lambda i: i.token(claims={"https://example.com/roles": ["admin"]}))),
    Case("valid-post", "/api/private", 200, method="POST", auth=bearer(lambda i: i.token())),
    Case("valid-query", "/api/private", 200, query=lambda i: i.token()),
    Case("valid-form", "/api/private", 200, method="POST", form=lambda i: i.token()),
    Case("scoped-missing", "/api/private-scoped", 403, auth=bearer(lambda i: i.token(scopes=())),
         www=challenge("insufficient_scope", scope=R), reason="insufficient_scope", error="insufficient_scope"),
    Case("scoped-ok", "/api/private-scoped", 200, auth=bearer(lambda i: i.token(scopes=(R,)))),
    Case("scoped-rw-missing", "/api/private-scoped-rw", 403, auth=bearer(lambda i: i.token(scopes=(R,))),
         www=challenge("insufficient_scope", scope=f"{R} {W}"), reason="insufficient_scope", error="insufficient_scope"),
    Case("scoped-rw-ok", "/api/private-scoped-rw", 200, auth=bearer(lambda i: i.token(scopes=(R, W)))),
    Case("any-missing", "/api/private-any", 403, auth=bearer(lambda i: i.token(scopes=(W,))),
         www=challenge("insufficient_scope", scope=f"{R} admin"), reason="insufficient_scope", error="insufficient_scope"),
    Case("any-ok", "/api/private-any", 200, auth=bearer(lambda i: i.token(scopes=("admin",)))),
    Case("permission-missing", "/api/private-permission", 403, auth=bearer(lambda i: i.token(scopes=(R,))),
         www=challenge("insufficient_scope", "claim_requirement_failed"), reason="claim_requirement_failed", error="insufficient_scope"),
    Case("permission-ok", "/api/private-permission", 200, auth=bearer(lambda i: i.token(scopes=(R,), scope_claim="permissions"))),
    Case("tenant-wrong", "/api/private-tenant", 403, auth=bearer(lambda i: i.token(claims={"tenant": "other"})),
         www=challenge("insufficient_scope", "claim_requirement_failed"), reason="claim_requirement_failed", error="insufficient_scope"),
    Case("tenant-ok", "/api/private-tenant", 200, auth=bearer(lambda i: i.token(claims={"tenant": "acme"}))),
    Case("roles-missing", "/api/private-roles", 403, auth=bearer(lambda i: i.token(claims={"roles": ["reader"]})),
         www=challenge("insufficient_scope", "claim_requirement_failed"), reason="claim_requirement_failed", error="insufficient_scope"),
    Case("roles-ok", "/api/private-roles", 200, auth=bearer(lambda i: i.token(claims={"roles": ["reader", "writer"]}))),
    Case("keys-unavailable", "/api/private", 503, reason="keys_unavailable",
         auth=bearer(lambda i: i.token(issuer=DOWN_ISSUER))),
]  # fmt: skip


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_contract(entry: str, case: Case, issuer: Issuer, servers: dict[str, Server]) -> None:
    check_case(entry, case, issuer, servers)
