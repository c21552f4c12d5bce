"""Requests per second through each framework, open route against protected route.

Run from the repository root (``-m``: a script named http.py must not shadow the stdlib)::

    PYTHONPATH=src .venv/bin/python -m bench.http_bench [--seconds 5] [--connections 8]
        [--frameworks starlette,flask,django] [--fresh-tokens 3000] [--no-baseline]

Servers: Starlette on uvicorn, Flask and Django on gunicorn (one sync worker), each running
an app from ``bench/apps`` against the real test ``Issuer`` on 127.0.0.1 (keys over HTTP).
Cells per framework: ``/open``; ``/protected`` with the same token on every request (a
token-cache hit) and with a fresh token per request (a list of pre-minted tokens longer than
the verifier's 1024-entry cache, so every request verifies a signature); then the same with
a hand-written PyJWT ``PyJWKClient`` check (the baseline). Load comes from ``wrk`` (one
thread, a Lua script rotating ``Authorization``) or, without it, a bounded Python client.
With two or more CPUs the server is pinned to CPU 0 and the load generator to CPU 1. Every
process started is stopped by PID in ``finally``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import http.client
import importlib
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bearerguard import Verifier
from bearerguard.testing import Issuer

from ._tokens import AUDIENCE, environment, floor_fn, floor_input, mint

ROOT = Path(__file__).resolve().parent.parent
# Where the servers import bearerguard from: BENCH_SRC=/path/to/copy compares a patched copy.
SRC = os.environ.get("BENCH_SRC", str(ROOT / "src"))
FRAMEWORKS = {
    "starlette": [
        "uvicorn",
        "bench.apps.starlette_app:app",
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ],
    "flask": ["gunicorn", "bench.apps.flask_app:app", "-w", "1", "-k", "sync"],
    "django": ["gunicorn", "bench.apps.django_app:app", "-w", "1", "-k", "sync"],
}
SAME_TOKEN_TARGET = {"starlette": 0.90, "flask": 0.95, "django": 0.95}
# Issue #19 §1: the same-token ratio at most this far below the dict-lookup control's
# (bench/apps/_dict_control.py), measured in the same server and rounds.
DICT_CONTROL_MARGIN = 0.02
FRESH_TARGET = 1.3  # added µs per request <= 1.3 x the uncached verification cost
# The token cache (1024 entries) is filled with these before any cell runs, as in a server
# that has been up for a while. Once full it stores a token only when verified a second
# time within about 1024 verifications, so the fresh tokens go round one long cycle (each
# run of wrk goes on where the last one stopped): no fresh token is ever a cache hit.
FILLER_TOKENS = 1100
# The "pad" cells send the token under a header name of the same length as
# "Authorization", to an open route: the server's cost of carrying the bytes alone.
PAD_HEADER = "X-Bench-Paddd"
assert len(PAD_HEADER) == len("Authorization")
WRK_SCRIPT = """
local tokens, n, i, path, name = {}, 0, 0, "/", "Authorization"
function init(args)
  path = args[1]
  if args[2] then
    for line in io.lines(args[2]) do n = n + 1; tokens[n] = line end
  end
  if args[3] then name = args[3] end
  if args[4] then i = tonumber(args[4]) % math.max(n, 1) end
end
function request()
  if n == 0 then return wrk.format("GET", path) end
  i = i % n + 1
  return wrk.format("GET", path, {[name] = "Bearer " .. tokens[i]})
end
"""


@dataclass
class Cell:
    framework: str
    mode: str  # "bearerguard", "pyjwt", a control app's ("floor", "verify", "model"), "dict"
    label: str
    path: str
    # "none", "pad" (the token under another header name), "same", "fresh", or "floor"
    # (no token: the floor app's /protected reads none)
    tokens: str
    rps: float = 0.0
    cpu_us: float = 0.0  # server CPU time (user + system, all its processes) per request
    errors: int = 0
    cpu_runs: list[float] = field(default_factory=list)  # per round, for paired ratios
    rps_runs: list[float] = field(default_factory=list)

    @property
    def server(self) -> str:
        """The app (BENCH_MODE) serving this cell: the dict control lives in bearerguard's."""
        return "bearerguard" if self.mode == "dict" else self.mode


def cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in group *pgid* (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after "(comm)": state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


# -- processes ------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pin(cpu: int) -> list[str]:
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu)]
    return []


def app_env(mode: str, issuer: Issuer) -> dict[str, str]:
    """The environment a bench app runs in (a server, or the in-process child)."""
    key = next(k for k in issuer.keys if k.alg == "RS256")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([SRC, str(ROOT)]),
        "BENCH_MODE": mode,
        "BEARERGUARD_ISSUER": issuer.issuer,
        "BEARERGUARD_AUDIENCE": AUDIENCE,
        "BEARERGUARD_JWKS_URI": issuer.jwks_uri,
        "BENCH_FLOOR_KEY": key.public_pem().decode(),
        "BENCH_FLOOR_TOKEN": issuer.token(kid=key.kid),
    }


@contextlib.contextmanager
def server(framework: str, mode: str, issuer: Issuer) -> Iterator[tuple[int, int]]:
    """Start one framework's app in *mode*; yield (port, process group); stop it afterwards."""
    port = _free_port()
    tool, target, *extra = FRAMEWORKS[framework]
    exe = str(Path(sys.executable).parent / tool)
    bind = ["--host", "127.0.0.1", "--port", str(port)]
    if tool == "gunicorn":
        bind = ["-b", f"127.0.0.1:{port}"]
    cmd = [*_pin(0), exe, target, *bind, "--log-level", "warning", *extra]
    env = app_env(mode, issuer)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{framework} server exited with {proc.returncode}")
            with contextlib.suppress(OSError):
                if _get(port, "/open")[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{framework} server did not answer within 20 s")
            time.sleep(0.1)
        yield port, proc.pid  # start_new_session: the group id is the PID
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # our own session: the server and its worker
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def _get(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# -- load generators ------------------------------------------------------------------------
def run_wrk(
    port: int,
    path: str,
    tokens_file: Path | None,
    seconds: float,
    connections: int,
    work: Path,
    header: str = "Authorization",
    offset: int = 0,
) -> tuple[float, int, int]:
    script = work / "rotate.lua"
    script.write_text(WRK_SCRIPT)
    cmd = [
        *_pin(1),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}{path}",
        "--",
        path,
    ]
    if tokens_file is not None:
        cmd += [str(tokens_file), header, str(offset)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True)
    rps, total, errors = 0.0, 0, 0
    for line in out.stdout.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif len(parts) > 2 and parts[1] == "requests" and parts[2] == "in":
            total = int(parts[0])
        elif line.strip().startswith(("Non-2xx", "Socket errors")):
            errors += sum(int(p.rstrip(",")) for p in parts if p.rstrip(",").isdigit())
    return rps, total, errors


def run_python(
    port: int,
    path: str,
    tokens: list[str],
    seconds: float,
    connections: int,
    header: str = "Authorization",
    offset: int = 0,
) -> tuple[float, int, int]:
    """Threads with keep-alive connections; bounded by *seconds*. Slower than wrk."""
    deadline = time.monotonic() + seconds
    counts = [0] * connections
    errors = [0] * connections

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        i = offset + n
        while time.monotonic() < deadline:
            headers = {header: f"Bearer {tokens[i % len(tokens)]}"} if tokens else {}
            i += connections
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors[n] += 1
            except (OSError, http.client.HTTPException):
                errors[n] += 1
                conn.close()
            counts[n] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - start), sum(counts), sum(errors)


# -- in-process: the app called directly, no server or socket -------------------------------
APP_MODULES = {
    "starlette": "bench.apps.starlette_app",
    "flask": "bench.apps.flask_app",
    "django": "bench.apps.django_app",
}


def _wsgi_caller(app: Any) -> Callable[[str, str | None], int]:
    def call(path: str, token: str | None) -> int:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if token is not None:
            environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        status: list[str] = []
        body = app(environ, lambda s, h, e=None: status.append(s))
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return int(status[0][:3])

    return call


