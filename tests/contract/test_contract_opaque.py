"""Contract rows for opaque tokens (RFC 7662 introspection, issue #16), every entry point.

The servers run with ``BEARERGUARD_TOKEN_FORMATS=jwt,opaque`` and find the test issuer's
introspection endpoint in its metadata; the cache TTL is 0 so a revocation shows at once.
A second set (gunicorn 4 workers, uvicorn 2 workers) shares one Redis cache: many requests
with one opaque token make exactly one introspection call, counted at the issuer.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bearerguard.testing import Issuer
from tests.contract.servers import Server, request, running
from tests.contract.table import AUD, ENTRY_POINTS, Case, available, bearer, check_case
from tests.contract.table import invalid as _invalid
from tests.expect import challenge
from tests.redis_server import RedisServer, redis_server  # noqa: F401

CLIENT_ID, SECRET = "contract-api", "contract-introspection-secret"
R = "read:messages"


@pytest.fixture(scope="module")
def opaque_issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD) as iss:
        iss.register_client(CLIENT_ID, SECRET, scopes=())
        yield iss


def _env(issuer: Issuer, **extra: str) -> dict[str, str]:
    return {
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": AUD,
        "BEARERGUARD_TOKEN_FORMATS": "jwt,opaque",
        "BEARERGUARD_CLIENT_ID": CLIENT_ID,
        "BEARERGUARD_CLIENT_SECRET": SECRET,
        **extra,
    }


@pytest.fixture(scope="module")
def opaque_servers(opaque_issuer: Issuer) -> Iterator[dict[str, Server]]:
    env = _env(opaque_issuer, BEARERGUARD_INTROSPECTION_CACHE_TTL="0")
    specs = {
        name: (kind, target, env)
        for name, (kind, target, modules) in ENTRY_POINTS.items()
        if available(modules)
    }
    with running(specs) as started:
        yield started


def _revoked(i: Issuer) -> str:
    token = i.opaque_token()
    i.revoke(token)
    return token


CASES = [
    Case("opaque-active", "/api/private", 200, auth=bearer(lambda i: i.opaque_token()),
         expect_ok_body=False),
    Case("opaque-scoped-ok", "/api/private-scoped", 200,
         auth=bearer(lambda i: i.opaque_token(scopes=(R,))), expect_ok_body=False),
    Case("opaque-scoped-missing", "/api/private-scoped", 403,
         auth=bearer(lambda i: i.opaque_token(scopes=())),
         www=challenge("insufficient_scope", scope=R), reason="insufficient_scope",
         error="insufficient_scope"),
    Case("opaque-unknown", auth=bearer(lambda i: "never-issued-opaque-token"),
         **_invalid(401, "invalid_token", "token_inactive")),
    Case("opaque-revoked", auth=bearer(_revoked), **_invalid(401, "invalid_token", "token_inactive")),
    Case("opaque-expired", auth=bearer(lambda i: i.opaque_token(expires_in=-3600)),
         **_invalid(401, "invalid_token", "token_inactive")),
    Case("opaque-wrong-audience",
         auth=bearer(lambda i: i.opaque_token(audience="https://other.example.com")),
         **_invalid(401, "invalid_token", "invalid_audience")),
    Case("opaque-wrong-issuer",
         auth=bearer(lambda i: i.opaque_token(claims={"iss": "https://other.example.com/"})),
         **_invalid(401, "invalid_token", "invalid_issuer")),
    Case("opaque-refresh-token",
         auth=bearer(lambda i: i.opaque_token(token_type="refresh_token")),
         **_invalid(401, "invalid_token", "invalid_token_type")),
    Case("jwt-verified-locally", "/api/private", 200, auth=bearer(lambda i: i.token())),
]  # fmt: skip


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_opaque(
    entry: str, case: Case, opaque_issuer: Issuer, opaque_servers: dict[str, Server]
) -> None:
    opaque_issuer.reset_counters()
    check_case(entry, case, opaque_issuer, opaque_servers)
    if case.id == "jwt-verified-locally":
        assert opaque_issuer.introspection_calls == 0


@pytest.mark.parametrize("entry", ["asgi", "wsgi"])
@pytest.mark.parametrize("how", ["error", "bad-client"])
def test_endpoint_trouble_is_503(
    entry: str, how: str, opaque_issuer: Issuer, opaque_servers: dict[str, Server]
) -> None:
    token = opaque_issuer.opaque_token()
    if how == "error":
        opaque_issuer.introspection_behaviour = "error"
    else:
        opaque_issuer.register_client(CLIENT_ID, "rotated-secret-the-api-does-not-know", scopes=())
    try:
        check_case(
            entry,
            Case(
                "trouble",
                "/api/private",
                503,
                auth=bearer(lambda i: token),
                reason="introspection_unavailable",
            ),
            opaque_issuer,
            opaque_servers,
        )
    finally:
        opaque_issuer.introspection_behaviour = "ok"
        opaque_issuer.register_client(CLIENT_ID, SECRET, scopes=())


@pytest.mark.parametrize(
    ("kind", "target", "workers"),
    [
        ("wsgi", "tests.contract.apps.wsgi_app:app", 4),
        ("asgi", "tests.contract.apps.asgi_app:app", 2),
    ],
    ids=["gunicorn-4", "uvicorn-2"],
)
def test_one_introspection_call_across_workers(
    kind: str,
    target: str,
    workers: int,
    opaque_issuer: Issuer,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    env = _env(opaque_issuer, BEARERGUARD_STORE=redis_server.url)
    server = Server(kind, target, env, workers=workers)
    try:
        server.wait()
        token = opaque_issuer.opaque_token()
        first = request(server.url, "GET", "/api/private", [("Authorization", f"Bearer {token}")])
        assert first[0] == 200
        opaque_issuer.reset_counters()
        headers = [("Authorization", f"Bearer {token}")]
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(lambda _: request(server.url, "GET", "/api/private", headers), range(32))
            )
        assert [a[0] for a in answers] == [200] * 32
        assert opaque_issuer.introspection_calls == 0  # every worker used the shared answer
    finally:
        server.stop()
