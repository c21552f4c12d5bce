"""Issue #11 finding 10: a Content-Length that is not 1*DIGIT is no form token, not a 500.

``str.isdigit`` accepts ``"²"`` (and ``int`` then raises); ``int`` refuses 5000 digits.
Servers such as uvicorn refuse these headers first, so the app is called in-process
(httpx's ASGI transport, on both anyio backends).
"""

# No ``from __future__ import annotations`` here: FastAPI evaluates endpoint annotations
# in the module's globals, and the endpoint is a closure over a per-test verifier.

from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest

pytest.importorskip("fastapi")

from fastapi import Depends, FastAPI, Request

from bearerguard import AccessToken, Verifier
from bearerguard.adapters.fastapi import BearerToken, install_error_handler
from bearerguard.middleware._common import content_length
from bearerguard.testing import Issuer
from tests.expect import bearer, body, challenge, check

BAD_LENGTHS = ["\u00b2", "1" * 5000]


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience="https://api.example.com") as iss:
        yield iss


def make_app(issuer: Issuer) -> FastAPI:
    verifier = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        jwks_uri=issuer.jwks_uri,
        token_locations="header,form",
    )
    app = FastAPI()
    install_error_handler(app)
    Token = Annotated[AccessToken, Depends(BearerToken(verifier))]

    @app.post("/private")
    async def private(token: Token, request: Request) -> dict[str, Any]:
        return {"sub": token.subject}

    return app


async def post(app: FastAPI, length: str, form: str, headers: dict[str, str]) -> httpx.Response:
    """POST *form* declaring *length*, sent as latin-1 bytes the way a server hands them on.

    httpx keeps a Content-Length it is given and its ASGI transport passes raw header
    bytes (the TestClient would re-encode them as UTF-8).
    """
    raw = {k.encode(): v.encode() for k, v in headers.items()}
    raw[b"content-type"] = b"application/x-www-form-urlencoded"
    raw[b"content-length"] = length.encode("latin-1")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.post("/private", content=form, headers=raw)


@pytest.mark.anyio
@pytest.mark.parametrize("length", BAD_LENGTHS, ids=["superscript-two", "5000-digits"])
async def test_form_content_length_not_digits(issuer: Issuer, length: str) -> None:
    app = make_app(issuer)
    form = f"access_token={issuer.token()}"
    # The form body is not read: no token, the bare RFC 6750 §3.1 challenge.
    check(await post(app, length, form, {}), 401, challenge(), body(None, "missing_token"))
    # A header token is still honoured with the same declared length.
    resp = await post(app, length, "x=1", bearer(issuer.token()))
    check(resp, 200, None, {"sub": "user-1"})
    # Control: with a well-formed length the form token is found.
    check(await post(app, str(len(form)), form, {}), 200, None, {"sub": "user-1"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("65536", 65536),
        ("0012", 12),
        ("9" * 19, 10**19 - 1),
        ("9" * 20, None),
        ("1" * 5000, None),
        ("\u00b2", None),
        ("\u0663", None),  # ARABIC-INDIC DIGIT THREE: int() takes it, RFC 9110 does not
        ("+5", None),
        ("-1", None),
        (" 5", None),
        ("5 ", None),
        ("1_0", None),
        ("5\n", None),
        ("", None),
        (None, None),
    ],
)
def test_content_length_helper(value: str | None, expected: int | None) -> None:
    assert content_length(value) == expected
