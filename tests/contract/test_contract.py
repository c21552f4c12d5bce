"""The response contract (DESIGN.md), one table, every entry point, real servers.

Each entry point's app (tests/contract/apps/) runs under uvicorn or gunicorn on
127.0.0.1 and finds the test issuer's keys by OIDC discovery over real HTTP.
Every case asserts the exact status, ``WWW-Authenticate`` and JSON body; a
new adapter cannot land without passing the whole table.
"""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bearerguard.testing import Issuer
from tests.contract.servers import Server, free_port, request, running
from tests.expect import body as error_body
from tests.expect import challenge

AUD = "https://api.example.com"

# name -> (server kind, import target, modules it needs)
ENTRY_POINTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "django": ("wsgi", "tests.contract.apps.django_app:app", ("django",)),
    "django-asgi": ("asgi", "tests.contract.apps.django_app:asgi_app", ("django",)),
    "drf": ("wsgi", "tests.contract.apps.drf_app:app", ("django", "rest_framework")),
    "flask": ("wsgi", "tests.contract.apps.flask_app:app", ("flask",)),
    "wsgi": ("wsgi", "tests.contract.apps.wsgi_app:app", ()),
    "starlette": ("asgi", "tests.contract.apps.starlette_app:app", ("starlette",)),
    "fastapi": ("asgi", "tests.contract.apps.fastapi_app:app", ("fastapi",)),
    "asgi": ("asgi", "tests.contract.apps.asgi_app:app", ()),
}


def _available(modules: tuple[str, ...]) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


@dataclass
class Case:
    """One row: how to build the request from the issuer, and the exact answer."""

    id: str
    path: str
    status: int
    auth: Callable[[Issuer], list[tuple[str, str]]] = lambda i: []
    method: str = "GET"
    www: str | None = None
    reason: str | None = None
    error: str | None = None
    query: Callable[[Issuer], str] | None = None
    form: Callable[[Issuer], str] | None = None
    expect_ok_body: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def bearer(make: Callable[[Issuer], str]) -> Callable[[Issuer], list[tuple[str, str]]]:
    return lambda i: [("Authorization", f"Bearer {make(i)}")]


def fixed(*headers: tuple[str, str]) -> Callable[[Issuer], list[tuple[str, str]]]:
    return lambda i: list(headers)


def _unknown_kid(i: Issuer) -> str:
    key = i.new_key("RS256", kid="not-published", publish=False)
    return i.token(kid="not-published", key=key)


def _bad_signature(i: Issuer) -> str:
    head, payload, sig = i.token().split(".")
    return f"{head}.{payload}.{sig[:-6]}AAAAAA"


def _alg_none(i: Issuer) -> str:
    return i.sign(
        {"alg": "none", "typ": "at+jwt"}, {"iss": i.issuer, "aud": AUD, "sub": "x", "exp": 2**40}
    )


def _invalid(
    status: int, error: str | None, reason: str, path: str = "/api/private", **kw: Any
) -> dict[str, Any]:
    return {
        "path": path,
        "status": status,
        "www": challenge(error, reason),
        "reason": reason,
        "error": error,
        **kw,
    }


DOWN_ISSUER = f"http://127.0.0.1:{free_port()}/"  # nothing listens: discovery is refused
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


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD) as iss:
        yield iss


@pytest.fixture(scope="module")
def servers(issuer: Issuer) -> Iterator[dict[str, Server]]:
    env = {
        "BEARERGUARD_ISSUER": f"{issuer.issuer},{DOWN_ISSUER}",
        "BEARERGUARD_AUDIENCE": AUD,
        "BEARERGUARD_TOKEN_LOCATIONS": "header,query,form",
    }
    specs = {
        name: (kind, target, env)
        for name, (kind, target, modules) in ENTRY_POINTS.items()
        if _available(modules)
    }
    with running(specs) as started:
        yield started


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_contract(entry: str, case: Case, issuer: Issuer, servers: dict[str, Server]) -> None:
    if entry not in servers:
        pytest.skip(f"{entry}: framework not installed")
    headers = case.auth(issuer)
    path, body, sent = case.path, None, ""
    if headers and headers[0][0] == "Authorization":
        sent = headers[0][1].removeprefix("Bearer ")
    if case.query is not None:
        sent = case.query(issuer)
        path += "?access_token=" + sent
    if case.form is not None:
        sent = case.form(issuer)
        body = f"access_token={sent}&x=1".encode()
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    status, resp_headers, raw = request(servers[entry].url, case.method, path, headers, body)
    assert status == case.status, raw
    assert resp_headers.get_all("WWW-Authenticate") == ([case.www] if case.www else None)
    data = json.loads(raw)
    if case.reason is not None:
        assert data == error_body(case.error, case.reason)
        assert resp_headers["Content-Type"].startswith("application/json")
        assert resp_headers["Cache-Control"] == "no-store"
        if status == 503:
            assert int(resp_headers["Retry-After"]) >= 1
        else:
            assert resp_headers["Retry-After"] is None
        return
    if case.path == "/api/public":
        assert data == {"message": "public"}
        return
    # A 200 from a protected route echoes the verified caller, every claim included.
    claims = _payload(sent)
    # The first scope claim present supplies the scopes (scope, then scp; issue #13).
    scopes = [s for s in claims["scope"].split(" ") if s] if "scope" in claims else []
    assert data == {"sub": "user-1", "scopes": sorted(set(scopes)), "claims": claims}
