"""A Ninja API needing roles and nested claims (test_roles), sync and async operations."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import path
from ninja import NinjaAPI

from bearerguard import AccessToken, ClaimEquals, ClaimIncludes, Requirements
from bearerguard.adapters.ninja import BearerAuth, install

api = install(NinjaAPI(auth=BearerAuth(optional=True), urls_namespace="bearerguard-roles"))


def out(request: HttpRequest) -> dict[str, Any]:
    token = request.auth  # type: ignore[attr-defined]
    assert isinstance(token, AccessToken)
    return {"sub": token.subject, "roles": sorted(token.roles)}


@api.get("/admin", auth=BearerAuth(roles=["admin"]))
def admin(request: HttpRequest) -> dict[str, Any]:
    return out(request)


@api.get("/admin-async", auth=BearerAuth(roles=["admin"]))
async def admin_async(request: HttpRequest) -> dict[str, Any]:
    return out(request)


@api.get("/any", auth=BearerAuth(any_roles=["admin", "editor"]))
def any_(request: HttpRequest) -> dict[str, Any]:
    return out(request)


@api.get("/any-async", auth=BearerAuth(requirements=Requirements(any_roles="admin editor")))
async def any_async(request: HttpRequest) -> dict[str, Any]:
    return out(request)


@api.get("/scoped", auth=BearerAuth("read:messages", roles=["admin"]))
def scoped(request: HttpRequest) -> dict[str, Any]:
    return out(request)


@api.get(
    "/nested",
    auth=BearerAuth(requirements=Requirements.claim("realm_access.roles", includes="admin")),
)
def nested(request: HttpRequest) -> dict[str, Any]:
    return out(request)


ESCAPED = Requirements(claims=[ClaimIncludes("resource_access.my\\.api.roles", "writer")])


@api.get("/escaped", auth=BearerAuth(requirements=ESCAPED))
async def escaped(request: HttpRequest) -> dict[str, Any]:
    return out(request)


URL = Requirements(claims=[ClaimEquals("https://example.com/tenant", "acme")])


@api.get("/url", auth=BearerAuth(requirements=URL))
def url(request: HttpRequest) -> dict[str, Any]:
    return out(request)


urlpatterns = [path("api/", api.urls)]
