"""RFC 6750 §2: find the access token in a request.

The functions here take plain strings (header values, parameter values) so
every adapter shares one set of rules.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from bearerguard.errors import InvalidRequest

__all__ = [
    "B64TOKEN",
    "BEARER",
    "DPOP",
    "FORM",
    "HEADER",
    "LOCATIONS",
    "QUERY",
    "authorization_values",
    "extract_credentials",
    "extract_token",
    "parse_authorization",
    "parse_credentials",
]

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_AUTH = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:( +)(.*))?", re.DOTALL)
# A piece of a comma-joined header that opens new credentials: a scheme alone,
# or a scheme, spaces and something other than "=" (an auth-param has "=").
_CREDENTIALS_START = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?: +[^ =]|$)")

HEADER, QUERY, FORM = "header", "query", "form"
BEARER, DPOP = "bearer", "dpop"
LOCATIONS = frozenset({HEADER, QUERY, FORM})


def authorization_values(value: str | Sequence[str] | None) -> list[str]:
    """Every ``Authorization`` credential of a request, one string each.

    Takes the header's values as the server hands them over: one string, or a list of
    field lines. Servers that fold repeated lines join them with ``,`` (RFC 9110 §5.3;
    every WSGI server does). Bearer and Basic credentials hold no comma and auth-params
    always carry ``=``, so a comma followed by a new scheme opens another credential:
    ``"Bearer x,Bearer y"`` is two. This is the one place the several-headers rule
    (RFC 6750 §2: a 400) is decided.
    """
    if value is None:
        return []
    if isinstance(value, str):
        if "," not in value:
            return [value]
        pieces = value.split(",")
        starts = [i for i, p in enumerate(pieces) if _CREDENTIALS_START.match(p.strip(" \t"))]
        if len(starts) < 2:
            return [value]
        starts[0] = 0
        ends = [*starts[1:], len(pieces)]
        return [",".join(pieces[a:b]) for a, b in zip(starts, ends, strict=True)]
    out: list[str] = []
    for item in value:
        out.extend(authorization_values(item))
    return out


def parse_credentials(value: str, schemes: Collection[str] = (BEARER,)) -> tuple[str, str] | None:
    """The (scheme, token) of one ``Authorization`` value, for the *schemes* accepted.

    Schemes are ``bearer`` (RFC 6750 §2.1) and ``dpop`` (RFC 9449 §7.1), both
    ``token68``-shaped and case-insensitive. Returns ``None`` for any other scheme (Basic,
    Digest…): no credentials. Raises :class:`InvalidRequest` for an accepted scheme without
    a token, with several parts, or with characters outside b64token.
    """
    if "," in value and len(authorization_values(value)) > 1:
        raise InvalidRequest("multiple_authorization_headers")
    value = value.strip(" \t")  # RFC 9110 §5.5: surrounding OWS is not part of the value
    m = _AUTH.fullmatch(value)
    if m is None:
        head = value[:6].lower()
        if head == "bearer" or (DPOP in schemes and head[:4] == "dpop"):
            raise InvalidRequest("malformed_authorization")
        return None
    scheme = m.group(1).lower()
    if scheme not in schemes:
        return None
    token = m.group(3)
    if not token:
        raise InvalidRequest("empty_token")
    if B64TOKEN.fullmatch(token) is None:
        raise InvalidRequest("malformed_authorization")
    return scheme, token


def parse_authorization(value: str) -> str | None:
    """Return the bearer token in one ``Authorization`` header value.

    Returns ``None`` when the header uses another scheme (Basic, Digest…),
    which counts as no bearer credentials. Raises :class:`InvalidRequest` for
    ``Bearer`` without a token, ``Bearer a b`` or characters outside b64token.
    """
    found = parse_credentials(value)
    return None if found is None else found[1]


def _one_param(values: Sequence[str]) -> str:
    if len(values) != 1:
        raise InvalidRequest("multiple_tokens")
    token = values[0]
    if not token:
        raise InvalidRequest("empty_token")
    if B64TOKEN.fullmatch(token) is None:
        raise InvalidRequest("malformed_parameter")
    return token


def extract_credentials(
    authorization: str | Sequence[str] | None,
    *,
    query: Sequence[str] | None = None,
    form: Sequence[str] | None = None,
    locations: Collection[str] = (HEADER,),
    schemes: Collection[str] = (BEARER,),
) -> tuple[str, str] | None:
    """Find the access token according to RFC 6750 §2.

    Args:
        authorization: the ``Authorization`` header value, or every value when
            the request carried several (several is a 400).
        query: the ``access_token`` query parameter values (§2.3). Pass them even when
            the query location is off: a token in the header *and* the URL is refused.
        form: the ``access_token`` form-body values (§2.2); adapters pass them
            only when the form location is on, for a form-encoded request body with a
            method other than GET (a body is never read just to look).
        locations: where tokens are accepted; query and form are opt-in.

    Returns (scheme, token) — the scheme is ``bearer`` for query and form tokens — or
    ``None`` when the request carries no credentials. *schemes*: the Authorization
    schemes accepted (``bearer``, ``dpop``).
    Raises :class:`InvalidRequest` when the request is malformed, including a
    token sent by more than one method (§2: clients MUST NOT do so).
    """
    found: list[tuple[str, str]] = []
    values = authorization_values(authorization)
    if values:
        if len(values) > 1:
            raise InvalidRequest("multiple_authorization_headers")
        if HEADER in locations:
            credentials = parse_credentials(values[0], schemes)
            if credentials is not None:
                found.append(credentials)
    if query:
        if QUERY in locations:
            found.append((BEARER, _one_param(query)))
        elif found:
            # RFC 6750 §2: a URL-borne token never slips by silently beside a header one,
            # even where URL tokens are not accepted. Alone, it is no credentials.
            raise InvalidRequest("multiple_tokens")
    if form and FORM in locations:
        found.append((BEARER, _one_param(form)))
    if len(found) > 1:
        raise InvalidRequest("multiple_tokens")
    return found[0] if found else None


def extract_token(
    authorization: str | Sequence[str] | None,
    *,
    query: Sequence[str] | None = None,
    form: Sequence[str] | None = None,
    locations: Collection[str] = (HEADER,),
) -> str | None:
    """The bearer token of a request (RFC 6750 §2), or ``None``: see :func:`extract_credentials`."""
    found = extract_credentials(authorization, query=query, form=form, locations=locations)
    return None if found is None else found[1]
