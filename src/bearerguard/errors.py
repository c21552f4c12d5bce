"""The bearerguard error tree.

Every refusal is a :class:`BearerError` carrying the HTTP status, the RFC 6750
error code, a fixed description and a stable machine ``reason``. The core
builds the whole response (status, headers, JSON body); adapters only render
it. Descriptions are constants chosen per reason: no token content, claim or
key material ever reaches a message.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any, ClassVar

from bearerguard.challenge import render, render_challenge

__all__ = [
    "DEFAULT_REALM",
    "DESCRIPTIONS",
    "BearerError",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "InvalidRequest",
    "InvalidToken",
    "KeysUnavailable",
    "MissingToken",
    "Responses",
    "StateUnavailable",
    "Unavailable",
    "error_response",
]

DEFAULT_REALM = "api"

#: reason -> fixed description. The reason codes are part of the public API:
#: they never change meaning.
DESCRIPTIONS: dict[str, str] = {
    # 401 bare challenge
    "missing_token": "Authentication required",
    # 400 invalid_request
    "empty_token": "The Bearer scheme was sent without a token",
    "malformed_authorization": "The Authorization header is not a valid Bearer credential",
    "multiple_authorization_headers": "The request carries more than one Authorization credential",
    "multiple_tokens": "The access token was sent by more than one method",
    "malformed_parameter": "The access_token parameter is malformed",
    "multiple_credentials": "The request carries credentials for more than one identity",
    # 401 invalid_token
    "token_too_large": "The access token is too large",
    "malformed_token": "The access token is not a well-formed JWT",
    "jwe_not_supported": "Encrypted tokens (JWE) are not accepted",
    "alg_none": "Unsigned tokens are not accepted",
    "alg_not_allowed": "The token's signing algorithm is not allowed",
    "crit_unsupported": "The token has critical header parameters that are not understood",
    "unknown_kid": "The token was signed with an unknown key",
    "ambiguous_key": "The token names no key and several keys could apply",
    "key_alg_mismatch": "The token's algorithm does not fit its key",
    "weak_key": "The token was signed with a key that is too weak",
    "bad_signature": "The token signature is invalid",
    "invalid_typ": "The token type is not accepted",
    "invalid_issuer": "The token was issued by an untrusted issuer",
    "invalid_audience": "The token is not intended for this API",
    "id_token_presented": "An ID token was presented; send the access token instead",
    "expired": "The access token expired",
    "not_yet_valid": "The access token is not valid yet",
    "issued_in_future": "The access token was issued in the future",
    "missing_claim": "The access token lacks a required claim",
    "invalid_claim": "The access token has a claim of the wrong type",
    # 401 invalid_token: provider presets (bearerguard.providers)
    "okta_org_server": "The token is from Okta's org authorization server, meant for Okta's own APIs",
    "keycloak_default_audience": "The token's audience is Keycloak's default 'account': an audience mapper must add this API",
    "tenant_mismatch": "The token's tenant does not match the tenant of its issuer",
    # 403 insufficient_scope
    "insufficient_scope": "The access token lacks a required scope",
    "claim_requirement_failed": "The access token does not meet this resource's requirements",
    "insufficient_role": "The access token lacks a required role",
    # 401 insufficient_user_authentication (RFC 9470 §3)
    "acr_missing": "The access token does not say how the user authenticated",
    "acr_not_accepted": "A stronger user authentication is required",
    "auth_time_missing": "The access token does not say when the user authenticated",
    "auth_too_old": "A more recent user authentication is required",
    # 401 invalid_token: sender-constrained tokens (RFC 9449, RFC 8705)
    "bound_token": "The access token is bound to a key; present it with the DPoP scheme and a proof",
    "dpop_required": "This API accepts only DPoP-bound access tokens with a DPoP proof",
    "dpop_unbound_token": "The access token is not bound to the DPoP proof's key",
    # 401 invalid_dpop_proof / use_dpop_nonce (RFC 9449 §7.1, §9)
    "dpop_proof_missing": "The DPoP scheme requires a DPoP proof header",
    "dpop_multiple_proofs": "The request carries more than one DPoP proof",
    "dpop_proof_too_large": "The DPoP proof is too large",
    "dpop_malformed": "The DPoP proof is not a well-formed JWT",
    "dpop_invalid_typ": "The DPoP proof's type is not dpop+jwt",
    "dpop_alg_not_allowed": "The DPoP proof's signing algorithm is not allowed",
    "dpop_crit_unsupported": "The DPoP proof has critical header parameters that are not understood",
    "dpop_invalid_jwk": "The DPoP proof's jwk header is not a usable public key",
    "dpop_bad_signature": "The DPoP proof signature is invalid",
    "dpop_missing_claim": "The DPoP proof lacks a required claim",
    "dpop_invalid_claim": "The DPoP proof has a claim of the wrong type or size",
    "dpop_htm_mismatch": "The DPoP proof was made for another HTTP method",
    "dpop_htu_mismatch": "The DPoP proof was made for another URL",
    "dpop_ath_mismatch": "The DPoP proof was made for another access token",
    "dpop_iat_too_old": "The DPoP proof is too old",
    "dpop_iat_in_future": "The DPoP proof was issued in the future",
    "dpop_key_mismatch": "The DPoP proof key is not the key the access token is bound to",
    "dpop_replayed": "The DPoP proof was already used",
    "dpop_nonce_required": "A DPoP nonce is required",
    "dpop_nonce_stale": "The DPoP nonce is not current",
    # 401 invalid_token: introspection (RFC 7662)
    "token_inactive": "The access token is not active",
    "invalid_token_type": "The token is not an access token",
    # 503
    "keys_unavailable": "The signing keys cannot be retrieved right now",
    "store_unavailable": "The shared state store cannot be reached right now",
    "introspection_unavailable": "The access token cannot be checked right now",
    # 503: RFC 9701 signed introspection answers that fail their checks
    "introspection_response_unsigned": (
        "The authorization server's introspection answer is not signed"
    ),
    "introspection_response_bad_signature": (
        "The authorization server's introspection answer has an invalid signature"
    ),
    "introspection_response_invalid": (
        "The authorization server's introspection answer is not a valid signed answer"
    ),
}

#: Schemes a request can authenticate with, as ``BearerError.scheme`` names them.
BEARER, DPOP = "bearer", "dpop"


class BearerError(Exception):
    """Base of every refusal.

    Attributes: ``status_code`` (HTTP status), ``error`` (RFC 6750 code or
    ``None``), ``reason`` (stable machine code), ``description`` (fixed text),
    ``scopes`` (for 403), ``realm`` (only for :meth:`headers` used on its own: a
    verifier renders every refusal with its own settings, see :class:`Responses`).
    """

    status_code: ClassVar[int] = 401
    error: ClassVar[str | None] = None

    def __init__(
        self, reason: str, *, realm: str | None = None, scopes: tuple[str, ...] = ()
    ) -> None:
        self.reason = reason
        self.description = DESCRIPTIONS.get(reason, reason)
        self.realm = DEFAULT_REALM if realm is None else realm
        self.scopes = scopes
        #: the scheme of the request that was refused (its challenge carries the error)
        self.scheme = BEARER
        #: the verified token, for a refusal of authorization (403): logged, never rendered
        self.token: Any = None
        super().__init__(reason)

    def __str__(self) -> str:
        return f"{self.reason}: {self.description}"

    def challenge(self, realm: str | None, scopes: Iterable[str] = ()) -> str | None:
        """The ``WWW-Authenticate`` value in *realm* (``None`` when none is sent).

        *scopes* stand in for the refusal's own when it names none.
        """
        return render(
            realm, self.error, self.description if self.error else None, self.scopes or scopes
        )

    @property
    def www_authenticate(self) -> str | None:
        """The ``WWW-Authenticate`` header value (``None`` when none is sent)."""
        return self.challenge(self.realm)

    def extra_headers(self) -> dict[str, str]:
        """Headers this refusal adds besides the challenge (``Retry-After``…)."""
        return {}

    def challenge_params(self) -> tuple[tuple[str, str], ...]:
        """Challenge parameters of this refusal besides error, description and scope."""
        return ()

    def headers(self) -> dict[str, str]:
        """All response headers for this refusal, in its own ``realm``."""
        return Responses(self.realm).headers(self)

    def body_dict(self) -> dict[str, str]:
        """The JSON body as a dict: ``error`` (left out when there is none: no
        credentials, 503), ``error_description`` and ``reason``."""
        if self.error is None:
            return {"error_description": self.description, "reason": self.reason}
        return {"error": self.error, "error_description": self.description, "reason": self.reason}

    def body(self) -> bytes:
        """The JSON body, encoded."""
        return json.dumps(self.body_dict(), separators=(",", ":")).encode()


class MissingToken(BearerError):
    """No credentials: 401 with a bare challenge (RFC 6750 §3.1)."""

    status_code = 401
    error = None

    def __init__(self, reason: str = "missing_token", *, realm: str | None = None) -> None:
        super().__init__(reason, realm=realm)


class InvalidRequest(BearerError):
    """A malformed request: 400 ``invalid_request``."""

    status_code = 400
    error = "invalid_request"


class InvalidToken(BearerError):
    """A token that fails verification: 401 ``invalid_token``."""

    status_code = 401
    error = "invalid_token"


class InsufficientScope(BearerError):
    """A valid token that does not meet the route's requirements: 403."""

    status_code = 403
    error = "insufficient_scope"

    def __init__(
        self,
        reason: str = "insufficient_scope",
        *,
        scopes: tuple[str, ...] = (),
        realm: str | None = None,
    ) -> None:
        super().__init__(reason, realm=realm, scopes=scopes)


