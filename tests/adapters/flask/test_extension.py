"""BearerAuth through Flask's test client: configuration, decorators, blueprints, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("flask")

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

from bearerguard import ClaimEquals, ClaimIncludes, Verifier
from bearerguard.adapters.flask import BearerAuth, current_token, get_token
from bearerguard.testing import Issuer
from tests.adapters.flask.conftest import AUD
from tests.contract.servers import free_port
from tests.expect import DPOP_CHALLENGE, body, challenge

MakeFlask = Callable[..., Flask]


def _who() -> dict[str, Any]:
    token = get_token()
    if token is None:
        return {"sub": None}
    return {"sub": current_token.subject, "scopes": sorted(current_token.scopes)}


def build(app: Flask, auth: BearerAuth) -> Flask:
    """The routes most tests use."""
    app.add_url_rule("/open", "open", _who, methods=["GET", "POST"])
    app.add_url_rule("/private", "private", auth.require(_who), methods=["GET", "POST"])
    app.add_url_rule("/read", "read", auth.require(scopes=["read:messages"])(_who))
    app.add_url_rule("/rw", "rw", auth.require(scopes="read:messages write:messages")(_who))
    app.add_url_rule("/any", "any", auth.require(any_scopes=["read:messages", "admin"])(_who))
    tenant = auth.require(claims=[ClaimEquals("tenant", "acme")])(_who)
    app.add_url_rule("/tenant", "tenant", tenant)
    app.add_url_rule("/maybe", "maybe", auth.optional(_who))
    return app


@pytest.fixture
def app(make_flask: MakeFlask) -> Flask:
    app = make_flask()
    return build(app, BearerAuth(app))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(resp: Any, status: int, www: str | None, error: str | None, reason: str) -> None:
    assert resp.status_code == status
    assert resp.headers.getlist("WWW-Authenticate") == ([www] if www else [])
    assert resp.get_json() == body(error, reason)
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"


# -- configuration -----------------------------------------------------------------------


def test_init_app_reads_app_config(make_flask: MakeFlask, issuer: Issuer) -> None:
    app = make_flask(BEARERGUARD_LEEWAY="5", BEARERGUARD_REALM="messages")
    auth = BearerAuth(app)
    verifier = app.extensions["bearerguard"]
    assert isinstance(verifier, Verifier)
    assert verifier.settings.issuer == (issuer.issuer,)
    assert verifier.settings.leeway == 5.0
    assert not hasattr(auth, "app")
    app.add_url_rule("/p", "p", auth.require(_who))
    resp = app.test_client().get("/p")
    assert_refused(resp, 401, f'Bearer realm="messages", {DPOP_CHALLENGE}', None, "missing_token")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"BEARERGUARD_ISSUER": None}, "BEARERGUARD_ISSUER is required"),
        ({"BEARERGUARD_AUDIENCE": ""}, "BEARERGUARD_AUDIENCE is required"),
        ({"BEARERGUARD_ISUER": "https://typo.example.com/"}, "unknown setting BEARERGUARD_ISUER"),
        ({"BEARERGUARD_ALGORITHMS": "none"}, "must not contain 'none'"),
        ({"BEARERGUARD_TOKEN_CACHE_SIZE": "many"}, "BEARERGUARD_TOKEN_CACHE_SIZE"),
    ],
)
def test_init_app_fails_fast(
    make_flask: MakeFlask, overrides: dict[str, Any], message: str
) -> None:
    app = make_flask(**overrides)
    with pytest.raises(ValueError, match=message):
        BearerAuth(app)
    assert "bearerguard" not in app.extensions


def test_factory_pattern_one_extension_two_apps(make_flask: MakeFlask, issuer: Issuer) -> None:
    auth = BearerAuth()
    app_a = build(make_flask(), auth)
    app_b = build(make_flask(BEARERGUARD_AUDIENCE="https://other.example.com"), auth)
    auth.init_app(app_a)
    auth.init_app(app_b)
    token = issuer.token()
    assert app_a.test_client().get("/private", headers=bearer(token)).status_code == 200
    resp = app_b.test_client().get("/private", headers=bearer(token))
    assert_refused(
        resp,
        401,
        challenge("invalid_token", "invalid_audience"),
        "invalid_token",
        "invalid_audience",
    )


def test_explicit_verifier_wins_over_config(issuer: Issuer) -> None:
    app = Flask("explicit")  # no BEARERGUARD_* config at all
    verifier = Verifier(issuer=issuer.issuer, audience=AUD, jwks_uri=issuer.jwks_uri)
    auth = BearerAuth(app, verifier=verifier)
    build(app, auth)
    with app.app_context():
        assert auth.verifier() is verifier
    resp = app.test_client().get("/private", headers=bearer(issuer.token()))
    assert resp.get_json() == {"sub": "user-1", "scopes": ["read:messages"]}


def test_not_initialised_fails_loudly() -> None:
    app = Flask("bare")
    auth = BearerAuth()

    @app.get("/p")
    @auth.require
    def p() -> str:
        return "never"

    with app.test_request_context("/"), pytest.raises(RuntimeError, match="init_app"):
        _ = current_token.subject
    with pytest.raises(RuntimeError, match="outside a Flask application context"):
        get_token()
    app.testing = True
    with pytest.raises(RuntimeError, match=r"BearerAuth\(app\) or auth.init_app\(app\)"):
        app.test_client().get("/p")


# -- decorators ------------------------------------------------------------------------


def test_require_no_credentials(app: Flask) -> None:
    client = app.test_client()
    assert_refused(client.get("/private"), 401, challenge(), None, "missing_token")
    resp = client.get("/private", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_refused(resp, 401, challenge(), None, "missing_token")


def test_require_valid_token(app: Flask, issuer: Issuer) -> None:
    token = issuer.token(scopes=["read:messages", "admin"])
    resp = app.test_client().post("/private", headers=bearer(token))
    assert resp.status_code == 200
    assert resp.get_json() == {"sub": "user-1", "scopes": ["admin", "read:messages"]}


@pytest.mark.parametrize(
    ("header", "status", "error", "reason"),
    [
        ("Bearer", 400, "invalid_request", "empty_token"),
        ("Bearer a b", 400, "invalid_request", "malformed_authorization"),
        ("Bearer abc.def", 401, "invalid_token", "malformed_token"),
    ],
)
def test_require_malformed(app: Flask, header: str, status: int, error: str, reason: str) -> None:
    resp = app.test_client().get("/private", headers={"Authorization": header})
    assert_refused(resp, status, challenge(error, reason), error, reason)


def test_require_expired_and_wrong_issuer(app: Flask, issuer: Issuer) -> None:
    client = app.test_client()
    resp = client.get("/private", headers=bearer(issuer.token(expires_in=-3600)))
    assert_refused(resp, 401, challenge("invalid_token", "expired"), "invalid_token", "expired")
    resp = client.get("/private", headers=bearer(issuer.id_token()))
    www = challenge("invalid_token", "id_token_presented")
    assert_refused(resp, 401, www, "invalid_token", "id_token_presented")


def test_several_authorization_headers(app: Flask, issuer: Issuer) -> None:
    token = issuer.token()
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")]
    resp = app.test_client().get("/private", headers=headers)
    reason = "multiple_authorization_headers"
    assert_refused(resp, 400, challenge("invalid_request", reason), "invalid_request", reason)


def test_scopes(app: Flask, issuer: Issuer) -> None:
    client = app.test_client()
    resp = client.get("/read", headers=bearer(issuer.token(scopes=())))
    www = challenge("insufficient_scope", scope="read:messages")
    assert_refused(resp, 403, www, "insufficient_scope", "insufficient_scope")
    resp = client.get("/rw", headers=bearer(issuer.token(scopes=["read:messages"])))
    www = challenge("insufficient_scope", scope="read:messages write:messages")
    assert_refused(resp, 403, www, "insufficient_scope", "insufficient_scope")
    token = issuer.token(scopes=["write:messages", "read:messages"])
    assert client.get("/rw", headers=bearer(token)).status_code == 200
    resp = client.get("/any", headers=bearer(issuer.token(scopes=["write:messages"])))
    www = challenge("insufficient_scope", scope="read:messages admin")
    assert_refused(resp, 403, www, "insufficient_scope", "insufficient_scope")
    resp = client.get("/any", headers=bearer(issuer.token(scopes=["admin"])))
    assert resp.get_json() == {"sub": "user-1", "scopes": ["admin"]}


def test_claims(app: Flask, issuer: Issuer) -> None:
    client = app.test_client()
    resp = client.get("/tenant", headers=bearer(issuer.token(claims={"tenant": "other"})))
    www = challenge("insufficient_scope", "claim_requirement_failed")
    assert_refused(resp, 403, www, "insufficient_scope", "claim_requirement_failed")
    resp = client.get("/tenant", headers=bearer(issuer.token(claims={"tenant": "acme"})))
    assert resp.status_code == 200


def test_optional(app: Flask, issuer: Issuer) -> None:
    client = app.test_client()
    resp = client.get("/maybe")
    assert (resp.status_code, resp.get_json()) == (200, {"sub": None})
    resp = client.get("/maybe", headers=bearer(issuer.token(sub="alice")))
    assert resp.get_json() == {"sub": "alice", "scopes": ["read:messages"]}
    resp = client.get("/maybe", headers=bearer(issuer.token(expires_in=-3600)))
    assert_refused(resp, 401, challenge("invalid_token", "expired"), "invalid_token", "expired")
    resp = client.get("/maybe", headers={"Authorization": "Bearer"})
    www = challenge("invalid_request", "empty_token")
    assert_refused(resp, 400, www, "invalid_request", "empty_token")


def test_current_token_proxy(app: Flask, issuer: Issuer) -> None:
    seen: dict[str, Any] = {}

    @app.get("/proxy")
    @BearerAuth().require(scopes=["read:messages"])  # another instance: the app's state counts
    def proxy() -> str:
        seen["claims"] = dict(current_token.claims)
        seen["g"] = request.environ["bearerguard.flask.access_token"]
        seen["roles"] = current_token["https://example.com/roles"]
        return "ok"

    token = issuer.token(claims={"https://example.com/roles": ["admin"]})
    resp = app.test_client().get("/proxy", headers=bearer(token))
    assert (resp.status_code, resp.data) == (200, b"ok")
    assert seen["roles"] == ["admin"]
    assert seen["claims"]["sub"] == "user-1"
    assert seen["g"].subject == "user-1"


def test_token_does_not_leak_between_requests_of_one_app_context(
    app: Flask, issuer: Issuer
) -> None:
    client = app.test_client()
    with app.app_context():  # Flask then reuses this context (and g) for each request
        assert client.get("/private", headers=bearer(issuer.token())).status_code == 200
        assert client.get("/open").get_json() == {"sub": None}
        assert_refused(client.get("/private"), 401, challenge(), None, "missing_token")


def test_async_view(app: Flask, issuer: Issuer) -> None:
    pytest.importorskip("asgiref")
    auth = BearerAuth()

    @app.get("/async")
    @auth.require(scopes=["read:messages"])
    async def async_view() -> dict[str, Any]:
        return {"sub": current_token.subject}

    client = app.test_client()
    assert client.get("/async", headers=bearer(issuer.token())).get_json() == {"sub": "user-1"}
    www = challenge(scope="read:messages")
    assert_refused(client.get("/async"), 401, www, None, "missing_token")


# -- blueprints ------------------------------------------------------------------------


def test_protect_blueprint(make_flask: MakeFlask, issuer: Issuer) -> None:
    app = make_flask()
    auth = BearerAuth(app)
    api = Blueprint("api", __name__, url_prefix="/api")
    admin = Blueprint("admin", __name__, url_prefix="/admin")
    api.add_url_rule("/me", "me", _who, methods=["GET", "POST"])
    admin.add_url_rule("/panel", "panel", _who)
    auth.protect(api)
    auth.protect(admin, scopes=["admin"])
    app.register_blueprint(api)
    app.register_blueprint(admin)
    app.add_url_rule("/open", "open", _who)
    client = app.test_client()

    assert_refused(client.get("/api/me"), 401, challenge(), None, "missing_token")
    resp = client.post("/api/me", headers=bearer(issuer.token()))
    assert resp.get_json() == {"sub": "user-1", "scopes": ["read:messages"]}
    resp = client.get("/admin/panel", headers=bearer(issuer.token()))
    www = challenge("insufficient_scope", scope="admin")
    assert_refused(resp, 403, www, "insufficient_scope", "insufficient_scope")
    assert (
        client.get("/admin/panel", headers=bearer(issuer.token(scopes=["admin"]))).status_code
        == 200
    )
    assert client.get("/open").get_json() == {"sub": None}
    # Flask answers OPTIONS itself without running the view: CORS preflights carry no token.
    resp = client.options("/api/me")
    assert resp.status_code == 200
    assert sorted(resp.headers["Allow"].split(", ")) == ["GET", "HEAD", "OPTIONS", "POST"]


def test_protect_blueprint_explicit_options_view(make_flask: MakeFlask, issuer: Issuer) -> None:
    """A view registered for OPTIONS is the app's own code: protected like any other view."""
    app = make_flask()
    auth = BearerAuth(app)
    api = Blueprint("api", __name__, url_prefix="/api")
    api.add_url_rule("/auto", "auto", _who, methods=["GET"])  # Flask answers its OPTIONS

    @api.route("/explicit", methods=["GET", "OPTIONS"])
    def explicit() -> dict[str, Any]:
        return {"method": request.method, **_who()}

    auth.protect(api, scopes=["read:messages"])
    app.register_blueprint(api)
    client = app.test_client()

    resp = client.options("/api/explicit")
    assert_refused(resp, 401, challenge(scope="read:messages"), None, "missing_token")
    resp = client.options("/api/explicit", headers=bearer(issuer.token(scopes=())))
    www = challenge("insufficient_scope", scope="read:messages")
    assert_refused(resp, 403, www, "insufficient_scope", "insufficient_scope")
    resp = client.options("/api/explicit", headers=bearer(issuer.token()))
    assert resp.status_code == 200
    assert resp.get_json() == {"method": "OPTIONS", "sub": "user-1", "scopes": ["read:messages"]}
    # The automatic answer runs no view and needs no token.
    resp = client.options("/api/auto")
    assert (resp.status_code, resp.data) == (200, b"")
    assert sorted(resp.headers["Allow"].split(", ")) == ["GET", "HEAD", "OPTIONS"]
    assert_refused(
        client.get("/api/auto"), 401, challenge(scope="read:messages"), None, "missing_token"
    )


