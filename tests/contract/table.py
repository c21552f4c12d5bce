"""The contract table's machinery: entry points, the row type, and the check of one row.

Shared by every ``tests/contract/test_contract*.py`` module; the servers are started once
per session (tests/contract/conftest.py).
"""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bearerguard.testing import Issuer
from tests.contract.servers import Server, free_port, request
from tests.expect import body as error_body
from tests.expect import challenge, with_dpop

AUD = "https://api.example.com"

# name -> (server kind, import target, modules it needs)
ENTRY_POINTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "django": ("wsgi", "tests.contract.apps.django_app:app", ("django",)),
    "django-asgi": ("asgi", "tests.contract.apps.django_app:asgi_app", ("django",)),
    "drf": ("wsgi", "tests.contract.apps.drf_app:app", ("django", "rest_framework")),
    "flask": ("wsgi", "tests.contract.apps.flask_app:app", ("flask",)),
    "wsgi": ("wsgi", "tests.contract.apps.wsgi_app:app", ()),
    "starlette": ("asgi", "tests.contract.apps.starlette_app:app", ("starlette",)),
    "fastapi": ("asgi", "tests.contract.apps.fastapi_app:app", ("fastapi",)),
    "asgi": ("asgi", "tests.contract.apps.asgi_app:app", ()),
    "ninja": ("wsgi", "tests.contract.apps.ninja_app:app", ("django", "ninja")),
    "litestar": ("asgi", "tests.contract.apps.litestar_app:app", ("litestar",)),
}


def available(modules: tuple[str, ...]) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


@dataclass
class Case:
    """One row: how to build the request from the issuer, and the exact answer."""

    id: str
    path: str
    status: int
    auth: Callable[[Issuer], list[tuple[str, str]]] = lambda i: []
    method: str = "GET"
    www: str | None = None
    reason: str | None = None
    error: str | None = None
    query: Callable[[Issuer], str] | None = None
    form: Callable[[Issuer], str] | None = None
    expect_ok_body: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    #: headers built for the exact request URL (DPoP proofs name it); replaces ``auth``
    for_url: Callable[[Issuer, str, str], list[tuple[str, str]]] | None = None
    #: send the same request this many times; the last answer is checked
    repeat: int = 1
    #: the challenge as sent with the default settings gets the DPoP offer appended
    dpop_offer: bool = True


def bearer(make: Callable[[Issuer], str]) -> Callable[[Issuer], list[tuple[str, str]]]:
    return lambda i: [("Authorization", f"Bearer {make(i)}")]


def fixed(*headers: tuple[str, str]) -> Callable[[Issuer], list[tuple[str, str]]]:
    return lambda i: list(headers)


def _unknown_kid(i: Issuer) -> str:
    key = i.new_key("RS256", kid="not-published", publish=False)
    return i.token(kid="not-published", key=key)


def _bad_signature(i: Issuer) -> str:
    head, payload, sig = i.token().split(".")
    return f"{head}.{payload}.{sig[:-6]}AAAAAA"


def _alg_none(i: Issuer) -> str:
    return i.sign(
        {"alg": "none", "typ": "at+jwt"}, {"iss": i.issuer, "aud": AUD, "sub": "x", "exp": 2**40}
    )


def invalid(
    status: int, error: str | None, reason: str, path: str = "/api/private", **kw: Any
) -> dict[str, Any]:
    return {
        "path": path,
        "status": status,
        "www": challenge(error, reason),
        "reason": reason,
        "error": error,
        **kw,
    }


DOWN_ISSUER = f"http://127.0.0.1:{free_port()}/"  # nothing listens: discovery is refused


def _payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def _expected_scopes(claims: dict[str, Any]) -> list[str]:
    """Issue #13.1: the first of ``scope``, ``scp`` present supplies the scopes; a string is
    split on spaces, an array of strings taken as is, anything else grants nothing."""
    for name in ("scope", "scp"):
        if name in claims:
            value = claims[name]
            if isinstance(value, str):
                return [s for s in value.split(" ") if s]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return [v for v in value if v]
            return []
    return []


def check_case(entry: str, case: Case, issuer: Issuer, servers: dict[str, Server]) -> None:
    """Send *case* to *entry*'s server and assert the exact answer."""
    if entry not in servers:
        pytest.skip(f"{entry}: framework not installed")
    url = servers[entry].url + case.path
    headers = case.for_url(issuer, url, case.method) if case.for_url else case.auth(issuer)
    path, body, sent = case.path, None, ""
    if headers and headers[0][0] == "Authorization":
        sent = headers[0][1].removeprefix("Bearer ").removeprefix("DPoP ")
    if case.query is not None:
        sent = case.query(issuer)
        path += "?access_token=" + sent
    if case.form is not None:
        sent = case.form(issuer)
        body = f"access_token={sent}&x=1".encode()
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    for _ in range(case.repeat):
        status, resp_headers, raw = request(servers[entry].url, case.method, path, headers, body)
    assert status == case.status, raw
    www = with_dpop(case.www) if case.dpop_offer else case.www
    assert resp_headers.get_all("WWW-Authenticate") == ([www] if www else None)
    data = json.loads(raw)
    if case.reason is not None:
        assert data == error_body(case.error, case.reason)
        assert resp_headers["Content-Type"].startswith("application/json")
        assert resp_headers["Cache-Control"] == "no-store"
        if status == 503:
            assert int(resp_headers["Retry-After"]) >= 1
        else:
            assert resp_headers["Retry-After"] is None
        return
    if case.path == "/api/public":
        assert data == {"message": "public"}
        return
    if not case.expect_ok_body:  # an opaque token: its claims are the introspection answer
        assert data["sub"] == "user-1" and data["claims"]["active"] is True, data
        return
    # A 200 from a protected route echoes the verified caller, every claim included.
    claims = _payload(sent)
    # The first scope claim present supplies the scopes (scope, then scp; issue #13).
    scopes = _expected_scopes(claims)
    assert data == {"sub": "user-1", "scopes": sorted(set(scopes)), "claims": claims}
