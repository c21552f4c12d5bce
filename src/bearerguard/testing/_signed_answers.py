"""The test issuer's RFC 9701 answers: introspection results as signed JWTs.

A client asking with ``Accept: application/token-introspection+jwt`` (RFC 9701 §4) gets a
JWS signed with the issuer's current key: header ``typ`` ``token-introspection+jwt``, claims
``iss`` (the issuer), ``aud`` (the client id), ``iat`` and the RFC 7662 answer under
``token_introspection`` (§5). ``Issuer.introspection_jwt_behaviour`` makes it misbehave, so
that a resource server's checks can be tested.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from ._keys import b64url

if TYPE_CHECKING:
    from .issuer import Issuer

#: RFC 9701 §4 and §5: the media type asked for and answered with.
JWT_MEDIA_TYPE = "application/token-introspection+jwt"
#: RFC 9701 §5: the JOSE header ``typ``.
JWT_TYP = "token-introspection+jwt"

#: Values of ``Issuer.introspection_jwt_behaviour``: ``ok`` (a correct signed answer),
#: ``plain`` (the RFC 7662 JSON even when a JWT is asked for), ``wrong_typ`` (``at+jwt``),
#: ``no_typ``, ``wrong_aud`` (another client), ``wrong_iss`` (another issuer), ``unsigned``
#: (``alg`` ``none``), ``bad_signature`` (the signature of other claims), ``stale`` (``iat``
#: an hour ago), ``no_claim`` (the answer's members at the top level, no
#: ``token_introspection``).
JWT_BEHAVIOURS = frozenset(
    {
        "ok",
        "plain",
        "wrong_typ",
        "no_typ",
        "wrong_aud",
        "wrong_iss",
        "unsigned",
        "bad_signature",
        "stale",
        "no_claim",
    }
)

SignedAnswer = tuple[int, "dict[str, Any] | bytes", dict[str, str]]


def wants_jwt(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for the RFC 9701 media type (q=0 refuses it)."""
    for item in (accept or "").split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() != JWT_MEDIA_TYPE:
            continue
        q = next((p[2:] for p in params if p.lower().startswith("q=")), "1")
        try:
            return float(q) > 0
        except ValueError:
            return False
    return False


def signed_answer(issuer: Issuer, client_id: str, answer: dict[str, Any]) -> SignedAnswer:
    """The RFC 9701 answer to *client_id* about a token whose RFC 7662 answer is *answer*."""
    behaviour = issuer.introspection_jwt_behaviour
    headers = {"Cache-Control": "no-store"}
    if behaviour == "plain":
        return 200, answer, headers
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer.issuer,
        "aud": client_id,
        "iat": now - 3600 if behaviour == "stale" else now,
        "token_introspection": answer,
    }
    typ: str | None = {"wrong_typ": "at+jwt", "no_typ": None}.get(behaviour, JWT_TYP)
    if behaviour == "wrong_aud":
        claims["aud"] = "another-client"
    elif behaviour == "wrong_iss":
        claims["iss"] = "https://another-issuer.example/"
    elif behaviour == "no_claim":
        del claims["token_introspection"]
        claims.update(answer)
    if behaviour == "unsigned":
        header: dict[str, Any] = {"alg": "none"}
        if typ is not None:
            header["typ"] = typ
        jwt = issuer.sign(header, claims)
    else:
        key = issuer.current_key
        header = {"alg": key.alg, "kid": key.kid}
        if typ is not None:
            header["typ"] = typ
        jwt = issuer.sign(header, claims, key)
        if behaviour == "bad_signature":
            # A real signature, over other claims: only the verification can tell.
            other = dict(claims, iat=claims["iat"] - 1)
            head, _, sig = jwt.split(".")
            payload = b64url(json.dumps(other, separators=(",", ":")).encode())
            jwt = f"{head}.{payload}.{sig}"
    headers["Content-Type"] = JWT_MEDIA_TYPE
    return 200, jwt.encode("ascii"), headers
