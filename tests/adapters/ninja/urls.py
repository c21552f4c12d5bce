"""A Ninja API for the adapter tests: API-wide optional auth, sync and async operations."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import path
from ninja import NinjaAPI

from bearerguard import AccessToken, Requirements
from bearerguard.adapters.django import get_access_token
from bearerguard.adapters.ninja import ANONYMOUS, BearerAuth, install

api = install(NinjaAPI(auth=BearerAuth(optional=True), urls_namespace="bearerguard-tests"))
#: The same API without install(): refusals are not turned into responses.
bare = NinjaAPI(auth=BearerAuth(), urls_namespace="bearerguard-bare")
R, W = "read:messages", "write:messages"


def who(request: HttpRequest) -> dict[str, Any]:
    auth = request.auth  # type: ignore[attr-defined]
    if auth is ANONYMOUS:
        return {"sub": None, "anonymous": True}
    assert isinstance(auth, AccessToken) and get_access_token(request) is auth
    return {"sub": auth.subject, "scopes": sorted(auth.scopes)}


@api.api_operation(["GET", "POST"], "/public")
def public(request: HttpRequest) -> dict[str, Any]:
    return who(request)


@api.api_operation(["GET", "POST"], "/private", auth=BearerAuth())
def private(request: HttpRequest) -> dict[str, Any]:
    return who(request)


@api.get("/async-private", auth=BearerAuth())
async def async_private(request: HttpRequest) -> dict[str, Any]:
    return who(request)


@api.get("/scoped", auth=BearerAuth(R, W))
def scoped(request: HttpRequest) -> dict[str, Any]:
    return who(request)


@api.get("/async-scoped", auth=BearerAuth(any_of=[R, "admin"]))
async def async_scoped(request: HttpRequest) -> dict[str, Any]:
    return who(request)


@api.get("/tenant", auth=BearerAuth(requirements=Requirements.claim("tenant", equals="acme")))
def tenant(request: HttpRequest) -> dict[str, Any]:
    return who(request)


@bare.get("/private")
def bare_private(request: HttpRequest) -> dict[str, Any]:
    return who(request)


urlpatterns = [path("api/", api.urls), path("bare/", bare.urls)]
