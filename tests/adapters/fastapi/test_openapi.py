"""FastAPI's OpenAPI document names the schemes BEARERGUARD_DPOP accepts (RFC 6750, RFC 9449).

OpenAPI has no DPoP type: RFC 9449 §7.1 registers ``DPoP`` as an HTTP authentication scheme,
so it is an ``http`` security scheme with ``scheme: DPoP``. Each scheme is an alternative
(one security requirement object per scheme, OpenAPI 3 §4.8.30).
"""

# No ``from __future__ import annotations``: FastAPI evaluates the endpoints' annotations.

from typing import Annotated, Any

import pytest

pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI, Security
from fastapi.testclient import TestClient

from bearerguard import AccessToken, Verifier
from bearerguard.adapters.fastapi import BearerToken, install_error_handler
from bearerguard.testing import Issuer
from bearerguard.testing.dpop import DPoPKey

R = "read:messages"
BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
DPOP = {"type": "http", "scheme": "DPoP"}


def _app(verifier: Verifier, **options: Any) -> FastAPI:
    app = FastAPI()
    install_error_handler(app)
    bearer = BearerToken(verifier, **options)

    @app.get("/plain")
    async def plain(token: Annotated[AccessToken, Depends(bearer)]) -> dict[str, Any]:
        return {"sub": token.subject, "scheme": token.scheme}

    @app.get("/scoped")
    async def scoped(
        token: Annotated[AccessToken, Security(bearer, scopes=[R])],
    ) -> dict[str, Any]:
        return {"sub": token.subject}

    return app


def _verifier(issuer: Issuer, dpop: str) -> Verifier:
    return Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks(), dpop=dpop)


def _document(app: FastAPI) -> dict[str, Any]:
    with TestClient(app) as client:  # the served document, as a client reads it
        response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.mark.parametrize(
    ("mode", "schemes", "security"),
    [
        ("off", {"BearerToken": BEARER}, [{"BearerToken": []}]),
        (
            "allowed",
            {"BearerToken": BEARER, "DPoP": DPOP},
            [{"BearerToken": []}, {"DPoP": []}],
        ),
        ("required", {"DPoP": DPOP}, [{"DPoP": []}]),
    ],
)
def test_schemes_follow_the_dpop_mode(
    issuer: Issuer, mode: str, schemes: dict[str, Any], security: list[dict[str, Any]]
) -> None:
    doc = _document(_app(_verifier(issuer, mode)))
    assert doc["components"]["securitySchemes"] == schemes
    assert doc["paths"]["/plain"]["get"]["security"] == security
    # Security() scopes go to every alternative (older FastAPI lists none for http schemes).
    scoped = doc["paths"]["/scoped"]["get"]["security"]
    assert scoped in ([{name: [R]} for s in security for name in s], security)
    # Neither the dependency's parameters nor the DPoP marker are request parameters.
    assert "parameters" not in doc["paths"]["/plain"]["get"]
    assert "parameters" not in doc["paths"]["/scoped"]["get"]


def test_scheme_names_and_description(issuer: Issuer) -> None:
    app = _app(
        _verifier(issuer, "allowed"),
        scheme_name="accessToken",
        dpop_scheme_name="dpopToken",
        description="An access token of our issuer",
    )
    doc = _document(app)
    assert doc["components"]["securitySchemes"] == {
        "accessToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token of our issuer",
        },
        "dpopToken": {
            "type": "http",
            "scheme": "DPoP",
            "description": "An access token of our issuer",
        },
    }
    assert doc["paths"]["/plain"]["get"]["security"] == [{"accessToken": []}, {"dpopToken": []}]


def test_required_mode_uses_the_dpop_name(issuer: Issuer) -> None:
    doc = _document(_app(_verifier(issuer, "required"), dpop_scheme_name="proof"))
    assert doc["components"]["securitySchemes"] == {"proof": {"type": "http", "scheme": "DPoP"}}
    assert doc["paths"]["/plain"]["get"]["security"] == [{"proof": []}]


@pytest.mark.parametrize("mode", ["allowed", "required"])
def test_the_documented_scheme_is_the_one_accepted(issuer: Issuer, mode: str) -> None:
    # The DPoP entry is documentation only: the dependency still decides every request.
    key = DPoPKey("ES256")
    token = issuer.token(sub="d", claims={"cnf": {"jkt": key.thumbprint}})
    plain = issuer.token(sub="b")
    with TestClient(_app(_verifier(issuer, mode))) as client:
        proof = key.proof("GET", "http://testserver/plain", access_token=token)
        response = client.get("/plain", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        assert response.status_code == 200
        assert response.json() == {"sub": "d", "scheme": "DPoP"}
        # The same proof again: replayed (RFC 9449 §11.1), whatever the OpenAPI wiring.
        response = client.get("/plain", headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        assert response.status_code == 401
        assert response.json()["reason"] == "dpop_replayed"
        response = client.get("/plain", headers={"Authorization": f"Bearer {plain}"})
        if mode == "allowed":
            assert response.status_code == 200
            assert response.json() == {"sub": "b", "scheme": "Bearer"}
        else:
            assert response.status_code == 401
            assert response.json()["reason"] == "dpop_required"
