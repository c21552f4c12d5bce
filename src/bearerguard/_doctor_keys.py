"""The key checks of ``bearerguard doctor``: key source, discovery, key set, key, signature.

As :meth:`Verifier.verify` does: the unverified ``iss`` only selects a configured issuer's
key source, then the key is chosen by :meth:`KeySet.select` and checked by its verifier.
"""

from __future__ import annotations

import re
from typing import Any

from bearerguard._doctor_report import Recorder, show
from bearerguard.discovery import (
    FetchError,
    discover_jwks_uri,
    fetch_json,
    metadata_urls,
    redact_url,
)
from bearerguard.errors import InvalidToken
from bearerguard.jwk import VerifyFn, VerifyKey, make_hmac_verifier
from bearerguard.keyset import KeySet, parse_jwks
from bearerguard.settings import HMAC_ALGORITHMS

__all__ = ["TENANT_PLACEHOLDER", "KeyChecks"]

_FETCH_TIMEOUT = 5.0
_MAX_BYTES = 512 * 1024
TENANT_PLACEHOLDER = "{tenantid}"
_TENANT = re.compile(r"[A-Za-z0-9._-]+")


class KeyChecks(Recorder):
    """The checks of the key and the signature."""

    def key_and_signature(self) -> None:
        header = self.report.header or {}
        claims = self.report.claims or {}
        alg = str(header["alg"])
        if alg in HMAC_ALGORITHMS:
            self.ok("key", "the shared secret (BEARERGUARD_SHARED_SECRET)")
            secret = self.s.shared_secret  # bytes: an allowed HS* alg needs it (settings)
            self._signature(make_hmac_verifier(secret if isinstance(secret, bytes) else b"", alg))
            return
        jwks_uri = self.s.jwks_uri
        if jwks_uri is None:
            iss = claims.get("iss")
            issuer = self._configured_issuer(iss)
            if issuer is None:
                # Verifier._source: the unverified iss only selects among configured issuers.
                self.fail(
                    "issuer selects keys",
                    "invalid_issuer",
                    "one of " + ", ".join(self.rules.issuers),
                    show(iss),
                    issuers=self.rules.issuers,
                )
                self.skip("key", "no key source for this issuer")
                self.skip("signature", "no key")
                return
            self.ok("issuer selects keys", issuer)
            jwks_uri = self._discover(iss if isinstance(iss, str) else issuer)
            if jwks_uri is None:
                return
        self.report.jwks_uri = jwks_uri
        keyset = self._fetch_keys(jwks_uri)
        if keyset is not None:
            self._select_key(keyset, header.get("kid"), alg)

    def _configured_issuer(self, iss: Any) -> str | None:
        if not isinstance(iss, str):
            return None
        for issuer in self.rules.issuers:
            if iss == issuer:
                return issuer
            if TENANT_PLACEHOLDER in issuer:  # Entra ID multi-tenant: an allowed tenant's
                head, _, tail = issuer.partition(TENANT_PLACEHOLDER)
                tenant = iss[len(head) : len(iss) - len(tail)]
                tenants = self.s.tuple_of("tenants")
                if (
                    iss.startswith(head)
                    and iss.endswith(tail)
                    and _TENANT.fullmatch(tenant)
                    and (tenants == ("*",) or tenant in tenants)
                ):
                    return issuer
        return None

    def _discover(self, issuer: str) -> str | None:
        try:
            return discover_jwks_uri(
                issuer, self.fetcher, timeout=_FETCH_TIMEOUT, max_bytes=_MAX_BYTES
            )
        except FetchError as exc:
            metadata_issuer = self._metadata_issuer(issuer)
            self.keys_failure = str(exc)
            self.fail(
                "discovery",
                "keys_unavailable",
                f"metadata at {redact_url(metadata_urls(issuer)[0])} naming issuer {issuer}",
                str(exc),
                metadata_issuer=metadata_issuer,
            )
            self.skip("key", "no key set")
            self.skip("signature", "no key")
            return None

    def _metadata_issuer(self, issuer: str) -> str | None:
        try:
            for url in metadata_urls(issuer):
                try:
                    doc, _ = fetch_json(
                        self.fetcher, url, timeout=_FETCH_TIMEOUT, max_bytes=_MAX_BYTES
                    )
                except FetchError:
                    continue
                found = doc.get("issuer")
                return found if isinstance(found, str) else None
        except FetchError:
            pass
        return None

    def _fetch_keys(self, jwks_uri: str) -> KeySet | None:
        try:
            doc, _ = fetch_json(
                self.fetcher, jwks_uri, timeout=_FETCH_TIMEOUT, max_bytes=_MAX_BYTES
            )
            keyset = parse_jwks(doc)
        except FetchError as exc:
            self.keys_failure = str(exc)
            self.fail("key set", "keys_unavailable", f"a JWKS at {redact_url(jwks_uri)}", str(exc))
            self.skip("key", "no key set")
            self.skip("signature", "no key")
            return None
        self.report.keys = [_describe(k) for k in keyset.keys]
        self.ok("key set", f"{len(keyset.keys)} key(s) at {redact_url(jwks_uri)}")
        return keyset

    def _select_key(self, keyset: KeySet, kid: Any, alg: str) -> None:
        kids = [k.kid or "(no kid)" for k in keyset.keys]
        want = f"kid {kid!r}" if kid is not None else "no kid: the one key that fits"
        expected = "one of " + ", ".join(repr(k) for k in kids)
        try:
            key = keyset.select(kid, alg)  # the core's selection (KeySet.select)
            if key is None:
                raise InvalidToken("unknown_kid")
            fn = key.verifier(alg)  # key_alg_mismatch, weak_key
        except InvalidToken as exc:
            self.fail("key", exc.reason, expected, want, kids=kids, alg=alg)
            self.skip("signature", "no usable key")
            return
        self.ok("key", f"{_describe(key)}")
        self._signature(fn)

    def _signature(self, fn: VerifyFn) -> None:
        if fn(self.signing_input, self.signature):
            self.ok("signature", "valid")
        else:
            self.fail("signature", "bad_signature", "a valid signature", "invalid")

    # -- typ and claims (as Verifier._finish and ClaimRules.check) -------------------------


def _describe(key: VerifyKey) -> str:
    return f"kid {key.kid!r} ({key.kty}{', ' + key.alg if key.alg else ''})"
