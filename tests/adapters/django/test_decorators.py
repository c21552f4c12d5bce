"""require_token / require_scopes / require_claim on function, async and class-based views."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("django")

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory

from bearerguard.adapters.django import require_claim, require_scopes, require_token
from bearerguard.testing import Issuer
from tests.adapters.django.helpers import (
    CLAIM_DESCRIPTION,
    MISSING,
    MISSING_BODY,
    MISSING_READ,
    SCOPE_DESCRIPTION,
    assert_refused,
    bearer,
    body,
    insufficient,
)

SCOPE_BODY = body("insufficient_scope", SCOPE_DESCRIPTION, "insufficient_scope")
CLAIM_BODY = body("insufficient_scope", CLAIM_DESCRIPTION, "claim_requirement_failed")
READ_VIEWS = [
    "/scoped",
    "/cbv/class",
    "/cbv/dispatch",
    "/cbv/method",
    "/cbv/async-method",
    "/cbv/async-class",
    "/cbv/async-dispatch",
]


def test_require_token_without_token() -> None:
    assert_refused(Client().get("/private"), 401, MISSING, MISSING_BODY)


def test_require_token_with_token(issuer: Issuer) -> None:
    response = Client().get("/private", **bearer(issuer.token(sub="alice", scopes=())))
    assert response.status_code == 200
    assert response.json() == {"sub": "alice", "user": "TokenUser", "username": "alice"}


@pytest.mark.parametrize("path", READ_VIEWS)
def test_scoped_views_accept_the_scope(issuer: Issuer, path: str) -> None:
    response = Client().get(path, **bearer(issuer.token(scopes=["read:messages"])))
    assert response.status_code == 200
    assert response.json()["sub"] == "user-1"


@pytest.mark.parametrize("path", READ_VIEWS)
def test_scoped_views_refuse_without_the_scope(issuer: Issuer, path: str) -> None:
    response = Client().get(path, **bearer(issuer.token(scopes=["other"])))
    assert_refused(response, 403, insufficient("read:messages"), SCOPE_BODY)


@pytest.mark.parametrize("path", READ_VIEWS)
def test_scoped_views_refuse_without_token(path: str) -> None:
    assert_refused(Client().get(path), 401, MISSING_READ, MISSING_BODY)


@pytest.mark.parametrize("path", READ_VIEWS)
def test_scoped_views_under_asgi(issuer: Issuer, path: str) -> None:
    async def run() -> None:
        client = AsyncClient()
        ok = await client.get(path, **bearer(issuer.token(scopes=["read:messages"])))
        assert ok.status_code == 200
        refused = await client.get(path, **bearer(issuer.token(scopes=[])))
        assert_refused(refused, 403, insufficient("read:messages"), SCOPE_BODY)

    asyncio.run(run())


def test_async_view_needs_every_scope(issuer: Issuer) -> None:
    path = "/async-scoped-rw"
    response = Client().get(path, **bearer(issuer.token(scopes=["read:messages"])))
    assert_refused(response, 403, insufficient("read:messages write:messages"), SCOPE_BODY)
    both = issuer.token(scopes=["read:messages", "write:messages"])
    response = Client().get(path, **bearer(both))
    assert response.status_code == 200
    assert response.json() == {"sub": "user-1"}


def test_any_of(issuer: Issuer) -> None:
    assert Client().get("/any-scope", **bearer(issuer.token(scopes=["admin"]))).status_code == 200
    response = Client().get("/any-scope", **bearer(issuer.token(scopes=["write:messages"])))
    assert_refused(response, 403, insufficient("read:messages admin"), SCOPE_BODY)


def test_claim_equals(issuer: Issuer) -> None:
    ok = issuer.token(claims={"tenant": "acme"})
    assert Client().get("/tenant", **bearer(ok)).status_code == 200
    response = Client().get("/tenant", **bearer(issuer.token(claims={"tenant": "other"})))
    assert_refused(response, 403, insufficient(), CLAIM_BODY)


def test_claim_includes_on_async_view(issuer: Issuer) -> None:
    ok = issuer.token(claims={"roles": ["reader", "writer"]})
    assert Client().get("/async-roles", **bearer(ok)).status_code == 200
    response = Client().get("/async-roles", **bearer(issuer.token(claims={"roles": ["reader"]})))
    assert_refused(response, 403, insufficient(), CLAIM_BODY)


def test_missing_middleware_is_loud() -> None:
    @require_token
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    with pytest.raises(ImproperlyConfigured, match="BearerAuthMiddleware must be installed"):
        view(RequestFactory().get("/"))


def test_decorator_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="at least one scope"):
        require_scopes()
    with pytest.raises(ValueError, match="scope-token"):
        require_scopes('bad"scope')
    with pytest.raises(TypeError, match="exactly one"):
        require_claim("tenant")
    with pytest.raises(TypeError, match="exactly one"):
        require_claim("tenant", equals="a", includes="b")
    with pytest.raises(TypeError, match="View subclass"):
        require_token(int)


@pytest.mark.parametrize(
    ("path", "status"),
    # Past the CSRF check: the function view answers, the CBVs have no post() (405).
    [("/scoped", 200), ("/cbv/class", 405), ("/cbv/dispatch", 405), ("/cbv/method", 405)],
)
def test_decorated_views_are_csrf_exempt(issuer: Issuer, path: str, status: int) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(path, **bearer(issuer.token()))
    assert response.status_code == status
    assert_refused(client.post(path), 401, MISSING_READ, MISSING_BODY)
