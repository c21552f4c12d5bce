"""request.user: TokenUser, BEARERGUARD_USER_HOOK, and the one-identity rule with sessions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("django")

from django.test import AsyncClient, Client, override_settings

from bearerguard import InvalidRequest, Verifier
from bearerguard.adapters.django import TokenUser
from bearerguard.testing import Issuer
from tests.adapters.django.helpers import assert_refused, bearer, body, invalid

HOOK = "tests.adapters.django.views.user_hook"


def test_token_user(issuer: Issuer) -> None:
    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience, jwks_uri=issuer.jwks_uri)
    token = verifier.verify(issuer.token(sub="alice", scopes=["a"]))
    user = TokenUser(token)
    assert (user.pk, user.id, user.username, str(user)) == ("alice", "alice", "alice", "alice")
    assert user.is_authenticated and user.is_active and not user.is_anonymous
    assert not (user.is_staff or user.is_superuser)
    assert user.token is token and user.get_username() == "alice"
    assert not user.has_perm("auth.view_user") and not user.has_module_perms("auth")
    assert user.has_perms([]) and not user.has_perms(["x"])
    assert user.get_all_permissions() == set()
    assert user == TokenUser(token) and hash(user) == hash(TokenUser(token))
    with pytest.raises(NotImplementedError):
        user.save()


@override_settings(BEARERGUARD_USER_HOOK=HOOK)
def test_user_hook_maps_the_user(issuer: Issuer) -> None:
    response = Client().get("/private", **bearer(issuer.token(sub="alice")))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "user": "HookUser", "username": "hooked:alice"}


@override_settings(BEARERGUARD_USER_HOOK=HOOK)
def test_user_hook_returning_none_leaves_user_alone(issuer: Issuer) -> None:
    response = Client().get("/public", **bearer(issuer.token(sub="nobody")))
    assert response.status_code == 200
    assert response.json() == {"sub": "nobody", "user": "AnonymousUser", "username": None}


@override_settings(BEARERGUARD_USER_HOOK=HOOK)
def test_user_hook_may_refuse(issuer: Issuer) -> None:
    description = "The access token has a claim of the wrong type"
    response = Client().get("/public", **bearer(issuer.token(sub="blocked")))
    assert_refused(
        response, 401, invalid(description), body("invalid_token", description, "invalid_claim")
    )


HOOK_REFUSAL = (
    'Bearer realm="example", error="invalid_token", '
    'error_description="The access token has a claim of the wrong type"'
)
HOOK_BODY = body("invalid_token", "The access token has a claim of the wrong type", "invalid_claim")


@pytest.mark.parametrize("path", ["/public", "/protected/thing", "/drf/me"])
@override_settings(BEARERGUARD_USER_HOOK=HOOK, BEARERGUARD_REALM="example")
def test_user_hook_refusal_uses_the_configured_realm(issuer: Issuer, path: str) -> None:
    # Issue #12: a hook's refusal used to go out with realm="api" whatever the setting.
    response = Client().get(path, **bearer(issuer.token(sub="blocked")))
    assert_refused(response, 401, HOOK_REFUSAL, HOOK_BODY)


@override_settings(
    BEARERGUARD_USER_HOOK=HOOK,
    BEARERGUARD_REALM="example",
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
    ],
)
def test_user_hook_refusal_uses_the_configured_realm_with_drf_alone(issuer: Issuer) -> None:
    response = Client().get("/drf/me", **bearer(issuer.token(sub="blocked")))
    assert_refused(response, 401, HOOK_REFUSAL, HOOK_BODY)


@override_settings(BEARERGUARD_USER_HOOK=HOOK, BEARERGUARD_REALM="example")
def test_user_hook_refusal_uses_the_configured_realm_under_asgi(issuer: Issuer) -> None:
    async def run() -> Any:
        return await AsyncClient().get("/async-public", **bearer(issuer.token(sub="blocked")))

    assert_refused(asyncio.run(run()), 401, HOOK_REFUSAL, HOOK_BODY)


@override_settings(BEARERGUARD_USER_HOOK="tests.adapters.django.views.async_user_hook")
def test_async_user_hook_in_both_stacks(issuer: Issuer) -> None:
    response = Client().get("/private", **bearer(issuer.token(sub="s")))
    assert response.status_code == 200
    assert response.json()["username"] == "hooked:s"

    async def run() -> Any:
        return await AsyncClient().get("/async-private", **bearer(issuer.token(sub="a")))

    response = asyncio.run(run())
    assert response.status_code == 200
    assert response.json() == {"sub": "a", "user": "HookUser"}


# -- one request, one identity ----------------------------------------------------------
MULTIPLE = InvalidRequest("multiple_credentials", realm="api")


@pytest.fixture
def alice(django_db: None) -> Iterator[Any]:
    from django.contrib.auth import get_user_model

    user = (
        get_user_model()
        ._default_manager.db_manager()
        .create_user(  # type: ignore[attr-defined]
            "alice", password="pw"
        )
    )
    try:
        yield user
    finally:
        user.delete()


@pytest.fixture
def session_client(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def test_session_without_token_is_untouched(session_client: Client) -> None:
    response = session_client.get("/public")
    assert response.status_code == 200
    assert response.json() == {"sub": None, "user": "User", "username": "alice"}


MULTIPLE_CHALLENGE = (
    'Bearer realm="api", error="invalid_request", '
    'error_description="The request carries credentials for more than one identity"'
)


def _multiple(response: Any) -> None:
    assert_refused(
        response,
        400,
        MULTIPLE.www_authenticate,
        body("invalid_request", MULTIPLE.description, "multiple_credentials"),
    )


@pytest.mark.parametrize("path", ["/protected/thing", "/private", "/scoped", "/drf/me"])
def test_session_plus_token_is_refused_where_the_token_authenticates(
    session_client: Client, issuer: Issuer, path: str
) -> None:
    # A protected path, decorated views and a DRF view using BearerTokenAuthentication:
    # a token never stands for the signed-in user without a hook saying so.
    _multiple(session_client.get(path, **bearer(issuer.token(sub="alice"))))


@pytest.mark.parametrize("path", ["/admin/", "/public"])
def test_session_plus_token_elsewhere_keeps_the_session(
    session_client: Client, issuer: Issuer, path: str
) -> None:
    # Issue #13.6: the admin (session pages) is not refused; the token is not attached.
    response = session_client.get(path, **bearer(issuer.token(sub="mallory")))
    assert response.status_code == 200
    assert response.json() == {"sub": None, "user": "User", "username": "alice"}


def test_multiple_credentials_challenge_is_literal() -> None:
    assert MULTIPLE.www_authenticate == MULTIPLE_CHALLENGE


@override_settings(BEARERGUARD_REALM="example")
def test_session_plus_token_refusal_uses_the_configured_realm(
    session_client: Client, issuer: Issuer
) -> None:
    response = session_client.get("/private", **bearer(issuer.token(sub="alice")))
    challenge = MULTIPLE_CHALLENGE.replace('realm="api"', 'realm="example"')
    expected = body("invalid_request", MULTIPLE.description, "multiple_credentials")
    assert_refused(response, 400, challenge, expected)


@override_settings(BEARERGUARD_USER_HOOK="tests.adapters.django.views.db_user_hook")
def test_session_plus_token_for_same_user_is_accepted(
    session_client: Client, issuer: Issuer
) -> None:
    response = session_client.get("/private", **bearer(issuer.token(sub="alice")))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "user": "User", "username": "alice"}


@override_settings(BEARERGUARD_USER_HOOK="tests.adapters.django.views.db_user_hook")
def test_session_plus_token_for_another_user_is_refused(
    session_client: Client, issuer: Issuer
) -> None:
    response = session_client.get("/private", **bearer(issuer.token(sub="mallory")))
    assert_refused(
        response,
        400,
        MULTIPLE.www_authenticate,
        body("invalid_request", MULTIPLE.description, "multiple_credentials"),
    )


def test_session_plus_invalid_token_is_401(session_client: Client) -> None:
    description = "The access token is not a well-formed JWT"
    response = session_client.get("/public", **bearer("junk"))
    assert_refused(
        response, 401, invalid(description), body("invalid_token", description, "malformed_token")
    )


def test_session_plus_token_under_asgi(alice: Any, issuer: Issuer) -> None:
    client = Client()
    client.force_login(alice)
    cookies = client.cookies

    async def run(path: str) -> Any:
        async_client = AsyncClient()
        async_client.cookies = cookies
        return await async_client.get(path, **bearer(issuer.token(sub="alice")))

    _multiple(asyncio.run(run("/async-private")))
    response = asyncio.run(run("/admin/"))
    assert response.status_code == 200
    assert response.json() == {"sub": None, "user": "User", "username": "alice"}


WITHOUT_OUR_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]


@override_settings(MIDDLEWARE=WITHOUT_OUR_MIDDLEWARE)
def test_session_plus_token_with_drf_alone(session_client: Client, issuer: Issuer) -> None:
    # BearerTokenAuthentication refuses two identities; a session-only DRF view does not.
    _multiple(session_client.get("/drf/me", **bearer(issuer.token(sub="alice"))))
    response = session_client.get("/drf/session-only", **bearer(issuer.token(sub="mallory")))
    assert response.status_code == 200
    assert response.json() == {"sub": None, "user": "User", "username": "alice"}


@override_settings(
    MIDDLEWARE=WITHOUT_OUR_MIDDLEWARE,
    BEARERGUARD_USER_HOOK="tests.adapters.django.views.db_user_hook",
)
def test_session_plus_same_user_token_with_drf_alone(
    session_client: Client, issuer: Issuer
) -> None:
    response = session_client.get("/drf/me", **bearer(issuer.token(sub="alice")))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "user": "User", "username": "alice"}
