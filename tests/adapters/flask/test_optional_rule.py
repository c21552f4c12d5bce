"""The one rule for optional authentication (issue #13.6) in Flask, and the request pipeline.

``BearerAuth(app)`` checks a sent token before every request except exempt paths; the
decorators and ``protect()`` reuse that decision; nothing imports Flask's private globals.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("flask")

from flask import Blueprint, Flask, request

from bearerguard import Verifier
from bearerguard.adapters.flask import BearerAuth, current_token, get_token
from bearerguard.testing import Issuer
from tests.adapters.flask.conftest import AUD
from tests.expect import DPOP_CHALLENGE, body, challenge

MakeFlask = Callable[..., Flask]
EXPIRED_WWW = (
    'Bearer realm="api", error="invalid_token", '
    'error_description="The access token expired", ' + DPOP_CHALLENGE
)
EXPIRED_BODY = (
    b'{"error":"invalid_token","error_description":"The access token expired","reason":"expired"}'
)


def _who() -> dict[str, Any]:
    token = get_token()
    return {"sub": None if token is None else current_token.subject}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def counting(app: Flask) -> list[str]:
    """Count the core's decisions for *app* (each ``Verifier.decide`` call)."""
    verifier: Verifier = app.extensions["bearerguard"]
    calls: list[str] = []
    decide = verifier.decide

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(request.path)
        return decide(*args, **kwargs)

    verifier.decide = spy  # type: ignore[method-assign]
    return calls


@pytest.fixture
def app(make_flask: MakeFlask) -> Flask:
    app = make_flask(
        BEARERGUARD_EXEMPT_PATHS="/health,/static",
        BEARERGUARD_PROTECTED_PATHS="/internal",
    )
    auth = BearerAuth(app)
    for path in ("/public", "/health", "/health/deep", "/internal/report", "/healthz"):
        app.add_url_rule(path, path, _who, methods=["GET", "POST"])
    app.add_url_rule("/health/private", "health-private", auth.require(_who))
    app.add_url_rule("/maybe", "maybe", auth.optional(_who))
    app.add_url_rule("/read", "read", auth.require(scopes="read:messages")(_who))
    app.add_url_rule("/admin", "admin", auth.require(scopes="admin")(_who))
    return app


def test_expired_token_on_an_undecorated_public_route_is_refused(
    app: Flask, issuer: Issuer
) -> None:
    client = app.test_client()
    for method in ("GET", "POST"):
        resp = client.open("/public", method=method, headers=bearer(issuer.token(expires_in=-60)))
        assert resp.status_code == 401
        assert resp.headers.getlist("WWW-Authenticate") == [EXPIRED_WWW]
        assert resp.data == EXPIRED_BODY
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.headers["Cache-Control"] == "no-store"


