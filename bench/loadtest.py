"""Load test: real servers on loopback, a mix of good and hostile tokens, a key rotation.

For each server type (uvicorn + the ASGI middleware, gunicorn sync + the WSGI middleware) this
starts the server as a subprocess against an in-process test issuer, sends valid, expired,
forged, wrong-audience and token-less requests from client threads for ``--seconds``, rotates
the issuer's key halfway (new tokens are then signed by the new key), checks every answer
(status, challenge, reason, subject), and reports 5xx, wrong answers, latency and the server's
RSS at start and end. Run: ``make loadtest`` or ``python bench/loadtest.py --seconds 30``.
Writes bench/results/loadtest.txt. Exit status 1 when any answer was a 5xx or wrong.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds scripts named like stdlib modules (formerly bench/http.py): when run as a script, drop
# bench/ from the import path so `http.client` below is the standard library's.
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]

import argparse  # noqa: E402
import contextlib  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from bearerguard.errors import DESCRIPTIONS  # noqa: E402
from bearerguard.testing import Issuer  # noqa: E402

APPS = ROOT / "bench" / "loadtest_apps"
RESULTS = ROOT / "bench" / "results" / "loadtest.txt"
AUDIENCE = "https://api.example.com"
# kind -> (weight, status, reason); reason None means 200 with the token's subject.
MIX: dict[str, tuple[int, int, str | None]] = {
    "valid": (50, 200, None),
    "expired": (12, 401, "expired"),
    "forged": (12, 401, "bad_signature"),
    "wrong_audience": (12, 401, "invalid_audience"),
    "missing": (4, 401, "missing_token"),
    "malformed": (10, 400, "malformed_authorization"),
}


# The DPoP scheme is offered beside Bearer with the default settings (RFC 9449 §7.1).
_DPOP = 'DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA Ed25519"'


def _challenge(reason: str) -> str:
    if reason == "missing_token":
        return f'Bearer realm="api", {_DPOP}'
    error = "invalid_request" if MIX_STATUS[reason] == 400 else "invalid_token"
    return (
        f'Bearer realm="api", error="{error}", error_description="{DESCRIPTIONS[reason]}", {_DPOP}'
    )


MIX_STATUS = {r: s for _, s, r in MIX.values() if r}


def rss_kib(pid: int) -> int:
    """VmRSS of *pid* plus its children (gunicorn workers), in KiB; 0 once gone."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(kind: str, port: int, workers: int) -> list[str]:
    if kind == "uvicorn":
        return [sys.executable, "-m", "uvicorn", "lt_asgi:app", "--app-dir", str(APPS),
                "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
                "--log-level", "warning"]  # fmt: skip
    return [sys.executable, "-m", "gunicorn", "--pythonpath", str(APPS), "-k", "sync",
            "-w", str(workers), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
            "lt_wsgi:app"]  # fmt: skip


class Tokens:
    """Token pools per kind; ``valid`` switches to the rotated key at half time."""

    def __init__(self, issuer: Issuer, lifetime: int) -> None:
        self.issuer, self.lifetime = issuer, lifetime
        outsider = issuer.new_key("RS256", publish=False)
        kid = issuer.current_key.kid
        self.pools: dict[str, list[tuple[str | None, str | None]]] = {
            "valid": self._valid("old"),
            "expired": [(issuer.token(sub=f"e{i}", expires_in=-3600), None) for i in range(10)],
            "forged": [(issuer.token(sub=f"f{i}", key=outsider, kid=kid), None) for i in range(10)],
            "wrong_audience": [
                (issuer.token(sub=f"w{i}", audience="https://other.example.com"), None)
                for i in range(10)
            ],
            "missing": [(None, None)],
            "malformed": [("a b", None), ("x" * 20 + " y", None)],
        }

    def _valid(self, label: str) -> list[tuple[str | None, str | None]]:
        subs = [f"{label}-user-{i}" for i in range(20)]
        return [(self.issuer.token(sub=s, expires_in=self.lifetime), s) for s in subs]

    def rotate(self) -> None:
        self.issuer.rotate()  # the old key stays published: a realistic overlap
        self.pools["valid"] = self._valid("new")


@dataclass
class Stats:
    counts: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)
    wrong_count: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def check(kind: str, sub: str | None, status: int, headers: Any, body: bytes) -> str | None:
    """Why this answer is wrong, or None. Never quotes a token."""
    _, want_status, reason = MIX[kind]
    if status != want_status:
        return f"{kind}: status {status}, want {want_status}"
    try:
        doc = json.loads(body)
    except ValueError:
        return f"{kind}: body is not JSON"
    if reason is None:
        return None if doc == {"sub": sub} else f"{kind}: wrong body"
    error = (
        None
        if reason == "missing_token"
        else "invalid_request"
        if want_status == 400
        else "invalid_token"
    )
    want = {"error": error, "error_description": DESCRIPTIONS[reason], "reason": reason}
    if error is None:
        del want["error"]  # no "error" member without an error code (issue #13)
    if doc != want:
        return f"{kind}: body reason {doc.get('reason')!r}, want {reason!r}"
    if headers.get("WWW-Authenticate") != _challenge(reason):
        return f"{kind}: challenge {headers.get('WWW-Authenticate')!r}"
    return None


