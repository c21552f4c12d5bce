"""Time to the first 200 after a server starts: cold (no warm-up) against warmed (issue #19 §3).

Two servers, each a fresh process per measurement: uvicorn serving a Starlette app
(``bearer_auth_middleware``: the lifespan scope warms) and gunicorn (one sync worker) serving
a Flask app (``BearerAuth(app)``: ``init_app`` warms). Keys come from a real test ``Issuer`` in
this process, found by discovery (two round trips: metadata, then the key set), each answer
held back ``--issuer-delay`` seconds to stand in for a remote identity provider (TLS and
distance; the local issuer answers in about a millisecond). "cold" is the same server with
``Verifier.warm`` replaced by a no-op in the server process, which is what every release before
the warm-up did; nothing else differs.

Two figures per run:

* ``launch -> first 200``: from starting the process to the first 200 on ``/protected``, the
  client retrying from the start (traffic already waiting when the server comes up);
* ``first request, 1 s up``: the latency of the first ``/protected`` request, sent 1 s after
  the server first answered ``/open`` (a health check on an open route passed, traffic
  follows).

Runs are interleaved (every round runs every cell, the cold/warm order alternating), and each
warm/cold ratio is taken within a round; the median over rounds is reported. Every run must
fetch discovery and the key set exactly once. Servers are stopped by PID (their own session).

    PYTHONPATH=src .venv/bin/python -m bench.first_request   # ~1 min; --rounds 5 --issuer-delay 0.1
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._tokens import AUDIENCE, environment

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ("uvicorn", "gunicorn")
MODES = ("cold", "warm")
SETTLE = 1.0  # seconds between the first answer on /open and the first /protected request


# -- the apps (built in the server process) ------------------------------------------------


def starlette_app() -> Any:
    """Starlette with bearerguard's middleware (``uvicorn --factory``)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from bearerguard import Settings, Verifier
    from bearerguard.adapters.starlette import bearer_auth_middleware, require_scopes

    async def open_route(request: Request) -> JSONResponse:
        return JSONResponse({"message": "public"})

    @require_scopes("read:messages")
    async def protected(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.auth.token.subject})

    verifier = Verifier(Settings.from_env())
    routes = [Route("/open", open_route), Route("/protected", protected)]
    return Starlette(routes=routes, middleware=[bearer_auth_middleware(verifier)])


def flask_app() -> Any:
    """Flask with bearerguard's extension (gunicorn's ``module:factory()``)."""
    from flask import Flask

    from bearerguard.adapters.flask import BearerAuth, current_token

    app = Flask("first_request")
    app.config.update({k: v for k, v in os.environ.items() if k.startswith("BEARERGUARD_")})
    auth = BearerAuth(app)

    @app.get("/open")
    def open_route() -> dict[str, str]:
        return {"message": "public"}

    @app.get("/protected")
    @auth.require(scopes=["read:messages"])
    def protected() -> dict[str, str | None]:
        return {"sub": current_token.subject}

    return app


def _child(mode: str, server: str, port: int) -> None:
    """The server process: uvicorn or gunicorn, with warm-up off when *mode* is cold."""
    if mode == "cold":
        from bearerguard import Verifier

        Verifier.warm = lambda self: None  # type: ignore[method-assign]  # before issue #19 §3
    if server == "uvicorn":
        import uvicorn

        target = "bench.first_request:starlette_app"
        uvicorn.run(target, factory=True, host="127.0.0.1", port=port, log_level="warning")
        return
    from gunicorn.app.wsgiapp import run  # type: ignore[import-untyped]

    # The master imports bearerguard (patched above) before forking the worker that loads the app.
    sys.argv = [
        "gunicorn", "bench.first_request:flask_app()", "--bind", f"127.0.0.1:{port}",
        "--workers", "1", "--log-level", "warning",
    ]  # fmt: skip
    run()


# -- the measurements ----------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(mode: str, server: str, env: dict[str, str]) -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.first_request", "--child", mode, server, str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped with its workers by its PID
    )
    try:
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


def _get(port: int, path: str, token: str | None = None) -> int:
    """One request; the status, or 0 when nothing is listening yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
        return 0
    finally:
        conn.close()


def _until_answered(port: int, path: str, token: str | None, deadline: float) -> int:
    while (status := _get(port, path, token)) == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start in time")
        time.sleep(0.005)
    return status


def launch_to_first_200(mode: str, server: str, env: dict[str, str], token: str) -> float:
    started = time.perf_counter()
    with _server(mode, server, env) as port:
        status = _until_answered(port, "/protected", token, time.monotonic() + 60)
        elapsed = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"{server} {mode}: first answer {status}, not 200")
    return elapsed


def first_request_when_up(mode: str, server: str, env: dict[str, str], token: str) -> float:
    with _server(mode, server, env) as port:
        if _until_answered(port, "/open", None, time.monotonic() + 60) != 200:
            raise RuntimeError(f"{server} {mode}: /open did not answer 200")
        time.sleep(SETTLE)
        started = time.perf_counter()
        status = _get(port, "/protected", token)
        elapsed = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"{server} {mode}: first /protected answered {status}, not 200")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--issuer-delay", type=float, default=0.1, help="seconds per answer")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "SERVER", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        mode, server, port = args.child
        _child(mode, server, int(port))
        return 0

    from bearerguard.testing import Issuer

    servers = [s for s in args.servers.split(",") if s]
    print(environment())
    print(
        f"issuer: discovery + key set, each answer delayed {args.issuer_delay * 1000:.0f} ms; "
        f"{args.rounds} rounds, interleaved"
    )
    figures: dict[tuple[str, str, str], list[float]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    with Issuer(audience=AUDIENCE) as issuer:
        issuer.delay = args.issuer_delay
        env = {
            **os.environ,
            "BEARERGUARD_ISSUER": issuer.issuer,  # no JWKS_URI: discovery, as most deployments
            "BEARERGUARD_AUDIENCE": AUDIENCE,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        }
        token = issuer.token(scopes=["read:messages"], expires_in=3600)
        for round_ in range(args.rounds):
            for server in servers:
                for kind, measure in (
                    ("launch -> first 200", launch_to_first_200),
                    ("first request, 1 s up", first_request_when_up),
                ):
                    order = MODES if round_ % 2 == 0 else MODES[::-1]
                    got: dict[str, float] = {}
                    for mode in order:
                        issuer.reset_counters()
                        got[mode] = measure(mode, server, env, token)
                        fetched = (issuer.discovery_fetches, issuer.jwks_fetches)
                        if fetched != (1, 1):
                            raise RuntimeError(f"{server} {mode}: fetches {fetched}, not (1, 1)")
                        figures.setdefault((server, kind, mode), []).append(got[mode])
                        print(f"  round {round_ + 1}  {server:8}  {kind:22}  {mode}  "
                              f"{got[mode] * 1000:8.1f} ms")  # fmt: skip
                    ratios.setdefault((server, kind), []).append(got["warm"] / got["cold"])
    print()
    print(f"{'server':9} {'figure':23} {'cold ms':>9} {'warm ms':>9} {'warm/cold':>10}")
    for server in servers:
        for kind in ("launch -> first 200", "first request, 1 s up"):
            cold = statistics.median(figures[(server, kind, "cold")]) * 1000
            warm = statistics.median(figures[(server, kind, "warm")]) * 1000
            ratio = statistics.median(ratios[(server, kind)])
            print(f"{server:9} {kind:23} {cold:9.1f} {warm:9.1f} {ratio:10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