class InsufficientUserAuthentication(BearerError):
    """The user's authentication is too weak or too old for the route (RFC 9470 §3): 401.

    Attributes: ``acr_values`` (accepted ``acr`` values, in order of preference) and
    ``max_age`` (seconds, or ``None``): the challenge names them (``acr_values="…"``,
    ``max_age="…"``) so the client can ask the authorization server for a fresh,
    stronger sign-in. Reasons: ``acr_missing``, ``acr_not_accepted``,
    ``auth_time_missing``, ``auth_too_old``.

    Entra ID does not implement RFC 9470: it answers with a ``claims`` challenge
    (``error="insufficient_claims"``, a base64 ``claims`` parameter naming ``acrs``);
    bearerguard sends the standard challenge only.
    """

    status_code = 401
    error = "insufficient_user_authentication"

    def __init__(
        self,
        reason: str,
        *,
        acr_values: tuple[str, ...] = (),
        max_age: int | None = None,
        realm: str | None = None,
    ) -> None:
        super().__init__(reason, realm=realm)
        self.acr_values = acr_values
        self.max_age = max_age

    def challenge_params(self) -> tuple[tuple[str, str], ...]:
        """RFC 9470 §3: ``acr_values`` (space-separated) and ``max_age`` (an integer)."""
        out: list[tuple[str, str]] = []
        if self.acr_values:
            out.append(("acr_values", " ".join(self.acr_values)))
        if self.max_age is not None:
            out.append(("max_age", str(self.max_age)))
        return tuple(out)

    def challenge(self, realm: str | None, scopes: Iterable[str] = ()) -> str | None:
        return render_challenge(
            "Bearer",
            realm=realm,
            error=self.error,
            description=self.description,
            scopes=scopes,
            extra=self.challenge_params(),
        )


