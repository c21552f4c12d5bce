"""End-to-end hardening through the framework-free middleware (ASGI and WSGI).

Arbitrary Authorization headers (raw bytes: CR/LF, NUL, latin-1, several lines), query and
form token parameters go through the real middleware in front of an app that must never be
reached; keys come over HTTP from the test issuer. Every answer is a 400/401 with the exact
RFC 6750 shape.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bearerguard import Verifier
from bearerguard.testing import Issuer

from ._contract import check_http_refusal, parse_challenge
from ._strategies import header_values

asgi = pytest.importorskip("bearerguard.middleware.asgi")
wsgi = pytest.importorskip("bearerguard.middleware.wsgi")

E2E = settings(
    deadline=None,
    max_examples=300,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

RAW_HEADERS = st.lists(
    st.one_of(
        header_values().map(lambda s: s.encode("utf-8", "surrogatepass")),
        header_values().map(lambda s: s.encode("latin-1", "replace")),
        st.binary(max_size=200),
    ),
    max_size=3,
)
PARAMS = st.lists(st.text(max_size=40), max_size=2)


class Unreachable(Exception):
    pass


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    raise Unreachable(f"the app was reached: {scope.get('path')}")


def _wsgi_app(environ: Any, start_response: Any) -> list[bytes]:
    raise Unreachable(f"the app was reached: {environ.get('PATH_INFO')}")


@pytest.fixture(scope="module")
def verifier(issuer: Issuer) -> Verifier:
    return Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_uri=issuer.jwks_uri,
        token_locations=("header", "query", "form"),
    )


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


def _asgi_request(
    runner: asyncio.Runner,
    app: Any,
    authorization: list[bytes],
    query: list[str],
    form: list[str] | None,
    path: str = "/api/private",
) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            headers = [(b"authorization", v) for v in authorization]
            url = path + ("?" + urlencode([("access_token", q) for q in query]) if query else "")
            if form is None:
                return await c.get(url, headers=headers)
            headers.append((b"content-type", b"application/x-www-form-urlencoded"))
            body = urlencode([("access_token", f) for f in form]).encode()
            return await c.post(url, headers=headers, content=body)

    return runner.run(go())


def _wsgi_request(
    app: Any, authorization: list[bytes], query: list[str], form: list[str] | None
) -> tuple[int, list[tuple[str, str]], bytes]:
    body = urlencode([("access_token", f) for f in form or []]).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET" if form is None else "POST",
        "PATH_INFO": "/api/private",
        "QUERY_STRING": urlencode([("access_token", q) for q in query]),
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if form is not None:
        environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        environ["CONTENT_LENGTH"] = str(len(body))
    if authorization:
        # What a WSGI server does with repeated lines: join with ", " (RFC 9110 §5.3), latin-1.
        environ["HTTP_AUTHORIZATION"] = ", ".join(v.decode("latin-1") for v in authorization)
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    content = b"".join(app(environ, start_response))
    return int(captured["status"].split()[0]), captured["headers"], content


@E2E
@given(authorization=RAW_HEADERS, query=PARAMS, form=st.none() | PARAMS)
def test_asgi_middleware_refuses_every_hostile_request(
    verifier: Verifier,
    runner: asyncio.Runner,
    authorization: list[bytes],
    query: list[str],
    form: list[str] | None,
) -> None:
    app = asgi.BearerAuthASGIMiddleware(_asgi_app, verifier=verifier, protect=("/",))
    r = _asgi_request(runner, app, authorization, query, form)
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in r.headers.raw]
    check_http_refusal(r.status_code, headers, r.content)


@E2E
@given(authorization=RAW_HEADERS, query=PARAMS, form=st.none() | PARAMS)
def test_wsgi_middleware_refuses_every_hostile_request(
    verifier: Verifier, authorization: list[bytes], query: list[str], form: list[str] | None
) -> None:
    app = wsgi.BearerAuthWSGIMiddleware(_wsgi_app, verifier=verifier, protect=("/",))
    check_http_refusal(*_wsgi_request(app, authorization, query, form))


# -- smuggling, end to end ---------------------------------------------------------------------

SMUGGLED = "x\r\nSet-Cookie: a=b"


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="bearerguard")
    # httpx is the test's client here: it logs the URL it requests (query tokens included).
    caplog.set_level(logging.WARNING, logger="httpx")
    return caplog


def _tokens(issuer: Issuer) -> dict[str, tuple[str, str]]:
    """name -> (token, exact reason)."""
    return {
        "expired_sub": (issuer.token(sub=SMUGGLED, expires_in=-3600), "expired"),
        "kid": (issuer.token(kid=SMUGGLED, key=issuer.current_key), "unknown_kid"),
        "typ": (issuer.token(typ=SMUGGLED), "invalid_typ"),
        "aud": (issuer.token(audience=SMUGGLED, claims={"name": SMUGGLED}), "invalid_audience"),
        "iss": (issuer.token(issuer=SMUGGLED), "invalid_issuer"),
    }


@pytest.mark.parametrize("case", ["expired_sub", "kid", "typ", "aud", "iss"])
def test_asgi_smuggled_text_never_reaches_response_or_logs(
    issuer: Issuer,
    verifier: Verifier,
    runner: asyncio.Runner,
    all_logs: pytest.LogCaptureFixture,
    case: str,
) -> None:
    token, reason = _tokens(issuer)[case]
    app = asgi.BearerAuthASGIMiddleware(_asgi_app, verifier=verifier)
    for query, auth in (([], [f"Bearer {token}".encode()]), ([token], [])):
        r = _asgi_request(runner, app, auth, query, None, path="/x")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in r.headers.raw]
        doc = check_http_refusal(r.status_code, headers, r.content, statuses=(401,))
        assert doc["reason"] == reason
        assert parse_challenge(r.headers["www-authenticate"])["error"] == "invalid_token"
        raw = b"\n".join(k + b": " + v for k, v in r.headers.raw) + b"\n" + r.content
        for secret in (token, SMUGGLED, "Set-Cookie", token.split(".")[1]):
            assert secret.encode() not in raw
    log_text = all_logs.text + "".join(repr(rec.args) for rec in all_logs.records)
    for secret in (token, SMUGGLED, token.split(".")[2]):
        assert secret not in log_text


@pytest.mark.parametrize("case", ["expired_sub", "kid", "typ", "aud", "iss"])
def test_wsgi_smuggled_text_never_reaches_response_or_logs(
    issuer: Issuer, verifier: Verifier, all_logs: pytest.LogCaptureFixture, case: str
) -> None:
    token, reason = _tokens(issuer)[case]
    app = wsgi.BearerAuthWSGIMiddleware(_wsgi_app, verifier=verifier)
    status, headers, content = _wsgi_request(app, [f"Bearer {token}".encode()], [], [])
    doc = check_http_refusal(status, headers, content, statuses=(401,))
    assert doc["reason"] == reason
    raw = repr(headers) + content.decode()
    for secret in (token, SMUGGLED, "Set-Cookie"):
        assert secret not in raw
    assert token not in all_logs.text and SMUGGLED not in all_logs.text
