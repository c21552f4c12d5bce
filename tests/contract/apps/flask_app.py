"""Contract app: Flask with ``BearerAuth`` decorators, configured from ``BEARERGUARD_*`` env vars."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from bearerguard import ClaimEquals, ClaimIncludes
from bearerguard.adapters.flask import BearerAuth, current_token

app = Flask(__name__)
# Flask's own way: BEARERGUARD_* settings live in app.config; init_app reads them.
app.config.update({k: v for k, v in os.environ.items() if k.startswith("BEARERGUARD_")})
# The one rule for optional authentication (issue #13.6): BearerAuth(app) checks a token sent
# to any route of the app, /api/public included, and refuses a bad one; no token passes there.
auth = BearerAuth(app)
METHODS = ["GET", "POST"]
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


def _private() -> dict[str, Any]:
    return {
        "sub": current_token.subject,
        "scopes": sorted(current_token.scopes),
        "claims": dict(current_token.claims),
    }


@app.route("/api/public", methods=METHODS)
def public() -> dict[str, Any]:
    return {"message": "public"}


@app.route("/api/private", methods=METHODS)
@auth.require
def private() -> dict[str, Any]:
    return _private()


@app.route("/api/private-scoped", methods=METHODS)
@auth.require(scopes=["read:messages"])
def private_scoped() -> dict[str, Any]:
    return _private()


@app.route("/api/private-scoped-rw", methods=METHODS)
@auth.require(scopes=["read:messages", "write:messages"])
def private_scoped_rw() -> dict[str, Any]:
    return _private()


@app.route("/api/private-any", methods=METHODS)
@auth.require(any_scopes=["read:messages", "admin"])
def private_any() -> dict[str, Any]:
    return _private()


@app.route("/api/private-permission", methods=METHODS)
@auth.require(claims=[ClaimIncludes("permissions", "read:messages")])
def private_permission() -> dict[str, Any]:
    return _private()


@app.route("/api/private-tenant", methods=METHODS)
@auth.require(claims=[ClaimEquals("tenant", "acme")])
def private_tenant() -> dict[str, Any]:
    return _private()


@app.route("/api/private-roles", methods=METHODS)
@auth.require(claims=[ClaimIncludes("roles", "writer")])
def private_roles() -> dict[str, Any]:
    return _private()


@app.route("/api/private-mfa", methods=METHODS)
@auth.require(acr_values=[MFA], max_age=600)
def private_mfa() -> dict[str, Any]:
    return _private()
