"""Start the contract apps as real servers (uvicorn / gunicorn) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(kind: str, target: str, port: int, workers: int = 1) -> list[str]:
    if kind == "asgi":
        return [
            sys.executable, "-m", "uvicorn", target,
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
            *(["--workers", str(workers)] if workers > 1 else []),
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", target,
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip


class Server:
    """A server subprocess; ``url`` once :meth:`wait` returns."""

    def __init__(self, kind: str, target: str, env: Mapping[str, str], workers: int = 1) -> None:
        self.kind, self.target, self.workers = kind, target, workers
        self.env = {**os.environ, **env}
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT / "src"), str(ROOT), self.env.get("PYTHONPATH", "")]
        )
        self._start()

    def _start(self) -> None:
        # free_port() closes its socket before the server binds: another socket (a client's
        # ephemeral port, say) can take the port in between; wait() then starts again.
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            command(self.kind, self.target, self.port, self.workers),
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def wait(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        attempts = 1
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                if "in use" in err.lower() and attempts < 3:
                    attempts += 1
                    self._start()
                    continue
                raise RuntimeError(f"server exited early ({self.proc.returncode}):\n{err[-3000:]}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/api/public")
                conn.getresponse().read()
                return
            except OSError:
                pass
            finally:
                conn.close()  # also when the server answered nothing yet (ResourceWarning)
            time.sleep(0.1)
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stderr:
            self.proc.stderr.close()


@contextlib.contextmanager
def running(specs: Mapping[str, tuple[str, str, Mapping[str, str]]]) -> Iterator[dict[str, Server]]:
    """Start every server at once (they boot in parallel), yield them by name, stop them all."""
    servers: dict[str, Server] = {}
    try:
        for name, (kind, target, env) in specs.items():
            servers[name] = Server(kind, target, env)
        for server in servers.values():
            server.wait()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def request(
    url: str,
    method: str,
    path: str,
    headers: list[tuple[str, str]] | None = None,
    data: bytes | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request with exact control of the header lines (repeated headers included)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=15)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers or []:
            conn.putheader(name, value)
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


@contextlib.contextmanager
def serve_app(kind: str, target: str, env: Mapping[str, str]) -> Iterator[str]:
    """One app under a real server (``kind`` "asgi": uvicorn, "wsgi": gunicorn); yield its URL."""
    with running({"app": (kind, target, env)}) as started:
        yield started["app"].url
