"""drf_api and ninja_api beyond the shared routes: their OpenAPI documents name the bearer
scheme, and with BEARERGUARD_RESOURCE set they serve RFC 9728 metadata and RFC 9470 step-up."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator

import httpx
import pytest
from example_projects.demo import child_env, command, examples_dir, free_ports, running

from bearerguard.testing import Issuer
from tests.expect import challenge

AUDIENCE = "https://api.example.com"
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
#: project -> (module it needs, OpenAPI document path, the bearer scheme's name)
PROJECTS = {
    "drf_api": ("drf_spectacular", "/api/schema", "bearerAuth"),
    "ninja_api": ("ninja", "/api/openapi.json", "BearerAuth"),
}
AVAILABLE = [n for n, (module, *_) in PROJECTS.items() if importlib.util.find_spec(module)]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Issuer, dict[str, str]]]:
    with Issuer(audience=AUDIENCE) as issuer:
        specs = []
        for name, port in zip(AVAILABLE, free_ports(len(AVAILABLE)), strict=True):
            url = f"http://127.0.0.1:{port}"
            env = {
                "BEARERGUARD_ISSUER": issuer.issuer,
                "BEARERGUARD_AUDIENCE": AUDIENCE,
                "BEARERGUARD_RESOURCE": url,
            }
            cwd = examples_dir() / name
            specs.append((name, command(name, "127.0.0.1", port), cwd, url, child_env(env)))
        with running(specs, timeout=45) as procs:
            yield issuer, {proc.name: proc.url for proc in procs}


@pytest.mark.parametrize("project", AVAILABLE)
def test_openapi_names_the_bearer_scheme(
    servers: tuple[Issuer, dict[str, str]], project: str
) -> None:
    _, urls = servers
    _, path, name = PROJECTS[project]
    response = httpx.get(urls[project] + path, headers={"Accept": "application/json"}, timeout=10)
    assert response.status_code == 200
    schemes = response.json()["components"]["securitySchemes"]
    expected = {name: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    if project == "drf_api":  # BEARERGUARD_DPOP=allowed (default): DPoP, an alternative
        expected["dpopAuth"] = {"type": "http", "scheme": "DPoP"}
    assert schemes == expected


@pytest.mark.parametrize("project", AVAILABLE)
def test_metadata_and_step_up(servers: tuple[Issuer, dict[str, str]], project: str) -> None:
    issuer, urls = servers
    base = urls[project]
    metadata = f"{base}/.well-known/oauth-protected-resource"
    response = httpx.get(metadata, timeout=10)
    assert response.status_code == 200
    assert response.json()["resource"] == base  # RFC 9728 §3.3: the setting, exactly
    now = int(time.time())
    for method in ("GET", "POST"):
        good = issuer.token(acr=MFA, auth_time=now - 60)
        response = httpx.request(
            method, base + "/api/private-mfa", headers={"Authorization": f"Bearer {good}"}
        )
        assert response.status_code == 200
        assert response.json()["claims"]["acr"] == MFA
        old = issuer.token(acr=MFA, auth_time=now - 3600)
        response = httpx.request(
            method, base + "/api/private-mfa", headers={"Authorization": f"Bearer {old}"}
        )
        assert response.status_code == 401
        # RFC 9470 §3: both acr_values and max_age in the challenge
        www = challenge(
            "insufficient_user_authentication",
            "auth_too_old",
            metadata=metadata,
            params=(("acr_values", MFA), ("max_age", "600")),
        )
        assert response.headers["www-authenticate"] == www
