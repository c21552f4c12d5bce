"""What DPoP proofs (RFC 9449) and introspected tokens (RFC 7662) cost per request.

Run from the repository root::

    PYTHONPATH=src .venv/bin/python -m bench.protocols [--rounds 15] [--iterations 300]
        [--uncached 40] [--max-seconds 90] [--no-redis]

Every row calls ``Verifier.decide`` as an adapter does (the ``Authorization`` value, the
method, the URL and the ``DPoP`` values). Rounds are interleaved: each round runs every row
once, in an order rotating per round, so machine drift hits every row alike; a comparison is
made within a round and the median over rounds is reported.

* DPoP (#14): an ES256 proof of one client key (its header checked and imported once, as a
  client sends the same header on every request) with a fresh ``jti`` on every request, the
  bound access token itself a verified-token cache hit. Its added cost over a cached Bearer
  request is divided by the raw ``cryptography`` ES256 verify of the same proofs' signatures
  (DER made up front) in the same round: target <= 1.3x. The replay store's round trip is
  reported apart: the memory store, then a real ``redis-server`` on 127.0.0.1 (started
  here, stopped by PID) beside a bare redis-py ``SET NX PX``.
* Introspection (#16): an opaque token whose answer is cached against a cached JWT, both
  through one verifier (``BEARERGUARD_TOKEN_FORMATS=jwt,opaque``); the cache in memory and
  in Redis; and an uncached introspection (TTL 0), a loopback HTTP round trip to the real
  test issuer's endpoint, beside a bare ``http.client`` POST of the same request.
"""

from __future__ import annotations

import argparse
import base64
import gc
import http.client
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from bearerguard import Verifier
from bearerguard.testing import Issuer
from bearerguard.testing.dpop import DPoPKey

from ._tokens import AUDIENCE, SCOPES, environment

URL = "https://api.example.com/api/messages"
CLIENT_ID, CLIENT_SECRET = "bench-api", "bench-secret-0123456789abcdef"

FLOOR = "floor: cryptography ES256 verify"
BEARER = "Bearer, cached token"
JWT_ES256 = "ES256 JWT verify, cache off (control)"
DPOP_MEM = "DPoP ES256 proof, memory store"
DPOP_REDIS = "DPoP ES256 proof, Redis store"
REDIS_SET = "redis-py SET NX PX alone"
JWT = "cached JWT (jwt,opaque verifier)"
OPAQUE_MEM = "cached opaque token, memory cache"
OPAQUE_REDIS = "cached opaque token, Redis cache"
UNCACHED = "uncached introspection (TTL 0)"
RAW_POST = "http.client POST alone, new connection"
SLOW = (UNCACHED, RAW_POST)  # fewer operations per round: loopback round trips

Runner = Callable[[], None]


@dataclass
class Row:
    name: str
    run: Runner
    n: int


# -- material ----------------------------------------------------------------------------------
class ProofPool:
    """Fresh proofs of one key for one request, handed out in batches (each used once)."""

    def __init__(self, key: DPoPKey, token: str, batches: int, n: int) -> None:
        self.batches = iter(
            [[key.proof("GET", URL, access_token=token) for _ in range(n)] for _ in range(batches)]
        )

    def next(self) -> list[str]:
        return next(self.batches)


