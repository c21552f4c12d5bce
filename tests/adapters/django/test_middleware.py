"""BearerAuthMiddleware: both modes, exempt paths, token locations, sync and async stacks."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("django")

from django.test import AsyncClient, Client, override_settings

from bearerguard.adapters.django import conf
from bearerguard.testing import Issuer
from tests.adapters.django.helpers import (
    MISSING,
    MISSING_BODY,
    assert_refused,
    bearer,
    body,
    invalid,
)

EXPIRED = "The access token expired"
MALFORMED = "The access token is not a well-formed JWT"


def test_public_without_token() -> None:
    response = Client().get("/public")
    assert response.status_code == 200
    assert response.json() == {"sub": None, "user": "AnonymousUser", "username": None}


def test_public_with_token_authenticates(issuer: Issuer) -> None:
    response = Client().get("/public", **bearer(issuer.token(sub="alice")))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "user": "TokenUser", "username": "alice"}


def test_invalid_token_refused_on_public_path(issuer: Issuer) -> None:
    response = Client().get("/public", **bearer(issuer.token(expires_in=-3600)))
    assert_refused(response, 401, invalid(EXPIRED), body("invalid_token", EXPIRED, "expired"))


def test_garbage_token_refused() -> None:
    response = Client().get("/public", **bearer("not-a-jwt"))
    assert_refused(
        response, 401, invalid(MALFORMED), body("invalid_token", MALFORMED, "malformed_token")
    )


def test_empty_bearer_is_invalid_request() -> None:
    description = "The Bearer scheme was sent without a token"
    response = Client().get("/public", HTTP_AUTHORIZATION="Bearer ")
    assert_refused(
        response,
        400,
        invalid(description, "invalid_request"),
        body("invalid_request", description, "empty_token"),
    )


def test_other_scheme_is_no_credentials() -> None:
    response = Client().get("/protected/thing", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert_refused(response, 401, MISSING, MISSING_BODY)


def test_protected_path_needs_token() -> None:
    assert_refused(Client().get("/protected/thing"), 401, MISSING, MISSING_BODY)


def test_protected_path_with_token(issuer: Issuer) -> None:
    response = Client().post("/protected/thing", **bearer(issuer.token()))
    assert response.status_code == 200
    assert response.json() == {"sub": "user-1", "user": "TokenUser", "username": "user-1"}


def test_protected_prefix_matches_whole_segments() -> None:
    # "/protected" covers "/protected/thing", not "/protectedness".
    assert Client().get("/protectedness").status_code == 200


def test_exempt_path_is_passed_through_untouched(issuer: Issuer) -> None:
    response = Client().get("/protected/health", **bearer("not-a-jwt"))
    assert response.status_code == 200
    assert response.json() == {"ok": True, "sub": None}


def test_protected_paths_setting_is_reread(issuer: Issuer) -> None:
    with override_settings(BEARERGUARD_PROTECTED_PATHS=["/public"]):
        assert_refused(Client().get("/public"), 401, MISSING, MISSING_BODY)
    assert Client().get("/public").status_code == 200


def test_verifier_rebuilt_on_setting_change(issuer: Issuer) -> None:
    before = conf.get_verifier()
    with override_settings(BEARERGUARD_REALM="other"):
        assert conf.get_verifier() is not before
        response = Client().get("/protected/thing")
        challenge = 'Bearer realm="other"'
        assert_refused(response, 401, challenge, MISSING_BODY)
    assert conf.get_verifier().realm == "api"


def test_query_token_ignored_unless_enabled(issuer: Issuer) -> None:
    response = Client().get("/protected/thing", {"access_token": issuer.token()})
    assert_refused(response, 401, MISSING, MISSING_BODY)


@override_settings(BEARERGUARD_TOKEN_LOCATIONS="header,query")
def test_query_token_when_enabled(issuer: Issuer) -> None:
    response = Client().get("/protected/thing", {"access_token": issuer.token(sub="q")})
    assert response.status_code == 200
    assert response.json()["sub"] == "q"


@override_settings(BEARERGUARD_TOKEN_LOCATIONS="header,query")
def test_token_by_two_methods_is_invalid_request(issuer: Issuer) -> None:
    description = "The access token was sent by more than one method"
    token = issuer.token()
    response = Client().get("/protected/thing", {"access_token": token}, **bearer(token))

    assert_refused(
        response,
        400,
        invalid(description, "invalid_request"),
        body("invalid_request", description, "multiple_tokens"),
    )


def test_form_token_ignored_unless_enabled(issuer: Issuer) -> None:
    form = f"access_token={issuer.token()}"
    response = Client().post(
        "/protected/thing", form, content_type="application/x-www-form-urlencoded"
    )
    assert_refused(response, 401, MISSING, MISSING_BODY)


@override_settings(BEARERGUARD_TOKEN_LOCATIONS=["header", "form"])
def test_form_token_when_enabled(issuer: Issuer) -> None:
    form = f"access_token={issuer.token(sub='f')}"
    response = Client().post(
        "/protected/thing", form, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert response.json()["sub"] == "f"


@override_settings(BEARERGUARD_TOKEN_LOCATIONS=["header", "form"])
def test_form_token_not_read_from_get_or_other_media_types(issuer: Issuer) -> None:
    # RFC 6750 §2.2: only form-encoded bodies, never with GET.
    token = issuer.token()
    response = Client().generic(
        "GET",
        "/protected/thing",
        f"access_token={token}",
        content_type="application/x-www-form-urlencoded",
    )
    assert_refused(response, 401, MISSING, MISSING_BODY)
    response = Client().post("/protected/thing", {"access_token": token})  # multipart
    assert_refused(response, 401, MISSING, MISSING_BODY)


def test_key_outage_answers_503(issuer: Issuer) -> None:
    token = issuer.token()
    # A new verifier (settings changed) has no keys cached yet.
    with override_settings(BEARERGUARD_LEEWAY=30), issuer.outage():
        response = Client().get("/public", **bearer(token))
    description = "The signing keys cannot be retrieved right now"
    assert_refused(response, 503, None, body(None, description, "keys_unavailable"))
    assert response["Retry-After"].isdigit()


def test_async_stack_with_async_client(issuer: Issuer) -> None:
    async def run() -> None:
        client = AsyncClient()
        response = await client.get("/async-public", **bearer(issuer.token(sub="a")))
        assert response.status_code == 200
        assert response.json() == {"sub": "a"}
        response = await client.get("/protected/thing")
        assert_refused(response, 401, MISSING, MISSING_BODY)
        response = await client.get("/public", **bearer(issuer.token(expires_in=-3600)))
        assert_refused(response, 401, invalid(EXPIRED), body("invalid_token", EXPIRED, "expired"))

    asyncio.run(run())


def test_async_request_user_and_auser(issuer: Issuer) -> None:
    async def run() -> None:
        response = await AsyncClient().get("/async-private", **bearer(issuer.token(sub="b")))
        assert response.status_code == 200
        assert response.json() == {"sub": "b", "user": "TokenUser"}

    asyncio.run(run())


def test_middleware_fails_at_startup_on_bad_settings() -> None:
    from django.core.exceptions import ImproperlyConfigured

    from bearerguard.adapters.django.middleware import BearerAuthMiddleware

    with override_settings(BEARERGUARD_AUDIENCE=None), pytest.raises(ImproperlyConfigured):
        BearerAuthMiddleware(lambda request: None)  # type: ignore[arg-type]
