"""CSRF (issue #13.6): a request authenticated by its bearer token alone carries no ambient
credential and is exempt from Django's CSRF check; a session-authenticated request never is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("django")

from django.test import Client, override_settings

from bearerguard.testing import Issuer
from tests.adapters.django.helpers import MISSING, MISSING_BODY, assert_refused, bearer

DB_HOOK = "tests.adapters.django.views.db_user_hook"


def _csrf_refusal(response: Any) -> None:
    # Django's CsrfViewMiddleware: 403, its own page, never a bearer challenge.
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response
    assert b"CSRF" in response.content


@pytest.fixture
def alice(django_db: None) -> Iterator[Any]:
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.db_manager().create_user("alice", password="pw")  # type: ignore[attr-defined]
    try:
        yield user
    finally:
        user.delete()


@pytest.fixture
def session_client(alice: Any) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


def test_bearer_post_to_protected_path_passes_csrf(issuer: Issuer) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/protected/thing", **bearer(issuer.token(sub="poster")))
    assert response.status_code == 200
    assert response.json() == {"sub": "poster", "user": "TokenUser", "username": "poster"}


def test_bearer_post_to_undecorated_public_view_passes_csrf(issuer: Issuer) -> None:
    response = Client(enforce_csrf_checks=True).post("/public", **bearer(issuer.token(sub="p")))
    assert response.status_code == 200
    assert response.json() == {"sub": "p", "user": "TokenUser", "username": "p"}


def test_post_without_credentials_to_protected_path_is_401() -> None:
    response = Client(enforce_csrf_checks=True).post("/protected/thing")
    assert_refused(response, 401, MISSING, MISSING_BODY)


def test_anonymous_post_to_public_view_keeps_csrf() -> None:
    _csrf_refusal(Client(enforce_csrf_checks=True).post("/public"))


def test_session_post_without_csrf_token_is_refused(session_client: Client) -> None:
    _csrf_refusal(session_client.post("/admin/"))


@override_settings(BEARERGUARD_USER_HOOK=DB_HOOK)
def test_session_plus_same_user_token_keeps_csrf(session_client: Client, issuer: Issuer) -> None:
    # The hook maps the token to the signed-in user: the request is session-authenticated
    # too, so the session cookie could have been sent by a forged form: CSRF applies.
    _csrf_refusal(session_client.post("/protected/thing", **bearer(issuer.token(sub="alice"))))
    _csrf_refusal(session_client.post("/public", **bearer(issuer.token(sub="alice"))))


@override_settings(BEARERGUARD_USER_HOOK=DB_HOOK)
def test_session_plus_same_user_token_with_csrf_token_is_accepted(
    alice: Any, issuer: Issuer
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    csrf = "a" * 32  # a valid unmasked secret: cookie and header must match
    client.cookies["csrftoken"] = csrf
    response = client.post(
        "/protected/thing",
        headers={"Authorization": f"Bearer {issuer.token(sub='alice')}", "X-CSRFToken": csrf},
    )
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "user": "User", "username": "alice"}


@override_settings(BEARERGUARD_TOKEN_LOCATIONS="header,form")
def test_form_token_post_passes_csrf(issuer: Issuer) -> None:
    response = Client(enforce_csrf_checks=True).post(
        "/protected/thing",
        f"access_token={issuer.token(sub='f')}",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert response.json()["sub"] == "f"
