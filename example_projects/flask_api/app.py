"""A Flask API protected by bearerguard (see README.md).

Start it from this folder: ``flask --app app run --host 127.0.0.1 --port 5000``.
Every ``BEARERGUARD_*`` environment variable configures it (issuer, audience, ...).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from bearerguard import AccessToken, ClaimEquals, ClaimIncludes
from bearerguard.adapters.flask import BearerAuth, current_token

app = Flask(__name__)
# BearerAuth reads BEARERGUARD_* from app.config; here they come from the environment.
app.config.update({k: v for k, v in os.environ.items() if k.startswith("BEARERGUARD_")})
# Fails here, at startup, when a setting is missing or wrong. From now on a token sent to any
# route (even /api/public) is checked and a bad one refused; BEARERGUARD_EXEMPT_PATHS skips that.
auth = BearerAuth(app)

BOTH = ["GET", "POST"]


def describe(token: AccessToken) -> dict[str, Any]:
    """Who called, with which scopes, and every claim of their access token."""
    return {"sub": token.subject, "scopes": sorted(token.scopes), "claims": dict(token.claims)}


@app.route("/api/public", methods=BOTH)
def public() -> dict[str, Any]:
    return {"message": "public"}


@app.route("/api/private", methods=BOTH)
@auth.require
def private() -> dict[str, Any]:
    return describe(current_token)


@app.route("/api/private-scoped", methods=BOTH)
@auth.require(scopes=["read:messages"])
def private_scoped() -> dict[str, Any]:
    return describe(current_token)


@app.route("/api/private-scoped-rw", methods=BOTH)
@auth.require(scopes=["read:messages", "write:messages"])
def private_scoped_rw() -> dict[str, Any]:
    return describe(current_token)


@app.route("/api/private-permission", methods=BOTH)
@auth.require(claims=[ClaimIncludes("permissions", "read:messages")])  # Auth0 RBAC
def private_permission() -> dict[str, Any]:
    return describe(current_token)


@app.route("/api/private-tenant", methods=BOTH)
@auth.require(claims=[ClaimEquals("tenant", "acme")])
def private_tenant() -> dict[str, Any]:
    return describe(current_token)


@app.route("/api/private-roles", methods=BOTH)
@auth.require(claims=[ClaimIncludes("roles", "writer")])
def private_roles() -> dict[str, Any]:
    return describe(current_token)


#: Auth0's multi-factor ``acr`` value (OpenID PAPE): RFC 9470 step-up for this route.
MULTI_FACTOR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


@app.route("/api/private-mfa", methods=BOTH)
@auth.require(acr_values=[MULTI_FACTOR], max_age=600)  # signed in with MFA, <= 10 min ago
def private_mfa() -> dict[str, Any]:
    return describe(current_token)
