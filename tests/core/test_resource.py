"""RFC 9728 protected-resource metadata, ``resource_metadata`` and ``scope=`` in challenges,
and the scope hierarchy (``BEARERGUARD_SCOPE_IMPLICATIONS``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bearerguard import (
    AccessToken,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    KeysUnavailable,
    MissingToken,
    Requirements,
    SettingError,
    Settings,
    Verifier,
)
from bearerguard.resource import metadata_path, metadata_url
from bearerguard.testing import Issuer
from tests.expect import DPOP_ALGS

ISS = "https://tenant.example.com/"
RES = "https://api.example.com/mcp"
META = "https://api.example.com/.well-known/oauth-protected-resource/mcp"
DPOP = f'algs="{DPOP_ALGS}"'


# -- RFC 9728 §3.1: the path-inserted well-known URL --------------------------------------


@pytest.mark.parametrize(
    ("resource", "url"),
    [
        # RFC 9728 §3.1's own example.
        (
            "https://resource.example.com/resource1",
            "https://resource.example.com/.well-known/oauth-protected-resource/resource1",
        ),
        # No path: the root form.
        ("https://resource.example.com", "https://resource.example.com/.well-known/oauth-protected-resource"),
        # A lone terminating slash after the host is removed before the insertion.
        ("https://resource.example.com/", "https://resource.example.com/.well-known/oauth-protected-resource"),
        ("https://api.example.com:8443/v1/mcp", "https://api.example.com:8443/.well-known/oauth-protected-resource/v1/mcp"),
        ("http://127.0.0.1:8000/api/", "http://127.0.0.1:8000/.well-known/oauth-protected-resource/api/"),
    ],
)  # fmt: skip
def test_metadata_url(resource: str, url: str) -> None:
    assert metadata_url(resource) == url
    assert metadata_path(resource) == url[url.index("/.well-known") :]


# -- the document and its answers ---------------------------------------------------------


def verifier(**settings: Any) -> Verifier:
    return Verifier(issuer=settings.pop("issuer", ISS), audience="urn:api", **settings)


def test_no_resource_no_metadata() -> None:
    v = verifier()
    assert v.metadata_path is None
    assert v.metadata("GET", "/.well-known/oauth-protected-resource") is None
    assert v.responses.resource_metadata is None


def test_other_paths_are_not_answered() -> None:
    v = verifier(resource=RES)
    assert v.metadata_path == "/.well-known/oauth-protected-resource/mcp"
    for path in (
        "/.well-known/oauth-protected-resource",
        "/mcp",
        "/.well-known/oauth-protected-resource/mcp/",
    ):
        assert v.metadata("GET", path) is None


def test_get_document() -> None:
    v = verifier(
        resource=RES,
        scopes_supported="files:read,files:write",
        resource_name="Files API",
        resource_documentation="https://docs.example.com/files",
        token_locations="header,query,form",
    )
    status, headers, body = v.metadata("GET", "/.well-known/oauth-protected-resource/mcp") or ()
    assert status == 200
    assert json.loads(body) == {
        "resource": "https://api.example.com/mcp",
        "authorization_servers": ["https://tenant.example.com/"],
        "bearer_methods_supported": ["header", "query", "body"],
        "scopes_supported": ["files:read", "files:write"],
        "resource_name": "Files API",
        "resource_documentation": "https://docs.example.com/files",
        "dpop_signing_alg_values_supported": DPOP_ALGS.split(),
    }
    assert headers == [
        ("Content-Type", "application/json"),
        ("Cache-Control", "public, max-age=3600"),
        ("Access-Control-Allow-Origin", "*"),
        ("Content-Length", str(len(body))),
    ]


def test_minimal_document_omits_empty_members() -> None:
    v = verifier(
        resource="https://api.example.com", dpop="off", issuer=f"{ISS},https://b.example.com/"
    )
    _, _, body = v.metadata("GET", "/.well-known/oauth-protected-resource") or ()
    assert json.loads(body) == {
        "resource": "https://api.example.com",
        "authorization_servers": ["https://tenant.example.com/", "https://b.example.com/"],
        "bearer_methods_supported": ["header"],
    }


def test_dpop_required_document() -> None:
    v = verifier(resource=RES, dpop="required", dpop_algorithms="ES256,EdDSA")
    _, _, body = v.metadata("GET", "/.well-known/oauth-protected-resource/mcp") or ()
    doc = json.loads(body)
    assert doc["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    assert doc["dpop_bound_access_tokens_required"] is True


def test_tenant_templates_are_no_authorization_server() -> None:
    v = verifier(
        resource=RES, issuer="https://login.example.com/{tenantid}/v2.0", tenants="*", dpop="off"
    )
    _, _, body = v.metadata("GET", "/.well-known/oauth-protected-resource/mcp") or ()
    assert "authorization_servers" not in json.loads(body)


def test_resource_is_byte_identical() -> None:
    # Canonical form is enforced at startup, so what is served is what was configured.
    v = verifier(resource="https://api.example.com:8443/MCP")
    _, _, body = v.metadata("GET", "/.well-known/oauth-protected-resource/MCP") or ()
    assert b'"resource":"https://api.example.com:8443/MCP"' in body
    with pytest.raises(SettingError, match="canonical"):
        Settings(issuer=ISS, resource="https://API.example.com/mcp")


def test_head_options_and_other_methods() -> None:
    v = verifier(resource=RES)
    path = "/.well-known/oauth-protected-resource/mcp"
    _, get_headers, body = v.metadata("GET", path) or ()
    assert v.metadata("HEAD", path) == (200, get_headers, b"")  # RFC 9110 §9.3.2
    assert v.metadata("OPTIONS", path) == (
        204,
        [
            ("Allow", "GET, HEAD, OPTIONS"),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
            ("Access-Control-Allow-Headers", "*"),
            ("Access-Control-Max-Age", "86400"),
            ("Content-Length", "0"),
        ],
        b"",
    )
    for method in ("POST", "PUT", "DELETE"):
        status, headers, body = v.metadata(method, path) or ()
        assert status == 405
        assert ("Allow", "GET, HEAD, OPTIONS") in headers
        assert body == b'{"error": "method_not_allowed"}'
    assert len(body) > 0 and len(get_headers) == 4


def test_audience_defaults_to_resource() -> None:
    assert Settings(issuer=ISS, resource=RES).audiences == (RES,)


# -- resource_metadata and scope= in challenges -------------------------------------------


def www(v: Verifier, err: Any, req: Requirements | None = None) -> str | None:
    return dict(v.render(err, req)[1]).get("WWW-Authenticate")


def test_resource_metadata_in_every_challenge_both_schemes() -> None:
    v = verifier(resource=RES)
    meta = f'resource_metadata="{META}"'
    assert www(v, MissingToken()) == f'Bearer realm="api", {meta}, DPoP {DPOP}, {meta}'
    assert www(v, InvalidToken("expired")) == (
        'Bearer realm="api", error="invalid_token", error_description="The access token expired", '
        f"{meta}, DPoP {DPOP}, {meta}"
    )
    assert www(v, KeysUnavailable()) is None  # 503: no challenge at all


def test_dpop_required_challenge_names_metadata() -> None:
    v = verifier(resource=RES, dpop="required", dpop_algorithms="ES256")
    assert www(v, MissingToken()) == f'DPoP algs="ES256", resource_metadata="{META}"'


def test_401_names_the_routes_scopes() -> None:
    v = verifier(dpop="off")
    req = Requirements(scopes=["files:read", "files:write"], any_scopes=["admin", "files:read"])
    # Bare (RFC 6750 §3.1: no error code), but the scopes the route needs.
    assert www(v, MissingToken(), req) == 'Bearer realm="api", scope="files:read files:write admin"'
    assert www(v, InvalidToken("expired"), req) == (
        'Bearer realm="api", error="invalid_token", error_description="The access token expired", '
        'scope="files:read files:write admin"'
    )


def test_bare_401_with_dpop_names_scopes_in_both_challenges() -> None:
    v = verifier(resource=RES)
    assert www(v, MissingToken(), Requirements(scopes="files:read")) == (
        f'Bearer realm="api", scope="files:read", resource_metadata="{META}", '
        f'DPoP scope="files:read", {DPOP}, resource_metadata="{META}"'
    )


def test_403_names_exactly_the_missing_requirement_in_one_challenge() -> None:
    v = verifier(resource=RES)
    req = Requirements(scopes=["files:read"], any_scopes=["admin", "owner"])
    err = InsufficientScope(scopes=("admin", "owner"))  # the all-of part was met
    assert www(v, err, req) == (
        'Bearer realm="api", error="insufficient_scope", '
        'error_description="The access token lacks a required scope", scope="admin owner", '
        f'resource_metadata="{META}", DPoP {DPOP}, resource_metadata="{META}"'
    )


def test_never_an_empty_scope() -> None:
    v = verifier(dpop="off")
    claim_only = Requirements.claim("tenant", equals="acme")
    assert www(v, MissingToken(), claim_only) == 'Bearer realm="api"'
    assert www(v, MissingToken(), Requirements()) == 'Bearer realm="api"'
    err = InsufficientScope("claim_requirement_failed")
    assert "scope=" not in (www(v, err, claim_only) or "")
    # A 400 is about the request, not the route: no scope.
    req = Requirements(scopes="files:read")
    assert "scope=" not in (www(v, InvalidRequest("empty_token"), req) or "")


# -- the scope hierarchy ------------------------------------------------------------------


def test_implications_env_syntax_and_closure() -> None:
    s = Settings.from_mapping(
        {
            "BEARERGUARD_ISSUER": ISS,
            "BEARERGUARD_AUDIENCE": "urn:api",
            "BEARERGUARD_SCOPE_IMPLICATIONS": (
                "messages:admin>messages:write; messages:write>messages:read;files:admin>files:read"
            ),
        }
    )
    assert s.scope_implications == (
        ("files:admin", ("files:read",)),
        ("messages:admin", ("messages:read", "messages:write")),
        ("messages:write", ("messages:read",)),
    )


def test_implications_mapping_form() -> None:
    s = Settings(issuer=ISS, audience="a", scope_implications={"admin": ["a", "b"], "a": "c d"})
    assert s.scope_implications == (("a", ("c", "d")), ("admin", ("a", "b", "c", "d")))
    assert Settings(
        issuer=ISS, audience="a", scope_implications={"x": "y", "y": "x"}
    ).scope_implications == (
        ("x", ("y",)),
        ("y", ("x",)),
    )


@pytest.mark.parametrize("value", ["admin", "admin>", ">read", "ad min>read", 'admin>re"ad', 42])
def test_implications_refused(value: Any) -> None:
    with pytest.raises(SettingError, match="BEARERGUARD_SCOPE_IMPLICATIONS"):
        Settings(issuer=ISS, audience="a", scope_implications=value)


def test_implied_scopes_meet_requirements(issuer: Issuer) -> None:
    v = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        scope_implications="messages:admin>messages:read messages:write",
    )
    token = v.verify(issuer.token(scopes=["messages:admin", "profile"]))
    assert token.scopes == frozenset(
        {"messages:admin", "messages:read", "messages:write", "profile"}
    )
    assert (
        v.decide(
            f"Bearer {issuer.token(scopes=['messages:admin'])}",
            requirements=Requirements(scopes=["messages:read", "messages:write"]),
        ).token
        is not None
    )
    # The narrow scope never implies the broad one.
    narrow = v.decide(
        f"Bearer {issuer.token(scopes=['messages:read'])}",
        requirements=Requirements(scopes="messages:admin"),
    )
    assert narrow.error is not None and narrow.error.scopes == ("messages:admin",)


def test_without_implications_scopes_are_as_signed(issuer: Issuer) -> None:
    v = Verifier(issuer=issuer.issuer, audience=issuer.audience)
    assert isinstance(v.verify(issuer.token(scopes=["messages:admin"])), AccessToken)
    assert v.verify(issuer.token(scopes=["messages:admin"])).scopes == frozenset({"messages:admin"})
