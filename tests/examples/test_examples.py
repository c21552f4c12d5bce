"""The example projects, each started with its documented command against a running Issuer.

Every project runs twice: "default" (BEARERGUARD_TOKEN_LOCATIONS=header,query,form, keys from
BEARERGUARD_JWKS_URI) and "strict" (discovery, realm "examples", leeway 0, ES256 only, at+jwt
only, tenant required, header only), so each BEARERGUARD_* variable is seen to apply.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from example_projects.demo import child_env, command, examples_dir, free_ports, running

from bearerguard.testing import Issuer
from tests.expect import DPOP_ALGS, with_dpop

FRAMEWORK = {
    "django_api": "django",
    "flask_api": "flask",
    "starlette_api": "starlette",
    "fastapi_api": "fastapi",
    "drf_api": "drf_spectacular",
    "ninja_api": "ninja",
}
PROJECTS = [name for name, module in FRAMEWORK.items() if importlib.util.find_spec(module)]
METHODS = ["GET", "POST"]
AUDIENCE = "https://api.example.com"
JSON_NO_STORE = {"content-type": "application/json", "cache-control": "no-store"}

MISSING = {"error_description": "Authentication required", "reason": "missing_token"}
LACKS_SCOPE = {
    "error": "insufficient_scope",
    "error_description": "The access token lacks a required scope",
    "reason": "insufficient_scope",
}
CLAIM_FAILED = {
    "error": "insufficient_scope",
    "error_description": "The access token does not meet this resource's requirements",
    "reason": "claim_requirement_failed",
}
CLAIM_FAILED_CHALLENGE = (
    'Bearer realm="api", error="insufficient_scope", '
    'error_description="The access token does not meet this resource\'s requirements"'
)
# A token meeting every route's requirements.
GOOD: dict[str, Any] = {
    "scopes": ["read:messages", "write:messages"],
    "claims": {"permissions": ["read:messages"], "tenant": "acme", "roles": ["writer"]},
}
ROUTE_SCOPES = {
    "/api/private-scoped": "read:messages",
    "/api/private-scoped-rw": "read:messages write:messages",
}
PRIVATE_ROUTES = [
    "/api/private",
    "/api/private-scoped",
    "/api/private-scoped-rw",
    "/api/private-permission",
    "/api/private-tenant",
    "/api/private-roles",
]


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUDIENCE, algs=("RS256", "ES256")) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def servers(issuer: Issuer) -> Iterator[dict[str, str]]:
    """{"flask_api": url, "flask_api-strict": url, ...}: every project, both configurations."""
    base = {"BEARERGUARD_ISSUER": issuer.issuer, "BEARERGUARD_AUDIENCE": AUDIENCE}
    default = {
        **base,
        "BEARERGUARD_JWKS_URI": issuer.jwks_uri,
        "BEARERGUARD_TOKEN_LOCATIONS": "header,query,form",
    }
    strict = {
        **base,
        "BEARERGUARD_REALM": "examples",
        "BEARERGUARD_LEEWAY": "0",
        "BEARERGUARD_ALGORITHMS": "ES256",
        "BEARERGUARD_TOKEN_TYPES": "at+jwt",
        "BEARERGUARD_REQUIRED_CLAIMS": "tenant",
    }
    ports = iter(free_ports(2 * len(PROJECTS)))
    specs = []
    for name in PROJECTS:
        for suffix, env in (("", default), ("-strict", strict)):
            port = next(ports)
            url = f"http://127.0.0.1:{port}"
            cwd = examples_dir() / name
            specs.append(
                (name + suffix, command(name, "127.0.0.1", port), cwd, url, child_env(env))
            )
    with running(specs, timeout=45) as procs:
        yield {proc.name: proc.url for proc in procs}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def call(
    client: httpx.Client,
    method: str,
    url: str,
    token: str | None = None,
    **kw: Any,
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kw.pop("headers", {}))
    return client.request(method, url, headers=headers, **kw)


def assert_refused(response: httpx.Response, status: int, challenge: str | None, body: Any) -> None:
    assert response.status_code == status
    # With the default settings the DPoP scheme is offered beside Bearer (RFC 9449 §7.1).
    assert response.headers.get("www-authenticate") == with_dpop(challenge)
    assert response.json() == body
    for name, value in JSON_NO_STORE.items():
        assert response.headers[name] == value


def assert_caller(response: httpx.Response, token: str, scopes: list[str]) -> None:
    assert response.status_code == 200, response.text
    assert "www-authenticate" not in response.headers
    assert response.json() == {"sub": "user-1", "scopes": scopes, "claims": claims_of(token)}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("project", PROJECTS)
def test_public(client: httpx.Client, servers: dict[str, str], project: str, method: str) -> None:
    response = call(client, method, servers[project] + "/api/public")
    assert response.status_code == 200
    assert "www-authenticate" not in response.headers
    assert response.json() == {"message": "public"}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", PRIVATE_ROUTES)
@pytest.mark.parametrize("project", PROJECTS)
def test_allowed(
    client: httpx.Client,
    servers: dict[str, str],
    issuer: Issuer,
    project: str,
    path: str,
    method: str,
) -> None:
    token = issuer.token(**GOOD)
    response = call(client, method, servers[project] + path, token)
    assert_caller(response, token, ["read:messages", "write:messages"])


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", PRIVATE_ROUTES)
@pytest.mark.parametrize("project", PROJECTS)
def test_no_token(
    client: httpx.Client, servers: dict[str, str], project: str, path: str, method: str
) -> None:
    response = call(client, method, servers[project] + path)
    # A 401 on a route whose scopes are known names them (RFC 6750 §3), in both schemes.
    scope = ROUTE_SCOPES.get(path)
    expected = f'Bearer realm="api", scope="{scope}", DPoP scope="{scope}", algs="{DPOP_ALGS}"'
    assert_refused(response, 401, expected if scope else 'Bearer realm="api"', MISSING)


REFUSED = [
    pytest.param(
        "/api/private-scoped", {"scopes": ["write:messages"]}, "read:messages", id="scoped"
    ),
    pytest.param(
        "/api/private-scoped-rw",
        {"scopes": ["read:messages"]},
        "read:messages write:messages",
        id="scoped-rw",
    ),
    # read:messages as a scope is not read:messages in the permissions claim.
    pytest.param("/api/private-permission", {"scopes": ["read:messages"]}, None, id="permission"),
    pytest.param("/api/private-tenant", {"claims": {"tenant": "globex"}}, None, id="tenant"),
    pytest.param("/api/private-tenant", {"claims": {"tenant": ["acme"]}}, None, id="tenant-list"),
    pytest.param("/api/private-roles", {"claims": {"roles": ["reader"]}}, None, id="roles"),
    pytest.param("/api/private-roles", {}, None, id="roles-missing"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("path", "token_options", "scope"), REFUSED)
@pytest.mark.parametrize("project", PROJECTS)
def test_insufficient(
    client: httpx.Client,
    servers: dict[str, str],
    issuer: Issuer,
    project: str,
    path: str,
    token_options: dict[str, Any],
    scope: str | None,
    method: str,
) -> None:
    response = call(client, method, servers[project] + path, issuer.token(**token_options))
    if scope is None:
        assert_refused(response, 403, CLAIM_FAILED_CHALLENGE, CLAIM_FAILED)
    else:
        challenge = (
            'Bearer realm="api", error="insufficient_scope", '
            f'error_description="The access token lacks a required scope", scope="{scope}"'
        )
        assert_refused(response, 403, challenge, LACKS_SCOPE)


INVALID = [
    ("expired", {"expires_in": -600}, "The access token expired"),
    ("invalid_audience", {"audience": "https://other.example.com"}, None),
    ("bad_signature", {}, "The token signature is invalid"),
    ("id_token_presented", None, "An ID token was presented; send the access token instead"),
]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("reason", "options", "description"), INVALID, ids=[c[0] for c in INVALID])
@pytest.mark.parametrize("project", PROJECTS)
def test_invalid_token(
    client: httpx.Client,
    servers: dict[str, str],
    issuer: Issuer,
    project: str,
    reason: str,
    options: dict[str, Any] | None,
    description: str | None,
    method: str,
) -> None:
    description = description or "The token is not intended for this API"
    token = issuer.id_token() if options is None else issuer.token(**GOOD, **options)
    if reason == "bad_signature":
        head, payload, signature = token.split(".")
        # one character changed inside: still canonical base64url (RFC 7515 §2), wrong bytes
        changed = "A" if signature[10] != "A" else "B"
        token = f"{head}.{payload}.{signature[:10]}{changed}{signature[11:]}"
    response = call(client, method, servers[project] + "/api/private-scoped", token)
    challenge = f'Bearer realm="api", error="invalid_token", error_description="{description}"'
    body = {"error": "invalid_token", "error_description": description, "reason": reason}
    assert_refused(response, 401, challenge, body)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("project", PROJECTS)
def test_malformed_and_other_schemes(
    client: httpx.Client, servers: dict[str, str], project: str, method: str
) -> None:
    url = servers[project] + "/api/private"
    response = call(client, method, url, headers={"Authorization": "Bearer a b"})
    description = "The Authorization header is not a valid Bearer credential"
    assert_refused(
        response,
        400,
        f'Bearer realm="api", error="invalid_request", error_description="{description}"',
        {
            "error": "invalid_request",
            "error_description": description,
            "reason": "malformed_authorization",
        },
    )
    # RFC 6750 §3.1: another scheme is no bearer credential at all.
    response = call(client, method, url, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_refused(response, 401, 'Bearer realm="api"', MISSING)


@pytest.mark.parametrize("project", PROJECTS)
def test_form_and_query_tokens(
    client: httpx.Client, servers: dict[str, str], issuer: Issuer, project: str
) -> None:
    token = issuer.token(**GOOD)
    scopes = ["read:messages", "write:messages"]
    url = servers[project] + "/api/private-roles"
    assert_caller(client.post(url, data={"access_token": token}), token, scopes)
    assert_caller(client.get(url, params={"access_token": token}), token, scopes)
    # RFC 6750 §2: one method per request.
    response = call(client, "POST", url, token, data={"access_token": token})
    description = "The access token was sent by more than one method"
    assert_refused(
        response,
        400,
        f'Bearer realm="api", error="invalid_request", error_description="{description}"',
        {"error": "invalid_request", "error_description": description, "reason": "multiple_tokens"},
    )


@pytest.mark.parametrize("project", PROJECTS)
def test_leeway_applies(
    client: httpx.Client, servers: dict[str, str], issuer: Issuer, project: str
) -> None:
    token = issuer.token(alg="ES256", claims={"tenant": "acme"}, exp=int(time.time()) - 5)
    # Default leeway (60 s) accepts a token expired 5 s ago; BEARERGUARD_LEEWAY=0 does not.
    assert_caller(
        call(client, "GET", servers[project] + "/api/private", token), token, ["read:messages"]
    )
    description = "The access token expired"
    assert_refused(
        call(client, "GET", servers[project + "-strict"] + "/api/private", token),
        401,
        f'Bearer realm="examples", error="invalid_token", error_description="{description}"',
        {"error": "invalid_token", "error_description": description, "reason": "expired"},
    )


STRICT = [
    ("ok", {"alg": "ES256", "claims": {"tenant": "acme"}}),
    ("missing_claim", {"alg": "ES256"}),
    ("invalid_typ", {"alg": "ES256", "claims": {"tenant": "acme"}, "typ": "JWT"}),
    ("alg_not_allowed", {"alg": "RS256", "claims": {"tenant": "acme"}}),
]
STRICT_DESCRIPTIONS = {
    "missing_claim": "The access token lacks a required claim",
    "invalid_typ": "The token type is not accepted",
    "alg_not_allowed": "The token's signing algorithm is not allowed",
}


@pytest.mark.parametrize(("reason", "options"), STRICT, ids=[c[0] for c in STRICT])
@pytest.mark.parametrize("project", PROJECTS)
def test_strict_settings(
    client: httpx.Client,
    servers: dict[str, str],
    issuer: Issuer,
    project: str,
    reason: str,
    options: dict[str, Any],
) -> None:
    token = issuer.token(**options)
    response = call(client, "GET", servers[project + "-strict"] + "/api/private", token)
    if reason == "ok":  # keys found by OIDC discovery: no BEARERGUARD_JWKS_URI here
        assert_caller(response, token, ["read:messages"])
        return
    description = STRICT_DESCRIPTIONS[reason]
    assert_refused(
        response,
        401,
        f'Bearer realm="examples", error="invalid_token", error_description="{description}"',
        {"error": "invalid_token", "error_description": description, "reason": reason},
    )


@pytest.mark.parametrize("project", PROJECTS)
def test_token_locations_default_to_header(
    client: httpx.Client, servers: dict[str, str], issuer: Issuer, project: str
) -> None:
    token = issuer.token(alg="ES256", claims={"tenant": "acme"})
    url = servers[project + "-strict"] + "/api/private"
    # Not an accepted location: as if no credentials were sent (RFC 6750 §2.2, §2.3 opt-in).
    for response in (
        client.post(url, data={"access_token": token}),
        client.get(url, params={"access_token": token}),
    ):
        assert_refused(response, 401, 'Bearer realm="examples"', MISSING)


def test_a_missing_setting_stops_the_project_at_startup(issuer: Issuer) -> None:
    # Without an audience an API would accept tokens minted for other APIs: refuse to start.
    env = child_env({"BEARERGUARD_ISSUER": issuer.issuer})
    ports = free_ports(len(PROJECTS))
    procs = {
        name: subprocess.Popen(
            command(name, "127.0.0.1", port),
            cwd=examples_dir() / name,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name, port in zip(PROJECTS, ports, strict=True)
    }
    try:
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=30)
            assert proc.returncode != 0, name
            assert b"BEARERGUARD_AUDIENCE is required" in out, (name, out[-2000:])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
