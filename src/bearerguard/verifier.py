"""The verifier: one token string in, an :class:`AccessToken` or a refusal out.

:meth:`Verifier.verify` checks a token (JOSE header, key, signature, ``typ``, claims);
:meth:`Verifier.decide` (in :mod:`bearerguard.pipeline`) takes a whole request's facts
and is what every adapter calls.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import MethodType
from typing import Any

from bearerguard._jose import b64decode, json_object
from bearerguard._settings_parsers import TENANT_PLACEHOLDER
from bearerguard.binding import SenderConstraint
from bearerguard.cache import TokenCache
from bearerguard.claims import ClaimRules
from bearerguard.errors import BearerError, InvalidToken, MissingToken, Responses
from bearerguard.extract import BEARER, DPOP, extract_credentials, extract_token
from bearerguard.introspection import Introspector
from bearerguard.jwk import VerifyFn, VerifyKey, import_static, make_hmac_verifier
from bearerguard.keys import JWKSKeySource, KeySource, StaticKeySource
from bearerguard.observe import Observer, RefusalHook, SuccessHook
from bearerguard.pipeline import Decision, decide, decide_async
from bearerguard.requirements import Requirements
from bearerguard.resource import metadata_document, metadata_path, metadata_response, metadata_url
from bearerguard.settings import HMAC_ALGORITHMS, Settings
from bearerguard.store import open_store
from bearerguard.tokens import AccessToken, freeze_members, imply_scopes, read_scopes

__all__ = ["Verifier"]

# The parsed-header cache: entries, and the longest encoded header remembered. Only the
# headers of tokens whose signature verified get in, so refused tokens cannot pin memory.
_HEADER_CACHE_ENTRIES = 64
_HEADER_CACHE_MAX_LEN = 1024


class Verifier:
    """Verifies access tokens (JWS-signed JWTs) against one configuration.

    ``Verifier(settings)`` or ``Verifier(issuer=..., audience=..., **settings)``.

    Args:
        settings: a :class:`Settings`; or give its fields as keywords.
        keys: static keys (JWKS dict, JWK dict, PEM, key object) — no fetching.
        key_source: a custom :class:`KeySource` (for example a
            :class:`JWKSKeySource` with other cache bounds).
        token_cache_size: verified tokens remembered (0 disables the cache); defaults
            to the ``token_cache_size`` setting (1024).
        clock: seconds since the epoch (tests).
        on_refusal: called with each refusal and its log fields (:mod:`bearerguard.observe`).
        on_success: called with each accepted token (never the raw token).
        telemetry: OpenTelemetry metrics and span attributes (``bearerguard[otel]``).
        enduser_id: with telemetry, the span attribute ``enduser.id`` (the subject).

    ``verify`` / ``verify_async`` return an :class:`AccessToken` or raise a
    :class:`BearerError`; ``decide`` / ``decide_async`` answer a whole request.
    Construction raises ``ValueError`` for bad settings.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        /,
        *,
        keys: Any = None,
        key_source: KeySource | None = None,
        token_cache_size: int | None = None,
        clock: Callable[[], float] = time.time,
        on_refusal: RefusalHook | None = None,
        on_success: SuccessHook | None = None,
        telemetry: bool = False,
        enduser_id: bool = False,
        **options: Any,
    ) -> None:
        if settings is None:
            settings = Settings(**options)
        elif options:
            raise TypeError("pass either a Settings or keyword settings, not both")
        self.settings = s = settings
        self.realm = s.realm
        # Every issuer's algorithms; each token is held to its own issuer's after the signature.
        self._algorithms = frozenset(a for p in s.profiles() for a in p.tuple_of("algorithms"))
        self._scope_claims = s.tuple_of("scope_claims")
        self._implied = {broad: frozenset(narrow) for broad, narrow in s.scope_implications}
        types = s.tuple_of("token_types")
        self._typ_ok = frozenset(
            ({"at+jwt", "application/at+jwt"} if "at+jwt" in types else set())
            | ({"jwt", "application/jwt", None} if "jwt" in types else set())
        )
        self._claims = ClaimRules(s, clock)
        self._locations = s.tuple_of("token_locations")
        self._max_size = s.max_token_size
        self._clock = clock
        self._hmac: dict[str, VerifyFn] = {}
        if isinstance(s.shared_secret, bytes):
            self._hmac = {
                a: make_hmac_verifier(s.shared_secret, a)
                for a in HMAC_ALGORITHMS & self._algorithms
            }
        self._sources: dict[str, KeySource] = {}
        self._default_source: KeySource | None = None
        #: key sources of ``{tenantid}`` issuers, by concrete issuer (or template, for ``*``)
        self._tenant_sources: dict[str, KeySource] = {}
        self._tenant_lock = threading.Lock()
        base: KeySource | None = None
        if key_source is not None:
            base = key_source
        elif keys is not None:
            base = StaticKeySource(import_static(keys))
        elif s.jwks_uri is not None:
            base = JWKSKeySource(s.jwks_uri)
        hmac_only = bool(self._hmac) and not (self._algorithms - HMAC_ALGORITHMS)
        if base is not None and not s.issuer_settings and not self._claims.profiles[0].templates:
            self._default_source = base  # one configuration, one key source (as always)
        elif not hmac_only:
            # Each issuer has a key source of its own: its token selects it by `iss`, and a
            # key from one issuer's set never verifies a token claiming another.
            for rules in self._claims.profiles:
                own = base if rules is self._claims.profiles[0] and s.issuer != () else None
                if own is None and rules.jwks_uri is not None:
                    own = JWKSKeySource(rules.jwks_uri)
                for iss in rules.exact:
                    self._sources[iss] = own if own is not None else JWKSKeySource(issuer=iss)
                for _, template in rules.templates:
                    if own is not None:
                        self._tenant_sources[template] = own
        #: shared state (DPoP replay, nonce secret, introspection cache): BEARERGUARD_STORE
        self.store = open_store(s.store)
        self.binding = SenderConstraint(s, clock, self.store)
        formats = s.tuple_of("token_formats")
        self._jwt = "jwt" in formats
        self.introspector: Introspector | None = None
        if "opaque" in formats:  # RFC 7662; the settings demand client credentials then
            self.introspector = Introspector(
                issuers=s.issuers,
                audiences=s.audiences,
                endpoint=s.introspection_uri,
                client_id=str(s.client_id),
                client_secret=str(s.client_secret),
                client_auth=s.client_auth,
                cache_ttl=float(s.introspection_cache_ttl),
                store=self.store,
                leeway=float(s.leeway),
                scope_claims=self._scope_claims,
                clock=clock,
                # RFC 9701: signed answers, verified with this verifier's keys of the issuer.
                jwt_response=bool(s.introspection_jwt),
                response_keys=lambda iss: self._source({"iss": iss}),
                response_algorithms=self._algorithms - HMAC_ALGORITHMS,
            )
        self.responses = Responses(
            s.realm,
            dpop=s.dpop,
            dpop_algs=self.binding.algorithms if s.dpop != "off" else (),
            resource_metadata=metadata_url(s.resource) if s.resource else None,
        )
        self._metadata_path = metadata_path(s.resource) if s.resource else None
        self._metadata: bytes | None = None
        self._schemes = (BEARER,) if s.dpop == "off" else (BEARER, DPOP)
        size = s.token_cache_size if token_cache_size is None else token_cache_size
        self.tokens = TokenCache(size, clock, float(s.leeway))
        self._headers: dict[str, dict[str, Any]] = {}
        observer = Observer(
            on_refusal=on_refusal,
            on_success=on_success,
            telemetry=telemetry,
            enduser_id=enduser_id,
        )
        if observer.active:  # else the request path stays unwrapped: zero cost
            self.decide, self.decide_async = observer.wrap(  # type: ignore[method-assign,assignment]
                MethodType(decide, self), MethodType(decide_async, self)
            )

    # -- the request-level API (bearerguard.pipeline) -----------------------------------
    decide = decide
    decide_async = decide_async

    def render(
        self, err: BearerError, requirements: Requirements | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, body) for a refusal, with this configuration's challenges.

        *requirements* are the route's: a 401 or 403 names their scopes (``scope="…"``)
        when the refusal names none itself.
        """
        return self.responses.render(err, requirements.challenge_scopes if requirements else ())

    def metadata(self, method: str, path: str) -> tuple[int, list[tuple[str, str]], bytes] | None:
        """The answer at the RFC 9728 metadata path, or ``None`` for any other path.

        *path* is the path the app routes on (without its mount point). ``None`` too
        when ``BEARERGUARD_RESOURCE`` is not set. ``GET``/``HEAD``: 200 with the
        document (:mod:`bearerguard.resource`); ``OPTIONS``: 204 (CORS preflight);
        other methods: 405. Every entry point answers it before authentication.
        """
        if self._metadata_path is None or path != self._metadata_path:
            return None
        if self._metadata is None:
            algs = self.binding.algorithms if self.settings.dpop != "off" else ()
            document = metadata_document(self.settings, algs)
            self._metadata = json.dumps(document, separators=(",", ":")).encode()
        return metadata_response(method, self._metadata)

    @property
    def metadata_path(self) -> str | None:
        """The RFC 9728 §3.1 path of the metadata document (``None`` without a resource)."""
        return self._metadata_path

    def reconsider(self, token: AccessToken, requirements: Requirements | None) -> Decision:
        """The decision for a request whose *token* was already accepted, against other
        *requirements* (a route after an app-wide check: its proof was already used)."""
        try:
            self.authorize(token, requirements)
        except BearerError as err:
            return Decision(None, err, self, requirements)
        return Decision(token)

    # -- the token-level API -------------------------------------------------------------
    def check_token(self, token: str) -> AccessToken:
        """Check *token* as ``BEARERGUARD_TOKEN_FORMATS`` says: a JWT verified locally, anything
        else (or everything, with ``opaque`` alone) introspected (RFC 7662)."""
        if self.introspector is not None and (not self._jwt or token.count(".") != 2):
            return self._introspected(self.introspector.introspect(token))
        return self.verify(token)

    async def check_token_async(self, token: str) -> AccessToken:
        """As :meth:`check_token`; fetches and introspection never block the event loop."""
        if self.introspector is not None and (not self._jwt or token.count(".") != 2):
            return self._introspected(await self.introspector.introspect_async(token))
        return await self.verify_async(token)

    def _introspected(self, token: AccessToken) -> AccessToken:
        """An introspected token with the roles, client id and app-only reading of its
        issuer's settings (the introspection answer is its claims)."""
        iss = token.claims.get("iss")
        rules = self._claims.profiles[0]  # an answer without iss: the first issuer's
        if isinstance(iss, str):
            with contextlib.suppress(InvalidToken):  # the introspector checked iss already
                rules = self._claims.select(iss)[0]
        return rules.token(dict(token.claims), dict(token.header), token.scopes)

    def verify(self, token: str) -> AccessToken:
        """Verify *token*; return the :class:`AccessToken` or raise :class:`BearerError`."""
        hit = self.tokens.get(token)
        if hit is not None:
            return hit
        h64, header, claims, signing_input, sig = self._decode(token)
        source, key = None, None
        if header["alg"] not in self._hmac:
            source = self._source(claims)
            key = source.get_key(header.get("kid"), header["alg"])
        return self._finish(token, h64, header, claims, signing_input, sig, key, source)

    async def verify_async(self, token: str) -> AccessToken:
        """As :meth:`verify`; a key fetch never blocks the event loop."""
        hit = self.tokens.get(token)
        if hit is not None:
            return hit
        h64, header, claims, signing_input, sig = self._decode(token)
        source, key = None, None
        if header["alg"] not in self._hmac:
            source = self._source(claims)
            key = await source.get_key_async(header.get("kid"), header["alg"])
        return self._finish(token, h64, header, claims, signing_input, sig, key, source)

    def extract(
        self,
        authorization: str | Sequence[str] | None,
        *,
        query: Sequence[str] | None = None,
        form: Sequence[str] | None = None,
    ) -> str | None:
        """RFC 6750 §2 extraction with this verifier's token locations."""
        return extract_token(authorization, query=query, form=form, locations=self._locations)

    def credentials(
        self,
        authorization: str | Sequence[str] | None,
        *,
        query: Sequence[str] | None = None,
        form: Sequence[str] | None = None,
    ) -> tuple[str, str] | None:
        """RFC 6750 §2 / RFC 9449 §7.1 extraction: (``bearer`` or ``dpop``, token), or None."""
        return extract_credentials(
            authorization,
            query=query,
            form=form,
            locations=self._locations,
            schemes=self._schemes,
        )

    def authenticate(
        self,
        authorization: str | Sequence[str] | None,
        *,
        query: Sequence[str] | None = None,
        form: Sequence[str] | None = None,
    ) -> AccessToken | None:
        """Extract and verify: the token, ``None`` without credentials, or a raised refusal."""
        decision = self.decide(authorization, query=query, form=form)
        if decision.error is not None:
            raise decision.error
        return decision.token

    async def authenticate_async(
        self,
        authorization: str | Sequence[str] | None,
        *,
        query: Sequence[str] | None = None,
        form: Sequence[str] | None = None,
    ) -> AccessToken | None:
        """As :meth:`authenticate`, with :meth:`verify_async`."""
        decision = await self.decide_async(authorization, query=query, form=form)
        if decision.error is not None:
            raise decision.error
        return decision.token

    @property
    def token_locations(self) -> tuple[str, ...]:
        """Where tokens are accepted (``header``, ``query``, ``form``)."""
        return self._locations

    def missing(self) -> MissingToken:
        """The refusal for a request without credentials (bare challenge)."""
        return MissingToken()

    def authorize(self, token: AccessToken, requirements: Requirements | None) -> None:
        """Raise unless *token* meets *requirements*: :class:`InsufficientScope` (403), or
        :class:`InsufficientUserAuthentication` (401, RFC 9470) judged with this
        verifier's clock and leeway."""
        if requirements is not None:
            now = self._clock() if requirements.step_up else None
            requirements.check(token, now=now, leeway=self._claims.leeway)

    def warm(self) -> None:
        """Start fetching every issuer's keys in the background (adapters call it at start-up).

        Never raises and never blocks; an issuer that is down is logged and retried.
        Idempotent: a key source already warming (or warm) starts no second fetch.
        """
        for source in self._all_sources():
            warm = getattr(source, "warm", None)
            if warm is None:
                continue
            try:
                warm()
            except Exception:  # a custom key source's, or no thread to be had: start-up goes on
                logging.getLogger("bearerguard.keys").exception("bearerguard: warm-up failed")

    def ready(self) -> bool:
        """Whether keys are loaded for every issuer: a readiness check for health endpoints."""
        return all(getattr(source, "ready", True) for source in self._all_sources())

    def _all_sources(self) -> list[KeySource]:
        every = [*self._sources.values(), *self._tenant_sources.values()]
        sources = list({id(s): s for s in every}.values())
        return sources if self._default_source is None else [self._default_source, *sources]

    def cache_info(self) -> dict[str, int]:
        """What the caches hold: ``tokens``, ``pending`` (seen once while full),
        ``headers`` and ``header_bytes`` (parsed JOSE headers of verified tokens)."""
        headers = dict(self._headers)
        return {
            "tokens": len(self.tokens),
            "pending": self.tokens.pending(),
            "headers": len(headers),
            "header_bytes": sum(len(h) for h in headers),
        }

    # -- internals -----------------------------------------------------------------------
    def _source(self, claims: Mapping[str, Any]) -> KeySource:
        if self._default_source is not None:
            return self._default_source
        iss = claims.get("iss")
        # The unverified iss only selects among configured issuers, never a URL to fetch.
        source = self._sources.get(iss) if isinstance(iss, str) else None
        if source is None:
            return self._tenant_source(iss)
        return source

    def _tenant_source(self, iss: Any) -> KeySource:
        """The key source of a ``{tenantid}`` issuer's tenant: created on first use, and only
        for an allowed tenant; with ``*`` one shared source, discovered at the template's
        ``common`` tenant (Entra ID's multi-tenant metadata)."""
        rules, tenant = self._claims.select(iss)  # invalid_issuer unless configured
        if tenant is None or not isinstance(iss, str):  # pragma: no cover - sources exist
            raise InvalidToken("invalid_issuer")
        template = next(t for p, t in rules.templates if p.fullmatch(iss))
        key = template if rules.tenants is None else iss
        source = self._tenant_sources.get(template) or self._tenant_sources.get(key)
        if source is not None:
            return source
        with self._tenant_lock:
            source = self._tenant_sources.get(key)
            if source is None:
                if rules.jwks_uri is not None:
                    source = JWKSKeySource(rules.jwks_uri)
                elif rules.tenants is None:
                    common = template.replace(TENANT_PLACEHOLDER, "common")
                    source = JWKSKeySource(issuer=common, metadata_issuer=template)
                else:
                    source = JWKSKeySource(issuer=iss)
                self._tenant_sources[key] = source
        return source

    def _decode(self, token: str) -> tuple[str, dict[str, Any], dict[str, Any], bytes, bytes]:
        if not isinstance(token, str):
            raise InvalidToken("malformed_token")
        if len(token) > self._max_size:
            raise InvalidToken("token_too_large")
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken("jwe_not_supported" if len(parts) == 5 else "malformed_token")
        h64, p64, s64 = parts
        header = self._headers.get(h64)
        if header is None:
            header = self._parse_header(h64)
        try:
            claims = json_object(b64decode(p64))
            sig = b64decode(s64)
        except (ValueError, RecursionError):
            raise InvalidToken("malformed_token") from None
        return h64, header, claims, f"{h64}.{p64}".encode("ascii"), sig

    def _parse_header(self, h64: str) -> dict[str, Any]:
        try:
            header = json_object(b64decode(h64))
        except (ValueError, RecursionError):
            raise InvalidToken("malformed_token") from None
        if "enc" in header:
            raise InvalidToken("jwe_not_supported")
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise InvalidToken("malformed_token")
        if alg.lower() == "none":
            raise InvalidToken("alg_none")
        if alg not in self._algorithms or (alg in HMAC_ALGORITHMS and alg not in self._hmac):
            raise InvalidToken("alg_not_allowed")
        # RFC 7515 §4.1.11: we understand no extension, so any crit is refused;
        # RFC 7797's b64 is refused with or without crit.
        if "crit" in header or "b64" in header:
            raise InvalidToken("crit_unsupported")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("malformed_token")
        typ = header.get("typ")
        if typ is not None and not isinstance(typ, str):
            raise InvalidToken("invalid_typ")
        # jku, x5u, jwk, x5c are ignored: a token never chooses its own key.
        return freeze_members(header)

    def _finish(
        self,
        token: str,
        h64: str,
        header: dict[str, Any],
        claims: dict[str, Any],
        signing_input: bytes,
        sig: bytes,
        key: VerifyKey | None,
        source: KeySource | None,
    ) -> AccessToken:
        alg = header["alg"]
        verify = self._hmac[alg] if key is None else key.verifier(alg)
        if not verify(signing_input, sig):
            raise InvalidToken("bad_signature")
        typ = header.get("typ")
        if (typ.lower() if typ is not None else None) not in self._typ_ok:
            raise InvalidToken("invalid_typ")
        rules = self._claims.check(claims, alg)
        headers = self._headers
        if (
            len(headers) < _HEADER_CACHE_ENTRIES
            and len(h64) <= _HEADER_CACHE_MAX_LEN
            and h64 not in headers
        ):
            headers[h64] = header  # signature verified: a header our issuer really signed
        scopes = read_scopes(claims, rules.scope_claims)
        if self._implied:
            scopes = imply_scopes(scopes, self._implied)
        access_token = rules.token(freeze_members(claims), header, scopes)
        self.tokens.put(token, access_token, key, source)
        return access_token
