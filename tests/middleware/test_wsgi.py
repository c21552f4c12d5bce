"""BearerAuthWSGIMiddleware: path rules, refusals, form-body replay; wsgiref and gunicorn servers."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.util import setup_testing_defaults

import pytest

from bearerguard import ClaimEquals, Requirements, Verifier
from bearerguard.middleware.wsgi import (
    ENVIRON_KEY,
    BearerAuthWSGIMiddleware,
    StartResponse,
    authorization_values,
)
from bearerguard.testing import Issuer
from tests.contract.servers import request as fetch
from tests.contract.servers import serve_app
from tests.expect import DPOP_CHALLENGE, challenge
from tests.expect import check_raw as refused

AUD = "https://api.example.com"
ROOT = Path(__file__).resolve().parents[2]
MISSING = (challenge(), None, "missing_token")


def echo(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Echo what the app sees: the token's subject, the path and the body bytes."""
    token = environ[ENVIRON_KEY]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    data = environ["wsgi.input"].read(length) if length else b""
    out = json.dumps(
        {
            "sub": None if token is None else token.subject,
            "path": environ["PATH_INFO"],
            "body": data.decode("latin-1"),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [out]


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD) as iss:
        yield iss


@pytest.fixture(scope="module")
def verifier(issuer: Issuer) -> Verifier:
    return Verifier(
        issuer=issuer.issuer,
        audience=AUD,
        jwks_uri=issuer.jwks_uri,
        token_locations="header,query,form",
    )


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run *app* under wsgiref on 127.0.0.1 in a thread; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, server_class=WSGIServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def ok(resp: tuple[int, http.client.HTTPMessage, bytes]) -> dict[str, Any]:
    assert resp[0] == 200, resp[2]
    data: dict[str, Any] = json.loads(resp[2])
    return data


def auth(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


# -- construction ------------------------------------------------------------------------


def test_settings_as_keywords(issuer: Issuer) -> None:
    mw = BearerAuthWSGIMiddleware(echo, issuer=issuer.issuer, audience=AUD, realm="messages")
    assert mw.verifier.settings.realm == "messages"
    status, headers, out, _ = call(mw)
    assert status == "401 Unauthorized"
    assert ("WWW-Authenticate", f'Bearer realm="messages", {DPOP_CHALLENGE}') in headers
    assert out == (b'{"error_description":"Authentication required","reason":"missing_token"}')


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"audience": AUD}, ValueError, "BEARERGUARD_ISSUER is required"),
        ({"protect": "api"}, ValueError, "starting with '/'"),
        ({"protect": ["/api"], "exempt": ["/api/"]}, ValueError, "both protected and exempt"),
        ({"requirements": {"/api": ["read"]}}, TypeError, "Requirements"),
        ({"max_form_bytes": "big"}, TypeError, "max_form_bytes"),
        ({"max_form_bytes": -1}, ValueError, "max_form_bytes"),
        ({"issuer": "https://i.example/", "audience": AUD}, TypeError, "not both"),
    ],
)
def test_bad_configuration(
    verifier: Verifier, kwargs: dict[str, Any], exc: type[Exception], message: str
) -> None:
    if "audience" not in kwargs or "issuer" in kwargs:
        kwargs["verifier"] = verifier
    with pytest.raises(exc, match=message):
        BearerAuthWSGIMiddleware(echo, **kwargs)


def test_verifier_and_settings_together(verifier: Verifier) -> None:
    with pytest.raises(TypeError, match="not both"):
        BearerAuthWSGIMiddleware(echo, verifier=verifier, audience=AUD)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("Bearer abc", ["Bearer abc"]),
        ("Bearer a,Bearer b", ["Bearer a", "Bearer b"]),
        ("Bearer a, Bearer b", ["Bearer a", " Bearer b"]),
        ("Basic dXNlcg==,Bearer b", ["Basic dXNlcg==", "Bearer b"]),
        (
            'Digest username="u", realm="r", nonce = "n"',
            ['Digest username="u", realm="r", nonce = "n"'],
        ),
        ("Bearer a,", ["Bearer a,"]),
        ("Bearer,Bearer x", ["Bearer", "Bearer x"]),
    ],
)
def test_authorization_values(value: str | None, expected: list[str]) -> None:
    assert authorization_values(value) == expected


# -- over a real server (wsgiref) --------------------------------------------------------