def test_public_route_without_token_and_with_a_good_one(app: Flask, issuer: Issuer) -> None:
    client = app.test_client()
    resp = client.get("/public")
    assert (resp.status_code, resp.get_json()) == (200, {"sub": None})
    assert "WWW-Authenticate" not in resp.headers
    # Another scheme is no bearer credentials: it passes where none is needed.
    resp = client.get("/public", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert (resp.status_code, resp.get_json()) == (200, {"sub": None})
    # A good token sent to an undecorated route is verified and visible to the view.
    resp = client.get("/public", headers=bearer(issuer.token(sub="alice")))
    assert (resp.status_code, resp.get_json()) == (200, {"sub": "alice"})


@pytest.mark.parametrize(
    ("header", "status", "error", "reason"),
    [
        ("Bearer a b", 400, "invalid_request", "malformed_authorization"),
        ("Bearer abc.def", 401, "invalid_token", "malformed_token"),
    ],
)
def test_bad_request_on_public_route(
    app: Flask, header: str, status: int, error: str, reason: str
) -> None:
    resp = app.test_client().get("/public", headers={"Authorization": header})
    assert resp.status_code == status
    assert resp.headers.getlist("WWW-Authenticate") == [challenge(error, reason)]
    assert resp.get_json() == body(error, reason)


def test_exempt_paths_are_passed_on_untouched(app: Flask, issuer: Issuer) -> None:
    client = app.test_client()
    expired = bearer(issuer.token(expires_in=-60))
    for path in ("/health", "/health/deep"):
        resp = client.get(path, headers=expired)
        assert (resp.status_code, resp.get_json()) == (200, {"sub": None})
    resp = client.get("/health", headers={"Authorization": "Bearer a b"})
    assert (resp.status_code, resp.get_json()) == (200, {"sub": None})
    # Segment boundaries: /healthz is not under /health.
    resp = client.get("/healthz", headers=expired)
    assert resp.status_code == 401
    assert resp.data == EXPIRED_BODY
    # A decorated view on an exempt path still decides for itself.
    resp = client.get("/health/private")
    assert resp.status_code == 401
    assert resp.headers.getlist("WWW-Authenticate") == [challenge()]
    assert resp.get_json() == body(None, "missing_token")
    resp = client.get("/health/private", headers=expired)
    assert resp.data == EXPIRED_BODY
    resp = client.get("/health/private", headers=bearer(issuer.token(sub="bob")))
    assert (resp.status_code, resp.get_json()) == (200, {"sub": "bob"})


def test_protected_paths_need_a_token(app: Flask, issuer: Issuer) -> None:
    client = app.test_client()
    resp = client.post("/internal/report")
    assert resp.status_code == 401
    assert resp.headers.getlist("WWW-Authenticate") == [challenge()]
    assert resp.get_json() == body(None, "missing_token")
    resp = client.get("/internal/report", headers=bearer(issuer.token(sub="carol")))
    assert (resp.status_code, resp.get_json()) == (200, {"sub": "carol"})
    # Flask's automatic OPTIONS answer (a CORS preflight) carries no token.
    resp = client.options("/internal/report")
    assert (resp.status_code, resp.data) == (200, b"")


def test_decorators_reuse_the_decision(app: Flask, issuer: Issuer) -> None:
    calls = counting(app)
    client = app.test_client()
    token = issuer.token(sub="dave")
    assert client.get("/read", headers=bearer(token)).get_json() == {"sub": "dave"}
    assert client.get("/maybe", headers=bearer(token)).get_json() == {"sub": "dave"}
    assert client.get("/maybe").get_json() == {"sub": None}
    resp = client.get("/read")
    assert resp.status_code == 401
    assert resp.headers.getlist("WWW-Authenticate") == [challenge(scope="read:messages")]
    assert resp.get_json() == body(None, "missing_token")
    resp = client.get("/admin", headers=bearer(token))
    assert resp.status_code == 403
    assert resp.headers.getlist("WWW-Authenticate") == [
        challenge("insufficient_scope", scope="admin")
    ]
    assert resp.get_json() == body("insufficient_scope", "insufficient_scope")
    # One decision per request, by the app-wide check; none on exempt paths without a view check.
    assert client.get("/health", headers=bearer(token)).status_code == 200
    assert calls == ["/read", "/maybe", "/maybe", "/read", "/admin"]


def test_protect_reuses_the_decision(make_flask: MakeFlask, issuer: Issuer) -> None:
    app = make_flask()
    auth = BearerAuth(app)
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    bp.add_url_rule("/me", "me", auth.require(scopes="read:messages")(_who))
    auth.protect(bp)
    app.register_blueprint(bp)
    calls = counting(app)
    resp = app.test_client().get("/bp/me", headers=bearer(issuer.token(sub="erin")))
    assert (resp.status_code, resp.get_json()) == (200, {"sub": "erin"})
    assert calls == ["/bp/me"]


def test_realm_and_exempt_from_app_config(make_flask: MakeFlask, issuer: Issuer) -> None:
    app = make_flask(BEARERGUARD_REALM="messages", BEARERGUARD_EXEMPT_PATHS=["/open/"])
    BearerAuth(app)
    app.add_url_rule("/open/x", "x", _who)
    app.add_url_rule("/other", "other", _who)
    client = app.test_client()
    expired = bearer(issuer.token(expires_in=-60))
    assert client.get("/open/x", headers=expired).get_json() == {"sub": None}
    resp = client.get("/other", headers=expired)
    assert resp.headers.getlist("WWW-Authenticate") == [
        'Bearer realm="messages", error="invalid_token", '
        'error_description="The access token expired", ' + DPOP_CHALLENGE
    ]


def test_path_both_protected_and_exempt_fails_in_init_app(make_flask: MakeFlask) -> None:
    app = make_flask(BEARERGUARD_PROTECTED_PATHS="/api", BEARERGUARD_EXEMPT_PATHS="/api")
    with pytest.raises(ValueError, match="both protected and exempt"):
        BearerAuth(app)


def test_token_cache_size_is_the_core_setting(make_flask: MakeFlask, issuer: Issuer) -> None:
    token = issuer.token()
    for size, held in (("0", 0), ("2", 1)):
        app = make_flask(BEARERGUARD_TOKEN_CACHE_SIZE=size)
        BearerAuth(app)
        app.add_url_rule("/p", "p", _who)
        verifier: Verifier = app.extensions["bearerguard"]
        assert verifier.settings.token_cache_size == int(size)
        client = app.test_client()
        for _ in range(2):
            assert client.get("/p", headers=bearer(token)).get_json() == {"sub": "user-1"}
        assert len(verifier.tokens) == held


def test_works_without_flask_private_request_global(issuer: Issuer) -> None:
    """Flask's main branch removed ``flask.globals._cv_request``: the adapter must not need it."""
    script = f"""
import flask.globals
del flask.globals._cv_request
from flask import Flask
from bearerguard.adapters.flask import BearerAuth, current_token
app = Flask("x")
app.config.update(BEARERGUARD_ISSUER={issuer.issuer!r}, BEARERGUARD_AUDIENCE={AUD!r},
                  BEARERGUARD_JWKS_URI={issuer.jwks_uri!r})
auth = BearerAuth(app)
app.add_url_rule("/p", "p", auth.require(lambda: current_token.subject))
client = app.test_client()
print(client.get("/p").status_code, client.get("/p", headers={{"Authorization": "Bearer {issuer.token(sub="zoe")}"}}).data.decode())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "401 zoe\n"
