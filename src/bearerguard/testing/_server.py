"""The test issuer's HTTP side: discovery, JWKS, token, introspection, revocation and the
optional mint."""

from __future__ import annotations

import json
import socket
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ._oauth import (
    Answer,
    authorization_endpoint,
    introspection_endpoint,
    revocation_endpoint,
    token_endpoint,
)
from ._signed_answers import SignedAnswer

if TYPE_CHECKING:
    from .issuer import Issuer

#: How long behaviour "hang" waits when ``Issuer.delay`` is 0 (cut short by ``stop()``).
HANG_SECONDS = 30.0
#: Size of the body served by behaviour "huge".
HUGE_BYTES = 5 * 1024 * 1024
#: Body served by behaviour "garbage": not JSON, not even UTF-8.
GARBAGE = b"<html>\x00\xff\xfe not JSON {"
_MAX_FORM = 64 * 1024


class IssuerHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer serving one ``Issuer``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], issuer: Issuer) -> None:
        self.issuer = issuer
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can stall tests.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout and size-cap tests) is no error worth a traceback.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: IssuerHTTPServer
    server_version = "bearerguard-test-issuer"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        # Silent: request lines can carry tokens (the mint endpoint, query-string tests).
        return

    def do_GET(self) -> None:
        self._dispatch("GET", b"")

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        body = self.rfile.read(min(length, _MAX_FORM)) if length > 0 else b""
        self._dispatch("POST", body)

    def _dispatch(self, method: str, body: bytes) -> None:
        issuer = self.server.issuer
        parts = urlsplit(self.path)
        base = issuer.path
        route = ""
        if parts.path == base + "/.well-known/jwks.json":
            route = "jwks"
        elif parts.path in (
            base + "/.well-known/openid-configuration",
            # RFC 8414 §3.1: the well-known suffix goes between host and path.
            "/.well-known/oauth-authorization-server" + base,
        ):
            route = "discovery"
        elif parts.path == base + "/mint" and issuer.mint_endpoint:
            route = "mint"
        elif parts.path == base + "/token":
            route = "token"
        elif parts.path == base + "/introspect":
            route = "introspection"
        elif parts.path == base + "/revoke":
            route = "revocation"
        elif parts.path == base + "/authorize" and issuer.authorization_endpoint:
            route = "authorize"
        if route in ("jwks", "discovery", "token", "introspection"):
            issuer._count(route)
        behaviour = "ok"
        if route == "jwks":
            behaviour = issuer.behaviour
        elif route == "discovery":
            behaviour = issuer.discovery_behaviour or issuer.behaviour
        elif route == "introspection":
            behaviour = issuer.introspection_behaviour
        wait = issuer.delay
        if behaviour == "hang" and wait <= 0:
            wait = HANG_SECONDS
        if wait > 0:
            issuer._stopping.wait(wait)
        if route == "mint":
            self._mint(parts.query, body)
        elif route == "authorize":
            self._send(*authorization_endpoint())
        elif not route:
            self._send(404, {"error": "not_found"})
        elif route in ("token", "introspection", "revocation"):
            self._endpoint(route, method, body, behaviour)
        elif method != "GET":
            self._send(405, {"error": "method_not_allowed"}, {"Allow": "GET"})
        else:
            self._document(route, behaviour)

    def _document(self, route: str, behaviour: str) -> None:
        issuer = self.server.issuer
        if behaviour == "close":
            self.close_connection = True
            return
        if behaviour == "error":
            self._send(503, {"error": "temporarily_unavailable"}, {"Retry-After": "1"})
            return
        if behaviour == "garbage":
            self._send(200, GARBAGE)
            return
        headers: dict[str, str] = {}
        doc: dict[str, Any]
        if route == "jwks":
            doc = {"keys": []} if behaviour == "empty" else issuer.jwks()
            if issuer.cache_control is not None:
                headers["Cache-Control"] = issuer.cache_control
        else:
            doc = issuer.metadata()
        if behaviour == "huge":
            # Valid JSON, real keys: only its size is wrong.
            doc["padding"] = "A" * HUGE_BYTES
        self._send(200, doc, headers)

    def _endpoint(self, route: str, method: str, body: bytes, behaviour: str) -> None:
        if behaviour not in ("ok", "empty", "huge"):
            self._document(route, behaviour)  # outages: close, error (503), garbage
            return
        answer: Answer | SignedAnswer
        if method != "POST":
            answer = 405, {"error": "method_not_allowed"}, {"Allow": "POST"}
        elif "application/x-www-form-urlencoded" not in (self.headers.get("Content-Type") or ""):
            answer = (
                400,
                {"error": "invalid_request", "error_description": "form body required"},
                {},
            )
        else:
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=False)
            issuer = self.server.issuer
            authorization = self.headers.get("Authorization")
            if route == "introspection":  # RFC 9701 §4: the Accept header may ask for a JWT
                accept = self.headers.get("Accept")
                answer = introspection_endpoint(issuer, authorization, form, accept=accept)
            else:
                handler = {"token": token_endpoint, "revocation": revocation_endpoint}[route]
                answer = handler(issuer, authorization, form)
        status, doc, headers = answer
        if behaviour == "huge" and isinstance(doc, dict):
            doc["padding"] = "A" * HUGE_BYTES
        self._send(status, doc, headers)

    def _mint(self, query: str, body: bytes) -> None:
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        if body and "urlencoded" in (self.headers.get("Content-Type") or ""):
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            params.update({k: v[-1] for k, v in form.items()})
        status, doc = mint(self.server.issuer, params)
        self._send(status, doc, {"Cache-Control": "no-store"})  # RFC 6749 §5.1

    def _send(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode("utf-8")
        headers = dict(headers or {})
        self.send_response(status)
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def mint(issuer: Issuer, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Answer the development-only mint endpoint: (status, JSON document)."""
    try:
        expires_in = int(params.get("expires_in", "300"))
        extra = json.loads(params.get("claims") or "{}")
    except ValueError:
        return 400, {"error": "invalid_request", "error_description": "bad expires_in or claims"}
    if not isinstance(extra, dict):
        return 400, {"error": "invalid_request", "error_description": "claims must be an object"}
    sub = params.get("sub", "user-1")
    kind = params.get("kind", "access")
    kw: dict[str, Any] = {"expires_in": expires_in}
    if "aud" in params:
        kw["audience"] = params["aud"]
    doc: dict[str, Any]
    if kind in ("access", "opaque"):
        scopes = params["scope"].split() if "scope" in params else ("read:messages",)
        mint_one = issuer.token if kind == "access" else issuer.opaque_token
        doc = {"access_token": mint_one(sub, scopes, extra, **kw)}
    elif kind == "id":
        if "client_id" in params:
            kw["client_id"] = params["client_id"]
        token = issuer.id_token(sub, claims=extra, **kw)
        # The ID token is returned as the access token too: tests send it to an API on purpose.
        doc = {"access_token": token, "id_token": token}
    else:
        return 400, {
            "error": "invalid_request",
            "error_description": "kind is access, opaque or id",
        }
    doc.update({"token_type": "Bearer", "expires_in": expires_in})
    return 200, doc
