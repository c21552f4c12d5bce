"""Fixtures for the Flask adapter tests: a real test issuer, apps wired to it, a real server."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bearerguard.testing import Issuer

AUD = "https://api.example.com"


@pytest.fixture(scope="package")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD) as iss:
        yield iss


@pytest.fixture
def config(issuer: Issuer) -> dict[str, Any]:
    return {
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": AUD,
        "BEARERGUARD_JWKS_URI": issuer.jwks_uri,
    }


@pytest.fixture
def make_flask(config: dict[str, Any]) -> Callable[..., Any]:
    """A Flask app configured for the issuer; keyword arguments override config keys."""

    def make(**overrides: Any) -> Any:
        from flask import Flask

        app = Flask("bearerguard_test")
        app.config.update(config)
        app.config.update(overrides)
        return app

    return make


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run *app* under werkzeug's threaded server on 127.0.0.1; yield its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
