"""Contract rows for the edges (issue #13) and DPoP (issue #14), every entry point.

The same servers as the main table (header, query and form locations; DPoP allowed, the
default), plus a second set configured strictly (header only, DPoP required).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bearerguard.errors import DESCRIPTIONS
from bearerguard.testing import Issuer
from bearerguard.testing.dpop import DPoPKey
from tests.contract.servers import Server, running
from tests.contract.table import (
    AUD,
    ENTRY_POINTS,
    Case,
    available,
    bearer,
    check_case,
)
from tests.contract.table import invalid as _invalid
from tests.expect import DPOP_ALGS, challenge

R = "read:messages"
KEY = DPoPKey("ES256")  # the client's key; tokens below are bound to it


def _bound(i: Issuer, **claims: object) -> str:
    return i.token(claims={"cnf": {"jkt": KEY.thumbprint}, **claims})


def _dpop(
    token: Callable[[Issuer], str],
    *,
    method: str | None = None,
    url_suffix: str = "",
    proofs: int = 1,
    key: DPoPKey = KEY,
    ath_of: Callable[[str], str] = lambda t: t,
) -> Callable[[Issuer, str, str], list[tuple[str, str]]]:
    """Headers for a DPoP request: the token and *proofs* proofs for the request's URL."""

    def build(i: Issuer, url: str, request_method: str) -> list[tuple[str, str]]:
        raw = token(i)
        headers = [("Authorization", f"DPoP {raw}")]
        for _ in range(proofs):
            proof = key.proof(method or request_method, url + url_suffix, access_token=ath_of(raw))
            headers.append(("DPoP", proof))
        return headers

    return build


def _dpop_error(error: str, reason: str, *, bearer_offered: bool = True) -> dict[str, object]:
    www = f'DPoP error="{error}", error_description="{DESCRIPTIONS[reason]}", algs="{DPOP_ALGS}"'
    return {
        "www": f'Bearer realm="api", {www}' if bearer_offered else www,
        "reason": reason,
        "error": error,
        "dpop_offer": False,
    }


