"""Framework-free WSGI middleware (PEP 3333): bearer-token authentication on raw ``environ``."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, Protocol, TypeAlias

from bearerguard.errors import BearerError
from bearerguard.middleware._common import (
    MAX_FORM_BYTES,
    PathRules,
    content_length,
    is_form_request,
    middleware_setup,
    token_params,
)
from bearerguard.requirements import Requirements
from bearerguard.tokens import AccessToken
from bearerguard.verifier import Verifier, error_response

__all__ = ["ENVIRON_KEY", "BearerAuthWSGIMiddleware", "authorization_values"]

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType]
OptExcInfo: TypeAlias = ExcInfo | tuple[None, None, None]
Environ: TypeAlias = dict[str, Any]


class StartResponse(Protocol):
    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = ..., /
    ) -> Callable[[bytes], object]: ...


WSGIApp: TypeAlias = Callable[[Environ, StartResponse], Iterable[bytes]]

#: Where the verified :class:`~bearerguard.AccessToken` (or ``None``) is put.
ENVIRON_KEY = "bearerguard.access_token"

# A piece of a comma-joined header that opens new credentials: a scheme alone,
# or a scheme, spaces and something other than "=" (an auth-param has "=").
_CREDENTIALS_START = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(?: +[^ =]|$)")


def authorization_values(value: str | None) -> list[str]:
    """Split an ``Authorization`` value that a WSGI server joined with commas.

    WSGI servers fold repeated header lines into one ``HTTP_AUTHORIZATION``
    joined by ``,`` (RFC 9110 §5.3). Bearer and Basic credentials can hold no
    comma, auth-params always carry ``=``; so a comma followed by a new scheme
    shows that several headers were sent, which RFC 6750 refuses with a 400.
    Returns one value per header (``[]`` when there is none).
    """
    if value is None:
        return []
    if "," not in value:
        return [value]
    pieces = value.split(",")
    starts = [i for i, p in enumerate(pieces) if _CREDENTIALS_START.match(p.strip(" \t"))]
    if len(starts) < 2:
        return [value]
    starts[0] = 0
    return [",".join(pieces[a:b]) for a, b in zip(starts, [*starts[1:], len(pieces)], strict=True)]


def _wsgi_path(environ: Environ) -> str:
    # PEP 3333 strings carry bytes as latin-1; prefixes are ordinary text.
    raw = environ.get("PATH_INFO") or "/"
    try:
        return str(raw.encode("latin-1").decode("utf-8"))
    except UnicodeError:
        return str(raw)


class BearerAuthWSGIMiddleware:
    """Authenticate bearer tokens in front of any WSGI app.

    Example::

        from bearerguard import Requirements, Settings, Verifier
        from bearerguard.middleware.wsgi import BearerAuthWSGIMiddleware
        app = BearerAuthWSGIMiddleware(app, verifier=Verifier(Settings.from_env()),
                                       exempt=["/health"],
                                       requirements={"/admin": Requirements(scopes="admin")})

    Args:
        app: the WSGI app to protect.
        verifier: a :class:`~bearerguard.Verifier`; or pass its settings as
            keywords (``issuer=...``, ``audience=...``), not both.
        protect: path prefixes needing a valid token (default: everything).
        exempt: path prefixes passed through untouched (the token is ``None``).
        requirements: path prefix -> :class:`~bearerguard.Requirements`; the
            longest matching prefix applies, and its paths are protected.
        max_form_bytes: larger form bodies are not searched for a token.

    Prefixes match whole segments (``/api`` covers ``/api/x``, not ``/apix``)
    against ``PATH_INFO``. Elsewhere a token is optional but must be valid when
    sent. The app finds the :class:`~bearerguard.AccessToken` (or ``None``)
    under ``environ["bearerguard.access_token"]``; refusals are answered here
    with the RFC 6750 status, challenge and JSON body. Raises ``ValueError`` /
    ``TypeError`` for bad configuration. Put CORS middleware outside this one,
    so that preflight requests are answered before authentication.
    """

    def __init__(
        self,
        app: WSGIApp,
        *,
        verifier: Verifier | None = None,
        protect: str | Iterable[str] = ("/",),
        exempt: str | Iterable[str] = (),
        requirements: Mapping[str, Requirements] | None = None,
        max_form_bytes: int = MAX_FORM_BYTES,
        **settings: Any,
    ) -> None:
        self.app = app
        self.verifier, self.max_form_bytes = middleware_setup(verifier, settings, max_form_bytes)
        self.rules = PathRules(protect, exempt, requirements)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = _wsgi_path(environ)
        protected = self.rules.protects(path)
        environ[ENVIRON_KEY] = None
        if not protected and self.rules.exempts(path):
            return self.app(environ, start_response)
        try:
            token = self._authenticate(environ)
            if token is None:
                if protected:
                    raise self.verifier.missing()  # RFC 6750 §3.1: bare challenge
            else:
                for requirements in self.rules.requirements_for(path):
                    self.verifier.authorize(token, requirements)
        except BearerError as err:
            return self._refuse(environ, start_response, err)
        environ[ENVIRON_KEY] = token
        return self.app(environ, start_response)

    def _authenticate(self, environ: Environ) -> AccessToken | None:
        locations = self.verifier.token_locations
        query = form = None
        if "query" in locations:
            query = token_params(environ.get("QUERY_STRING", ""))
        if "form" in locations and is_form_request(
            environ.get("REQUEST_METHOD", "GET"), environ.get("CONTENT_TYPE")
        ):
            form = token_params(self._read_form(environ))
        header = authorization_values(environ.get("HTTP_AUTHORIZATION"))
        return self.verifier.authenticate(header, query=query, form=form)

    def _read_form(self, environ: Environ) -> bytes:
        """Read the form body and put the same bytes back for the app (RFC 6750 §2.2)."""
        length = content_length(environ.get("CONTENT_LENGTH"))
        if length is None:
            return b""  # no usable declared length (e.g. chunked): leave the stream alone
        if not 0 < length <= self.max_form_bytes:
            return b""
        stream = environ["wsgi.input"]
        chunks: list[bytes] = []
        remaining = length
        while remaining > 0:
            chunk = stream.read(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        body = b"".join(chunks)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return body

    def _refuse(
        self, environ: Environ, start_response: StartResponse, err: BearerError
    ) -> Iterable[bytes]:
        status, headers, body = error_response(err)
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
