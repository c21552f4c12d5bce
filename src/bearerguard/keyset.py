"""Key sets: imported public keys indexed by ``kid``, static sources and JWKS parsing.

:class:`KeySource` is the protocol a verifier asks for keys; :class:`StaticKeySource`
serves keys given at construction; :func:`parse_jwks` imports a JWK Set document. The
fetching source, :class:`~bearerguard.keys.JWKSKeySource`, lives in :mod:`bearerguard.keys`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from bearerguard.discovery import FetchError
from bearerguard.errors import InvalidToken
from bearerguard.jwk import MAX_KEYS, VerifyKey, import_jwk

__all__ = ["MAX_KEYS", "KeySet", "KeySource", "StaticKeySource", "parse_jwks"]


@runtime_checkable
class KeySource(Protocol):
    """Anything that finds the public key for a token header.

    ``get_key`` / ``get_key_async`` return a :class:`VerifyKey` or raise
    :class:`InvalidToken` (unknown or ambiguous key) or
    :class:`KeysUnavailable` (keys cannot be had right now).
    """

    def get_key(self, kid: str | None, alg: str) -> VerifyKey: ...

    async def get_key_async(self, kid: str | None, alg: str) -> VerifyKey: ...


class KeySet:
    """An immutable set of imported keys, indexed by ``kid``."""

    __slots__ = ("by_kid", "keys")

    def __init__(self, keys: Iterable[VerifyKey]) -> None:
        self.keys = tuple(keys)
        self.by_kid: dict[str, list[VerifyKey]] = {}
        for k in self.keys:
            if k.kid is not None:
                self.by_kid.setdefault(k.kid, []).append(k)

    def select(self, kid: str | None, alg: str) -> VerifyKey | None:
        """The key for (*kid*, *alg*); ``None`` if none is known.

        Without a ``kid`` the one key that fits *alg* is used; several
        candidates are refused rather than tried in turn.
        """
        candidates = self.by_kid.get(kid) if kid is not None else None
        if kid is not None:
            if not candidates:
                # Keys configured without a kid (PEM, key objects) also serve
                # tokens that name one; a kid-bearing key never stands in for another.
                loose = [k for k in self.keys if k.kid is None and k.fits(alg)]
                if len(loose) > 1:
                    raise InvalidToken("ambiguous_key")
                return loose[0] if loose else None
        else:
            candidates = [k for k in self.keys if k.fits(alg)]
            if not candidates:
                return None
            if len(candidates) > 1:
                raise InvalidToken("ambiguous_key")
            return candidates[0]
        if len(candidates) == 1:
            return candidates[0]
        fitting = [k for k in candidates if k.fits(alg)]
        if len(fitting) != 1:
            raise InvalidToken("ambiguous_key" if fitting else "key_alg_mismatch")
        return fitting[0]


class StaticKeySource:
    """Keys given at construction (PEM, JWK, JWKS, key objects); never fetches."""

    def __init__(self, keys: Iterable[VerifyKey]) -> None:
        self.keyset = KeySet(keys)
        if not self.keyset.keys:
            raise ValueError("keys: no usable public signing key was given")

    def get_key(self, kid: str | None, alg: str) -> VerifyKey:
        """Return the key or raise :class:`InvalidToken` ``unknown_kid``."""
        key = self.keyset.select(kid, alg)
        if key is None:
            raise InvalidToken("unknown_kid")
        return key

    async def get_key_async(self, kid: str | None, alg: str) -> VerifyKey:
        """Same as :meth:`get_key`; never awaits."""
        return self.get_key(kid, alg)

    def peek(self, kid: str | None, alg: str) -> VerifyKey | None:
        """The key for (*kid*, *alg*) if known; never fetches."""
        return self.keyset.select(kid, alg)


def parse_jwks(doc: dict[str, Any], previous: KeySet | None = None) -> KeySet:
    """Import a JWKS document, reusing already-imported identical keys.

    A key is reused only when its material *and* its metadata are unchanged:
    an issuer narrowing a key's ``alg`` (same ``kid``, same key) gets a new key
    object with the new ``alg``, and the old one is retired.

    Encryption keys and unknown key types are skipped; a set with no usable
    signing key is an error (the last good set stays in use).
    """
    items = doc.get("keys")
    if not isinstance(items, list):
        raise FetchError("JWKS has no 'keys' list")
    known = {_identity(k): k for k in previous.keys} if previous else {}
    keys = []
    for item in items[:MAX_KEYS]:
        imported = import_jwk(item)
        if imported is None:
            continue
        keys.append(known.get(_identity(imported), imported))
    if not keys:
        raise FetchError("JWKS has no usable signing key")
    return KeySet(keys)


def _identity(key: VerifyKey) -> tuple[str | None, str | None, str, str]:
    # The material (fingerprint) and every member a key is judged by (kid, alg, kty).
    return (key.kid, key.alg, key.kty, key.fingerprint)
