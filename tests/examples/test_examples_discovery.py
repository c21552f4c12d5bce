"""The example projects with ``BEARERGUARD_RESOURCE`` set: the RFC 9728 metadata document
(served by the one documented line per framework, no route of their own), the
``resource_metadata`` of every challenge, and ``/api/private-mfa`` (RFC 9470 step-up).

Three projects name a resource with a path and three without, so both well-known URL forms
of RFC 9728 §3.1 are served by real projects.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator

import httpx
import pytest
from example_projects.demo import child_env, command, examples_dir, free_ports, running

from bearerguard.testing import Issuer
from tests.expect import DPOP_ALGS, challenge

AUDIENCE = "https://api.example.com"
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
#: project -> (framework module, resource, metadata path)
PROJECTS = {
    "django_api": ("django", "http://127.0.0.1/api", "/.well-known/oauth-protected-resource/api"),
    "flask_api": ("flask", "http://localhost", "/.well-known/oauth-protected-resource"),
    "starlette_api": ("starlette", "http://localhost:8000/api", "/.well-known/oauth-protected-resource/api"),
    "fastapi_api": ("fastapi", "https://api.example.com", "/.well-known/oauth-protected-resource"),
    "drf_api": ("drf_spectacular", "https://api.example.com/v1", "/.well-known/oauth-protected-resource/v1"),
    "ninja_api": ("ninja", "http://localhost:8000", "/.well-known/oauth-protected-resource"),
}  # fmt: skip
INSTALLED = [name for name, (module, *_) in PROJECTS.items() if importlib.util.find_spec(module)]
STEP_UP = (("acr_values", MFA), ("max_age", "600"))


def meta_url(project: str) -> str:
    _, resource, path = PROJECTS[project]
    scheme, rest = resource.split("://")
    return f"{scheme}://{rest.split('/')[0]}{path}"


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUDIENCE) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def servers(issuer: Issuer) -> Iterator[dict[str, str]]:
    ports = iter(free_ports(len(INSTALLED)))
    specs = []
    for name in INSTALLED:
        env = {
            "BEARERGUARD_ISSUER": issuer.issuer,
            "BEARERGUARD_AUDIENCE": AUDIENCE,
            "BEARERGUARD_RESOURCE": PROJECTS[name][1],
            "BEARERGUARD_SCOPES_SUPPORTED": "read:messages,write:messages",
        }
        port = next(ports)
        url = f"http://127.0.0.1:{port}"
        cmd = command(name, "127.0.0.1", port)
        specs.append((name, cmd, examples_dir() / name, url, child_env(env)))
    with running(specs, timeout=45) as procs:
        yield {proc.name: proc.url for proc in procs}


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.mark.parametrize("project", INSTALLED)
def test_metadata_document(
    client: httpx.Client, issuer: Issuer, servers: dict[str, str], project: str
) -> None:
    _, resource, path = PROJECTS[project]
    response = client.get(servers[project] + path)
    assert response.status_code == 200
    assert response.json() == {
        "resource": resource,
        "authorization_servers": [issuer.issuer],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["read:messages", "write:messages"],
        "dpop_signing_alg_values_supported": DPOP_ALGS.split(),
    }
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["access-control-allow-origin"] == "*"
    head = client.head(servers[project] + path)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == response.headers["content-length"]


@pytest.mark.parametrize("project", INSTALLED)
def test_a_bare_401_leads_to_the_metadata(
    client: httpx.Client, servers: dict[str, str], project: str
) -> None:
    response = client.get(servers[project] + "/api/private-scoped")
    assert response.status_code == 401
    expected = challenge(scope="read:messages", metadata=meta_url(project))
    assert response.headers["www-authenticate"] == expected


def _call(client: httpx.Client, url: str, token: str) -> httpx.Response:
    return client.get(url + "/api/private-mfa", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"acr": "urn:pwd", "auth_time": 0}, "acr_not_accepted"),
        ({"auth_time": 0}, "acr_missing"),
        ({"acr": MFA, "auth_time": -3600}, "auth_too_old"),
        ({"acr": MFA}, "auth_time_missing"),
    ],
)
@pytest.mark.parametrize("project", INSTALLED)
def test_private_mfa_refusals(
    client: httpx.Client,
    issuer: Issuer,
    servers: dict[str, str],
    project: str,
    claims: dict[str, object],
    reason: str,
) -> None:
    if "auth_time" in claims:  # seconds relative to now
        claims = {**claims, "auth_time": int(time.time()) + int(claims["auth_time"])}  # type: ignore[call-overload]
    response = _call(client, servers[project], issuer.token(claims=claims))
    assert response.status_code == 401
    err = "insufficient_user_authentication"
    expected = challenge(err, reason, metadata=meta_url(project), params=STEP_UP)
    assert response.headers["www-authenticate"] == expected
    assert response.json()["reason"] == reason


@pytest.mark.parametrize("project", INSTALLED)
def test_private_mfa_ok(
    client: httpx.Client, issuer: Issuer, servers: dict[str, str], project: str
) -> None:
    token = issuer.token(acr=MFA, auth_time=int(time.time()) - 120)
    response = _call(client, servers[project], token)
    assert response.status_code == 200, response.text
    assert response.json()["claims"]["acr"] == MFA
