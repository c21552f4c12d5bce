"""Framework-free WSGI middleware (PEP 3333): bearer-token authentication on raw ``environ``."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from types import TracebackType
from typing import Any, Protocol, TypeAlias
from urllib.parse import quote

from bearerguard.extract import authorization_values
from bearerguard.middleware._common import (
    MAX_FORM_BYTES,
    content_length,
    is_form_request,
    middleware_setup,
    token_params,
)
from bearerguard.paths import PathRules
from bearerguard.pipeline import Decision
from bearerguard.requirements import Requirements
from bearerguard.verifier import Verifier

__all__ = [
    "ENVIRON_KEY",
    "BearerAuthWSGIMiddleware",
    "answer_metadata",
    "authorization_values",
    "decide_environ",
    "dpop_values",
    "read_credentials",
    "request_url",
    "send_refusal",
    "with_headers",
]

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
    with the RFC 6750 status, challenge and JSON body. Construction starts fetching the
    issuers' keys in the background (:meth:`Verifier.warm`). With ``BEARERGUARD_RESOURCE``
    set, the RFC 9728 metadata document is served at its well-known path before any
    authentication. Raises ``ValueError`` /
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
        # WSGI has no start-up event: the server builds the app once, at start.
        self.verifier.warm()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = _wsgi_path(environ)
        metadata = answer_metadata(self.verifier, environ, start_response, path)
        if metadata is not None:
            return metadata  # RFC 9728: the metadata document, before any authentication
        protected, exempt, requirements = self.rules.match(path)
        environ[ENVIRON_KEY] = None
        if exempt:
            return self.app(environ, start_response)
        # Unprotected paths still verify a token that is sent: an invalid one is refused.
        decision = decide_environ(
            self.verifier,
            environ,
            requirements=requirements,
            required=protected,
            max_form_bytes=self.max_form_bytes,
        )
        if decision.error is not None:
            return send_refusal(environ, start_response, decision.response())
        environ[ENVIRON_KEY] = decision.token
        if decision.headers:
            start_response = with_headers(start_response, decision.headers)
        return self.app(environ, start_response)


def answer_metadata(
    verifier: Verifier, environ: Environ, start_response: StartResponse, path: str | None = None
) -> Iterable[bytes] | None:
    """Answer an RFC 9728 metadata request (:meth:`Verifier.metadata`), or ``None``.

    *path*: the path the app routes on (default ``PATH_INFO``). The response is sent
    exactly as the core built it.
    """
    answer = verifier.metadata(
        environ.get("REQUEST_METHOD", "GET"), _wsgi_path(environ) if path is None else path
    )
    if answer is None:
        return None
    status, headers, body = answer
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [body]


def with_headers(
    start_response: StartResponse, headers: tuple[tuple[str, str], ...]
) -> StartResponse:
    """*start_response*, adding *headers* (a decision's, e.g. the next ``DPoP-Nonce``)."""

    def starter(
        status: str, response_headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
    ) -> Callable[[bytes], object]:
        return start_response(status, [*response_headers, *headers], exc_info)

    return starter


def request_url(environ: Environ) -> str:
    """The request URL as PEP 3333 reconstructs it (scheme, host, script name, path)."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "localhost")
        port = environ.get("SERVER_PORT", "")
        if port and port != {"http": "80", "https": "443"}.get(scheme):
            host = f"{host}:{port}"
    path = quote(environ.get("SCRIPT_NAME", "") + (environ.get("PATH_INFO") or ""), safe="/%")
    return f"{scheme}://{host}{path or '/'}"


def dpop_values(environ: Environ) -> list[str]:
    """Every ``DPoP`` header value: servers join repeated lines with ``,`` (RFC 9110 §5.3),
    which a compact JWS never holds, so each piece is one proof (several: a 401)."""
    value = environ.get("HTTP_DPOP")
    return [] if value is None else [p.strip(" \t") for p in value.split(",")]


def read_form(environ: Environ, max_form_bytes: int = MAX_FORM_BYTES) -> bytes:
    """Read a declared, bounded form body and put the same bytes back for the app."""
    length = content_length(environ.get("CONTENT_LENGTH"))
    if length is None or not 0 < length <= max_form_bytes:
        return b""  # no usable declared length (e.g. chunked): leave the stream alone
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


def read_credentials(
    verifier: Verifier, environ: Environ, max_form_bytes: int = MAX_FORM_BYTES
) -> tuple[str | None, list[str] | None, list[str] | None]:
    """The token-bearing facts of a WSGI request: (authorization, query, form).

    ``access_token`` query values are read whenever the query string names one; the
    form body only when ``form`` is a token location and the request is a form post.
    """
    query = form = None
    qs = environ.get("QUERY_STRING", "")
    if qs and "access_token" in qs:
        query = token_params(qs)
    if "form" in verifier.token_locations and is_form_request(
        environ.get("REQUEST_METHOD", "GET"), environ.get("CONTENT_TYPE")
    ):
        form = token_params(read_form(environ, max_form_bytes))
    return environ.get("HTTP_AUTHORIZATION"), query, form


def decide_environ(
    verifier: Verifier,
    environ: Environ,
    *,
    requirements: Requirements | None = None,
    required: bool = False,
    max_form_bytes: int = MAX_FORM_BYTES,
) -> Decision:
    """The core's decision for a WSGI request (what the Flask adapter uses too)."""
    authorization, query, form = read_credentials(verifier, environ, max_form_bytes)
    return verifier.decide(
        authorization,
        method=environ.get("REQUEST_METHOD", "GET"),
        url=lambda: request_url(environ),
        dpop=dpop_values(environ),
        query=query,
        form=form,
        requirements=requirements,
        required=required,
    )


def send_refusal(
    environ: Environ,
    start_response: StartResponse,
    response: tuple[int, list[tuple[str, str]], bytes],
) -> Iterable[bytes]:
    """Answer a refusal exactly as the core rendered it."""
    status, headers, body = response
    headers = [*headers, ("Content-Length", str(len(body)))]
    start_response(f"{status} {HTTPStatus(status).phrase}", headers)
    return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
