"""The issuer's key ring: generated and published keys, key choice, raw JWS signing."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from ._keys import IssuerKey, b64url, family, key_score, sign_bytes


class KeyRing:
    """Keys of a test issuer: every key it made (``_known``) and those it publishes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._published: list[IssuerKey] = []
        self._known: list[IssuerKey] = []
        self.extra_jwks: list[dict[str, Any]] = []

    def new_key(
        self,
        alg: str = "RS256",
        *,
        kid: str | None = None,
        publish: bool = True,
        size: int | None = None,
        curve: str | None = None,
        use: str | None = "sig",
        include_alg: bool = True,
        secret: bytes | None = None,
    ) -> IssuerKey:
        """Generate a key (RSA 2048 bits unless ``size``; ES* on their curve; EdDSA Ed25519
        unless ``curve="Ed448"``; HS* a random or given ``secret``) and optionally publish it.
        ``use=None`` omits "use"; ``include_alg=False`` omits "alg". ValueError if unsupported.
        """
        key = IssuerKey.generate(
            alg, kid=kid, size=size, curve=curve, use=use, include_alg=include_alg, secret=secret
        )
        with self._lock:
            self._known.append(key)
        if publish:
            self.publish(key)
        return key

    def publish(self, key: IssuerKey) -> None:
        """Serve ``key`` in the JWKS as the newest key (no-op if already published)."""
        with self._lock:
            if key not in self._known:
                self._known.append(key)
            if key not in self._published:
                self._published.append(key)

    def remove_key(self, kid: str) -> None:
        """Stop serving the keys with this ``kid``; KeyError if none is published."""
        with self._lock:
            kept = [k for k in self._published if k.kid != kid]
            if len(kept) == len(self._published):
                raise KeyError(kid)
            self._published = kept

    def rotate(self, alg: str | None = None, *, remove_old: bool = False) -> IssuerKey:
        """Publish a new newest key (default: the current key's alg); optionally unpublish
        all others. Old keys still sign when named: ``token(kid=old.kid)``."""
        key = self.new_key(alg or self.current_key.alg)
        if remove_old:
            with self._lock:
                self._published = [key]
        return key

    @property
    def keys(self) -> list[IssuerKey]:
        """Published keys, oldest first."""
        with self._lock:
            return list(self._published)

    @property
    def current_key(self) -> IssuerKey:
        """The newest published key; LookupError when none is published."""
        with self._lock:
            if not self._published:
                raise LookupError("the issuer publishes no key")
            return self._published[-1]

    def jwks(self) -> dict[str, Any]:
        """The JWK Set served: published public JWKs, then ``extra_jwks``."""
        with self._lock:
            keys = [k.public_jwk for k in self._published] + list(self.extra_jwks)
        return {"keys": json.loads(json.dumps(keys))}

    def sign(
        self,
        header: Mapping[str, Any] | bytes | str,
        payload: Mapping[str, Any] | Sequence[Any] | bytes | str,
        key: IssuerKey | None = None,
        *,
        raw_signature: bytes | None = None,
    ) -> str:
        """Low level, validating nothing: ``b64url(header).b64url(payload).b64url(signature)``.

        A header or payload given as bytes/str is encoded as is, else as compact JSON.
        The signature follows ``header["alg"]`` (RFC 7518; "none" in any casing: empty;
        HS* with ``key.secret``, or the public PEM of an asymmetric key) and falls back to
        the key's alg when the header has no string alg. Without ``key`` the issuer picks
        one by header alg and kid. ``raw_signature`` replaces the signature. Raises
        ValueError/TypeError/LookupError when it cannot sign as asked.
        """
        alg: Any = None
        if isinstance(header, Mapping):
            alg = header.get("alg")
            header_kid = header.get("kid")
            head = json.dumps(header, separators=(",", ":")).encode("utf-8")
        else:
            header_kid = None
            head = header.encode("utf-8") if isinstance(header, str) else header
        if isinstance(payload, bytes | str):
            body = payload.encode("utf-8") if isinstance(payload, str) else payload
        else:
            body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        signing_input = b64url(head) + "." + b64url(body)
        if raw_signature is None:
            alg = alg if isinstance(alg, str) else None
            if alg is not None and family(alg) == "none":
                signature = b""
            else:
                if key is None:
                    kid = header_kid if isinstance(header_kid, str) else None
                    key, alg, _ = self._select(alg, kid, None)
                signature = sign_bytes(key, alg or key.alg, signing_input.encode("ascii"))
        else:
            signature = raw_signature
        return signing_input + "." + b64url(signature)

    def _select(
        self, alg: str | None, kid: str | None, key: IssuerKey | None
    ) -> tuple[IssuerKey, str, str]:
        """(signing key, alg, header kid) for a token; the explicit ``key`` always signs."""
        with self._lock:
            published, known = list(self._published), list(self._known)
        named = key
        if named is None and kid:
            named = next((k for k in reversed(published + known) if k.kid == kid), None)
        if alg is None:
            alg = (named or self.current_key).alg
        signer = key
        if signer is None and named is not None and key_score(named, alg) is not None:
            signer = named
        if signer is None and family(alg) == "none":
            signer = named or self.current_key
        if signer is None:
            ranked = [
                (score, k in published, i, k)
                for i, k in enumerate(known)
                if (score := key_score(k, alg)) is not None
            ]
            if not ranked:
                raise LookupError(f"no key can sign {alg!r}: call new_key({alg!r}) or pass key=")
            signer = max(ranked, key=lambda r: r[:3])[3]
        return signer, alg, (signer.kid if kid is None else kid)