def floor_inputs(proofs: list[str], key: DPoPKey) -> tuple[Runner, int]:
    """The raw ES256 verify of each proof's signature (R||S made DER here, not timed)."""
    pub = ec.EllipticCurvePublicNumbers(
        int.from_bytes(_b64(key.jwk["x"]), "big"),
        int.from_bytes(_b64(key.jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    algo, verify = ec.ECDSA(hashes.SHA256()), pub.verify
    inputs = []
    for proof in proofs:
        h, c, s = proof.split(".")
        raw = _b64(s)
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        inputs.append((der, f"{h}.{c}".encode("ascii")))

    def run() -> None:
        for sig, data in inputs:
            verify(sig, data, algo)

    return run, len(inputs)


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@contextmanager
def redis_server(enabled: bool) -> Iterator[Any]:
    """A real ``redis-server`` on 127.0.0.1 (the test suite's helper), or None without one."""
    binary = shutil.which("redis-server") if enabled else None
    if binary is None:
        yield None
        return
    from tests.redis_server import RedisServer

    server = RedisServer(binary)
    try:
        yield server
    finally:
        server.stop()  # by PID


# -- rows --------------------------------------------------------------------------------------
def dpop_rows(issuer: Issuer, redis_url: str | None, rounds: int, n: int) -> list[Row]:
    key = DPoPKey("ES256")
    bound = issuer.token(scopes=SCOPES, claims={"cnf": {"jkt": key.thumbprint}})
    plain = issuer.token(scopes=SCOPES)
    rows: list[Row] = []

    floor, count = floor_inputs([key.proof("GET", URL, access_token=bound) for _ in range(n)], key)
    rows.append(Row(FLOOR, floor, count))

    bearer_verifier = Verifier(issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks())
    decide, header = bearer_verifier.decide, f"Bearer {plain}"

    def bearer() -> None:
        for _ in range(n):
            decide(header, method="GET", url=URL)

    rows.append(Row(BEARER, bearer, n))

    def dpop_row(name: str, store: str) -> Row:
        v = Verifier(issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks(), store=store)
        pool = ProofPool(key, bound, rounds + 1, n)  # one batch for the check run
        authorization, decide = f"DPoP {bound}", v.decide

        def run() -> None:
            for proof in pool.next():
                decision = decide(authorization, method="GET", url=URL, dpop=(proof,))
                if decision.token is None:
                    raise SystemExit(f"bench: {name}: a fresh proof was refused: {decision!r}")

        return Row(name, run, n)

    # A control: a whole ES256 JWT verification (one signature too), how much this machine
    # adds to the Python around a signature check in this run.
    es256 = Verifier(
        issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks(), token_cache_size=0
    )
    jwts = [issuer.token(scopes=SCOPES, alg="ES256") for _ in range(n)]

    def jwt_verify() -> None:
        for t in jwts:
            es256.verify(t)

    rows.append(Row(JWT_ES256, jwt_verify, n))
    rows.append(dpop_row(DPOP_MEM, "memory"))
    if redis_url is not None:
        rows.append(dpop_row(DPOP_REDIS, redis_url))
        import redis

        client = redis.Redis.from_url(redis_url)
        client.ping()
        counter = iter(range(10**9))

        def redis_set() -> None:
            for _ in range(n):
                client.set(f"bench:jti:{next(counter)}", b"1", nx=True, px=360_000)

        rows.append(Row(REDIS_SET, redis_set, n))
    return rows


def introspection_rows(issuer: Issuer, redis_url: str | None, n: int, n_slow: int) -> list[Row]:
    issuer.register_client(CLIENT_ID, CLIENT_SECRET)
    endpoint = issuer.metadata()["introspection_endpoint"]
    options: dict[str, Any] = {
        "issuer": issuer.issuer,
        "audience": AUDIENCE,
        "keys": issuer.jwks(),
        "token_formats": "jwt,opaque",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "introspection_uri": endpoint,
    }
    jwt, opaque = issuer.token(scopes=SCOPES), issuer.opaque_token(scopes=SCOPES)
    rows: list[Row] = []

    def cached(name: str, verifier: Verifier, token: str) -> Row:
        decide, header = verifier.decide, f"Bearer {token}"

        def run() -> None:
            for _ in range(n):
                decide(header, method="GET", url=URL)

        return Row(name, run, n)

    memory = Verifier(**options)
    rows.append(cached(JWT, memory, jwt))
    rows.append(cached(OPAQUE_MEM, memory, opaque))
    if redis_url is not None:
        redis_verifier = Verifier(**options, store=redis_url)
        rows.append(cached(OPAQUE_REDIS, redis_verifier, opaque))

    uncached = Verifier(**options, introspection_cache_ttl=0)
    decide, header = uncached.decide, f"Bearer {opaque}"

    def ask() -> None:
        for _ in range(n_slow):
            decide(header, method="GET", url=URL)

    rows.append(Row(UNCACHED, ask, n_slow))

    # The same request bearerguard sends (RFC 7662 §2.1, client_secret_basic), bare.
    parts = urlsplit(endpoint)
    body = urlencode({"token": opaque, "token_type_hint": "access_token"}).encode()
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
        "Authorization": f"Basic {basic}",
    }

    def post() -> None:
        for _ in range(n_slow):
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
            try:
                conn.request("POST", parts.path, body=body, headers=headers)
                response = conn.getresponse()
                if response.status != 200 or b'"active":true' not in response.read().replace(
                    b" ", b""
                ):
                    raise SystemExit("bench: the bare introspection POST was not answered")
            finally:
                conn.close()

    rows.append(Row(RAW_POST, post, n_slow))
    return rows


# -- measurement -------------------------------------------------------------------------------
def _time(row: Row) -> tuple[float, float]:
    """(CPU, wall-clock) microseconds per operation for one pass; GC off, as timeit does.

    In-process rows are compared by this thread's CPU time (a shared machine moves
    wall-clock time far more); round trips to another process by wall-clock time.
    """
    gc.collect()
    gc.disable()
    try:
        wall, cpu = time.perf_counter(), time.thread_time()
        row.run()
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    finally:
        gc.enable()
    return cpu / row.n * 1e6, wall / row.n * 1e6


Results = list[dict[str, float]]  # per round: row -> µs per operation


def measure(rows: list[Row], rounds: int, max_seconds: float) -> tuple[Results, Results]:
    """Interleaved rounds: per round, µs per operation of every row (CPU, wall)."""
    cpu: Results = []
    wall: Results = []
    started = time.perf_counter()
    for r in range(rounds):
        shift = r % len(rows)
        timed = {row.name: _time(row) for row in rows[shift:] + rows[:shift]}
        cpu.append({name: t[0] for name, t in timed.items()})
        wall.append({name: t[1] for name, t in timed.items()})
        if time.perf_counter() - started > max_seconds and r + 1 < rounds:
            print(f"(stopping after {r + 1} rounds: --max-seconds {max_seconds:g})")
            break
    return cpu, wall


def _median(results: Results, f: Callable[[dict[str, float]], float]) -> float:
    return statistics.median(f(r) for r in results)


def report(rows: list[Row], cpu: Results, wall: Results) -> list[str]:
    lines = [
        f"  {'row (µs per operation)':<42} {'CPU median':>10} {'min-max':>15}"
        f" {'wall median':>11} {'ops/round':>9}"
    ]
    for row in rows:
        c = [r[row.name] for r in cpu]
        w = statistics.median(r[row.name] for r in wall)
        spread = f"{min(c):.1f}-{max(c):.1f}"
        lines.append(
            f"  {row.name:<42} {statistics.median(c):>10.2f} {spread:>15} {w:>11.2f} {row.n:>9}"
        )
    return lines


def derived(cpu: Results, wall: Results) -> tuple[list[str], list[str]]:
    """The comparisons made within each round, and the issues' targets."""
    has = set(cpu[0])
    lines = ["\ncomparisons (median over rounds of the per-round figure)"]
    targets = ["\ntargets"]

    def line(label: str, value: float, unit: str) -> None:
        lines.append(f"  {label:<62} {value:>9.2f} {unit}")

    added = _median(cpu, lambda r: r[DPOP_MEM] - r[BEARER])
    ratio = _median(cpu, lambda r: (r[DPOP_MEM] - r[BEARER]) / r[FLOOR])
    line("CPU: DPoP (memory store) added over a cached Bearer request", added, "µs")
    line("  ... as a multiple of the raw ES256 verify", ratio, "x")
    line(
        "  ... beyond the raw ES256 verify",
        _median(cpu, lambda r: r[DPOP_MEM] - r[BEARER] - r[FLOOR]),
        "µs",
    )
    # The fastest round of each row: the least disturbed by other work on a shared machine.
    best = {name: min(r[name] for r in cpu) for name in (DPOP_MEM, BEARER, FLOOR)}
    line(
        "  ... the same from each row's fastest round",
        (best[DPOP_MEM] - best[BEARER]) / best[FLOOR],
        "x",
    )
    line(
        "  control: ES256 JWT verify (cache off) / raw ES256 verify",
        _median(cpu, lambda r: r[JWT_ES256] / r[FLOOR]),
        "x",
    )
    targets.append(_target("DPoP ES256 added <= 1.3x raw ES256 verify (CPU)", ratio, ratio <= 1.3))
    if DPOP_REDIS in has:
        line(
            "wall: DPoP Redis store over memory store (the round trip)",
            _median(wall, lambda r: r[DPOP_REDIS] - r[DPOP_MEM]),
            "µs",
        )
        line("  wall: redis-py SET NX PX alone", _median(wall, lambda r: r[REDIS_SET]), "µs")
        line(
            "  Redis store's added cost / bare SET NX PX (wall)",
            _median(wall, lambda r: (r[DPOP_REDIS] - r[DPOP_MEM]) / r[REDIS_SET]),
            "x",
        )
        line(
            "  CPU: DPoP Redis store over memory store (this thread)",
            _median(cpu, lambda r: r[DPOP_REDIS] - r[DPOP_MEM]),
            "µs",
        )
    opaque = _median(cpu, lambda r: r[OPAQUE_MEM] / r[JWT])
    line("CPU: cached opaque (memory cache) / cached JWT", opaque, "x")
    line(
        "  CPU: cached opaque (memory cache) - cached JWT",
        _median(cpu, lambda r: r[OPAQUE_MEM] - r[JWT]),
        "µs",
    )
    targets.append(_target("cached opaque ~ cached JWT (<= 1.5x, CPU)", opaque, opaque <= 1.5))
    if OPAQUE_REDIS in has:
        line(
            "wall: cached opaque, Redis cache - memory cache (the round trip)",
            _median(wall, lambda r: r[OPAQUE_REDIS] - r[OPAQUE_MEM]),
            "µs",
        )
    line(
        "wall: uncached introspection / bare POST round trip",
        _median(wall, lambda r: r[UNCACHED] / r[RAW_POST]),
        "x",
    )
    line(
        "  wall: uncached introspection - bare POST round trip",
        _median(wall, lambda r: r[UNCACHED] - r[RAW_POST]),
        "µs",
    )
    line(
        "  CPU: uncached introspection - bare POST (this thread)",
        _median(cpu, lambda r: r[UNCACHED] - r[RAW_POST]),
        "µs",
    )
    return lines, targets


def _target(label: str, value: float, ok: bool) -> str:
    return f"  {label:<58} {value:>8.2f}x {'PASS' if ok else 'FAIL'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (15)")
    parser.add_argument("--iterations", type=int, default=300, help="operations per row per round")
    parser.add_argument(
        "--uncached", type=int, default=40, help="round trips per slow row per round"
    )
    parser.add_argument("--max-seconds", type=float, default=90.0, help="stop rounds after this")
    parser.add_argument("--no-redis", action="store_true", help="leave out the Redis rows")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.iterations < 1 or args.uncached < 1:
        parser.error("rounds, iterations and uncached must be positive")

    print(environment())
    print(f"rounds={args.rounds} iterations={args.iterations} uncached={args.uncached}")
    with (
        redis_server(not args.no_redis) as redis,
        Issuer(audience=AUDIENCE, algs=("RS256", "ES256")) as issuer,
    ):
        redis_url = redis.url if redis is not None else None
        if redis_url is None:
            print("(no redis-server: the Redis rows are left out)")
        else:
            import redis as redis_py

            version = redis_py.Redis.from_url(redis_url).info()["redis_version"]
            print(f"redis-server {version}, redis-py {redis_py.__version__}")
        rows = dpop_rows(issuer, redis_url, args.rounds, args.iterations)
        rows += introspection_rows(issuer, redis_url, args.iterations, args.uncached)
        for row in rows:  # a first pass: every row must accept (and is warmed up)
            row.run()
        calls_before = issuer.introspection_calls
        cpu, wall = measure(rows, args.rounds, args.max_seconds)
        calls = issuer.introspection_calls - calls_before
    print(f"rounds completed: {len(cpu)}; introspection calls while timing: {calls}")
    for line in report(rows, cpu, wall):
        print(line)
    comparisons, targets = derived(cpu, wall)
    for line in comparisons + targets:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
