"""What a refusal must look like: the exact challenge, body and headers (DESIGN.md contract)."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any

from bearerguard.errors import DESCRIPTIONS

#: The DPoP challenge offered beside Bearer by default (BEARERGUARD_DPOP=allowed, RFC 9449
#: §7.1): the default proof algorithms, in the order DESIGN.md lists them.
DPOP_ALGS = "ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"
DPOP_CHALLENGE = f'DPoP algs="{DPOP_ALGS}"'


def with_dpop(value: str | None) -> str | None:
    """A Bearer challenge as sent with the default settings: the DPoP offer appended."""
    if value is None or "DPoP" in value:
        return value
    return f"{value}, {DPOP_CHALLENGE}"


def challenge(
    error: str | None = None,
    reason: str | None = None,
    scope: str | None = None,
    *,
    dpop: bool = True,
    metadata: str | None = None,
    params: tuple[tuple[str, str], ...] = (),
) -> str:
    """The exact ``WWW-Authenticate`` value for realm ``api`` (a Bearer request).

    With the default settings both schemes are offered in one header (RFC 9110 §11.6.1):
    the Bearer challenge carries the error, then a bare DPoP challenge (``dpop=False``:
    ``BEARERGUARD_DPOP=off``). *scope*: beside the error, or in every challenge of a bare
    401 (a route whose scopes are known); *params*: more parameters of the error
    (RFC 9470 ``acr_values``, ``max_age``); *metadata*: the RFC 9728 ``resource_metadata``
    URL, last in every challenge.
    """
    meta = f', resource_metadata="{metadata}"' if metadata else ""
    bare_scope = f'scope="{scope}", ' if scope and error is None else ""
    value = 'Bearer realm="api"'
    if error is not None:
        value += f', error="{error}", error_description="{DESCRIPTIONS[reason or error]}"'
        value += f', scope="{scope}"' if scope else ""
        value += "".join(f', {k}="{v}"' for k, v in params)
    elif scope:
        value += f', scope="{scope}"'
    value += meta
    if not dpop:
        return value
    return f'{value}, DPoP {bare_scope}algs="{DPOP_ALGS}"{meta}'


def body(error: str | None, reason: str) -> dict[str, Any]:
    """The exact JSON body of a refusal (no ``error`` member when there is none)."""
    if error is None:
        return {"error_description": DESCRIPTIONS[reason], "reason": reason}
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


def join_started(thread: threading.Thread, timeout: float) -> None:
    """Join *thread*, which ``threading.enumerate()`` may list while it is still starting."""
    for _ in range(500):
        try:
            thread.join(timeout)
            return
        except RuntimeError:  # started but not yet running ("cannot join thread before ...")
            time.sleep(0.01)
