"""The test issuer as an authorization server for machine clients and resource servers.

Registered clients, the token endpoint (RFC 6749 §4.4 client credentials, RFC 8707
``resource``), opaque tokens, the RFC 7662 introspection endpoint and RFC 7009 revocation.
Tokens are held under their SHA-256 only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus, urlsplit

from ._signed_answers import JWT_BEHAVIOURS, SignedAnswer, signed_answer, wants_jwt

if TYPE_CHECKING:
    from .issuer import Issuer

#: Lifetime of tokens issued by the token endpoint.
TOKEN_LIFETIME = 300
#: How many minted JWTs the introspection endpoint remembers (oldest forgotten first).
_MAX_JWTS = 10_000

Answer = tuple[int, dict[str, Any], dict[str, str]]


@dataclass(frozen=True)
class Client:
    """A registered confidential client."""

    client_id: str
    secret: str
    scopes: frozenset[str]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class AuthorizationServerState:
    """Clients, opaque tokens, remembered JWTs and revocations of one test issuer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clients: dict[str, Client] = {}
        self._opaque: dict[str, dict[str, Any]] = {}
        self._jwts: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._revoked: set[str] = set()

    def register(self, client: Client) -> None:
        with self._lock:
            self.clients[client.client_id] = client

    def add_opaque(self, answer: dict[str, Any]) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._opaque[_digest(token)] = answer
        return token

    def remember_jwt(self, token: str, claims: dict[str, Any]) -> None:
        with self._lock:
            self._jwts[_digest(token)] = claims
            while len(self._jwts) > _MAX_JWTS:
                self._jwts.popitem(last=False)

    def revoke(self, token: str) -> bool:
        digest = _digest(token)
        with self._lock:
            known = digest in self._opaque or digest in self._jwts
            if known:
                self._revoked.add(digest)
            return known

    def revoke_for(self, token: str, client_id: str) -> bool:
        """Revoke *token* when *client_id* holds it or nobody knows it (RFC 7009 §2.2: an
        unknown token is no error); False when it was issued to another client."""
        digest = _digest(token)
        with self._lock:
            record = self._opaque.get(digest) or self._jwts.get(digest)
            if record is None:
                return True
            if record.get("client_id") != client_id:
                return False
            self._revoked.add(digest)
            return True

    def answer(self, token: str, now: float) -> dict[str, Any]:
        """The RFC 7662 §2.2 answer for *token*: ``{"active": false}`` unless known and live."""
        digest = _digest(token)
        with self._lock:
            if digest in self._revoked:
                return {"active": False}
            claims = self._opaque.get(digest)
            if claims is None:
                jwt = self._jwts.get(digest)
                claims = None if jwt is None else {"active": True, **jwt, "token_type": "Bearer"}
        if claims is None:
            return {"active": False}
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and now >= exp:
            return {"active": False}  # RFC 7662 §2.2: an expired token is not active
        return dict(claims)

    def authenticate(
        self, authorization: str | None, form: dict[str, list[str]]
    ) -> Client | Answer:
        """RFC 6749 §2.3.1 client authentication (basic or post): the client or an error."""
        in_form = "client_secret" in form or "client_id" in form
        if authorization is not None and authorization[:6].lower() == "basic ":
            if in_form and "client_secret" in form:
                # RFC 6749 §2.3: one authentication method per request.
                return _error(400, "invalid_request", "more than one client authentication")
            try:
                pair = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return _invalid_client()
            raw_id, sep, raw_secret = pair.partition(":")
            if not sep:
                return _invalid_client()
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        elif in_form:
            if len(form.get("client_id", ())) != 1 or len(form.get("client_secret", ())) != 1:
                return _invalid_client()
            client_id, secret = form["client_id"][0], form["client_secret"][0]
        else:
            return _invalid_client()
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), secret.encode()):
            return _invalid_client()
        return client


