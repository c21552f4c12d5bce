"""RFC 9728 OAuth 2.0 protected-resource metadata: where it is served, and what it says.

A client that gets a 401 reads ``resource_metadata`` from the challenge (RFC 9728 §5.1),
fetches this document, finds the authorization server in ``authorization_servers`` and
asks it for a token for exactly ``resource`` (RFC 8707). The document is built from the
settings alone: ``resource`` is the configured value byte for byte, never derived from
the request's ``Host`` (a client compares them, RFC 9728 §3.3).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from bearerguard._settings_parsers import TENANT_PLACEHOLDER
from bearerguard.settings import Settings

__all__ = [
    "CACHE_CONTROL",
    "WELL_KNOWN",
    "metadata_document",
    "metadata_path",
    "metadata_response",
    "metadata_url",
]

#: RFC 9728 §3: the well-known URI suffix.
WELL_KNOWN = "/.well-known/oauth-protected-resource"
#: How long clients and caches may keep the document.
CACHE_CONTROL = "public, max-age=3600"
_ALLOWED = "GET, HEAD, OPTIONS"
#: RFC 9728 §2 bearer_methods_supported, per token location (RFC 6750 §2.1-2.3).
_METHODS = {"header": "header", "form": "body", "query": "query"}

Rendered = tuple[int, list[tuple[str, str]], bytes]


def metadata_path(resource: str) -> str:
    """The path of *resource*'s metadata document (RFC 9728 §3.1).

    The well-known suffix is inserted between the host and the resource's path:
    ``https://host/mcp`` -> ``/.well-known/oauth-protected-resource/mcp``; a resource
    without a path (or with ``/`` alone: the terminating slash is removed) gets the
    root form ``/.well-known/oauth-protected-resource``.
    """
    path = urlsplit(resource).path
    return WELL_KNOWN + ("" if path == "/" else path)


def metadata_url(resource: str) -> str:
    """The URL of *resource*'s metadata document (RFC 9728 §3.1), as challenges name it.

    ``https://resource.example.com/resource1`` ->
    ``https://resource.example.com/.well-known/oauth-protected-resource/resource1``.
    """
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{metadata_path(resource)}"


def metadata_document(settings: Settings, dpop_algorithms: tuple[str, ...] = ()) -> dict[str, Any]:
    """The RFC 9728 §2 document for *settings* (which must name a ``resource``).

    ``authorization_servers`` are the configured issuers (those with a ``{tenantid}``
    placeholder are no URL and are left out); ``bearer_methods_supported`` follows the
    token locations; DPoP fields follow ``BEARERGUARD_DPOP`` (RFC 9449 §5.2:
    ``dpop_signing_alg_values_supported``, ``dpop_bound_access_tokens_required``).
    Members without a value are omitted. Raises ``ValueError`` without a resource.
    """
    if not settings.resource:
        raise ValueError("BEARERGUARD_RESOURCE is not set: there is no metadata to serve")
    doc: dict[str, Any] = {"resource": settings.resource}
    servers = [iss for iss in settings.issuers if iss and TENANT_PLACEHOLDER not in iss]
    if servers:
        doc["authorization_servers"] = servers
    doc["bearer_methods_supported"] = [
        _METHODS[loc] for loc in settings.tuple_of("token_locations") if loc in _METHODS
    ]
    scopes = settings.tuple_of("scopes_supported")
    if scopes:
        doc["scopes_supported"] = list(scopes)
    if settings.resource_name:
        doc["resource_name"] = settings.resource_name
    if settings.resource_documentation:
        doc["resource_documentation"] = settings.resource_documentation
    if settings.dpop != "off":
        if dpop_algorithms:
            doc["dpop_signing_alg_values_supported"] = list(dpop_algorithms)
        if settings.dpop == "required":
            doc["dpop_bound_access_tokens_required"] = True
    return doc


def metadata_response(method: str, document: bytes) -> Rendered:
    """The answer to *method* at the metadata path: (status, headers, body).

    ``GET``: 200 ``application/json``, cacheable, readable from any origin (a browser
    client discovers the authorization server too); ``HEAD``: the same headers without
    the body (RFC 9110 §9.3.2); ``OPTIONS``: a 204 CORS preflight answer; anything
    else: 405 with ``Allow``. ``Content-Length`` is always given.
    """
    method = method.upper()
    if method in ("GET", "HEAD"):
        headers = [
            ("Content-Type", "application/json"),
            ("Cache-Control", CACHE_CONTROL),
            ("Access-Control-Allow-Origin", "*"),
            ("Content-Length", str(len(document))),
        ]
        return 200, headers, document if method == "GET" else b""
    if method == "OPTIONS":
        headers = [
            ("Allow", _ALLOWED),
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", _ALLOWED),
            ("Access-Control-Allow-Headers", "*"),
            ("Access-Control-Max-Age", "86400"),
            ("Content-Length", "0"),
        ]
        return 204, headers, b""
    body = json.dumps({"error": "method_not_allowed"}).encode()
    headers = [
        ("Allow", _ALLOWED),
        ("Content-Type", "application/json"),
        ("Access-Control-Allow-Origin", "*"),
        ("Content-Length", str(len(body))),
    ]
    return 405, headers, body
