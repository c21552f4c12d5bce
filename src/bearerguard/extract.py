"""RFC 6750 §2: find the access token in a request.

The functions here take plain strings (header values, parameter values) so
every adapter shares one set of rules.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from bearerguard.errors import InvalidRequest

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_AUTH = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:( +)(.*))?", re.DOTALL)

HEADER, QUERY, FORM = "header", "query", "form"
LOCATIONS = frozenset({HEADER, QUERY, FORM})


def parse_authorization(value: str) -> str | None:
    """Return the bearer token in one ``Authorization`` header value.

    Returns ``None`` when the header uses another scheme (Basic, Digest…),
    which counts as no bearer credentials. Raises :class:`InvalidRequest` for
    ``Bearer`` without a token, ``Bearer a b`` or characters outside b64token.
    """
    value = value.strip(" \t")  # RFC 9110 §5.5: surrounding OWS is not part of the value
    # Authorization is a singleton field; a server that joins repeated field
    # lines with "," (RFC 9110 §5.3: WSGI servers do) hands us "Bearer x,Bearer y".
    # b64token has no ",", so a Bearer value with one is several credentials.
    if "," in value and any(p.strip(" \t")[:6].lower() == "bearer" for p in value.split(",")):
        raise InvalidRequest("multiple_authorization_headers")
    m = _AUTH.fullmatch(value)
    if m is None:
        if value[:6].lower() == "bearer":
            raise InvalidRequest("malformed_authorization")
        return None
    if m.group(1).lower() != "bearer":
        return None
    token = m.group(3)
    if not token:
        raise InvalidRequest("empty_token")
    if B64TOKEN.fullmatch(token) is None:
        raise InvalidRequest("malformed_authorization")
    return token


def _one_param(values: Sequence[str]) -> str:
    if len(values) != 1:
        raise InvalidRequest("multiple_tokens")
    token = values[0]
    if not token:
        raise InvalidRequest("empty_token")
    if B64TOKEN.fullmatch(token) is None:
        raise InvalidRequest("malformed_parameter")
    return token


def extract_token(
    authorization: str | Sequence[str] | None,
    *,
    query: Sequence[str] | None = None,
    form: Sequence[str] | None = None,
    locations: Collection[str] = (HEADER,),
) -> str | None:
    """Find the access token according to RFC 6750 §2.

    Args:
        authorization: the ``Authorization`` header value, or every value when
            the request carried several (several is a 400).
        query: the ``access_token`` query parameter values (§2.3).
        form: the ``access_token`` form-body values (§2.2); adapters pass them
            only for a form-encoded request body with a method other than GET.
        locations: where tokens are accepted; query and form are opt-in.

    Returns the token, or ``None`` when the request carries no credentials.
    Raises :class:`InvalidRequest` when the request is malformed, including a
    token sent by more than one method (§2: clients MUST NOT do so).
    """
    found: list[str] = []
    if isinstance(authorization, str):
        authorization = (authorization,)
    if authorization:
        if len(authorization) > 1:
            raise InvalidRequest("multiple_authorization_headers")
        if HEADER in locations:
            token = parse_authorization(authorization[0])
            if token is not None:
                found.append(token)
    if query and QUERY in locations:
        found.append(_one_param(query))
    if form and FORM in locations:
        found.append(_one_param(form))
    if len(found) > 1:
        raise InvalidRequest("multiple_tokens")
    return found[0] if found else None