EDGE_CASES = [
    # -- one rule for optional authentication (issue #13.6): a sent bad token is refused
    Case("public-expired", auth=bearer(lambda i: i.token(expires_in=-3600)),
         **_invalid(401, "invalid_token", "expired", path="/api/public")),
    Case("public-expired-post", method="POST", auth=bearer(lambda i: i.token(expires_in=-3600)),
         **_invalid(401, "invalid_token", "expired", path="/api/public")),
    Case("public-valid", "/api/public", 200, auth=bearer(lambda i: i.token())),
    # -- scope claims (issue #13.1)
    Case("scope-unusable-type", "/api/private", 200,
         auth=bearer(lambda i: i.token(scopes=None, claims={"scope": 42}))),
    Case("scope-unusable-type-scoped", "/api/private-scoped", 403,
         auth=bearer(lambda i: i.token(scopes=None, claims={"scope": 42, "scp": [R]})),
         www=challenge("insufficient_scope", scope=R), reason="insufficient_scope",
         error="insufficient_scope"),
    Case("scope-first-claim-wins", "/api/private-scoped", 403,
         auth=bearer(lambda i: i.token(scopes=("write:messages",), claims={"scp": [R]})),
         www=challenge("insufficient_scope", scope=R), reason="insufficient_scope",
         error="insufficient_scope"),
    # -- bound tokens are never plain bearer tokens (issue #13.4)
    Case("bound-jkt-as-bearer", auth=bearer(_bound), **_invalid(401, "invalid_token", "bound_token")),
    Case("bound-x5t-as-bearer",
         auth=bearer(lambda i: i.token(claims={"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}})),
         **_invalid(401, "invalid_token", "bound_token")),
    # -- ID tokens that carry our audience (issue #13.5)
    Case("id-token-cognito", auth=bearer(lambda i: i.token(claims={"token_use": "id"})),
         **_invalid(401, "invalid_token", "id_token_presented")),
    Case("id-token-keycloak", auth=bearer(lambda i: i.token(claims={"typ": "ID"})),
         **_invalid(401, "invalid_token", "id_token_presented")),
    # -- DPoP (issue #14): the framework's own URL is what the proof must name
    Case("dpop-valid", "/api/private", 200, for_url=_dpop(_bound)),
    Case("dpop-valid-post", "/api/private", 200, method="POST", for_url=_dpop(_bound)),
    Case("dpop-valid-scoped", "/api/private-scoped", 200, for_url=_dpop(lambda i: _bound(i))),
    Case("dpop-scoped-missing", "/api/private-scoped", 403,
         for_url=_dpop(lambda i: i.token(scopes=(), claims={"cnf": {"jkt": KEY.thumbprint}})),
         **{**_dpop_error("insufficient_scope", "insufficient_scope"),
            "www": f'Bearer realm="api", DPoP error="insufficient_scope", '
                   f'error_description="{DESCRIPTIONS["insufficient_scope"]}", scope="{R}", '
                   f'algs="{DPOP_ALGS}"'}),
    Case("dpop-no-proof", "/api/private", 401, for_url=_dpop(_bound, proofs=0),
         **_dpop_error("invalid_dpop_proof", "dpop_proof_missing")),
    Case("dpop-two-proofs", "/api/private", 401, for_url=_dpop(_bound, proofs=2),
         **_dpop_error("invalid_dpop_proof", "dpop_multiple_proofs")),
    Case("dpop-wrong-method", "/api/private", 401, for_url=_dpop(_bound, method="DELETE"),
         **_dpop_error("invalid_dpop_proof", "dpop_htm_mismatch")),
    Case("dpop-wrong-url", "/api/private", 401, for_url=_dpop(_bound, url_suffix="/other"),
         **_dpop_error("invalid_dpop_proof", "dpop_htu_mismatch")),
    Case("dpop-wrong-token", "/api/private", 401, for_url=_dpop(_bound, ath_of=lambda t: t + "x"),
         **_dpop_error("invalid_dpop_proof", "dpop_ath_mismatch")),
    Case("dpop-wrong-key", "/api/private", 401, for_url=_dpop(_bound, key=DPoPKey("ES256")),
         **_dpop_error("invalid_dpop_proof", "dpop_key_mismatch")),
    Case("dpop-replayed", "/api/private", 401, for_url=_dpop(_bound), repeat=2,
         **_dpop_error("invalid_dpop_proof", "dpop_replayed")),
    Case("dpop-unbound-token", "/api/private", 401, for_url=_dpop(lambda i: i.token()),
         **_dpop_error("invalid_token", "dpop_unbound_token")),
    Case("dpop-expired-token", "/api/private", 401,
         for_url=_dpop(lambda i: _bound(i, exp=1_700_000_000)),
         **_dpop_error("invalid_token", "expired")),
]  # fmt: skip


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", EDGE_CASES, ids=[c.id for c in EDGE_CASES])
def test_edges(entry: str, case: Case, issuer: Issuer, servers: dict[str, Server]) -> None:
    check_case(entry, case, issuer, servers)


# -- a strict deployment: header only, DPoP required ---------------------------------------


@pytest.fixture(scope="module")
def strict(issuer: Issuer) -> Iterator[dict[str, Server]]:
    env = {
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": AUD,
        "BEARERGUARD_TOKEN_LOCATIONS": "header",
        "BEARERGUARD_DPOP": "required",
    }
    specs = {
        name: (kind, target, env)
        for name, (kind, target, modules) in ENTRY_POINTS.items()
        if available(modules)
    }
    with running(specs) as started:
        yield started


DPOP_ONLY = f'DPoP algs="{DPOP_ALGS}"'
STRICT_CASES = [
    # RFC 6750 §2: a token in the header and the URL is refused even with URL tokens off
    Case("header-and-query-off", "/api/private", 400,
         for_url=lambda i, url, m: [("Authorization", f"Bearer {i.token()}")],
         query=lambda i: i.token(), dpop_offer=False,
         www=f'DPoP error="invalid_request", '
             f'error_description="{DESCRIPTIONS["multiple_tokens"]}", algs="{DPOP_ALGS}"',
         reason="multiple_tokens", error="invalid_request"),
    Case("query-alone-off", "/api/private", 401, query=lambda i: i.token(), www=DPOP_ONLY,
         reason="missing_token", dpop_offer=False),
    Case("no-credentials", "/api/private", 401, www=DPOP_ONLY, reason="missing_token",
         dpop_offer=False),
    Case("bearer-refused", "/api/private", 401, auth=bearer(lambda i: i.token()),
         **_dpop_error("invalid_token", "dpop_required", bearer_offered=False)),
    Case("dpop-accepted", "/api/private", 200, for_url=_dpop(_bound)),
]  # fmt: skip


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("case", STRICT_CASES, ids=[c.id for c in STRICT_CASES])
def test_strict(entry: str, case: Case, issuer: Issuer, strict: dict[str, Server]) -> None:
    check_case(entry, case, issuer, strict)