def _asgi_caller(app: Any) -> Callable[[str, str | None], int]:
    loop = asyncio.new_event_loop()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def one(path: str, token: str | None) -> int:
        headers = [(b"host", b"127.0.0.1")]
        if token is not None:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        # Built as uvicorn builds it (nine keys, then the request line's four): a 13-key
        # literal is sized to 21 keys, and the middleware's keys would then resize it.
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 80),
            "client": ("127.0.0.1", 1),
            "scheme": "http",
            "root_path": "",
            "headers": headers,
            "state": {},
        }
        scope["method"] = "GET"
        scope["path"] = path
        scope["raw_path"] = path.encode()
        scope["query_string"] = b""
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return int(sent[0]["status"])

    return lambda path, token: loop.run_until_complete(one(path, token))


def in_process(
    framework: str, tokens_file: str, filler_file: str, n: int, rounds: int
) -> dict[str, float]:
    """µs per request through the app itself (env already set); median of interleaved rounds."""
    app = importlib.import_module(APP_MODULES[framework]).app
    call = (_asgi_caller if framework == "starlette" else _wsgi_caller)(app)
    fresh = Path(tokens_file).read_text().split()
    filler = Path(filler_file).read_text().split()
    mode = os.environ.get("BENCH_MODE", "bearerguard")
    plan: dict[str, tuple[str, list[str] | None]] = {
        "none": ("/open", None),
        "same": ("/protected", filler[:1]),
        "fresh": ("/protected", fresh),
    }
    if mode == "floor":  # a control: /protected checks one signature and reads no token
        plan = {"none": ("/open", None), "floor": ("/protected", None)}
    elif mode == "verify":  # a control: a bare Verifier.verify, cache off
        plan = {"none": ("/open", None), "fresh": ("/protected", fresh)}
    elif mode == "model":  # a control: Starlette's AuthenticationMiddleware + @requires
        plan = {"none": ("/open", None), "same": ("/protected", filler[:1])}
    if mode == "bearerguard" and framework == "starlette":  # the dict control, same app
        plan["dict_none"] = ("/dict/open", None)
        plan["dict_same"] = ("/dict/protected", filler[:1])
    for token in filler if mode in ("bearerguard", "pyjwt") else ():  # fill the token cache
        if call("/protected", token) != 200:
            raise SystemExit(f"{framework}: /protected did not answer 200")
    for path, toks in plan.values():  # warm up; every answer must be 200
        for i in range(20):
            if call(path, toks[-1 - i % len(toks)] if toks else None) != 200:
                raise SystemExit(f"{framework}: {path} did not answer 200")
    offset = 0  # the fresh tokens go round one cycle across rounds: none comes back soon
    out: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, (path, toks) in plan.items():
            gc.collect()
            start = time.perf_counter()
            if toks is None:
                for _ in range(n):
                    call(path, None)
            else:
                for i in range(offset, offset + n):
                    call(path, toks[i % len(toks)])
                if name == "fresh":
                    offset += n
            out.setdefault(name, []).append((time.perf_counter() - start) / n * 1e6)
    if mode == "bearerguard":
        cache = _token_cache(framework, app)
        if any(t in cache for t in fresh):  # the figures would not be what they claim
            raise SystemExit(f"{framework}: a fresh token was served from the token cache")
    return {name: statistics.median(v) for name, v in out.items()}


def _token_cache(framework: str, app: Any) -> Any:
    """The token cache of the verifier behind a bench app (to prove the fresh cell misses)."""
    if framework == "flask":
        verifier = app.extensions["bearerguard"]
    elif framework == "django":
        from bearerguard.adapters.django.conf import configured

        verifier = configured().verifier
    else:
        verifier = importlib.import_module(APP_MODULES[framework]).VERIFIER
    return verifier.tokens


