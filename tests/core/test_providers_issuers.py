"""Several issuers each with its own settings, and Entra ID multi-tenant issuer templates.

Every key set is served over real HTTP on 127.0.0.1: test issuers, and for the tenants a
small server in the shape of Entra ID's (``/<tenant>/v2.0/.well-known/openid-configuration``,
``/common/v2.0/...`` naming the template as its issuer).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bearerguard import InvalidToken, KeysUnavailable, Settings, Verifier
from bearerguard.issuers import IssuerSettings
from bearerguard.settings import SettingError
from bearerguard.testing import Issuer

API_GUID = "6e74172b-be56-4843-9ff4-e66a39bb12e3"
TENANT_A = "aaaaaaaa-0000-4000-8000-00000000000a"
TENANT_B = "bbbbbbbb-0000-4000-8000-00000000000b"
TENANT_C = "cccccccc-0000-4000-8000-00000000000c"


def reason(verifier: Verifier, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token)
    return info.value.reason


# -- Entra ID multi-tenant ----------------------------------------------------------------


class Tenants:
    """An Entra-ID-shaped discovery server: one key set per tenant, and ``common``."""

    def __init__(self) -> None:
        self.rings = {t: Issuer(audience=API_GUID) for t in (TENANT_A, TENANT_B, TENANT_C)}
        self.rings["common"] = Issuer(audience=API_GUID)
        self.hits: Counter[str] = Counter()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits[self.path] += 1
                parts = self.path.strip("/").split("/")
                body: dict[str, Any] | None = None
                if parts[0] in outer.rings and parts[1:] == [
                    "v2.0",
                    ".well-known",
                    "openid-configuration",
                ]:
                    name = "{tenantid}" if parts[0] == "common" else parts[0]
                    body = {
                        "issuer": f"{outer.base}/{name}/v2.0",
                        "jwks_uri": f"{outer.base}/{parts[0]}/keys",
                    }
                elif parts[0] in outer.rings and parts[1:] == ["keys"]:
                    body = outer.rings[parts[0]].jwks()
                data = json.dumps(body).encode()
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self.thread.start()

    @property
    def template(self) -> str:
        return self.base + "/{tenantid}/v2.0"

    def token(self, tenant: str, *, signer: str | None = None, **claims: Any) -> str:
        body = {
            "azp": "1d7a1a5b-5a59-4d8e-8e52-4b3b0b5c0f11",
            "scp": "access_as_user",
            "tid": tenant,
            "ver": "2.0",
            "oid": "o",
        }
        body.update(claims)
        return self.rings[signer or tenant].token(
            sub="s",
            scopes=None,
            client_id=None,
            typ="JWT",
            issuer=f"{self.base}/{tenant}/v2.0",
            claims=body,
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def tenants() -> Iterator[Tenants]:
    t = Tenants()
    try:
        yield t
    finally:
        t.stop()


def test_multi_tenant_allow_list(tenants: Tenants) -> None:
    v = Verifier(
        issuer=tenants.template, audience=API_GUID, provider="entra", tenants=[TENANT_A, TENANT_B]
    )
    at = v.verify(tenants.token(TENANT_A))
    assert (at["tid"], at.scopes) == (TENANT_A, frozenset({"access_as_user"}))
    assert v.verify(tenants.token(TENANT_B))["tid"] == TENANT_B
    # Each allowed tenant's keys come from that tenant's own discovery, fetched once.
    assert tenants.hits[f"/{TENANT_A}/v2.0/.well-known/openid-configuration"] == 1
    assert tenants.hits[f"/{TENANT_B}/keys"] == 1
    # A tenant not on the list: refused before any fetch.
    assert reason(v, tenants.token(TENANT_C)) == "invalid_issuer"
    assert not any(TENANT_C in path for path in tenants.hits)
    # tid must be the tenant of iss.
    assert reason(v, tenants.token(TENANT_A, tid=TENANT_B)) == "tenant_mismatch"
    assert reason(v, tenants.token(TENANT_A, tid=None)) == "tenant_mismatch"
    # Tenant B's key never verifies a token claiming tenant A.
    assert reason(v, tenants.token(TENANT_A, signer=TENANT_B)) == "unknown_kid"
    # A path segment that is no tenant id, or another shape: not a configured issuer.
    assert reason(v, tenants.token(TENANT_A, iss=tenants.base + "/x/y/v2.0")) == "invalid_issuer"


def test_multi_tenant_any_tenant_uses_the_common_key_set(tenants: Tenants) -> None:
    v = Verifier(issuer=tenants.template, audience=API_GUID, provider="entra", tenants="*")
    for tenant in (TENANT_A, TENANT_B, TENANT_C):
        token = tenants.token(tenant, signer="common")
        assert v.verify(token)["tid"] == tenant
        assert (
            reason(v, tenants.token(tenant, signer="common", tid="someone-else"))
            == "tenant_mismatch"
        )
    # One shared key source: common's discovery (whose issuer is the template), fetched once.
    assert tenants.hits["/common/v2.0/.well-known/openid-configuration"] == 1
    assert tenants.hits["/common/keys"] == 1
    assert not any(t in path for path in tenants.hits for t in (TENANT_A, TENANT_B, TENANT_C))
    # A tenant's own key is not in the common set.
    assert reason(v, tenants.token(TENANT_A)) == "unknown_kid"


def test_multi_tenant_with_a_configured_key_set(tenants: Tenants) -> None:
    v = Verifier(
        issuer=tenants.template,
        audience=API_GUID,
        provider="entra",
        tenants=[TENANT_A, TENANT_B],
        jwks_uri=tenants.base + "/common/keys",
    )
    assert v.verify(tenants.token(TENANT_A, signer="common"))["tid"] == TENANT_A
    assert v.verify(tenants.token(TENANT_B, signer="common"))["tid"] == TENANT_B
    assert reason(v, tenants.token(TENANT_C, signer="common")) == "invalid_issuer"
    assert dict(tenants.hits) == {"/common/keys": 1}  # one key set, nothing discovered


def test_multi_tenant_settings_from_the_environment(tenants: Tenants) -> None:
    s = Settings.from_env(
        {
            "BEARERGUARD_ISSUER": tenants.template,
            "BEARERGUARD_AUDIENCE": f"{API_GUID},api://orders",
            "BEARERGUARD_PROVIDER": "entra",
            "BEARERGUARD_TENANTS": f"{TENANT_A}, {TENANT_B}",
        }
    )
    assert s.tenants == (TENANT_A, TENANT_B)
    v = Verifier(s)
    assert v.verify(tenants.token(TENANT_B, aud="api://orders"))["tid"] == TENANT_B
    with pytest.raises(SettingError) as info:
        Settings(issuer=tenants.template, audience=API_GUID)
    assert info.value.setting == "BEARERGUARD_TENANTS"


# -- several issuers, each with its own settings -----------------------------------------


@pytest.fixture(scope="module")
def okta() -> Iterator[Issuer]:
    with Issuer(audience="api://default", path="oauth2/default") as iss:
        yield iss


@pytest.fixture(scope="module")
def keycloak() -> Iterator[Issuer]:
    with Issuer(audience="orders-api", path="realms/demo", algs=("ES256",)) as iss:
        yield iss


def _okta_token(okta: Issuer, **kw: Any) -> str:
    claims = {"cid": "0oa1", "scp": ["read:messages"], "groups": ["Admins"], "ver": 1}
    return okta.token(sub="alice", scopes=None, client_id=None, typ=None, claims=claims, **kw)


def _kc_token(keycloak: Issuer, **kw: Any) -> str:
    claims = {"typ": "Bearer", "azp": "spa", "scope": "openid", "realm_access": {"roles": ["user"]}}
    return keycloak.token(sub="bob", scopes=None, client_id=None, typ="JWT", claims=claims, **kw)


def _two(okta: Issuer, keycloak: Issuer) -> Verifier:
    return Verifier(
        issuer_settings=[
            IssuerSettings(issuer=okta.issuer, audience="api://default", provider="okta",
                           algorithms="RS256"),
            IssuerSettings(issuer=keycloak.issuer, audience="orders-api", provider="keycloak",
                           algorithms=["ES256"], jwks_uri=keycloak.jwks_uri),
        ]
    )  # fmt: skip


def test_each_issuer_has_its_own_settings(okta: Issuer, keycloak: Issuer) -> None:
    v = _two(okta, keycloak)
    at = v.verify(_okta_token(okta))
    assert (at.issuer, at.client_id, at.roles, at.scopes) == (
        okta.issuer,
        "0oa1",
        frozenset({"Admins"}),
        frozenset({"read:messages"}),
    )
    at = v.verify(_kc_token(keycloak))
    assert (at.issuer, at.client_id, at.roles, at.scopes) == (
        keycloak.issuer,
        "spa",
        frozenset({"user"}),
        frozenset({"openid"}),
    )
    # One issuer's audience is not another's.
    assert reason(v, _okta_token(okta, audience="orders-api")) == "invalid_audience"
    assert reason(v, _kc_token(keycloak, audience="api://default")) == "invalid_audience"
    # An issuer nobody configured.
    assert reason(v, _okta_token(okta, issuer="https://evil.example/")) == "invalid_issuer"
    # Keycloak's preset applies to its issuer only.
    assert reason(v, _kc_token(keycloak, audience="account")) == "keycloak_default_audience"
    assert reason(v, _okta_token(okta, audience="account")) == "invalid_audience"


def test_a_key_of_one_issuer_never_verifies_a_token_claiming_another(
    okta: Issuer, keycloak: Issuer
) -> None:
    v = _two(okta, keycloak)
    # Signed by Okta's key (RS256, allowed for Okta) but claiming Keycloak: Keycloak's key
    # set does not hold that key, and RS256 is not among Keycloak's algorithms.
    forged = _kc_token(keycloak, key=okta.current_key)
    assert reason(v, forged) == "unknown_kid"
    # Same kid spelled as Keycloak's current key: looked up in Keycloak's set only.
    forged = _kc_token(keycloak, key=okta.current_key, kid=keycloak.current_key.kid)
    assert reason(v, forged) == "key_alg_mismatch"
    # And the other way round.
    assert reason(v, _okta_token(okta, key=keycloak.current_key)) == "unknown_kid"
    # An algorithm allowed for one issuer only: refused for the other, even with its key.
    es = okta.new_key("ES256")
    try:
        fresh = _two(okta, keycloak)  # fetches Okta's key set with the ES256 key in it
        assert reason(fresh, _okta_token(okta, key=es)) == "alg_not_allowed"
    finally:
        okta.remove_key(es.kid)
    # The cache of verified tokens never answers for a token it did not verify.
    good = _okta_token(okta)
    v.verify(good)
    head, payload, _ = good.split(".")
    assert reason(v, f"{head}.{payload}.{_kc_token(keycloak).split('.')[2]}") == "bad_signature"


def test_issuer_settings_from_environment_json(okta: Issuer, keycloak: Issuer) -> None:
    env = {
        "BEARERGUARD_ISSUER": okta.issuer,
        "BEARERGUARD_AUDIENCE": "api://default",
        "BEARERGUARD_PROVIDER": "okta",
        "BEARERGUARD_ISSUER_SETTINGS": json.dumps(
            {keycloak.issuer: {"audience": "orders-api", "provider": "keycloak"}}
        ),
    }
    s = Settings.from_env(env)
    assert s.issuers == (okta.issuer, keycloak.issuer)
    assert [(p.issuer, p.provider, p.audience) for p in s.profiles()] == [
        ((okta.issuer,), "okta", ("api://default",)),
        ((keycloak.issuer,), "keycloak", ("orders-api",)),
    ]
    v = Verifier(s)
    assert v.verify(_okta_token(okta)).roles == frozenset({"Admins"})
    assert v.verify(_kc_token(keycloak)).roles == frozenset({"user"})


def test_an_issuer_inherits_the_settings_it_does_not_give(keycloak: Issuer) -> None:
    s = Settings(
        issuer="https://a.example/oauth2/default",
        audience="shared-api",
        provider="okta",
        leeway=5,
        role_claims="roles",  # explicit: inherited by every issuer
        issuer_settings={
            keycloak.issuer: {"provider": "keycloak"},
            "https://other.example/": {"audience": "other-api"},
        },
    )
    kc, other = s.profiles()[1:]
    # provider describes one server: never inherited; neither are the preset's values.
    assert (other.provider, other.client_id_claims, other.role_claims, other.audience) == (
        "generic",
        ("client_id", "azp", "cid", "appid"),
        ("roles",),
        ("other-api",),
    )
    assert (kc.audience, kc.leeway, kc.provider, kc.role_claims) == (
        ("shared-api",),
        5,
        "keycloak",
        ("roles",),
    )
    assert kc.scope_claims == ("scope",)  # not given anywhere: Keycloak's preset
    assert kc.jwks_uri is None  # never inherited: discovered from this issuer


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "must be a JSON object"),
        ('{"https://a.example/": {"realm": "x"}}', "cannot have of its own: realm"),
        ('{"https://a.example/": "x"}', "must map each issuer to its settings"),
        ('{"https://a.example/": {"audience": "x", "provider": "ping"}}', "BEARERGUARD_PROVIDER"),
        ('{"https://a.example/": {}}', "BEARERGUARD_AUDIENCE is required"),
        ('{"https://b.example/": {"audience": "x"}}', "configured twice"),
    ],
)
def test_issuer_settings_errors(value: str, message: str) -> None:
    env = {"BEARERGUARD_ISSUER_SETTINGS": value}
    if "twice" in message:
        env |= {"BEARERGUARD_ISSUER": "https://b.example/", "BEARERGUARD_AUDIENCE": "y"}
    with pytest.raises(SettingError) as info:
        Settings.from_env(env)
    assert info.value.setting == "BEARERGUARD_ISSUER_SETTINGS" or message in str(info.value)
    assert message in str(info.value)


def test_a_down_issuer_does_not_affect_another(okta: Issuer, keycloak: Issuer) -> None:
    v = _two(okta, keycloak)
    with keycloak.outage():
        with pytest.raises(KeysUnavailable):
            v.verify(_kc_token(keycloak))
        assert v.verify(_okta_token(okta)).client_id == "0oa1"


def test_single_issuer_behaviour_is_unchanged(okta: Issuer) -> None:
    # One issuer, one jwks_uri: one shared key source, as before presets existed.
    v = Verifier(issuer=okta.issuer, audience="api://default", jwks_uri=okta.jwks_uri)
    at = v.verify(_okta_token(okta))
    assert (at.client_id, at.roles, at.scopes) == (
        "0oa1",
        frozenset(),
        frozenset({"read:messages"}),
    )


def test_an_issuer_may_allow_an_algorithm_the_top_level_does_not(
    okta: Issuer, keycloak: Issuer
) -> None:
    v = Verifier(
        issuer=okta.issuer,
        audience="api://default",
        provider="okta",
        algorithms="RS256",
        issuer_settings={keycloak.issuer: {"audience": "orders-api", "algorithms": "ES256"}},
    )
    assert v.verify(_kc_token(keycloak)).issuer == keycloak.issuer  # ES256, Keycloak's own
    es = okta.new_key("ES256")
    try:
        assert reason(Verifier(v.settings), _okta_token(okta, key=es)) == "alg_not_allowed"
    finally:
        okta.remove_key(es.kid)


def test_static_keys_belong_to_the_top_level_issuer(okta: Issuer, keycloak: Issuer) -> None:
    v = Verifier(
        issuer=okta.issuer,
        audience="api://default",
        keys=okta.jwks(),
        issuer_settings=[IssuerSettings(issuer=keycloak.issuer, audience="orders-api")],
    )
    okta.reset_counters()
    keycloak.reset_counters()
    assert v.verify(_okta_token(okta)).issuer == okta.issuer
    assert okta.jwks_fetches == 0  # the static keys
    assert v.verify(_kc_token(keycloak)).issuer == keycloak.issuer
    assert (keycloak.discovery_fetches, keycloak.jwks_fetches) == (1, 1)  # its own, discovered
    # Okta's static key does not verify a token claiming Keycloak.
    assert reason(v, _kc_token(keycloak, key=okta.current_key)) == "unknown_kid"


def test_warm_and_ready_cover_every_issuer(okta: Issuer, keycloak: Issuer) -> None:
    v = _two(okta, keycloak)
    assert v.ready() is False
    v.warm()
    deadline = time.monotonic() + 10
    while not v.ready() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert v.ready() is True
    okta.reset_counters()
    keycloak.reset_counters()
    v.verify(_okta_token(okta))
    v.verify(_kc_token(keycloak))
    assert (okta.jwks_fetches, keycloak.jwks_fetches) == (0, 0)  # both were warm