class AuthorizationServerMixin:
    """The :class:`~bearerguard.testing.Issuer` methods for clients and opaque tokens."""

    _oauth: AuthorizationServerState
    _lock: threading.Lock
    _fetches: dict[str, int]
    audience: str | list[str]

    if TYPE_CHECKING:

        @property
        def issuer(self) -> str: ...

    _introspection_jwt_behaviour: str = "ok"

    @property
    def introspection_jwt_behaviour(self) -> str:
        """How a request for a signed answer (RFC 9701) is answered; one of
        ``bearerguard.testing.issuer.JWT_BEHAVIOURS`` (``ok``: correctly)."""
        return self._introspection_jwt_behaviour

    @introspection_jwt_behaviour.setter
    def introspection_jwt_behaviour(self, value: str) -> None:
        if value not in JWT_BEHAVIOURS:
            raise ValueError(f"introspection_jwt_behaviour must be one of {sorted(JWT_BEHAVIOURS)}")
        self._introspection_jwt_behaviour = value

    @property
    def introspection_calls(self) -> int:
        """Requests received at the introspection endpoint, whatever the answer."""
        with self._lock:
            return self._fetches["introspection"]

    @property
    def token_calls(self) -> int:
        """Requests received at the token endpoint, whatever the answer."""
        with self._lock:
            return self._fetches["token"]

    def register_client(
        self, client_id: str, secret: str, *, scopes: Iterable[str] = ("read:messages",)
    ) -> None:
        """Register a confidential client for the token and introspection endpoints
        (``client_secret_basic`` or ``client_secret_post``); ``scopes`` it may request."""
        self._oauth.register(Client(client_id, secret, frozenset(scopes)))

    def opaque_token(
        self,
        sub: str | None = "user-1",
        scopes: Sequence[str] | None = ("read:messages",),
        claims: Mapping[str, Any] | None = None,
        *,
        expires_in: int | None = 300,
        audience: str | Sequence[str] | None = None,
        client_id: str | None = "test-client",
        token_type: str | None = "Bearer",  # noqa: S107 - a token type, not a secret
    ) -> str:
        """Mint an opaque (random) access token known to the introspection endpoint.

        Its answer: active, iss, sub, aud, client_id, scope, iat, exp, token_type; then
        ``claims`` merged (None removes a member). After ``exp`` or :meth:`revoke` the
        endpoint answers ``{"active": false}``.
        """
        now = int(time.time())
        answer: dict[str, Any] = {"active": True, "iss": self.issuer}
        aud = self.audience if audience is None else audience
        answer.update(sub=sub, aud=aud if isinstance(aud, str) else list(aud))
        answer.update(client_id=client_id, token_type=token_type, iat=now)
        if scopes is not None:
            answer["scope"] = " ".join(scopes.split() if isinstance(scopes, str) else scopes)
        if expires_in is not None:
            answer["exp"] = now + expires_in
        answer.update(claims or {})
        return self._oauth.add_opaque({k: v for k, v in answer.items() if v is not None})

    def revoke(self, token: str) -> bool:
        """Revoke an opaque token or a minted JWT for introspection; False if unknown."""
        return self._oauth.revoke(token)


def _error(status: int, error: str, description: str) -> Answer:
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    return status, {"error": error, "error_description": description}, headers


def _invalid_client() -> Answer:
    # RFC 6749 §5.2: 401 with a challenge for the scheme the client may use.
    status, doc, headers = _error(401, "invalid_client", "client authentication failed")
    headers["WWW-Authenticate"] = 'Basic realm="bearerguard-test-issuer"'
    return status, doc, headers


