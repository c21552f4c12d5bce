"""A real, in-process authorization server stand-in: it mints tokens and serves its keys."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from ._keyring import KeyRing
from ._keys import IssuerKey, b64url
from ._oauth import AuthorizationServerMixin, AuthorizationServerState
from ._server import IssuerHTTPServer
from ._signed_answers import JWT_BEHAVIOURS

__all__ = ["BEHAVIOURS", "JWT_BEHAVIOURS", "Issuer", "IssuerKey"]

#: Values accepted by ``Issuer.behaviour``.
BEHAVIOURS = frozenset({"ok", "error", "garbage", "empty", "hang", "huge", "close"})
#: Client authentication methods of the token and introspection endpoints (RFC 6749 §2.3.1).
AUTH_METHODS = ("client_secret_basic", "client_secret_post")


class Issuer(AuthorizationServerMixin, KeyRing):
    """A test/dev OAuth 2.0 authorization server serving discovery and a JWKS over real HTTP.

    Example::

        with Issuer(audience="https://api.example.com") as issuer:
            token = issuer.token(scopes=["read:messages"])
            settings = {"BEARERGUARD_ISSUER": issuer.issuer, "BEARERGUARD_AUDIENCE": issuer.audience}

    ``algs`` gives one published key per algorithm; the first one is the newest (current) key.
    ``authorization_endpoint=True`` serves and advertises ``/authorize``, refusing every
    request (for clients requiring the member, e.g. the MCP Python SDK).
    Raises ValueError for an unsupported algorithm.
    """

    def __init__(
        self,
        audience: str | Sequence[str] = "https://api.example.com",
        algs: Sequence[str] = ("RS256",),
        *,
        path: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
        cache_control: str | None = "max-age=300",
        mint_endpoint: bool = False,
        authorization_endpoint: bool = False,
    ) -> None:
        super().__init__()
        self.audience: str | list[str] = audience if isinstance(audience, str) else list(audience)
        self.host = host
        self.path = "/" + path.strip("/") if path.strip("/") else ""
        self.cache_control = cache_control
        self.mint_endpoint = mint_endpoint
        #: Serve and advertise ``/authorize``, which refuses every request (see metadata()).
        self.authorization_endpoint = authorization_endpoint
        self.delay = 0.0
        self.metadata_overrides: dict[str, Any] = {}
        #: Behaviour of the discovery endpoints; None follows ``behaviour``.
        self.discovery_behaviour: str | None = None
        self._behaviour = "ok"
        self._port = port
        #: Behaviour of the introspection endpoint (one of ``BEHAVIOURS``).
        self.introspection_behaviour = "ok"
        self._oauth = AuthorizationServerState()
        self._fetches = {"jwks": 0, "discovery": 0, "introspection": 0, "token": 0}
        self._server: IssuerHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        for alg in reversed((algs,) if isinstance(algs, str) else tuple(algs)):
            self.new_key(alg)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Issuer:
        """Bind and serve in a daemon thread (a no-op when running); returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = IssuerHTTPServer((self.host, self._port), self)
        self._port = int(server.server_address[1])
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"bearerguard-issuer-{self._port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and join the thread. Idempotent; start() rebinds."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        self._stopping.set()  # wakes handlers sleeping in "hang" or `delay`
        server.shutdown()
        server.server_close()
        thread.join()

    def __enter__(self) -> Issuer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the HTTP server is serving."""
        return self._server is not None

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (0 until started when constructed with port=0)."""
        return self._port

    @property
    def url(self) -> str:
        """Base URL, ``http://host:port`` + path, no trailing slash; RuntimeError before start."""
        if not self._port:
            raise RuntimeError("the issuer's URL is known once it is started (port=0)")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}{self.path}"

    @property
    def issuer(self) -> str:
        """The ``iss`` value: ``url + "/"`` (trailing slash, as Auth0 does)."""
        return self.url + "/"

    @property
    def jwks_uri(self) -> str:
        """Where the JWKS is served."""
        return self.url + "/.well-known/jwks.json"

    # -- behaviour and counters ------------------------------------------------------------

    @property
    def behaviour(self) -> str:
        """How the JWKS (and discovery) endpoints answer; one of ``BEHAVIOURS``."""
        return self._behaviour

    @behaviour.setter
    def behaviour(self, value: str) -> None:
        if value not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {sorted(BEHAVIOURS)}")
        self._behaviour = value

    @contextlib.contextmanager
    def outage(self) -> Iterator[Issuer]:
        """Serve HTTP 503 on the JWKS and discovery inside the block."""
        before, self.behaviour = self.behaviour, "error"
        try:
            yield self
        finally:
            self.behaviour = before

    @property
    def jwks_fetches(self) -> int:
        """Requests received for the JWKS, whatever the answer."""
        with self._lock:
            return self._fetches["jwks"]

    @property
    def discovery_fetches(self) -> int:
        """Requests received for either discovery document, whatever the answer."""
        with self._lock:
            return self._fetches["discovery"]

    def reset_counters(self) -> None:
        """Set every request counter to zero."""
        with self._lock:
            self._fetches = dict.fromkeys(self._fetches, 0)

    def _count(self, route: str) -> None:
        with self._lock:
            self._fetches[route] += 1

    def metadata(self) -> dict[str, Any]:
        """The discovery document (OIDC and RFC 8414), ``metadata_overrides`` applied
        (an override of None removes the entry)."""
        algs = list(dict.fromkeys(k.alg for k in self.keys))
        doc: dict[str, Any] = {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            # Only what is served: no authorization endpoint (RFC 8414 §2 lets a server
            # without one omit it), a client-credentials token endpoint, introspection.
            "token_endpoint": self.url + "/token",
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "grant_types_supported": ["client_credentials"],
            "introspection_endpoint": self.url + "/introspect",
            "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
            # RFC 9701 §7: signed answers, on request (Accept), with the issuer's keys.
            "introspection_signing_alg_values_supported": algs,
            "revocation_endpoint": self.url + "/revoke",  # RFC 7009, RFC 8414 §2
            "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "response_types_supported": [],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
        }
        if self.authorization_endpoint:
            # RFC 8414 §2 makes it optional here, but some clients (the MCP Python SDK's
            # OAuthMetadata, mcp 2.3) require the member: it is served, and answers every
            # request with unsupported_response_type (response_types_supported is empty).
            doc["authorization_endpoint"] = self.url + "/authorize"
        for name, value in self.metadata_overrides.items():
            if value is None:
                doc.pop(name, None)
            else:
                doc[name] = value
        return doc

    # -- tokens ----------------------------------------------------------------------------

    def token(
        self,
        sub: str | None = "user-1",
        scopes: Sequence[str] | None = ("read:messages",),
        claims: Mapping[str, Any] | None = None,
        *,
        expires_in: int | None = 300,
        alg: str | None = None,
        kid: str | None = None,
        audience: str | Sequence[str] | None = None,
        issuer: str | None = None,
        typ: str | None = "at+jwt",
        client_id: str | None = "test-client",
        scope_claim: str | None = "scope",
        header: Mapping[str, Any] | None = None,
        drop: Iterable[str] = (),
        iat: Any = None,
        nbf: Any = None,
        exp: Any = None,
        key: IssuerKey | None = None,
        acr: str | None = None,
        auth_time: int | None = None,
    ) -> str:
        """Mint a signed compact-JWS access token (RFC 9068 shape).

        Claims: iss, sub, aud, iat, exp (iat + ``expires_in``), jti, client_id and the scopes
        (a space-separated "scope", or a list under any other ``scope_claim``); ``acr`` and
        ``auth_time`` (RFC 9068 §2.2.1, the user's authentication, for RFC 9470 step-up)
        when given; then ``claims`` are merged and ``drop`` removed. A None argument omits its claim. ``kid`` names the
        signing key (an unknown kid is put in the header as is; "" omits kid); ``header``
        entries are merged last, None removing one. LookupError if no key fits ``alg``.
        """
        now = int(time.time())
        payload: dict[str, Any] = {"iss": self.issuer if issuer is None else issuer}
        if sub is not None:
            payload["sub"] = sub
        aud = self.audience if audience is None else audience
        payload["aud"] = aud if isinstance(aud, str) else list(aud)
        payload["iat"] = now if iat is None else iat
        if nbf is not None:
            payload["nbf"] = nbf
        if exp is not None:
            payload["exp"] = exp
        elif expires_in is not None:
            payload["exp"] = now + expires_in
        payload["jti"] = secrets.token_urlsafe(16)
        if client_id is not None:
            payload["client_id"] = client_id
        if scopes is not None and scope_claim:
            names = scopes.split() if isinstance(scopes, str) else list(scopes)
            payload[scope_claim] = " ".join(names) if scope_claim == "scope" else names
        if acr is not None:
            payload["acr"] = acr
        if auth_time is not None:
            payload["auth_time"] = auth_time
        payload.update(claims or {})
        for name in drop:
            payload.pop(name, None)
        signer, alg, kid = self._select(alg, kid, key)
        hdr: dict[str, Any] = {"alg": alg}
        if kid:
            hdr["kid"] = kid
        if typ is not None:
            hdr["typ"] = typ
        for name, value in (header or {}).items():
            if value is None:
                hdr.pop(name, None)
            else:
                hdr[name] = value
        token = self.sign(hdr, payload, signer)
        self._oauth.remember_jwt(token, payload)  # so that introspection knows it
        return token

    def id_token(
        self,
        sub: str | None = "user-1",
        *,
        client_id: str = "spa-client",
        nonce: str | None = "n-0S6_WzA2Mj",
        claims: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> str:
        """Mint an OIDC ID token (aud and azp = ``client_id``, nonce, at_hash, auth_time,
        typ "JWT", no scope); ``kw`` is passed to ``token()``."""
        at_hash = b64url(hashlib.sha256(secrets.token_bytes(32)).digest()[:16])
        extra: dict[str, Any] = {"azp": client_id, "auth_time": int(time.time())}
        if nonce is not None:
            extra["nonce"] = nonce
        extra["at_hash"] = at_hash
        extra.update(claims or {})
        kw.setdefault("audience", client_id)
        kw.setdefault("typ", "JWT")
        kw.setdefault("scopes", None)
        kw.setdefault("client_id", None)
        return self.token(sub, claims=extra, **kw)