def run_in_process(
    framework: str,
    mode: str,
    issuer: Issuer,
    tokens_file: Path,
    filler_file: Path,
    n: int,
    rounds: int,
) -> dict[str, float]:
    env = app_env(mode, issuer)
    cmd = [*_pin(0), sys.executable, "-m", "bench.http_bench", "--in-process", framework]
    cmd += [str(tokens_file), str(filler_file), str(n), str(rounds)]
    out = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"in-process {framework}/{mode} failed:\n{out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- the schedule ----------------------------------------------------------------------------
def cells_for(framework: str, baseline: bool, controls: bool = True) -> list[Cell]:
    cells = [
        Cell(framework, "bearerguard", "open route", "/open", "none"),
        Cell(framework, "bearerguard", "open route, token-sized header", "/open", "pad"),
        Cell(framework, "bearerguard", "bearerguard, same token", "/protected", "same"),
        Cell(framework, "bearerguard", "bearerguard, fresh token", "/protected", "fresh"),
    ]
    if baseline:
        cells += [
            Cell(framework, "pyjwt", "PyJWT app: open route", "/open", "none"),
            Cell(framework, "pyjwt", "PyJWT bearer check, same token", "/protected", "same"),
            Cell(framework, "pyjwt", "PyJWT bearer check, fresh token", "/protected", "fresh"),
        ]
    if controls:  # what the signature alone, and a bare verification, cost in this server
        cells += [
            Cell(framework, "floor", "floor app: open route", "/open", "none"),
            Cell(framework, "floor", "floor app: raw RS256 check only", "/protected", "floor"),
            Cell(framework, "verify", "verify app: open route", "/open", "none"),
            Cell(framework, "verify", "verify app: bare verify, fresh", "/protected", "fresh"),
        ]
    if framework == "starlette":  # issue #19 §1: the dict lookup, in bearerguard's server
        cells += [
            Cell(framework, "dict", "dict control: open route", "/dict/open", "none"),
            Cell(framework, "dict", "dict control, same token", "/dict/protected", "same"),
        ]
    if controls and framework == "starlette":  # Starlette's own auth, verifying nothing
        cells += [
            Cell(framework, "model", "Starlette auth app: open route", "/open", "none"),
            Cell(framework, "model", "Starlette auth app, no verify", "/protected", "same"),
        ]
    return cells


def tight_costs(issuer: Issuer, tokens: list[str]) -> tuple[float, float]:
    """In-process µs of one uncached verification and of the raw RS256 check alone (the
    floor), each the best of 5 passes over the same tokens, on CPU 0."""
    v = Verifier(issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks(), token_cache_size=0)
    sample = tokens[:500]
    floor = floor_fn(next(k for k in issuer.keys if k.alg == "RS256"), "RS256")
    inputs = [floor_input(t, "RS256") for t in sample]
    pinned = hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    before = os.sched_getaffinity(0) if pinned else set()
    if pinned:
        os.sched_setaffinity(0, {0})
    try:
        best = [float("inf"), float("inf")]
        for _ in range(5):
            start = time.perf_counter()
            for t in sample:
                v.verify(t)
            middle = time.perf_counter()
            for sig, data in inputs:
                floor(sig, data)
            end = time.perf_counter()
            best[0] = min(best[0], (middle - start) / len(sample) * 1e6)
            best[1] = min(best[1], (end - middle) / len(sample) * 1e6)
    finally:
        if pinned:
            os.sched_setaffinity(0, before)
    return best[0], best[1]