def test_protect_plus_view_decorator_verifies_once(make_flask: MakeFlask, issuer: Issuer) -> None:
    app = make_flask()
    auth = BearerAuth(app)
    bp = Blueprint("bp", __name__)
    bp.add_url_rule(
        "/writer", "writer", auth.require(claims=[ClaimIncludes("roles", "writer")])(_who)
    )
    auth.protect(bp)
    app.register_blueprint(bp)
    client = app.test_client()
    resp = client.get("/writer", headers=bearer(issuer.token(claims={"roles": ["reader"]})))
    www = challenge("insufficient_scope", "claim_requirement_failed")
    assert_refused(resp, 403, www, "insufficient_scope", "claim_requirement_failed")
    resp = client.get("/writer", headers=bearer(issuer.token(claims={"roles": ["writer"]})))
    assert resp.status_code == 200


# -- app error handlers cannot change our answers ------------------------------------------


def test_app_error_handlers_do_not_alter_refusals(make_flask: MakeFlask, issuer: Issuer) -> None:
    app = make_flask(BEARERGUARD_JWKS_URI=f"http://127.0.0.1:{free_port()}/jwks")
    build(app, BearerAuth(app))
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    bp.add_url_rule("/x", "x", _who)
    BearerAuth().protect(bp)
    app.register_blueprint(bp)

    def custom(exc: Exception) -> tuple[str, int]:
        return "custom", 418

    for code_or_exc in (400, 401, 403, 503, HTTPException, Exception):
        app.register_error_handler(code_or_exc, custom)
    client = app.test_client()
    assert_refused(client.get("/private"), 401, challenge(), None, "missing_token")
    assert_refused(client.get("/bp/x"), 401, challenge(), None, "missing_token")
    resp = client.get("/private", headers={"Authorization": "Bearer a b"})
    www = challenge("invalid_request", "malformed_authorization")
    assert_refused(resp, 400, www, "invalid_request", "malformed_authorization")
    # No key can be fetched (nothing listens at the JWKS URI): 503, no challenge.
    resp = client.get("/read", headers=bearer(issuer.token()))
    assert_refused(resp, 503, None, None, "keys_unavailable")
    assert int(resp.headers["Retry-After"]) >= 1


