"""RFC 9728 metadata, ``resource_metadata`` and ``scope=`` in challenges, RFC 9470 step-up:
one table, every entry point, real servers started with ``BEARERGUARD_RESOURCE`` set.

Two resources, so both URL forms of RFC 9728 §3.1 are served: one with a path
(``http://127.0.0.1/api`` -> ``/.well-known/oauth-protected-resource/api``) and one without
(``http://localhost:8443`` -> ``/.well-known/oauth-protected-resource``). No entry point's
app has a route for it: the documented one line per framework serves it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

import pytest

from bearerguard.testing import Issuer
from tests.contract.servers import Server, request, running
from tests.contract.table import AUD, ENTRY_POINTS, Case, available, bearer, check_case, invalid
from tests.expect import DPOP_ALGS, challenge

R, W = "read:messages", "write:messages"
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
#: resource -> (metadata path, metadata URL), per RFC 9728 §3.1.
RESOURCES = {
    "http://127.0.0.1/api": (
        "/.well-known/oauth-protected-resource/api",
        "http://127.0.0.1/.well-known/oauth-protected-resource/api",
    ),
    "http://localhost:8443": (
        "/.well-known/oauth-protected-resource",
        "http://localhost:8443/.well-known/oauth-protected-resource",
    ),
}
DOCS = "https://docs.example.com/api"
#: Entry points whose adapters are still being written (their contract apps have no
#: /api/private-mfa route yet, nor the line that serves the metadata): add them here
#: once they do, by removing them from this set.
PENDING: frozenset[str] = frozenset()
ENTRIES = [name for name in ENTRY_POINTS if name not in PENDING]
STEP_UP = (("acr_values", MFA), ("max_age", "600"))


@pytest.fixture(scope="module", params=list(RESOURCES), ids=["path", "root"])
def resource(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def servers(issuer: Issuer, resource: str) -> Iterator[dict[str, Server]]:
    env = {
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": AUD,
        "BEARERGUARD_RESOURCE": resource,
        "BEARERGUARD_TOKEN_LOCATIONS": "header,form",
        "BEARERGUARD_SCOPES_SUPPORTED": f"{R},{W}",
        "BEARERGUARD_RESOURCE_NAME": "Contract API",
        "BEARERGUARD_RESOURCE_DOCUMENTATION": DOCS,
        "BEARERGUARD_SCOPE_IMPLICATIONS": f"messages:admin>{R} {W}",
    }
    specs = {
        name: (kind, target, env)
        for name, (kind, target, modules) in ENTRY_POINTS.items()
        if available(modules) and name not in PENDING
    }
    with running(specs) as started:
        yield started


def _server(entry: str, servers: dict[str, Server]) -> Server:
    if entry not in servers:
        pytest.skip(f"{entry}: framework not installed")
    return servers[entry]


def _document(issuer: Issuer, resource: str) -> dict[str, object]:
    # RFC 9728 §2, every member from the settings; resource byte for byte.
    return {
        "resource": resource,
        "authorization_servers": [issuer.issuer],
        "bearer_methods_supported": ["header", "body"],
        "scopes_supported": [R, W],
        "resource_name": "Contract API",
        "resource_documentation": DOCS,
        "dpop_signing_alg_values_supported": DPOP_ALGS.split(),
    }


@pytest.mark.parametrize("entry", ENTRIES)
def test_metadata_get_and_head(
    entry: str, issuer: Issuer, resource: str, servers: dict[str, Server]
) -> None:
    server = _server(entry, servers)
    path = RESOURCES[resource][0]
    status, headers, raw = request(server.url, "GET", path)
    assert status == 200, raw
    assert json.loads(raw) == _document(issuer, resource)
    assert raw.decode().count(f'"resource":"{resource}"') == 1  # the setting, byte for byte
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "public, max-age=3600"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Content-Length"] == str(len(raw))
    assert headers["WWW-Authenticate"] is None
    status, head_headers, head_raw = request(server.url, "HEAD", path)
    assert (status, head_raw) == (200, b"")
    for name in ("Content-Type", "Cache-Control", "Access-Control-Allow-Origin", "Content-Length"):
        assert head_headers[name] == headers[name]


@pytest.mark.parametrize("entry", ENTRIES)
def test_metadata_preflight_and_other_methods(
    entry: str, resource: str, servers: dict[str, Server]
) -> None:
    server = _server(entry, servers)
    path = RESOURCES[resource][0]
    preflight = [
        ("Origin", "https://client.example.org"),
        ("Access-Control-Request-Method", "GET"),
    ]
    status, headers, raw = request(server.url, "OPTIONS", path, preflight)
    assert (status, raw) == (204, b"")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    status, headers, raw = request(server.url, "POST", path, data=b"")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD, OPTIONS"
    assert json.loads(raw) == {"error": "method_not_allowed"}


@pytest.mark.parametrize("entry", ENTRIES)
def test_only_the_path_inserted_url_serves_it(
    entry: str, resource: str, servers: dict[str, Server]
) -> None:
    server = _server(entry, servers)
    path = RESOURCES[resource][0]
    other = "/.well-known/oauth-protected-resource" if path.endswith("/api") else path + "/api"
    status, _, _ = request(server.url, "GET", other)
    assert status == 404


def _step_up(reason: str) -> dict[str, object]:
    return invalid(401, "insufficient_user_authentication", reason, path="/api/private-mfa")


def _scoped(scope: str) -> dict[str, object]:
    return {"extra": {"scope": scope}}


SCOPE_403 = {"status": 403, "error": "insufficient_scope"}
CASES = [
    Case("no-token", "/api/private", 401, reason="missing_token"),
    Case("no-token-scoped", "/api/private-scoped", 401, reason="missing_token", **_scoped(R)),
    Case("no-token-rw", "/api/private-scoped-rw", 401, reason="missing_token", **_scoped(f"{R} {W}")),
    Case("no-token-mfa", "/api/private-mfa", 401, reason="missing_token"),
    Case("expired", auth=bearer(lambda i: i.token(expires_in=-3600)), **invalid(401, "invalid_token", "expired")),
    Case("empty-bearer", auth=lambda i: [("Authorization", "Bearer")], **invalid(400, "invalid_request", "empty_token")),
    Case("scoped-missing", "/api/private-scoped", auth=bearer(lambda i: i.token(scopes=())),
         reason="insufficient_scope", **SCOPE_403, **_scoped(R)),
    Case("rw-missing", "/api/private-scoped-rw", auth=bearer(lambda i: i.token(scopes=(R,))),
         reason="insufficient_scope", **SCOPE_403, **_scoped(f"{R} {W}")),
    Case("tenant-wrong", "/api/private-tenant", auth=bearer(lambda i: i.token(claims={"tenant": "x"})),
         reason="claim_requirement_failed", **SCOPE_403),
    Case("acr-wrong", auth=bearer(lambda i: i.token(acr="urn:pwd", auth_time=int(time.time()))), **_step_up("acr_not_accepted")),
    Case("acr-missing", auth=bearer(lambda i: i.token(auth_time=int(time.time()))), **_step_up("acr_missing")),
    Case("auth-time-old", auth=bearer(lambda i: i.token(acr=MFA, auth_time=int(time.time()) - 3600)), **_step_up("auth_too_old")),
    Case("auth-time-missing", auth=bearer(lambda i: i.token(acr=MFA)), **_step_up("auth_time_missing")),
    Case("mfa-ok", "/api/private-mfa", 200, auth=bearer(lambda i: i.token(acr=MFA, auth_time=int(time.time()) - 60))),
]  # fmt: skip


def _expected(case: Case, url: str) -> Case:
    """The row's exact challenge for this resource's metadata URL (RFC 9728 §5.1)."""
    if case.status == 200:
        return case
    scope = case.extra.get("scope")
    params = STEP_UP if case.error == "insufficient_user_authentication" else ()
    www = challenge(case.error, case.reason, scope, metadata=url, params=params)
    return dataclasses.replace(case, www=www)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_challenges(
    entry: str, case: Case, issuer: Issuer, resource: str, servers: dict[str, Server]
) -> None:
    check_case(entry, _expected(case, RESOURCES[resource][1]), issuer, servers)


@pytest.mark.parametrize("entry", ENTRIES)
def test_scope_hierarchy(entry: str, issuer: Issuer, servers: dict[str, Server]) -> None:
    server = _server(entry, servers)
    token = issuer.token(scopes=("messages:admin",))
    auth = [("Authorization", f"Bearer {token}")]
    status, _, raw = request(server.url, "GET", "/api/private-scoped-rw", auth)
    assert status == 200, raw
    assert json.loads(raw)["scopes"] == ["messages:admin", R, W]