@pytest.fixture(scope="module")
def server(verifier: Verifier) -> Iterator[str]:
    app = BearerAuthWSGIMiddleware(
        echo,
        verifier=verifier,
        protect=["/api"],
        exempt=["/api/public", "/health"],
        requirements={
            "/api/messages": Requirements(scopes=["read:messages"]),
            "/api/messages/drafts": Requirements(scopes="write:messages"),
            "/api/tenant": Requirements(claims=[ClaimEquals("tenant", "acme")]),
            "/reports": Requirements(any_scopes=["admin", "auditor"]),
        },
        max_form_bytes=1024,
    )
    with serve(app) as url:
        yield url


def test_protected_prefix(server: str, issuer: Issuer) -> None:
    refused(fetch(server, "GET", "/api"), 401, *MISSING)
    refused(fetch(server, "POST", "/api/anything/deeper"), 401, *MISSING)
    basic = [("Authorization", "Basic dXNlcjpwYXNz")]
    refused(fetch(server, "GET", "/api/x", basic), 401, *MISSING)
    assert ok(fetch(server, "GET", "/api/x", auth(issuer.token(sub="ann"))))["sub"] == "ann"


def test_prefixes_match_whole_segments(server: str, issuer: Issuer) -> None:
    # "/apix" is not under "/api": authentication is optional there.
    assert ok(fetch(server, "GET", "/apix")) == {"sub": None, "path": "/apix", "body": ""}
    assert ok(fetch(server, "GET", "/apix", auth(issuer.token(sub="ann"))))["sub"] == "ann"
    bad = auth(issuer.token(expires_in=-3600))
    refused(
        fetch(server, "GET", "/apix", bad),
        401,
        challenge("invalid_token", "expired"),
        "invalid_token",
        "expired",
    )
    assert ok(fetch(server, "GET", "/api/publicity", auth(issuer.token())))["sub"] == "user-1"
    refused(fetch(server, "GET", "/api/publicity"), 401, *MISSING)


def test_exempt_paths_are_not_touched(server: str) -> None:
    junk = [("Authorization", "Bearer a b")]
    assert ok(fetch(server, "GET", "/api/public", junk))["sub"] is None
    assert ok(fetch(server, "POST", "/api/public/deeper/", junk))["sub"] is None
    assert ok(fetch(server, "GET", "/health", junk))["sub"] is None


@pytest.mark.parametrize(
    "path",
    ["/api/public/../secret", "//api/secret", "/api/public/%2e%2e/secret", "/health/../api/x"],
)
def test_dot_segments_cannot_escape_into_exempt(server: str, path: str) -> None:
    refused(fetch(server, "GET", path), 401, *MISSING)


def test_requirements_longest_prefix_wins(server: str, issuer: Issuer) -> None:
    reader = auth(issuer.token(scopes=["read:messages"]))
    writer = auth(issuer.token(scopes=["write:messages"]))
    assert ok(fetch(server, "GET", "/api/messages/1", reader))["path"] == "/api/messages/1"
    www = challenge("insufficient_scope", scope="read:messages")
    refused(
        fetch(server, "GET", "/api/messages", writer),
        403,
        www,
        "insufficient_scope",
        "insufficient_scope",
    )
    www = challenge("insufficient_scope", scope="write:messages")
    refused(
        fetch(server, "GET", "/api/messages/drafts/2", reader),
        403,
        www,
        "insufficient_scope",
        "insufficient_scope",
    )
    assert ok(fetch(server, "GET", "/api/messages/drafts", writer))["sub"] == "user-1"
    # A requirements prefix outside `protect` is protected too.
    www = challenge(scope="admin auditor")
    refused(fetch(server, "GET", "/reports/2024"), 401, www, None, "missing_token")
    www = challenge("insufficient_scope", scope="admin auditor")
    refused(
        fetch(server, "GET", "/reports", reader),
        403,
        www,
        "insufficient_scope",
        "insufficient_scope",
    )
    assert (
        ok(fetch(server, "GET", "/reports", auth(issuer.token(scopes=["auditor"]))))["path"]
        == "/reports"
    )