# -- token locations (RFC 6750 §2.2, §2.3) ----------------------------------------------------


def test_query_and_form_are_opt_in(app: Flask, issuer: Issuer) -> None:
    client = app.test_client()
    token = issuer.token()
    resp = client.get(f"/private?access_token={token}")
    assert_refused(resp, 401, challenge(), None, "missing_token")
    resp = client.post("/private", data={"access_token": token})
    assert_refused(resp, 401, challenge(), None, "missing_token")


@pytest.fixture
def located(make_flask: MakeFlask) -> Flask:
    app = make_flask(BEARERGUARD_TOKEN_LOCATIONS="header,query,form")
    auth = BearerAuth(app)

    @app.route("/form", methods=["GET", "POST", "PUT"])
    @auth.require
    def form() -> dict[str, Any]:
        return {
            "sub": current_token.subject,
            "x": request.form.get("x"),
            "data": request.get_data(as_text=True),
        }

    return app


def test_query_token(located: Flask, issuer: Issuer) -> None:
    client = located.test_client()
    token = issuer.token()
    resp = client.get(f"/form?access_token={token}")
    assert resp.get_json() == {"sub": "user-1", "x": None, "data": ""}
    resp = client.get(f"/form?access_token={token}", headers=bearer(token))
    www = challenge("invalid_request", "multiple_tokens")
    assert_refused(resp, 400, www, "invalid_request", "multiple_tokens")
    resp = client.get(f"/form?access_token={token}&access_token={token}")
    assert_refused(resp, 400, www, "invalid_request", "multiple_tokens")


def test_form_token(located: Flask, issuer: Issuer) -> None:
    client = located.test_client()
    token = issuer.token()
    resp = client.put("/form", data={"access_token": token, "x": "1"})
    assert resp.status_code == 200
    assert resp.get_json()["x"] == "1"  # the view still reads the form
    # RFC 6750 §2.2: never with GET, and only for a form-urlencoded body.
    resp = client.get("/form", data={"access_token": token})
    assert_refused(resp, 401, challenge(), None, "missing_token")
    resp = client.post("/form", json={"access_token": token})
    assert_refused(resp, 401, challenge(), None, "missing_token")
    resp = client.post("/form", data={"access_token": ""})
    www = challenge("invalid_request", "empty_token")
    assert_refused(resp, 400, www, "invalid_request", "empty_token")


def test_refusal_is_a_plain_response(app: Flask) -> None:
    with app.test_request_context("/private"):
        resp = app.view_functions["private"]()
    assert isinstance(resp, Response)
    assert resp.status == "401 UNAUTHORIZED"
    assert resp.data == b'{"error_description":"Authentication required","reason":"missing_token"}'