def client(port: int, tokens: Tokens, deadline: float, stats: Stats, seed: int) -> None:
    rng = random.Random(seed)
    kinds = list(MIX)
    weights = [MIX[k][0] for k in kinds]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.monotonic() < deadline:
        kind = rng.choices(kinds, weights)[0]
        token, sub = rng.choice(tokens.pools[kind])
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        start = time.perf_counter()
        try:
            conn.request("GET", "/api/private", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            with stats.lock:
                stats.transport_errors += 1
            continue
        elapsed = time.perf_counter() - start
        problem = check(kind, sub, resp.status, resp.headers, body)
        with stats.lock:
            stats.counts[kind] = stats.counts.get(kind, 0) + 1
            stats.statuses[resp.status] = stats.statuses.get(resp.status, 0) + 1
            stats.latencies.append(elapsed)
            if resp.status >= 500:
                stats.server_errors += 1
            if problem:
                stats.wrong_count += 1
                if len(stats.wrong) < 10:
                    stats.wrong.append(problem)
    conn.close()


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/api/public")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not become ready")


def warm_up(port: int, pid: int, children: int, tokens: Tokens) -> None:
    """Let every worker boot and serve a little, so start RSS is a steady-state figure."""
    deadline = time.monotonic() + 20
    path = Path(f"/proc/{pid}/task/{pid}/children")
    while children and time.monotonic() < deadline and len(path.read_text().split()) < children:
        time.sleep(0.1)
    stats = Stats()
    threads = [
        threading.Thread(target=client, args=(port, tokens, time.monotonic() + 2, stats, -i))
        for i in range(1, 9)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and its workers
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def run_server(kind: str, seconds: float, concurrency: int, workers: int) -> dict[str, Any]:
    with Issuer(audience=AUDIENCE) as issuer:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "BEARERGUARD_ISSUER": issuer.issuer,
               "BEARERGUARD_AUDIENCE": AUDIENCE, "BEARERGUARD_JWKS_URI": issuer.jwks_uri,
               "LOADTEST_JWKS_COOLDOWN": "1.0"}  # fmt: skip
        cmd = server_command(kind, port, workers)
        log = tempfile.TemporaryFile()  # noqa: SIM115 - server output, shown only if it fails
        proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True
        )
        try:
            wait_ready(port, proc)
            tokens = Tokens(issuer, lifetime=int(seconds) + 600)
            warm_up(port, proc.pid, workers if kind == "gunicorn" else 0, tokens)
            rss_start = rss_kib(proc.pid)
            stats = Stats()
            start = time.monotonic()
            deadline = start + seconds
            threads = [
                threading.Thread(
                    target=client, args=(port, tokens, deadline, stats, i), daemon=True
                )
                for i in range(concurrency)
            ]
            for t in threads:
                t.start()
            time.sleep(seconds / 2)
            tokens.rotate()
            rotated_at = time.monotonic() - start
            for t in threads:
                t.join(seconds + 30)
            elapsed = time.monotonic() - start
            rss_end = rss_kib(proc.pid)
            alive = proc.poll() is None
        finally:
            stop(proc)
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").splitlines()[-20:]
            log.close()
        lat = sorted(stats.latencies) or [0.0]
        total = len(stats.latencies)
        return {
            "server": kind, "command": " ".join(Path(c).name if i < 1 else c for i, c in enumerate(cmd)),
            "seconds": round(elapsed, 1), "requests": total, "rps": round(total / elapsed),
            "counts": stats.counts, "statuses": stats.statuses, "server_errors": stats.server_errors,
            "wrong": stats.wrong_count, "wrong_examples": stats.wrong,
            "transport_errors": stats.transport_errors, "rotated_at_s": round(rotated_at, 1),
            "jwks_fetches": issuer.jwks_fetches, "alive_at_end": alive,
            "p50_ms": round(lat[len(lat) // 2] * 1000, 2), "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2),
            "rss_start_kib": rss_start, "rss_end_kib": rss_end, "log_tail": tail,
        }  # fmt: skip


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [f"bearerguard load test  {time.strftime('%Y-%m-%d %H:%M:%S')}  "
             f"python {sys.version.split()[0]}  cpus {os.cpu_count()}  "
             f"client threads {args.concurrency}", ""]  # fmt: skip
    for r in results:
        lines += [
            f"== {r['server']}: {r['command']}",
            f"   {r['requests']} requests in {r['seconds']} s = {r['rps']} req/s; "
            f"latency p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms",
            f"   mix: {json.dumps(dict(sorted(r['counts'].items())))}",
            f"   statuses: {json.dumps(dict(sorted(r['statuses'].items())))}",
            f"   5xx: {r['server_errors']}   wrong answers: {r['wrong']}   "
            f"transport errors: {r['transport_errors']}",
            f"   key rotation at {r['rotated_at_s']} s; JWKS fetches at the issuer: {r['jwks_fetches']}",
            f"   server RSS: start {r['rss_start_kib']} KiB, end {r['rss_end_kib']} KiB "
            f"(delta {r['rss_end_kib'] - r['rss_start_kib']:+d} KiB); alive at end: {r['alive_at_end']}",
        ]
        lines += [f"   wrong: {w}" for w in r["wrong_examples"]]
        if r["server_errors"] or r["wrong"] or not r["alive_at_end"]:
            lines += [f"   server log: {line}" for line in r["log_tail"]]
        lines.append("")
    ok = all(r["server_errors"] == 0 and r["wrong"] == 0 and r["alive_at_end"] for r in results)
    lines.append("RESULT: " + ("PASS (zero 5xx, zero wrong answers)" if ok else "FAIL"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    # A SIGTERM unwinds like Ctrl-C, so the finally blocks still stop every server started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="per server (default 30)")
    parser.add_argument("--servers", default="uvicorn,gunicorn", help="comma list")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = []
    for kind in args.servers.split(","):
        print(f"running {kind} for {args.seconds:g} s ...", flush=True)
        results.append(run_server(kind.strip(), args.seconds, args.concurrency, args.workers))
    text = report(results, args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text, end="")
    return 0 if text.rstrip().endswith("zero wrong answers)") else 1


if __name__ == "__main__":
    sys.exit(main())