def report(cells: list[Cell], verify_us: float, floor_us: float, rounds: int) -> list[str]:
    """The table and the targets. Ratios use server CPU per request: on a shared machine
    throughput swings with the neighbours' load, CPU time per request much less.

    Each protected cell is compared twice: with the open route requested bare
    ("open"), and with the open route carrying a header of the token's size
    ("padded"), which leaves out what the server spends receiving and parsing the
    bytes of the token, work that no bearer-token library can save.
    """
    lines = [
        f"\nuncached RS256 verification in-process: {verify_us:.1f} µs; medians of {rounds} "
        "round(s); 'vs' = CPU(base) / CPU(cell); 'added' = CPU(cell) - CPU(base) (medians of "
        "the per-round values); "
        "'x verify' = added / verification",
        f"{'':<45} {'':>7} {'':>8} {'---- vs open route ----':>27} {'-- vs open, padded --':>27}",
        f"{'framework':<10} {'cell':<34} {'req/s':>7} {'CPU µs':>8}"
        + f" {'vs':>6} {'added µs':>9} {'x verify':>9}" * 2
        + f" {'errors':>6}",
    ]
    checks = []

    def compare(c: Cell, base: Cell | None) -> tuple[str, float, float]:
        if base is None or base is c or c.tokens == "none":
            return " " * 26, 0.0, 0.0
        # Paired by round (the two cells ran seconds apart), then the median: drift in
        # the machine's load between rounds cancels out of each pair.
        pairs = list(zip(base.cpu_runs, c.cpu_runs, strict=True))
        ratio = statistics.median(b / x for b, x in pairs if x)
        added = statistics.median(x - b for b, x in pairs)
        times = added / verify_us
        x = f"{times:>9.2f}" if c.tokens in ("fresh", "floor") else " " * 9
        return f"{ratio:>6.2f} {added:>9.1f} {x}", ratio, times

    for fw in dict.fromkeys(c.framework for c in cells):
        rows = [c for c in cells if c.framework == fw]
        for c in rows:
            bare = next(o for o in rows if o.mode == c.mode and o.tokens == "none")
            padded = next((o for o in rows if o.mode == c.mode and o.tokens == "pad"), None)
            col1, ratio1, times1 = compare(c, bare)
            col2, ratio2, times2 = compare(c, padded if c.tokens != "pad" else None)
            lines.append(
                f"{fw:<10} {c.label:<34} {c.rps:>7.0f} {c.cpu_us:>8.1f} {col1} {col2} {c.errors:>6}"
            )
            if c.mode != "bearerguard" or c.tokens not in ("same", "fresh"):
                continue
            if c.tokens == "same":
                target = SAME_TOKEN_TARGET[fw]
                label = f"{fw}: same token >= {target:.2f} of open"
                checks.append((label, ratio1, ratio1 >= target))
                checks.append((label + ", padded", ratio2, ratio2 >= target))
            else:
                label = f"{fw}: fresh token added <= {FRESH_TARGET}x verify"
                checks.append((label, times1, times1 <= FRESH_TARGET))
                checks.append((label + ", padded", times2, times2 <= FRESH_TARGET))
    checks += dict_control_checks(cells)
    lines += controls(cells, verify_us, floor_us)
    lines.append("\ntargets (by server CPU per request, unless marked)")
    lines += [f"  {label:<52} {v:>6.2f} {'PASS' if ok else 'FAIL'}" for label, v, ok in checks]
    if any(c.errors for c in cells):
        lines.append("\nWARNING: some cells saw errors or non-2xx answers: their figures are void")
    return lines


def dict_control_checks(cells: list[Cell]) -> list[tuple[str, float, bool]]:
    """Issue #19 §1: bearerguard's same-token ratio against the dict-lookup control's.

    Per round, each app's protected cell against its own open route (by CPU per request:
    open / protected; by throughput: protected / open), then bearerguard's ratio minus the
    control's; the median over rounds. Both apps ran in the same server, same rounds.
    """
    checks = []
    for fw in dict.fromkeys(c.framework for c in cells):
        found = {
            (c.mode, c.tokens): c
            for c in cells
            if c.framework == fw and c.mode in ("bearerguard", "dict")
        }
        need = [
            ("bearerguard", "none"),
            ("bearerguard", "same"),
            ("dict", "none"),
            ("dict", "same"),
        ]
        if not all(k in found for k in need):
            continue
        bo, bs, do, ds = (found[k] for k in need)
        by_cpu = statistics.median(
            b_o / b_s - d_o / d_s
            for b_o, b_s, d_o, d_s in zip(
                bo.cpu_runs, bs.cpu_runs, do.cpu_runs, ds.cpu_runs, strict=True
            )
            if b_s and d_s
        )
        by_rps = statistics.median(
            b_s / b_o - d_s / d_o
            for b_o, b_s, d_o, d_s in zip(
                bo.rps_runs, bs.rps_runs, do.rps_runs, ds.rps_runs, strict=True
            )
            if b_o and d_o
        )
        label = f"{fw}: same token vs dict ctrl >= -{DICT_CONTROL_MARGIN:.2f}"
        checks.append((label, by_cpu, by_cpu >= -DICT_CONTROL_MARGIN))
        checks.append((label + ", req/s", by_rps, by_rps >= -DICT_CONTROL_MARGIN))
    return checks


