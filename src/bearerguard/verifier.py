"""The verifier: one token string in, an :class:`AccessToken` or a refusal out."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bearerguard._jose import b64decode, is_number, json_object
from bearerguard.errors import BearerError, InsufficientScope, InvalidToken, MissingToken
from bearerguard.extract import B64TOKEN, HEADER, extract_token
from bearerguard.jwk import VerifyFn, VerifyKey, import_static, make_hmac_verifier
from bearerguard.keys import JWKSKeySource, KeySource, StaticKeySource
from bearerguard.requirements import Requirements
from bearerguard.settings import HMAC_ALGORITHMS, Settings
from bearerguard.tokens import AccessToken, freeze_members, read_scopes

_ID_TOKEN_ONLY = ("nonce", "at_hash", "c_hash", "s_hash")
# Scope claims are not here: an unusable scope value gives no scopes (tokens.read_scopes).
_STRING_CLAIMS = ("sub", "client_id", "jti", "azp")
# The parsed-header cache: entries, and the longest encoded header remembered. Only the
# headers of tokens whose signature verified get in, so refused tokens cannot pin memory.
_HEADER_CACHE_ENTRIES = 64
_HEADER_CACHE_MAX_LEN = 1024
_NUMERIC_CLAIMS = ("exp", "nbf", "iat", "auth_time")


class _CacheEntry:
    __slots__ = ("exp", "key", "nbf", "token")

    def __init__(self, token: AccessToken, key: VerifyKey | None, exp: float, nbf: float) -> None:
        self.token, self.key, self.exp, self.nbf = token, key, exp, nbf


class Verifier:
    """Verifies bearer access tokens (JWS-signed JWTs) against one configuration.

    ``Verifier(settings)`` or ``Verifier(issuer=..., audience=..., **settings)``.

    Args:
        settings: a :class:`Settings`; or give its fields as keywords.
        keys: static keys (JWKS dict, JWK dict, PEM, key object) — no fetching.
        key_source: a custom :class:`KeySource` (for example a
            :class:`JWKSKeySource` with other cache bounds).
        token_cache_size: verified tokens remembered (0 disables the cache). Once
            full, a token is stored when verified a second time, evicting the oldest.
        clock: seconds since the epoch (tests).

    ``verify`` and ``verify_async`` return an :class:`AccessToken` or raise a
    :class:`BearerError` subclass. Construction raises ``ValueError`` for bad settings.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        /,
        *,
        keys: Any = None,
        key_source: KeySource | None = None,
        token_cache_size: int = 1024,
        clock: Callable[[], float] = time.time,
        **options: Any,
    ) -> None:
        if settings is None:
            settings = Settings(**options)
        elif options:
            raise TypeError("pass either a Settings or keyword settings, not both")
        if isinstance(token_cache_size, bool) or token_cache_size < 0:
            raise ValueError("token_cache_size must be a non-negative integer")
        self.settings = s = settings
        self.realm = s.realm
        self._issuers = frozenset(s.issuers)
        self._audiences = frozenset(s.audiences)
        self._algorithms = frozenset(s.tuple_of("algorithms"))
        self._leeway = float(s.leeway)
        self._scope_claims = s.tuple_of("scope_claims")
        self._required = tuple(c for c in s.tuple_of("required_claims") if c != "exp")
        types = s.tuple_of("token_types")
        self._typ_ok = frozenset(
            ({"at+jwt", "application/at+jwt"} if "at+jwt" in types else set())
            | ({"jwt", "application/jwt", None} if "jwt" in types else set())
        )
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
        if key_source is not None:
            self._default_source = key_source
        elif keys is not None:
            self._default_source = StaticKeySource(import_static(keys))
        elif s.jwks_uri is not None:
            self._default_source = JWKSKeySource(s.jwks_uri)
        elif not (self._hmac and len(self._algorithms - HMAC_ALGORITHMS) == 0):
            self._sources = {iss: JWKSKeySource(issuer=iss) for iss in s.issuers}
        # FIFO: popitem(last=False) is O(1); a dict's next(iter()) rescans deleted slots.
        self._cache: OrderedDict[str, _CacheEntry] = OrderedDict()
        self._cache_size = token_cache_size
        self._seen: set[int] = set()  # hashes of tokens verified once while the cache was full
        self._header_fast = HEADER in self._locations
        self._header_only = self._locations == (HEADER,)
        self._headers: dict[str, dict[str, Any]] = {}

    # -- public entry points ----------------------------------------------
    def verify(self, token: str) -> AccessToken:
        """Verify *token*; return the :class:`AccessToken` or raise :class:`BearerError`."""
        if self._cache_size:
            hit = self._cached(token)
            if hit is not None:
                return hit
        return self._verify_uncached(token)

    def _verify_uncached(self, token: str) -> AccessToken:
        try:
            h64, header, claims, signing_input, sig = self._decode(token)
            key = (
                self._source(claims).get_key(header.get("kid"), header["alg"])
                if header["alg"] not in self._hmac
                else None
            )
            return self._finish(token, h64, header, claims, signing_input, sig, key)
        except BearerError as exc:
            exc.realm = self.realm
            raise

    async def verify_async(self, token: str) -> AccessToken:
        """As :meth:`verify`; a key fetch never blocks the event loop."""
        if self._cache_size:
            hit = self._cached(token)
            if hit is not None:
                return hit
        return await self._verify_uncached_async(token)

    async def _verify_uncached_async(self, token: str) -> AccessToken:
        try:
            h64, header, claims, signing_input, sig = self._decode(token)
            key = None
            if header["alg"] not in self._hmac:
                key = await self._source(claims).get_key_async(header.get("kid"), header["alg"])
            return self._finish(token, h64, header, claims, signing_input, sig, key)
        except BearerError as exc:
            exc.realm = self.realm
            raise

    def extract(
        self,
        authorization: str | Sequence[str] | None,
        *,
        query: Sequence[str] | None = None,
        form: Sequence[str] | None = None,
    ) -> str | None:
        """RFC 6750 §2 extraction with this verifier's token locations and realm."""
        try:
            return extract_token(authorization, query=query, form=form, locations=self._locations)
        except BearerError as exc:
            exc.realm = self.realm
            raise

    def authenticate(
        self,
        authorization: str | Sequence[str] | None,
        *,
        query: Sequence[str] | None = None,
        form: Sequence[str] | None = None,
    ) -> AccessToken | None:
        """Extract and verify: the token, ``None`` without credentials, or a raised refusal."""
        hit, new = self._shortcut(authorization, query, form)
        if hit is not None:
            return hit
        if new is not None:  # see _shortcut: only a failure needs the b64token check
            try:
                return self._verify_uncached(new)
            except BearerError:
                if B64TOKEN.fullmatch(new) is not None:
                    raise
        token = self.extract(authorization, query=query, form=form)
        return None if token is None else self.verify(token)

    async def authenticate_async(
        self,
        authorization: str | Sequence[str] | None,
        *,
        query: Sequence[str] | None = None,
        form: Sequence[str] | None = None,
    ) -> AccessToken | None:
        """As :meth:`authenticate`, with :meth:`verify_async`."""
        hit, new = self._shortcut(authorization, query, form)
        if hit is not None:
            return hit
        return await self._settle_async(new, authorization, query, form)

    async def _settle_async(
        self,
        new: str | None,
        authorization: str | Sequence[str] | None,
        query: Sequence[str] | None = None,
        form: Sequence[str] | None = None,
    ) -> AccessToken | None:
        """Finish what :meth:`_shortcut` left: verify *new*, else extract and verify."""
        if new is not None:
            try:
                return await self._verify_uncached_async(new)
            except BearerError:
                if B64TOKEN.fullmatch(new) is not None:
                    raise
        token = self.extract(authorization, query=query, form=form)
        return None if token is None else await self.verify_async(token)

    def cache_info(self) -> dict[str, int]:
        """What the verifier's caches hold: ``tokens``, ``headers`` and ``header_bytes``."""
        headers = dict(self._headers)
        return {
            "tokens": len(self._cache),
            "headers": len(headers),
            "header_bytes": sum(len(h) for h in headers),
        }

    @property
    def token_locations(self) -> tuple[str, ...]:
        """Where tokens are accepted (``header``, ``query``, ``form``)."""
        return self._locations

    def missing(self) -> MissingToken:
        """The refusal for a request without credentials (bare challenge)."""
        return MissingToken(realm=self.realm)

    def authorize(self, token: AccessToken, requirements: Requirements | None) -> None:
        """Raise :class:`InsufficientScope` (403) unless *token* meets *requirements*."""
        if requirements is not None:
            try:
                requirements.check(token)
            except InsufficientScope as exc:
                exc.realm = self.realm
                raise

    # -- internals ----------------------------------------------------------
    def _shortcut(
        self,
        authorization: str | Sequence[str] | None,
        query: Sequence[str] | None = None,
        form: Sequence[str] | None = None,
    ) -> tuple[AccessToken | None, str | None]:
        """For a lone ``Bearer <token>`` header: (its cache hit, or the token to verify).

        ``(None, None)`` sends the request down the full extraction path. When the
        string after ``"Bearer "`` is a b64token, :func:`~bearerguard.extract.parse_authorization`
        returns exactly it. A token that verifies is one (three base64url segments
        joined by dots), so neither a cache hit nor a successful verification needs
        the syntax check: only a failed one does, and a token that is no b64token
        then gets the full extraction path's answer.
        """
        if query or form or not self._header_fast:
            return None, None
        if type(authorization) is not str:
            if not authorization or len(authorization) != 1:
                return None, None
            authorization = authorization[0]
        if type(authorization) is not str:
            return None, None
        return self._bearer(authorization)

    def _bearer(self, authorization: str) -> tuple[AccessToken | None, str | None]:
        """:meth:`_shortcut` for the only ``Authorization`` value, the header a token location."""
        if authorization[:7] != "Bearer ":
            return None, None
        token = authorization[7:]
        return self._cached(token), token

    def _cached(self, token: str) -> AccessToken | None:
        entry = self._cache.get(token) if type(token) is str else None  # lists are unhashable
        if entry is None:
            return None
        now = self._clock()
        if (
            (entry.key is None or entry.key.active)
            and now < entry.exp + self._leeway
            and now >= entry.nbf - self._leeway
        ):
            return entry.token
        self._cache.pop(token, None)
        return None

    def _source(self, claims: Mapping[str, Any]) -> KeySource:
        if self._default_source is not None:
            return self._default_source
        iss = claims.get("iss")
        source = self._sources.get(iss) if isinstance(iss, str) else None
        if source is None:
            raise InvalidToken("invalid_issuer")
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
    ) -> AccessToken:
        alg = header["alg"]
        verify = self._hmac[alg] if key is None else key.verifier(alg)
        if not verify(signing_input, sig):
            raise InvalidToken("bad_signature")
        typ = header.get("typ")
        if (typ.lower() if typ is not None else None) not in self._typ_ok:
            raise InvalidToken("invalid_typ")
        self._check_claims(claims)
        headers = self._headers
        if (
            len(headers) < _HEADER_CACHE_ENTRIES
            and len(h64) <= _HEADER_CACHE_MAX_LEN
            and h64 not in headers
        ):
            headers[h64] = header  # signature verified: a header our issuer really signed
        access_token = AccessToken(
            freeze_members(claims), header, read_scopes(claims, self._scope_claims)
        )
        if self._cache_size:
            cache = self._cache
            if len(cache) >= self._cache_size:
                # Full: a token gets in only when it is verified a second time while
                # remembered here, so a stream of one-off tokens neither evicts the
                # tokens in use nor pays for entries never read (that churn cost
                # 2-4 µs per request in the in-process benchmarks).
                seen, key_hash = self._seen, hash(token)
                if key_hash not in seen:
                    if len(seen) >= self._cache_size:
                        seen.clear()
                    seen.add(key_hash)
                    return access_token
                seen.discard(key_hash)
                try:  # noqa: SIM105 - contextlib.suppress costs ~1 µs per miss
                    cache.popitem(last=False)  # oldest first
                except KeyError:  # emptied by another thread meanwhile
                    pass
            nbf = claims.get("nbf", claims.get("iat", 0.0))
            cache[token] = _CacheEntry(
                access_token, key, claims["exp"], nbf if is_number(nbf) else 0.0
            )
        return access_token

    def _check_claims(self, claims: dict[str, Any]) -> None:
        iss = claims.get("iss")
        if not isinstance(iss, str) or iss not in self._issuers:
            raise InvalidToken("invalid_issuer")
        aud = claims.get("aud")
        if isinstance(aud, str):
            aud_ok = aud in self._audiences
        elif isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud):
            aud_ok = not self._audiences.isdisjoint(aud)
        else:
            aud_ok = False
        if not aud_ok:
            # Only a refusal needs to know whether it was an ID token.
            looks_like_id_token = not claims.keys().isdisjoint(_ID_TOKEN_ONLY) or (
                isinstance(claims.get("azp"), str) and aud == claims["azp"]
            )
            raise InvalidToken("id_token_presented" if looks_like_id_token else "invalid_audience")
        if "at_hash" in claims or "c_hash" in claims:
            raise InvalidToken("id_token_presented")
        for name in _NUMERIC_CLAIMS:
            if name in claims and not is_number(claims[name]):
                raise InvalidToken("invalid_claim")
        for name in _STRING_CLAIMS:
            if not isinstance(claims.get(name, ""), str):
                raise InvalidToken("invalid_claim")
        for name in self._required:
            if name not in claims:
                raise InvalidToken("missing_claim")
        exp = claims.get("exp")
        if exp is None:
            raise InvalidToken("missing_claim")
        now = self._clock()
        leeway = self._leeway
        if now >= exp + leeway:
            raise InvalidToken("expired")
        nbf = claims.get("nbf")
        if nbf is not None and now < nbf - leeway:
            raise InvalidToken("not_yet_valid")
        iat = claims.get("iat")
        if iat is not None and now < iat - leeway:
            raise InvalidToken("issued_in_future")


def error_response(err: BearerError) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) for a refusal: what every adapter renders."""
    return err.status_code, list(err.headers().items()), err.body()
