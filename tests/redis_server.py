"""A real ``redis-server`` on a free 127.0.0.1 port, for tests of shared state.

``redis_server`` (session fixture) yields a running :class:`RedisServer`; tests that kill
their server use :func:`start_redis` (or the ``private_redis`` fixture) for a private one.
Without ``redis-server`` installed the tests skip, except under ``CI=true``, where that
is a failure (``make`` installs Debian's package when run as root).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process (no persistence), stopped by PID."""

    def __init__(self, binary: str) -> None:
        self.port = _free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="bearerguard-redis-")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self._dir.name,
                "--loglevel", "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Kill the server (by its PID) and wait for it; idempotent."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._dir.cleanup()


def redis_binary() -> str:
    """The ``redis-server`` path; skips the test when absent (fails under ``CI=true``)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (required under CI=true)")
        pytest.skip("redis-server is not installed")
    return binary


def start_redis() -> RedisServer:
    """Start a private server (a few tries: the free port may be taken meanwhile)."""
    binary = redis_binary()
    for attempt in range(3):
        try:
            return RedisServer(binary)
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A ``redis-server`` shared by the session; tests must not stop it."""
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A ``redis-server`` for one test, which may kill it (``.stop()``)."""
    server = start_redis()
    try:
        yield server
    finally:
        server.stop()
