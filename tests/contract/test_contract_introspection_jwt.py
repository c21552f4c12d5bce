"""Contract rows for RFC 9701 signed introspection answers, over two real servers.

The plain ASGI and WSGI middleware run with ``BEARERGUARD_INTROSPECTION_JWT=on`` (and a cache
TTL of 0, so each request asks): a signed answer is accepted, an inactive one refused as any
other (401), and a server answering unsigned JSON or a bad signature gets 503 (the caller's
token is not to blame). Every entry point shares the core path these rows exercise.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bearerguard.testing import Issuer
from tests.contract.servers import Server, running
from tests.contract.table import AUD, ENTRY_POINTS, Case, bearer, check_case
from tests.contract.table import invalid as _invalid

CLIENT_ID, SECRET = "contract-api-signed", "contract-signed-introspection-secret"
ENTRIES = ("asgi", "wsgi")


@pytest.fixture(scope="module")
def signed_issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD) as iss:
        iss.register_client(CLIENT_ID, SECRET, scopes=())
        yield iss


@pytest.fixture(scope="module")
def signed_servers(signed_issuer: Issuer) -> Iterator[dict[str, Server]]:
    env = {
        "BEARERGUARD_ISSUER": signed_issuer.issuer,
        "BEARERGUARD_AUDIENCE": AUD,
        "BEARERGUARD_TOKEN_FORMATS": "jwt,opaque",
        "BEARERGUARD_CLIENT_ID": CLIENT_ID,
        "BEARERGUARD_CLIENT_SECRET": SECRET,
        "BEARERGUARD_INTROSPECTION_CACHE_TTL": "0",
        "BEARERGUARD_INTROSPECTION_JWT": "on",
    }
    specs = {name: (ENTRY_POINTS[name][0], ENTRY_POINTS[name][1], env) for name in ENTRIES}
    with running(specs) as started:
        yield started


def _revoked(i: Issuer) -> str:
    token = i.opaque_token()
    i.revoke(token)
    return token


CASES = [
    ("ok", Case("signed-active", "/api/private", 200, auth=bearer(lambda i: i.opaque_token()),
                expect_ok_body=False)),
    ("ok", Case("signed-revoked", auth=bearer(_revoked),
                **_invalid(401, "invalid_token", "token_inactive"))),
    ("plain", Case("unsigned-answer", "/api/private", 503, auth=bearer(lambda i: i.opaque_token()),
                   reason="introspection_response_unsigned")),
    ("bad_signature", Case("badly-signed-answer", "/api/private", 503,
                           auth=bearer(lambda i: i.opaque_token()),
                           reason="introspection_response_bad_signature")),
    ("wrong_aud", Case("answer-for-another-client", "/api/private", 503,
                       auth=bearer(lambda i: i.opaque_token()),
                       reason="introspection_response_invalid")),
]  # fmt: skip


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize(("behaviour", "case"), CASES, ids=[c.id for _, c in CASES])
def test_signed_introspection(
    entry: str,
    behaviour: str,
    case: Case,
    signed_issuer: Issuer,
    signed_servers: dict[str, Server],
) -> None:
    signed_issuer.introspection_jwt_behaviour = behaviour
    try:
        check_case(entry, case, signed_issuer, signed_servers)
    finally:
        signed_issuer.introspection_jwt_behaviour = "ok"
