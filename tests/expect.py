"""What a refusal must look like: the exact challenge, body and headers (DESIGN.md contract)."""

from __future__ import annotations

import http.client
import json
from typing import Any

from bearerguard.errors import DESCRIPTIONS


def challenge(error: str | None = None, reason: str | None = None, scope: str | None = None) -> str:
    """The exact ``WWW-Authenticate`` value for realm ``api``."""
    if error is None:
        return 'Bearer realm="api"'
    value = (
        f'Bearer realm="api", error="{error}", error_description="{DESCRIPTIONS[reason or error]}"'
    )
    return value + (f', scope="{scope}"' if scope else "")


def body(error: str | None, reason: str) -> dict[str, Any]:
    """The exact JSON body of a refusal."""
    return {"error": error, "error_description": DESCRIPTIONS[reason], "reason": reason}


def check(resp: Any, status: int, www: str | None, data: dict[str, Any]) -> None:
    """Assert status, challenge, JSON body and (for refusals) the JSON/no-store headers."""
    assert resp.status_code == status
    assert resp.headers.get_list("www-authenticate") == ([www] if www else [])
    assert resp.json() == data
    if status != 200:
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["cache-control"] == "no-store"


def bearer(token: str) -> dict[str, str]:
    """An Authorization header for *token*."""
    return {"Authorization": f"Bearer {token}"}


def check_raw(
    resp: tuple[int, http.client.HTTPMessage, bytes],
    status: int,
    www: str | None,
    error: str | None,
    reason: str,
) -> None:
    """As :func:`check`, for an ``http.client`` answer (status, headers, raw body) from a server."""
    code, headers, raw = resp
    assert code == status
    assert headers.get_all("WWW-Authenticate") == ([www] if www else None)
    assert json.loads(raw) == body(error, reason)
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Length"] == str(len(raw))
