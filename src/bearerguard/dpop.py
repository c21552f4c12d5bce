"""DPoP proof verification (RFC 9449 §4.3), framework-free.

:class:`DPoPChecker` checks the one ``DPoP`` proof of a request against the request's
method and URL, the access token (``ath``) and the token's ``cnf.jkt``; each failure is a
:class:`DPoPError` with its own stable ``reason``. A proof's ``jti`` is accepted once, in a
:class:`~bearerguard.store.Store` shared by every worker. :class:`NonceSource` issues and
checks server nonces (RFC 9449 §9) without shared state.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from bearerguard._dpop_util import NonceSource, b64url, jwk_thumbprint, normalize_htu
from bearerguard._jose import b64decode, is_number, json_object
from bearerguard.errors import DESCRIPTIONS, DPOP, BearerError
from bearerguard.jwk import MIN_RSA_BITS, VerifyFn, import_jwk
from bearerguard.store import Store

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DPOP_DESCRIPTIONS",
    "DPoPChecker",
    "DPoPError",
    "DPoPProof",
    "NonceSource",
    "UseDPoPNonce",
    "jwk_thumbprint",
    "normalize_htu",
]

_NOT_PROOF = frozenset({"dpop_required", "dpop_unbound_token"})  # about the token, not the proof
DEFAULT_ALGORITHMS = (
    *("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"),
    *("EdDSA", "Ed25519"),
)
_SUPPORTED = frozenset(DEFAULT_ALGORITHMS) | {"Ed448"}

#: The DPoP reasons and their fixed descriptions (never echoing the proof); they live with
#: every other reason in :data:`bearerguard.errors.DESCRIPTIONS`.
DPOP_DESCRIPTIONS: dict[str, str] = {
    k: v for k, v in DESCRIPTIONS.items() if k.startswith("dpop_") and k not in _NOT_PROOF
}

# RFC 9449 §4.3 (7): the jwk header must not contain a private key.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_TYPS = frozenset({"dpop+jwt", "application/dpop+jwt"})  # RFC 7515 §4.1.9: case-insensitive
_HEADER_CACHE_SIZE = 512
_HEADER_CACHE_MAX_LEN = 2048
_URL_CACHE_SIZE = 1024
# access token -> its expected ath: a client sends one token on many requests, and the
# pipeline has hashed the token's string already (its cache lookup), so a hit is one probe.
_ATH_CACHE_SIZE = 512
_ATH_CACHE_MAX_LEN = 16 * 1024


class DPoPError(BearerError):
    """A DPoP proof that fails verification: 401 ``invalid_dpop_proof`` (RFC 9449 §7.1)."""

    status_code = 401
    error = "invalid_dpop_proof"

    def __init__(self, reason: str, *, realm: str | None = None) -> None:
        super().__init__(reason, realm=realm)
        self.scheme = DPOP


class UseDPoPNonce(BearerError):
    """A proof without a current server nonce: 401 ``use_dpop_nonce`` (RFC 9449 §9).

    ``nonce`` is the fresh nonce to send in the ``DPoP-Nonce`` response header.
    """

    status_code = 401
    error = "use_dpop_nonce"

    def __init__(self, reason: str, *, nonce: str, realm: str | None = None) -> None:
        super().__init__(reason, realm=realm)
        self.scheme = DPOP
        self.nonce = nonce

    def extra_headers(self) -> dict[str, str]:
        # RFC 9449 §8: the fresh nonce; readable by browser clients across origins.
        return {"DPoP-Nonce": self.nonce, "Access-Control-Expose-Headers": "DPoP-Nonce"}


@dataclass(frozen=True, slots=True)
class DPoPProof:
    """A verified proof: key thumbprint (RFC 7638), SHA-256 hex of its ``jti``, ``iat`` and
    the ``nonce`` it carried (None when absent)."""

    thumbprint: str
    jti_hash: str
    iat: float
    nonce: str | None


class DPoPChecker:
    """Verifies a request's DPoP proof (RFC 9449 §4.3) and remembers its ``jti`` (§11.1).

    Args:
        algorithms: the proof algorithms accepted (asymmetric only; ValueError otherwise).
        max_age: seconds a proof's ``iat`` may lie in the past.
        leeway: seconds a proof's ``iat`` may lie in the future.
        store: where used ``jti`` values are remembered (shared by every worker).
        nonces: when set, every proof must carry a nonce this source accepts (§9, §11.3).
        max_proof_size: characters; a longer proof is refused before decoding.
        max_jti_length: characters.
        clock: seconds since the epoch (tests inject one).
    """

    def __init__(
        self,
        *,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        max_age: float = 300,
        leeway: float = 60,
        store: Store,
        nonces: NonceSource | None = None,
        max_proof_size: int = 8192,
        max_jti_length: int = 256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        algs = tuple(algorithms)
        if not algs or not set(algs) <= _SUPPORTED:
            # RFC 9449 §4.3 (5): asymmetric algorithms only; never "none" nor HS*.
            raise ValueError(f"DPoP algorithms must be among {sorted(_SUPPORTED)}")
        if max_age <= 0 or leeway < 0 or max_proof_size < 1 or max_jti_length < 1:
            raise ValueError("DPoP max_age, leeway and size limits must be positive")
        self.algorithms = algs
        self.max_age = max_age
        self.leeway = leeway
        self.store = store
        self.nonces = nonces
        self.max_proof_size = max_proof_size
        self.max_jti_length = max_jti_length
        self._clock = clock
        # header segment -> (thumbprint, verify); URL -> normalised URL
        self._headers: dict[str, tuple[str, VerifyFn]] = {}
        self._urls: dict[str, str] = {}
        self._aths: dict[str, bytes] = {}

    def check(
        self,
        proofs: Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str,
        jkt: str | None,
    ) -> DPoPProof:
        """Verify the request's ``DPoP`` header values against the request and the token.

        *proofs* are all ``DPoP`` header values received, *method* and *url* the request's
        (as the framework reports them), *jkt* the token's ``cnf.jkt`` (None: not bound).
        Raises :class:`DPoPError` or :class:`UseDPoPNonce`; ``StoreUnavailable`` when the
        replay store cannot answer (the caller fails closed).
        """
        facts = self._verify(proofs, method, url, access_token, jkt)
        # RFC 9449 §11.1: a jti is accepted once, for as long as its iat could pass.
        if not self.store.add(_replay_key(facts), self.max_age + self.leeway):
            raise DPoPError("dpop_replayed")
        return DPoPProof(*facts)

    async def check_async(
        self,
        proofs: Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str,
        jkt: str | None,
    ) -> DPoPProof:
        """:meth:`check` with a non-blocking store call."""
        facts = self._verify(proofs, method, url, access_token, jkt)
        if not await self.store.add_async(_replay_key(facts), self.max_age + self.leeway):
            raise DPoPError("dpop_replayed")
        return DPoPProof(*facts)

    def admit(
        self,
        proofs: Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str,
        jkt: str | None,
    ) -> None:
        """:meth:`check` for a caller that needs no :class:`DPoPProof` (the request
        pipeline): the same checks and the same single use of the ``jti``."""
        facts = self._verify(proofs, method, url, access_token, jkt)
        if not self.store.add(_replay_key(facts), self.max_age + self.leeway):
            raise DPoPError("dpop_replayed")

    async def admit_async(
        self,
        proofs: Sequence[str],
        *,
        method: str,
        url: str,
        access_token: str,
        jkt: str | None,
    ) -> None:
        """:meth:`admit` with a non-blocking store call."""
        facts = self._verify(proofs, method, url, access_token, jkt)
        if not await self.store.add_async(_replay_key(facts), self.max_age + self.leeway):
            raise DPoPError("dpop_replayed")

    def _verify(
        self, proofs: Sequence[str], method: str, url: str, access_token: str, jkt: str | None
    ) -> _Facts:
        if not proofs:
            raise DPoPError("dpop_proof_missing")
        # RFC 9449 §4.3 (1): exactly one DPoP header; a comma means values were combined.
        if len(proofs) != 1 or "," in proofs[0]:
            raise DPoPError("dpop_multiple_proofs")
        proof = proofs[0].strip(" \t")
        if len(proof) > self.max_proof_size:
            raise DPoPError("dpop_proof_too_large")
        # RFC 7515 §7.1 compact serialization, parsed strictly (§4.3 (2)-(3)).
        parts = proof.split(".")
        if len(parts) != 3 or not parts[0] or not parts[1]:  # an empty signature fails later
            raise DPoPError("dpop_malformed")
        # A client sends the same header (typ, alg, jwk) on every request: its checks and
        # key import are done once per distinct header segment.
        checked = self._headers.get(parts[0])
        if checked is None:
            checked = self._check_header(_decode(parts[0]))
            if len(parts[0]) <= _HEADER_CACHE_MAX_LEN:
                if len(self._headers) >= _HEADER_CACHE_SIZE:
                    self._headers.clear()
                self._headers[parts[0]] = checked
        thumbprint, verify = checked
        claims = _decode(parts[1])
        try:
            signature = b64decode(parts[2])
        except ValueError:
            raise DPoPError("dpop_malformed") from None
        if not verify(f"{parts[0]}.{parts[1]}".encode("ascii"), signature):  # §4.3 (6)
            raise DPoPError("dpop_bad_signature")
        jti, iat = self._check_claims(claims, method, url, access_token)  # §4.3 (8)-(12)
        if jkt is not None and not hmac.compare_digest(  # §4.3 (12), §7.1
            thumbprint.encode(), jkt.encode("utf-8", "surrogatepass")
        ):
            raise DPoPError("dpop_key_mismatch")
        nonce = claims.get("nonce")
        if self.nonces is not None:  # §4.3 (10), §9
            if nonce is None:
                raise UseDPoPNonce("dpop_nonce_required", nonce=self.nonces.issue())
            if not self.nonces.valid(nonce):
                raise UseDPoPNonce("dpop_nonce_stale", nonce=self.nonces.issue())
        # Keyed by the verified thumbprint and a hash of jti, never by raw unverified input.
        jti_hash = hashlib.sha256(jti.encode("utf-8", "surrogatepass")).hexdigest()
        return thumbprint, jti_hash, iat, nonce if isinstance(nonce, str) else None

    def _check_header(self, header: dict[str, Any]) -> tuple[str, VerifyFn]:
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in _TYPS:  # §4.3 (4)
            raise DPoPError("dpop_invalid_typ")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:  # §4.3 (5)
            raise DPoPError("dpop_alg_not_allowed")
        if "crit" in header:  # RFC 7515 §4.1.11: no extension is understood here
            raise DPoPError("dpop_crit_unsupported")
        jwk = header.get("jwk")
        # §4.3 (7): a public key only, usable for alg.
        if not isinstance(jwk, Mapping) or _PRIVATE_MEMBERS.intersection(jwk):
            raise DPoPError("dpop_invalid_jwk")
        try:
            thumbprint = jwk_thumbprint(jwk)
        except ValueError:
            raise DPoPError("dpop_invalid_jwk") from None
        key = import_jwk(jwk)  # None for symmetric, unknown, malformed or non-"sig" keys
        if (
            key is None
            or not key.fits(alg)  # key type and curve, and the JWK's own alg
            or (isinstance(key.key, rsa.RSAPublicKey) and key.key.key_size < MIN_RSA_BITS)
        ):
            raise DPoPError("dpop_invalid_jwk")
        return thumbprint, key.verifier(alg)

    def _normalize(self, url: str) -> str:
        norm = self._urls.get(url)
        if norm is None:
            try:
                norm = normalize_htu(url)
            except ValueError:
                norm = ""  # never equal to a normalised URL
            if len(url) <= _HEADER_CACHE_MAX_LEN:
                if len(self._urls) >= _URL_CACHE_SIZE:
                    self._urls.clear()
                self._urls[url] = norm
        return norm

    def _check_claims(
        self, claims: Mapping[str, Any], method: str, url: str, access_token: str
    ) -> tuple[str, float]:
        try:
            jti, htm, htu = claims["jti"], claims["htm"], claims["htu"]
            iat, ath = claims["iat"], claims["ath"]
        except KeyError:
            raise DPoPError("dpop_missing_claim") from None
        if not (isinstance(jti, str) and 0 < len(jti) <= self.max_jti_length):
            raise DPoPError("dpop_invalid_claim")
        if not (isinstance(htm, str) and isinstance(htu, str) and isinstance(ath, str)):
            raise DPoPError("dpop_invalid_claim")
        if not is_number(iat):
            raise DPoPError("dpop_invalid_claim")
        if htm != method:  # §4.3 (8): methods are case-sensitive (RFC 9110 §9.1)
            raise DPoPError("dpop_htm_mismatch")
        # §4.3 (9): ignoring query and fragment, after RFC 3986 §6.2.2-3 normalisation.
        request_url = self._normalize(url)
        if not request_url or self._normalize(htu) != request_url:
            raise DPoPError("dpop_htu_mismatch")
        now = self._clock()
        if iat < now - self.max_age:  # §4.3 (11)
            raise DPoPError("dpop_iat_too_old")
        if iat > now + self.leeway:
            raise DPoPError("dpop_iat_in_future")
        expected = self._aths.get(access_token)
        if expected is None:
            digest = hashlib.sha256(access_token.encode("ascii", "replace")).digest()
            expected = b64url(digest).encode("ascii")
            if len(access_token) <= _ATH_CACHE_MAX_LEN:
                if len(self._aths) >= _ATH_CACHE_SIZE:
                    self._aths.clear()
                self._aths[access_token] = expected
        if not hmac.compare_digest(ath.encode("utf-8", "surrogatepass"), expected):
            raise DPoPError("dpop_ath_mismatch")  # §4.3 (12)
        return jti, iat


# A verified proof's (thumbprint, jti hash, iat, nonce): the fields of DPoPProof.
_Facts = tuple[str, str, float, str | None]


def _replay_key(facts: _Facts) -> str:
    return f"dpop:{facts[0]}:{facts[1]}"


def _decode(segment: str) -> dict[str, Any]:
    try:
        return json_object(b64decode(segment))
    except (ValueError, RecursionError):
        raise DPoPError("dpop_malformed") from None
