"""RFC 9728 metadata from Django: ``BearerAuthMiddleware`` and ``ResourceMetadataMiddleware``
(for DRF projects without the authentication middleware), sync and async stacks."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("django")

from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory, override_settings

from bearerguard.adapters.django.middleware import ResourceMetadataMiddleware

RESOURCE = "https://api.example.com/v1"
PATH = "/.well-known/oauth-protected-resource/v1"
DOC = {
    "resource": RESOURCE,
    "authorization_servers": ["https://issuer.invalid/"],
    "bearer_methods_supported": ["header"],
    "dpop_signing_alg_values_supported": [
        "ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
        "RS256", "RS384", "RS512", "EdDSA", "Ed25519",
    ],
}  # fmt: skip


def _app(request: HttpRequest) -> HttpResponse:
    return HttpResponse("app")


async def _async_app(request: HttpRequest) -> HttpResponse:
    return HttpResponse("app")


@override_settings(BEARERGUARD_RESOURCE=RESOURCE, BEARERGUARD_ISSUER="https://issuer.invalid/")
def test_bearer_middleware_serves_it_sync_and_async() -> None:
    response = Client().get(PATH)
    assert response.status_code == 200
    assert json.loads(response.content) == DOC
    assert response["Cache-Control"] == "public, max-age=3600"
    assert response["Access-Control-Allow-Origin"] == "*"
    # Every challenge names it (RFC 9728 §5.1).
    refused = Client().get("/protected/x")
    assert refused.status_code == 401
    assert (
        'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v1"'
        in refused["WWW-Authenticate"]
    )

    async def run() -> None:
        response = await AsyncClient().options(PATH)
        assert response.status_code == 204
        assert response["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"

    asyncio.run(run())


@override_settings(BEARERGUARD_RESOURCE=RESOURCE, BEARERGUARD_ISSUER="https://issuer.invalid/")
def test_metadata_only_middleware() -> None:
    factory = RequestFactory()
    sync = ResourceMetadataMiddleware(_app)
    response = sync(factory.get(PATH))
    assert isinstance(response, HttpResponse)
    assert (response.status_code, json.loads(response.content)) == (200, DOC)
    other = sync(factory.get("/api/private"))
    assert isinstance(other, HttpResponse) and other.content == b"app"
    put = sync(factory.put(PATH))
    assert isinstance(put, HttpResponse)
    assert (put.status_code, put["Allow"]) == (405, "GET, HEAD, OPTIONS")

    async_mw = ResourceMetadataMiddleware(_async_app)

    async def run() -> None:
        response = await async_mw(factory.head(PATH))  # type: ignore[misc]
        assert (response.status_code, response.content) == (200, b"")
        assert response["Content-Length"] == str(len(json.dumps(DOC, separators=(",", ":"))))
        other = await async_mw(factory.get("/x"))  # type: ignore[misc]
        assert other.content == b"app"

    asyncio.run(run())


def test_nothing_served_without_a_resource() -> None:
    assert Client().get("/.well-known/oauth-protected-resource").status_code == 404