def test_claim_requirement(server: str, issuer: Issuer) -> None:
    www = challenge("insufficient_scope", "claim_requirement_failed")
    bad = auth(issuer.token(claims={"tenant": "umbrella"}))
    refused(
        fetch(server, "GET", "/api/tenant", bad),
        403,
        www,
        "insufficient_scope",
        "claim_requirement_failed",
    )
    assert (
        ok(fetch(server, "GET", "/api/tenant", auth(issuer.token(claims={"tenant": "acme"}))))[
            "sub"
        ]
        == "user-1"
    )


@pytest.mark.parametrize(
    ("header", "status", "error", "reason"),
    [
        ("Bearer", 400, "invalid_request", "empty_token"),
        ("Bearer a b", 400, "invalid_request", "malformed_authorization"),
        ("Bearer ab$cd", 400, "invalid_request", "malformed_authorization"),
        ("Bearer abc.def", 401, "invalid_token", "malformed_token"),
    ],
)
def test_malformed(server: str, header: str, status: int, error: str, reason: str) -> None:
    resp = fetch(server, "GET", "/api/x", [("Authorization", header)])
    refused(resp, status, challenge(error, reason), error, reason)


def test_several_authorization_headers(server: str, issuer: Issuer) -> None:
    token = issuer.token()
    reason = "multiple_authorization_headers"
    www = challenge("invalid_request", reason)
    resp = fetch(server, "GET", "/api/x", auth(token) + auth(token))
    refused(resp, 400, www, "invalid_request", reason)
    resp = fetch(server, "GET", "/api/x", [("Authorization", "Basic dXNlcg=="), *auth(token)])
    refused(resp, 400, www, "invalid_request", reason)


def test_query_token(server: str, issuer: Issuer) -> None:
    token = issuer.token(sub="q")
    assert ok(fetch(server, "GET", f"/api/x?a=1&access_token={token}"))["sub"] == "q"
    www = challenge("invalid_request", "multiple_tokens")
    resp = fetch(server, "GET", f"/api/x?access_token={token}", auth(token))
    refused(resp, 400, www, "invalid_request", "multiple_tokens")
    resp = fetch(server, "GET", f"/api/x?access_token={token}&access_token={token}")
    refused(resp, 400, www, "invalid_request", "multiple_tokens")


FORM = [("Content-Type", "application/x-www-form-urlencoded")]


