"""BearerAuth behind real servers: werkzeug's in a thread, and gunicorn running the contract app."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flask")

from flask import Blueprint, Flask, request

from bearerguard.adapters.flask import BearerAuth, current_token
from bearerguard.testing import Issuer
from tests.adapters.flask.conftest import AUD, serve
from tests.contract.servers import request as http_request
from tests.contract.servers import serve_app
from tests.expect import challenge
from tests.expect import check_raw as check

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def server(issuer: Issuer) -> Iterator[str]:
    app = Flask("real")
    # No JWKS URI: the keys are found through the issuer's discovery document, over HTTP.
    app.config.update(
        BEARERGUARD_ISSUER=issuer.issuer,
        BEARERGUARD_AUDIENCE=AUD,
        BEARERGUARD_TOKEN_LOCATIONS="header,form",
    )
    auth = BearerAuth(app)

    @app.route("/private", methods=["GET", "POST"])
    @auth.require(scopes=["read:messages"])
    def private() -> dict[str, Any]:
        return {"sub": current_token.subject, "x": request.form.get("x")}

    @app.errorhandler(Exception)
    def boom(exc: Exception) -> tuple[str, int]:
        return "handled by the app", 500

    bp = Blueprint("bp", __name__, url_prefix="/bp")
    bp.add_url_rule("/me", "me", lambda: {"sub": current_token.subject})
    auth.protect(bp)
    app.register_blueprint(bp)
    with serve(app) as url:
        yield url


def test_real_server_refusals(server: str, issuer: Issuer) -> None:
    www = challenge(scope="read:messages")
    check(http_request(server, "GET", "/private"), 401, www, None, "missing_token")
    check(http_request(server, "GET", "/bp/me"), 401, challenge(), None, "missing_token")
    token = issuer.token()
    two = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    reason = "multiple_authorization_headers"
    check(
        http_request(server, "GET", "/private", two),
        400,
        challenge("invalid_request", reason),
        "invalid_request",
        reason,
    )
    expired = [("Authorization", f"Bearer {issuer.token(expires_in=-60 * 60)}")]
    check(
        http_request(server, "POST", "/private", expired),
        401,
        challenge("invalid_token", "expired"),
        "invalid_token",
        "expired",
    )
    no_scope = [("Authorization", f"Bearer {issuer.token(scopes=())}")]
    www = challenge("insufficient_scope", scope="read:messages")
    check(
        http_request(server, "GET", "/private", no_scope),
        403,
        www,
        "insufficient_scope",
        "insufficient_scope",
    )


def test_real_server_accepts(server: str, issuer: Issuer) -> None:
    headers = [("Authorization", f"Bearer {issuer.token(sub='bob')}")]
    status, _, raw = http_request(server, "GET", "/private", headers)
    assert (status, json.loads(raw)) == (200, {"sub": "bob", "x": None})
    status, _, raw = http_request(server, "GET", "/bp/me", headers)
    assert (status, json.loads(raw)) == (200, {"sub": "bob"})
    form = [("Content-Type", "application/x-www-form-urlencoded")]
    data = f"x=42&access_token={issuer.token(sub='carol')}".encode()
    status, _, raw = http_request(server, "POST", "/private", form, data)
    assert (status, json.loads(raw)) == (200, {"sub": "carol", "x": "42"})


def gunicorn(target: str, env: dict[str, str]) -> contextlib.AbstractContextManager[str]:
    return serve_app("wsgi", target, env)


def test_contract_app_under_gunicorn(issuer: Issuer) -> None:
    env = {
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": AUD,
        "BEARERGUARD_JWKS_URI": issuer.jwks_uri,
        "BEARERGUARD_TOKEN_LOCATIONS": "header,query,form",
    }
    with gunicorn("tests.contract.apps.flask_app:app", env) as url:
        for method in ("GET", "POST"):
            status, _, raw = http_request(url, method, "/api/public")
            assert (status, json.loads(raw)) == (200, {"message": "public"})
            # A token sent to a public route is checked too (issue #13.6): junk is refused.
            check(
                http_request(url, method, "/api/public", [("Authorization", "Bearer junk")]),
                401,
                challenge("invalid_token", "malformed_token"),
                "invalid_token",
                "malformed_token",
            )
            check(
                http_request(url, method, "/api/private"),
                401,
                challenge(),
                None,
                "missing_token",
            )
        token = issuer.token(claims={"tenant": "acme"})
        status, _, raw = http_request(
            url, "GET", "/api/private-tenant", [("Authorization", f"Bearer {token}")]
        )
        claims = json.loads(raw)["claims"]
        assert (status, claims["tenant"], claims["sub"]) == (200, "acme", "user-1")
        resp = http_request(url, "GET", f"/api/private-scoped-rw?access_token={token}")
        www = challenge("insufficient_scope", scope="read:messages write:messages")
        check(resp, 403, www, "insufficient_scope", "insufficient_scope")
        form = [("Content-Type", "application/x-www-form-urlencoded")]
        token = issuer.token(claims={"roles": ["writer"]})
        status, _, raw = http_request(
            url, "POST", "/api/private-roles", form, f"access_token={token}".encode()
        )
        assert (status, json.loads(raw)["sub"]) == (200, "user-1")
        www = challenge("insufficient_scope", "claim_requirement_failed")
        check(
            http_request(
                url, "GET", "/api/private-permission", [("Authorization", f"Bearer {token}")]
            ),
            403,
            www,
            "insufficient_scope",
            "claim_requirement_failed",
        )
