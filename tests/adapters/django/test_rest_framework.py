"""DRF: BearerTokenAuthentication, permission classes and the exact refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.expect import challenge, with_dpop

pytest.importorskip("rest_framework")

from django.test import Client, override_settings

from bearerguard.testing import Issuer
from tests.adapters.django.helpers import (
    CLAIM_DESCRIPTION,
    MISSING,
    MISSING_BODY,
    SCOPE_DESCRIPTION,
    assert_refused,
    bearer,
    body,
    insufficient,
    invalid,
)

SCOPE_BODY = body("insufficient_scope", SCOPE_DESCRIPTION, "insufficient_scope")
CLAIM_BODY = body("insufficient_scope", CLAIM_DESCRIPTION, "claim_requirement_failed")
EXPIRED = "The access token expired"
WITHOUT_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]


@pytest.fixture(params=["with-middleware", "drf-alone"])
def stack(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every DRF test runs behind BearerAuthMiddleware and with DRF authenticating alone."""
    if request.param == "with-middleware":
        yield request.param
    else:
        with override_settings(MIDDLEWARE=WITHOUT_MIDDLEWARE):
            yield request.param


def test_authenticated(stack: str, issuer: Issuer) -> None:
    response = Client().get("/drf/me", **bearer(issuer.token(sub="alice")))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "user": "TokenUser", "username": "alice"}


def test_no_token_is_bare_401(stack: str) -> None:
    assert_refused(Client().get("/drf/me"), 401, MISSING, MISSING_BODY)


def test_stock_is_authenticated_gets_bare_challenge(stack: str) -> None:
    # DRF's own IsAuthenticated (NotAuthenticated) on a view using our authentication:
    # with our exception handler, the documented body and the bare challenge.
    assert_refused(Client().get("/drf/stock"), 401, MISSING, MISSING_BODY)


def test_stock_view_with_basic_credentials_is_no_bearer_credentials(stack: str) -> None:
    # Another scheme is "no credentials" for a bearer resource (RFC 6750 §3.1).
    response = Client().get("/drf/stock", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert_refused(response, 401, MISSING, MISSING_BODY)


@override_settings(BEARERGUARD_REALM="example")
def test_stock_refusal_uses_the_configured_realm(stack: str) -> None:
    assert_refused(Client().get("/drf/stock"), 401, 'Bearer realm="example"', MISSING_BODY)


def test_view_without_our_authentication_keeps_drf_answers(stack: str) -> None:
    # SessionAuthentication only: DRF's default handler (403, its own body, no challenge).
    response = Client().get("/drf/session-only")
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response
    assert response.json() == {"detail": "Authentication credentials were not provided."}


def test_invalid_token_is_401(stack: str, issuer: Issuer) -> None:
    response = Client().get("/drf/me", **bearer(issuer.token(expires_in=-3600)))
    assert_refused(response, 401, invalid(EXPIRED), body("invalid_token", EXPIRED, "expired"))


def test_invalid_token_on_stock_view_is_401(stack: str) -> None:
    description = "The access token is not a well-formed JWT"
    response = Client().get("/drf/stock", **bearer("junk"))
    assert_refused(
        response, 401, invalid(description), body("invalid_token", description, "malformed_token")
    )


def test_malformed_request_is_400(stack: str, issuer: Issuer) -> None:
    description = "The Bearer scheme was sent without a token"
    response = Client().get("/drf/me", HTTP_AUTHORIZATION="Bearer")
    assert_refused(
        response,
        400,
        invalid(description, "invalid_request"),
        body("invalid_request", description, "empty_token"),
    )


def test_has_scopes(stack: str, issuer: Issuer) -> None:
    ok = issuer.token(scopes=["read:messages", "write:messages", "editor"])
    assert Client().get("/drf/scoped", **bearer(ok)).status_code == 200
    response = Client().get("/drf/scoped", **bearer(issuer.token(scopes=["read:messages"])))
    assert_refused(response, 403, insufficient("read:messages write:messages"), SCOPE_BODY)
    rw = issuer.token(scopes=["read:messages", "write:messages"])
    response = Client().get("/drf/scoped", **bearer(rw))
    assert_refused(response, 403, insufficient("admin editor"), SCOPE_BODY)
    every = challenge(scope="read:messages write:messages admin editor")
    assert_refused(Client().get("/drf/scoped"), 401, every, MISSING_BODY)


def test_scopes_required_factory(stack: str, issuer: Issuer) -> None:
    ok = issuer.token(scopes=["read:messages", "admin"])
    assert Client().post("/drf/factory", **bearer(ok)).status_code == 200
    response = Client().post("/drf/factory", **bearer(issuer.token(scopes=["read:messages"])))
    assert_refused(response, 403, insufficient("admin"), SCOPE_BODY)


def test_claim_required(stack: str, issuer: Issuer) -> None:
    ok = issuer.token(claims={"tenant": "acme"})
    assert Client().get("/drf/claims", **bearer(ok)).status_code == 200
    response = Client().get("/drf/claims", **bearer(issuer.token(claims={"tenant": "evil"})))
    assert_refused(response, 403, insufficient(), CLAIM_BODY)


def test_claim_required_factory(stack: str, issuer: Issuer) -> None:
    ok = issuer.token(claims={"roles": ["writer"]})
    assert Client().get("/drf/claim-factory", **bearer(ok)).status_code == 200
    response = Client().get("/drf/claim-factory", **bearer(issuer.token()))
    assert_refused(response, 403, insufficient(), CLAIM_BODY)


@override_settings(BEARERGUARD_TOKEN_LOCATIONS="header,form", MIDDLEWARE=WITHOUT_MIDDLEWARE)
def test_form_token_with_drf_alone(issuer: Issuer) -> None:
    response = Client().post(
        "/drf/me",
        f"access_token={issuer.token(sub='f')}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert response.json()["sub"] == "f"


def test_keys_unavailable_is_503(stack: str, issuer: Issuer) -> None:
    token = issuer.token()
    with override_settings(BEARERGUARD_LEEWAY=30), issuer.outage():
        response = Client().get("/drf/me", **bearer(token))
    description = "The signing keys cannot be retrieved right now"
    assert_refused(response, 503, None, body(None, description, "keys_unavailable"))
    assert response["Retry-After"].isdigit()


def test_default_drf_handler_keeps_status_challenge_and_body(issuer: Issuer) -> None:
    # Without our EXCEPTION_HANDLER only Cache-Control: no-store is lost (check W002).
    rest = {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "bearerguard.adapters.django.rest_framework.BearerTokenAuthentication"
        ],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    }
    with override_settings(REST_FRAMEWORK=rest, MIDDLEWARE=WITHOUT_MIDDLEWARE):
        response = Client().get("/drf/scoped", **bearer(issuer.token(scopes=[])))
    assert response.status_code == 403
    assert response["WWW-Authenticate"] == with_dpop(insufficient("read:messages write:messages"))
    assert response.content == json.dumps(SCOPE_BODY, separators=(",", ":")).encode()