class Unavailable(BearerError):
    """Something the decision needs cannot be had right now: 503, ``Retry-After``.

    The token is not to blame, so no ``WWW-Authenticate`` is sent. Subclasses say what
    is missing: :class:`KeysUnavailable`, :class:`StateUnavailable`.
    """

    status_code = 503
    error = None

    def __init__(self, reason: str, *, retry_after: int = 30, realm: str | None = None) -> None:
        super().__init__(reason, realm=realm)
        self.retry_after = max(1, int(retry_after))

    def challenge(self, realm: str | None, scopes: Iterable[str] = ()) -> str | None:
        return None

    def extra_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class StateUnavailable(Unavailable):
    """The shared store (DPoP replay, caches) cannot be reached: fail closed, 503."""

    def __init__(
        self, reason: str = "store_unavailable", *, retry_after: int = 5, realm: str | None = None
    ) -> None:
        super().__init__(reason, retry_after=retry_after, realm=realm)


class KeysUnavailable(Unavailable):
    """The signing keys cannot be had: 503 with ``Retry-After``, no challenge."""

    def __init__(
        self, reason: str = "keys_unavailable", *, retry_after: int = 30, realm: str | None = None
    ) -> None:
        super().__init__(reason, retry_after=retry_after, realm=realm)


@dataclasses.dataclass(frozen=True)
class Responses:
    """How one configuration answers refusals: the realm and every challenge parameter.

    The one place a refusal becomes a response (status, headers, JSON body); every
    adapter renders what this returns and nothing else.

    Args:
        realm: the ``realm`` of the Bearer challenge.
        dpop: ``off``, ``allowed`` or ``required`` (RFC 9449): which schemes are offered.
            With both, one ``WWW-Authenticate`` carries both challenges (RFC 9110 §11.6.1)
            and the error goes on the challenge of the scheme the request used.
        dpop_algs: the proof algorithms offered (``DPoP algs="…"``, RFC 9449 §7.1).
        resource_metadata: RFC 9728 §5.1: the metadata URL named in every challenge.
    """

    realm: str = DEFAULT_REALM
    dpop: str = "off"
    dpop_algs: tuple[str, ...] = ()
    resource_metadata: str | None = None

    def challenge(self, err: BearerError, scopes: Iterable[str] = ()) -> str | None:
        """The ``WWW-Authenticate`` value for *err* (``None``: no challenge, e.g. 503).

        *scopes* are the route's: a 401 or 403 names them (``scope="…"``) when *err*
        names none itself (a 403 for missing scopes names exactly those it needs). A
        bare challenge (no credentials) carries them in every scheme offered; otherwise
        the challenge carrying the error does. Never ``scope=""``.
        """
        if err.challenge(None) is None:
            return None
        bearer, dpop = self.dpop != "required", self.dpop != "off"
        on_dpop = dpop and (err.scheme == DPOP or not bearer)
        error, description = err.error, err.description if err.error else None
        scope = err.scopes or (tuple(scopes) if err.status_code in (401, 403) else ())
        meta = (("resource_metadata", self.resource_metadata),) if self.resource_metadata else ()
        # RFC 6750 §3 puts scope beside an error; without one it rides as a plain param.
        bare = (("scope", " ".join(scope)),) if scope and error is None else ()
        params = err.challenge_params()  # RFC 9470 §3: acr_values, max_age
        algs = (("algs", " ".join(self.dpop_algs)),) if self.dpop_algs else ()
        out = []
        if bearer:
            if on_dpop:
                out.append(render_challenge("Bearer", realm=self.realm, extra=meta))
            else:
                out.append(
                    render_challenge(
                        "Bearer",
                        realm=self.realm,
                        error=error,
                        description=description,
                        scopes=scope,
                        extra=bare + params + meta,
                    )
                )
        if dpop:
            if on_dpop:
                out.append(
                    render_challenge(
                        "DPoP",
                        error=error,
                        description=description,
                        scopes=scope,
                        extra=bare + params + algs + meta,
                    )
                )
            else:
                out.append(render_challenge("DPoP", extra=bare + algs + meta))
        return ", ".join(out)

    def headers(self, err: BearerError, scopes: Iterable[str] = ()) -> dict[str, str]:
        """Every response header for *err* (*scopes*: the route's, when *err* names none)."""
        h = {"Content-Type": "application/json", "Cache-Control": "no-store"}
        challenge = self.challenge(err, scopes)
        if challenge is not None:
            h["WWW-Authenticate"] = challenge
        h.update(err.extra_headers())
        return h

    def render(
        self, err: BearerError, scopes: Iterable[str] = ()
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, body) for *err*."""
        return err.status_code, list(self.headers(err, scopes).items()), err.body()


def error_response(err: BearerError) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) for a refusal on its own, in its ``realm`` (default ``api``)."""
    return Responses(err.realm).render(err)