def _single(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return None if values is None else values[0]


def _repeated(form: dict[str, list[str]], allowed: tuple[str, ...] = ()) -> bool:
    # RFC 6749 §3.2: parameters sent without a value are treated as omitted, and request
    # parameters MUST NOT be included more than once (RFC 8707 lets resource repeat).
    return any(len(v) > 1 for k, v in form.items() if k not in allowed)


def token_endpoint(issuer: Issuer, authorization: str | None, form: dict[str, list[str]]) -> Answer:
    """Answer ``POST /token``: client credentials grant (RFC 6749 §4.4, §5.1, §5.2)."""
    who = issuer._oauth.authenticate(authorization, form)
    if not isinstance(who, Client):
        return who
    if _repeated(form, ("resource",)):
        return _error(400, "invalid_request", "a parameter was sent more than once")
    grant_type = _single(form, "grant_type")
    if grant_type is None:
        return _error(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        return _error(400, "unsupported_grant_type", "only client_credentials is supported")
    scope = _single(form, "scope")
    if scope is None:
        granted = sorted(who.scopes)  # RFC 6749 §3.3: a pre-defined default
    else:
        requested = [s for s in scope.split(" ") if s]
        if not set(requested) <= who.scopes:
            return _error(400, "invalid_scope", "a requested scope is not allowed")
        granted = list(dict.fromkeys(requested))
    resources = form.get("resource", [])
    for resource in resources:
        parts = urlsplit(resource)
        if not parts.scheme or not parts.netloc or "#" in resource:
            # RFC 8707 §2: an absolute URI without a fragment.
            return _error(400, "invalid_target", "resource must be an absolute URI")
    audience: str | list[str] | None = None
    if resources:
        unique = list(dict.fromkeys(resources))
        audience = unique[0] if len(unique) == 1 else unique
    token = issuer.token(
        who.client_id,
        granted,
        expires_in=TOKEN_LIFETIME,
        audience=audience,
        client_id=who.client_id,
    )
    doc: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME,
        "scope": " ".join(granted),
    }
    return 200, doc, {"Cache-Control": "no-store", "Pragma": "no-cache"}


def authorization_endpoint() -> Answer:
    """Answer ``/authorize`` (GET or POST, RFC 6749 §3.1): no response type is supported.

    No client has a registered redirection URI, so the error is shown here rather than
    redirected (RFC 6749 §4.1.2.1: MUST NOT redirect to an unverified URI).
    """
    return _error(
        400,
        "unsupported_response_type",
        "machine clients only: use the client_credentials grant at the token endpoint",
    )


def revocation_endpoint(
    issuer: Issuer, authorization: str | None, form: dict[str, list[str]]
) -> Answer:
    """Answer ``POST /revoke`` (RFC 7009 §2.1, §2.2): a client revokes a token issued to it."""
    who = issuer._oauth.authenticate(authorization, form)
    if not isinstance(who, Client):
        return who
    token = _single(form, "token")
    if not token or _repeated(form):
        return _error(400, "invalid_request", "exactly one token is required")
    # token_type_hint is only a hint (RFC 7009 §2.1): every kind of token is searched.
    if not issuer._oauth.revoke_for(token, who.client_id):
        # RFC 7009 §2.1: a token issued to another client is refused.
        return _error(400, "invalid_request", "the token was not issued to this client")
    return 200, {}, {"Cache-Control": "no-store"}


def introspection_endpoint(
    issuer: Issuer,
    authorization: str | None,
    form: dict[str, list[str]],
    *,
    accept: str | None = None,
) -> Answer | SignedAnswer:
    """Answer ``POST /introspect`` (RFC 7662 §2.1-§2.3) for an authenticated client; a
    signed JWT (RFC 9701) when *accept* asks for ``application/token-introspection+jwt``."""
    who = issuer._oauth.authenticate(authorization, form)
    if not isinstance(who, Client):
        return who  # RFC 7662 §2.3: 401 for bad client credentials
    token = _single(form, "token")
    if not token or _repeated(form):
        return _error(400, "invalid_request", "exactly one token is required")
    answer = issuer._oauth.answer(token, time.time())
    if wants_jwt(accept):
        return signed_answer(issuer, who.client_id, answer)
    return 200, answer, {"Cache-Control": "no-store"}