def control_lines(
    fw: str,
    verify_us: float,
    floor_us: float,
    *,
    floor: float | None,
    bare: float | None,
    fresh: float | None,
    model: tuple[float, float] | None,
) -> list[str]:
    """One framework's control lines, from the µs each control app adds to its open route
    (*model*: µs added and the ratio to the open route)."""
    lines = []
    if floor is not None:
        lines.append(
            f"  {fw:<10} raw RS256 check alone adds {floor:5.1f} µs = {floor / floor_us:.2f}x"
            f" its tight loop ({floor_us:.1f} µs), {floor / verify_us:.2f}x a verification"
        )
    if bare is not None:
        line = (
            f"  {fw:<10} a bare Verifier.verify adds {bare:5.1f} µs = {bare / verify_us:.2f}x"
            f" its tight loop ({verify_us:.1f} µs)"
        )
        if fresh is not None:
            line += f"; through the adapter a fresh token adds {fresh / bare:.2f}x that"
        lines.append(line)
    if model is not None:
        lines.append(
            f"  {fw:<10} its own auth middleware + @requires, verifying nothing, add "
            f"{model[0]:4.1f} µs (vs open {model[1]:.2f})"
        )
    return lines


def controls(cells: list[Cell], verify_us: float, floor_us: float) -> list[str]:
    """The control apps' lines, by server CPU per request (paired by round, medians)."""
    lines = []

    def paired(fw: str, mode: str, tokens: str) -> tuple[float, float] | None:
        rows = [c for c in cells if c.framework == fw and c.mode == mode]
        base = next((c for c in rows if c.tokens == "none"), None)
        cell = next((c for c in rows if c.tokens == tokens), None)
        if base is None or cell is None:
            return None
        pairs = list(zip(base.cpu_runs, cell.cpu_runs, strict=True))
        added = statistics.median(x - b for b, x in pairs)
        return added, statistics.median(b / x for b, x in pairs if x)

    def added(fw: str, mode: str, tokens: str) -> float | None:
        pair = paired(fw, mode, tokens)
        return None if pair is None else pair[0]

    for fw in dict.fromkeys(c.framework for c in cells):
        lines += control_lines(
            fw,
            verify_us,
            floor_us,
            floor=added(fw, "floor", "floor"),
            bare=added(fw, "verify", "fresh"),
            fresh=added(fw, "bearerguard", "fresh"),
            model=paired(fw, "model", "same"),
        )
    if lines:
        lines.insert(0, "\ncontrols (server CPU per request)")
    return lines


