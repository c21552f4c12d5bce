"""The checks of ``bearerguard doctor``, in :meth:`Verifier.verify`'s order.

The compact form and JOSE header (as ``Verifier._decode``), the key and signature
(:mod:`bearerguard._doctor_keys`), ``typ``, then the claim checks of :mod:`bearerguard.claims`
with the values of :class:`~bearerguard.claims.ClaimRules`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bearerguard._doctor_hints import relative
from bearerguard._doctor_keys import TENANT_PLACEHOLDER, KeyChecks
from bearerguard._doctor_report import show
from bearerguard._jose import b64decode, is_number, json_object
from bearerguard.claims import (
    check_audience,
    check_id_token_markers,
    check_issuer,
    check_lifetime,
    check_required,
    check_types,
)
from bearerguard.errors import InvalidToken
from bearerguard.settings import HMAC_ALGORITHMS

__all__ = ["Run"]


class Run(KeyChecks):
    """One diagnosis while its checks run in order."""

    # -- the compact form and the JOSE header (as Verifier._decode / _parse_header) --------
    def structure(self) -> bool:
        size = len(self.token)
        limit = int(self.s.max_token_size)
        if size > limit:
            self.fail("size", "token_too_large", f"at most {limit} bytes", f"{size} bytes")
            return False
        self.ok("size", f"{size} bytes (at most {limit})")
        parts = self.token.split(".")
        if len(parts) != 3:
            reason = "jwe_not_supported" if len(parts) == 5 else "malformed_token"
            expected = "3 base64url segments: header.payload.signature"
            self.fail("compact form", reason, expected, f"{len(parts)} segments")
            return False
        self.ok("compact form", "3 segments")
        h64, p64, s64 = parts
        try:
            header = json_object(b64decode(h64))
        except (ValueError, RecursionError):
            self.fail("header", "malformed_token", "a base64url JSON object", "not decodable")
            return False
        self.report.header = header
        if "enc" in header:
            self.fail("header", "jwe_not_supported", "a JWS (signed) header", "a JWE (enc)")
            return False
        alg = header.get("alg")
        if not isinstance(alg, str):
            self.fail("header", "malformed_token", "an `alg` string", show(alg))
            return False
        self.ok("header", "a JSON object")
        if not self._alg(alg):
            return False
        if "crit" in header or "b64" in header:  # RFC 7515 §4.1.11, RFC 7797
            got = ", ".join(n for n in ("crit", "b64") if n in header)
            self.fail("crit", "crit_unsupported", "no crit or b64 parameter", got)
            return False
        self.ok("crit", "no critical extensions")
        kid, typ = header.get("kid"), header.get("typ")
        if kid is not None and not isinstance(kid, str):
            self.fail("header members", "malformed_token", "`kid` a string", show(kid))
            return False
        if typ is not None and not isinstance(typ, str):
            self.fail("header members", "invalid_typ", "`typ` a string", show(typ))
            return False
        self.ok("header members", "kid and typ are strings or absent")
        try:
            self.report.claims = json_object(b64decode(p64))
            self.signature = b64decode(s64)
        except (ValueError, RecursionError):
            self.fail("payload", "malformed_token", "a base64url JSON object", "not decodable")
            return False
        self.ok("payload", "a JSON object")
        self.signing_input = f"{h64}.{p64}".encode("ascii")
        return True

    def _alg(self, alg: str) -> bool:
        allowed = sorted(self.algorithms - (HMAC_ALGORITHMS if not self.hmac else frozenset()))
        expected = "one of " + ", ".join(allowed)
        if alg.lower() == "none":
            self.fail("alg", "alg_none", expected, alg)
            return False
        if alg not in allowed:
            self.fail("alg", "alg_not_allowed", expected, alg)
            return False
        self.ok("alg", alg)
        return True

    # -- typ and the claims (as Verifier._finish and ClaimRules.check) ---------------------
    def typ(self) -> None:
        types = self.s.tuple_of("token_types")
        accepted: set[str | None] = set()
        if "at+jwt" in types:
            accepted |= {"at+jwt", "application/at+jwt"}
        if "jwt" in types:
            accepted |= {"jwt", "application/jwt", None}
        typ = (self.report.header or {}).get("typ")
        if (typ.lower() if isinstance(typ, str) else None) in accepted:
            self.ok("typ", show(typ))
        else:
            shown = sorted("(absent)" if t is None else t for t in accepted)
            self.fail("typ", "invalid_typ", "one of " + ", ".join(shown), show(typ))

    def claims(self) -> None:
        claims = self.report.claims or {}
        rules = self.rules
        steps: list[tuple[str, Callable[[], None], str, str]] = [
            (
                "issuer",
                lambda: self._issuer(claims),
                "one of " + ", ".join(rules.issuers),
                show(claims.get("iss")),
            ),
            (
                "audience",
                lambda: check_audience(claims, rules.audiences),
                "one of " + ", ".join(sorted(rules.audiences)),
                show(claims.get("aud")),
            ),
            (
                "not an ID token",
                lambda: check_id_token_markers(claims),
                "no at_hash/c_hash, token_use and typ claims not id/refresh",
                _markers(claims),
            ),
            (
                "claim types",
                lambda: check_types(claims),
                "exp/nbf/iat/auth_time NumericDates; sub/client_id/jti/azp strings",
                _types(claims),
            ),
            (
                "required claims",
                lambda: check_required(claims, rules.required),
                ", ".join(("exp", *rules.required)),
                "missing: " + (", ".join(_missing(claims, rules.required)) or "none"),
            ),
        ]
        for name, run, expected, actual in steps:
            try:
                run()
            except InvalidToken as exc:
                self.fail(name, exc.reason, expected, actual, issuers=rules.issuers)
            else:
                self.ok(name, actual)
        self._lifetime(claims)

    def _issuer(self, claims: Mapping[str, Any]) -> None:
        if any(TENANT_PLACEHOLDER in i for i in self.rules.issuers):
            if self._configured_issuer(claims.get("iss")) is None:  # a template's tenant
                raise InvalidToken("invalid_issuer")
        else:
            check_issuer(claims, self.rules.issuers)

    def _lifetime(self, claims: Mapping[str, Any]) -> None:
        now, leeway = self.report.now, self.rules.leeway
        if "exp" not in claims or any(
            n in claims and not is_number(claims[n]) for n in ("exp", "nbf", "iat")
        ):
            self.skip("lifetime", "no usable exp (see above)")
            return
        try:
            check_lifetime(claims, now, leeway)
        except InvalidToken as exc:
            expected = f"exp > now, nbf and iat <= now, within a leeway of {leeway:g} s"
            self.fail("lifetime", exc.reason, expected, _times(claims, now), leeway=leeway)
        else:
            self.ok("lifetime", _times(claims, now))


def _markers(claims: Mapping[str, Any]) -> str:
    found = [n for n in ("at_hash", "c_hash") if n in claims]
    found += [f"{n}={claims[n]!r}" for n in ("token_use", "typ") if n in claims]
    return ", ".join(found) or "none"


def _types(claims: Mapping[str, Any]) -> str:
    bad = []
    for name in ("exp", "nbf", "iat", "auth_time"):
        if name in claims:
            try:
                check_types({name: claims[name]})
            except InvalidToken:
                bad.append(f"{name}={show(claims[name])}")
    for name in ("sub", "client_id", "jti", "azp"):
        if name in claims and not isinstance(claims[name], str):
            bad.append(f"{name}={show(claims[name])}")
    return "wrong: " + ", ".join(bad) if bad else "as expected"


def _missing(claims: Mapping[str, Any], required: tuple[str, ...]) -> list[str]:
    return [n for n in ("exp", *required) if n not in claims]


def _times(claims: Mapping[str, Any], now: float) -> str:
    return ", ".join(
        f"{name} {relative(claims[name] - now)}" for name in ("exp", "nbf", "iat") if name in claims
    )