def test_form_token_body_is_replayed(server: str, issuer: Issuer) -> None:
    token = issuer.token(sub="f")
    data = f"note=caf%C3%A9&access_token={token}&x=1".encode()
    got = ok(fetch(server, "POST", "/api/x", FORM, data))
    assert got == {"sub": "f", "path": "/api/x", "body": data.decode()}
    charset = [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")]
    assert ok(fetch(server, "PUT", "/api/x", charset, data))["body"] == data.decode()


def test_form_token_only_where_rfc6750_allows(server: str, issuer: Issuer) -> None:
    data = f"access_token={issuer.token()}".encode()
    refused(fetch(server, "GET", "/api/x", FORM, data), 401, *MISSING)
    json_type = [("Content-Type", "application/json")]
    refused(fetch(server, "POST", "/api/x", json_type, data), 401, *MISSING)
    www = challenge("invalid_request", "empty_token")
    refused(
        fetch(server, "POST", "/api/x", FORM, b"access_token="),
        400,
        www,
        "invalid_request",
        "empty_token",
    )


def test_large_form_is_not_buffered(server: str, issuer: Issuer) -> None:
    data = f"access_token={issuer.token()}&pad={'x' * 2048}".encode()
    refused(fetch(server, "POST", "/api/x", FORM, data), 401, *MISSING)
    # On an optional path the app still receives the whole, unread body.
    assert ok(fetch(server, "POST", "/elsewhere", FORM, data)) == {
        "sub": None,
        "path": "/elsewhere",
        "body": data.decode(),
    }


def test_keys_unavailable(issuer: Issuer) -> None:
    down = Verifier(issuer=issuer.issuer, audience=AUD, jwks_uri="http://127.0.0.1:9/jwks")
    with serve(BearerAuthWSGIMiddleware(echo, verifier=down)) as url:
        code, headers, raw = fetch(url, "GET", "/x", auth(issuer.token()))
    refused((code, headers, raw), 503, None, None, "keys_unavailable")
    assert int(headers["Retry-After"]) >= 1


# -- direct calls ------------------------------------------------------------------------


def call(app: Any, **environ: Any) -> tuple[str, list[tuple[str, str]], bytes, dict[str, Any]]:
    env: dict[str, Any] = dict(environ)
    setup_testing_defaults(env)
    captured: list[Any] = []
    out = app(env, lambda status, headers, exc_info=None: captured.append((status, headers)))
    return captured[0][0], captured[0][1], b"".join(out), env


def test_head_refusal_has_no_body(verifier: Verifier) -> None:
    status, headers, data, _ = call(
        BearerAuthWSGIMiddleware(echo, verifier=verifier), REQUEST_METHOD="HEAD"
    )
    assert status == "401 Unauthorized"
    assert (
        dict(headers)["Content-Length"] == "72"
    )  # len(b'{"error_description":"Authentication required","reason":"missing_token"}')
    assert data == b""


def test_environ_key_and_unknown_length(verifier: Verifier, issuer: Issuer) -> None:
    app = BearerAuthWSGIMiddleware(echo, verifier=verifier, protect="/private")
    status, _, _, env = call(app, PATH_INFO="/open")
    assert (status, env[ENVIRON_KEY]) == ("200 OK", None)
    # No Content-Length (e.g. chunked): the body is left alone, not searched.
    body = io.BytesIO(f"access_token={issuer.token()}".encode())
    status, _, _, env = call(
        app,
        PATH_INFO="/private",
        REQUEST_METHOD="POST",
        CONTENT_TYPE="application/x-www-form-urlencoded",
        **{"wsgi.input": body},
    )
    assert status == "401 Unauthorized"
    assert env["wsgi.input"] is body and body.tell() == 0
    status, _, _, env = call(
        app, PATH_INFO="/private/x", HTTP_AUTHORIZATION=f"Bearer {issuer.token(sub='z')}"
    )
    assert (status, env[ENVIRON_KEY].subject) == ("200 OK", "z")


def test_non_utf8_path(verifier: Verifier) -> None:
    app = BearerAuthWSGIMiddleware(echo, verifier=verifier, exempt="/caf\u00e9")
    status, _, _, _ = call(app, PATH_INFO="/caf\u00e9".encode().decode("latin-1"))
    assert status == "200 OK"
    status, _, _, _ = call(app, PATH_INFO="/caf\xff")
    assert status == "401 Unauthorized"


# -- the contract app under gunicorn ---------------------------------------------------------


def gunicorn(target: str, env: dict[str, str]) -> contextlib.AbstractContextManager[str]:
    return serve_app("wsgi", target, env)


def test_contract_app_under_gunicorn(issuer: Issuer) -> None:
    env = {
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": AUD,
        "BEARERGUARD_TOKEN_LOCATIONS": "header,query,form",
    }
    with gunicorn("tests.contract.apps.wsgi_app:app", env) as url:
        for method in ("GET", "POST"):
            resp = fetch(url, method, "/api/public")
            assert (resp[0], json.loads(resp[2])) == (200, {"message": "public"})
            # A malformed credential is refused wherever it is seen (issue #13.6).
            bad = fetch(url, method, "/api/public", [("Authorization", "Bearer a b")])
            refused(
                bad,
                400,
                challenge("invalid_request", "malformed_authorization"),
                "invalid_request",
                "malformed_authorization",
            )
            refused(fetch(url, method, "/api/private"), 401, *MISSING)
        token = issuer.token(claims={"tenant": "acme", "roles": ["writer"]})
        for path in (
            "/api/private",
            "/api/private-scoped",
            "/api/private-any",
            "/api/private-tenant",
            "/api/private-roles",
        ):
            data = ok(fetch(url, "POST", path, FORM, f"access_token={token}".encode()))
            assert (data["sub"], data["scopes"], data["claims"]["tenant"]) == (
                "user-1",
                ["read:messages"],
                "acme",
            )
        www = challenge("insufficient_scope", scope="read:messages write:messages")
        resp = fetch(url, "GET", f"/api/private-scoped-rw?access_token={token}")
        refused(resp, 403, www, "insufficient_scope", "insufficient_scope")
        www = challenge("insufficient_scope", "claim_requirement_failed")
        resp = fetch(url, "GET", "/api/private-permission", auth(token))
        refused(resp, 403, www, "insufficient_scope", "claim_requirement_failed")
        reason = "multiple_authorization_headers"
        resp = fetch(url, "GET", "/api/private", auth(token) + auth(token))
        refused(resp, 400, challenge("invalid_request", reason), "invalid_request", reason)