def report_in_process(
    results: dict[tuple[str, str], dict[str, float]], verify_us: float, floor_us: float
) -> list[str]:
    lines = [
        "\nin-process (the app called directly: framework + adapter + verifier, no server)",
        f"{'framework':<10} {'check':<12} {'open µs':>8} {'same µs':>8} {'added':>6} {'vs open':>8}"
        f" {'fresh µs':>9} {'added':>6} {'x verify':>9}",
    ]
    checks = []
    for (fw, mode), r in results.items():
        if mode not in ("bearerguard", "pyjwt"):  # the controls: after the table
            continue
        same, fresh = r["same"] - r["none"], r["fresh"] - r["none"]
        ratio, times = r["none"] / r["same"], fresh / verify_us
        lines.append(
            f"{fw:<10} {mode:<12} {r['none']:>8.1f} {r['same']:>8.1f} {same:>6.1f} {ratio:>8.2f}"
            f" {r['fresh']:>9.1f} {fresh:>6.1f} {times:>9.2f}"
        )
        if mode == "bearerguard":  # the same-token target is about servers: see below
            label = f"{fw}: fresh token added <= {FRESH_TARGET}x verify"
            checks.append((label, times, times <= FRESH_TARGET))
    for (fw, mode), r in results.items():
        if mode != "bearerguard" or "dict_same" not in r:
            continue
        ratio = r["dict_none"] / r["dict_same"]
        lines.append(
            f"{fw:<10} {'dict ctrl':<12} {r['dict_none']:>8.1f} {r['dict_same']:>8.1f}"
            f" {r['dict_same'] - r['dict_none']:>6.1f} {ratio:>8.2f}"
        )
        diff = r["none"] / r["same"] - ratio
        label = f"{fw}: same token vs dict ctrl >= -{DICT_CONTROL_MARGIN:.2f}"
        checks.append((label, diff, diff >= -DICT_CONTROL_MARGIN))
    control = []
    for fw in dict.fromkeys(fw for fw, _ in results):

        def added(mode: str, cell: str, fw: str = fw) -> float | None:
            r = results.get((fw, mode))
            return None if r is None else r[cell] - r["none"]

        model = results.get((fw, "model"))
        control += control_lines(
            fw,
            verify_us,
            floor_us,
            floor=added("floor", "floor"),
            bare=added("verify", "fresh"),
            fresh=added("bearerguard", "fresh"),
            model=None
            if model is None
            else (model["same"] - model["none"], model["none"] / model["same"]),
        )
    if control:
        lines += ["\ncontrols (in-process)", *control]
    lines.append("\ntargets (in-process)")
    lines += [f"  {label:<44} {v:>6.2f} {'PASS' if ok else 'FAIL'}" for label, v, ok in checks]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--in-process"]:  # the child process of run_in_process
        fw, tokens_file, filler_file = argv[1], argv[2], argv[3]
        print(json.dumps(in_process(fw, tokens_file, filler_file, int(argv[4]), int(argv[5]))))
        return 0
    # A SIGTERM (timeout(1), a CI runner) unwinds like Ctrl-C, so every server started is
    # still stopped by the finally blocks; the default action would leave them running.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="in-process, per cell (2000)")
    parser.add_argument("--no-servers", action="store_true", help="in-process figures only")
    parser.add_argument("--seconds", type=float, default=2.0, help="per cell and round (2)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (8)")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--fresh-tokens", type=int, default=3000, help="> the cache's 1024")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5; median)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the PyJWT rows")
    parser.add_argument("--no-controls", action="store_true", help="skip the control apps")
    parser.add_argument("--python-client", action="store_true", help="do not use wrk")
    args = parser.parse_args(argv)
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    if set(frameworks) - set(FRAMEWORKS) or args.seconds <= 0 or args.connections < 1:
        parser.error(f"frameworks among {list(FRAMEWORKS)}; seconds and connections positive")
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    print(environment())
    print(
        f"load: {'wrk -t1' if use_wrk else 'Python threads'} -c{args.connections}, "
        f"{args.seconds:g} s per cell, {args.fresh_tokens} fresh tokens; "
        f"pinning: {' '.join(_pin(0)) or 'none'} (server) / {' '.join(_pin(1)) or 'none'} (load)"
    )

    with Issuer(audience=AUDIENCE) as issuer, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        same = mint(issuer, "RS256", 1)
        fresh = mint(issuer, "RS256", args.fresh_tokens)
        filler = mint(issuer, "RS256", FILLER_TOKENS)
        files = {n: work / f"{n}.txt" for n in ("same", "fresh", "filler")}
        files["same"].write_text(same[0] + "\n")
        files["fresh"].write_text("\n".join(fresh) + "\n")
        files["filler"].write_text("\n".join(filler) + "\n")
        verify_us, floor_us = tight_costs(issuer, fresh)
        print(f"uncached RS256 verification in-process: {verify_us:.1f} µs (floor {floor_us:.1f})")
        modes = ["bearerguard"] + ["pyjwt"] * (not args.no_baseline)
        modes += ["floor", "verify"] * (not args.no_controls)
        model = ["model"] if not args.no_controls else []  # Starlette only
        inproc = {}
        for fw in frameworks:
            for mode in modes + (model if fw == "starlette" else []):
                r = run_in_process(
                    fw, mode, issuer, files["fresh"], files["filler"], args.requests, args.rounds
                )
                inproc[(fw, mode)] = r
                print(f"  in-process {fw:<10} {mode:<12} " + json.dumps(r), flush=True)
        if args.no_servers:
            frameworks = []
        results: dict[tuple[str, str], list[tuple[float, float, int]]] = {}
        cells = [
            c
            for fw in frameworks
            for c in cells_for(fw, not args.no_baseline, not args.no_controls)
        ]

        offset = 0  # where the fresh tokens' cycle goes on from (see FILLER_TOKENS)

        def load(port: int, c: Cell, seconds: float) -> tuple[float, int, int]:
            nonlocal offset
            header = PAD_HEADER if c.tokens == "pad" else "Authorization"
            kind = "same" if c.tokens == "pad" else c.tokens
            if use_wrk:
                file = files.get(kind)
                out = run_wrk(port, c.path, file, seconds, args.connections, work, header, offset)
            else:
                toks = {"none": [], "floor": [], "same": same, "fresh": fresh}[kind]
                out = run_python(port, c.path, toks, seconds, args.connections, header, offset)
            if kind == "fresh":  # past every request sent, including those still in flight
                offset += out[1] + 2 * args.connections
            return out

        for fw in frameworks:
            for mode in ("bearerguard", "pyjwt", "floor", "verify", "model"):
                mine = [c for c in cells if c.framework == fw and c.server == mode]
                if not mine:
                    continue
                with server(fw, mode, issuer) as (port, pgid):
                    status, body = _get(port, "/protected", same[0])
                    if status != 200 or b'"user-1"' not in body:
                        raise SystemExit(f"{fw}/{mode}: /protected answered {status}")
                    offset = 0
                    # fill the token cache (the controls have none)
                    for token in filler if mode in ("bearerguard", "pyjwt") else ():
                        if _get(port, "/protected", token)[0] != 200:
                            raise SystemExit(f"{fw}/{mode}: /protected refused a filler token")
                    for c in mine:  # warm-up: JWKS fetch, caches, code paths
                        load(port, c, 1)
                    # Interleaved: each round runs every cell once, so drift (and the
                    # neighbours' load) hits every cell alike; the median is reported.
                    for _ in range(args.rounds):
                        for c in mine:
                            cpu = cpu_seconds(pgid)
                            rps, total, errors = load(port, c, args.seconds)
                            cpu_us = (cpu_seconds(pgid) - cpu) / max(total, 1) * 1e6
                            results.setdefault((fw, c.label), []).append((rps, cpu_us, errors))
                            print(
                                f"  {fw:<10} {c.label:<34} {rps:>7.0f} req/s {cpu_us:>7.1f} "
                                "CPU µs/req",
                                flush=True,
                            )
        for c in cells:
            runs = results[(c.framework, c.label)]
            c.rps = statistics.median(r for r, _, _ in runs)
            c.cpu_us = statistics.median(u for _, u, _ in runs)
            c.errors = sum(e for _, _, e in runs)
            c.cpu_runs = [u for _, u, _ in runs]
            c.rps_runs = [r for r, _, _ in runs]
    # The verification cost measured again at the end: on a shared machine either pass can
    # be slowed by a neighbour, never sped up, so the lower one is the machine's cost.
    with Issuer(audience=AUDIENCE) as issuer:
        again, floor_again = tight_costs(issuer, mint(issuer, "RS256", 500))
    print(
        f"uncached RS256 verification in-process, again: {again:.1f} µs (floor {floor_again:.1f})"
    )
    verify_us, floor_us = min(verify_us, again), min(floor_us, floor_again)
    lines = report_in_process(inproc, verify_us, floor_us)
    if cells:
        lines += report(cells, verify_us, floor_us, args.rounds)
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
