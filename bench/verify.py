"""Per-token verification cost: bearerguard against PyJWT, joserfc, authlib and the floor.

Run from the repository root::

    PYTHONPATH=src .venv/bin/python -m bench.verify [--rounds 15] [--iterations 400]
        [--algs RS256,PS256,ES256,EdDSA] [--max-seconds 60]

Every row verifies a token fully: signature, ``iss``, ``aud`` and ``exp``/``nbf``/``iat``
(bearerguard also checks ``typ`` and claim types). The floor is the bare ``cryptography``
``verify`` of the same signature and signing input with a pre-loaded key (ES* signatures are
turned into DER before timing), so a ratio of 1.0 means "nothing but the signature check".
Rounds are interleaved, each running every row once over the same *iterations* fresh tokens
(row order rotates per round), so machine drift hits every row alike. A row's ratio is the
median over rounds of (row time / floor time in that round).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from bearerguard import Verifier
from bearerguard.testing import Issuer

from ._tokens import ALGS, AUDIENCE, AlgCase, environment, make_case, mint, start_issuer

Runner = Callable[[], None]  # one pass over the case's tokens
RowFactory = Callable[[Issuer, AlgCase], "Runner | None"]  # None: the library cannot do it

CACHE_HIT = "bearerguard, cache hit"
UNCACHED = "bearerguard, cache off"
MISSES = "bearerguard, cache on, all misses"
FLOOR = "floor: cryptography verify"
PYJWT = "PyJWT decode (cached key)"
JWKCLIENT = "PyJWT PyJWKClient + decode"


# -- rows -----------------------------------------------------------------------------------
def row_floor(issuer: Issuer, case: AlgCase) -> Runner:
    inputs, verify = case.floor_inputs, case.floor

    def run() -> None:
        for sig, data in inputs:
            verify(sig, data)

    return run


def row_bearerguard(issuer: Issuer, case: AlgCase) -> Runner:
    v = Verifier(issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks(), token_cache_size=0)
    tokens, verify = case.tokens, v.verify

    def run() -> None:
        for t in tokens:
            verify(t)

    return run


def row_bearerguard_misses(issuer: Issuer, case: AlgCase) -> Runner:
    # Cache on, full of other tokens, under tokens it has not seen: the steady state under
    # fresh tokens. A full cache stores a token on its second verification while it is
    # remembered, which a cycle longer than the cache never gives: every call misses.
    size = max(1, len(case.tokens) // 2)
    v = Verifier(issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks(), token_cache_size=size)
    for filler in mint(issuer, case.alg, size):
        v.verify(filler)
    tokens, verify = case.tokens, v.verify

    def run() -> None:
        for t in tokens:
            verify(t)

    run()
    if any(t in v.tokens for t in tokens):
        raise SystemExit("bench: a token of the all-misses row got into the cache")
    return run


def row_bearerguard_cached(issuer: Issuer, case: AlgCase) -> Runner:
    v = Verifier(issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks())
    token, verify, n = case.tokens[0], v.verify, len(case.tokens)
    verify(token)  # warm: every timed call is a hit

    def run() -> None:
        for _ in range(n):
            verify(token)

    return run


def row_pyjwt(issuer: Issuer, case: AlgCase) -> Runner | None:
    import jwt

    alg = case.alg
    if alg not in jwt.algorithms.get_default_algorithms():
        return None
    key, iss, tokens = case.key.public_key(), issuer.issuer, case.tokens
    decode = jwt.decode

    def run() -> None:
        for t in tokens:
            decode(t, key, algorithms=[alg], audience=AUDIENCE, issuer=iss)

    return run


def row_pyjwkclient(issuer: Issuer, case: AlgCase) -> Runner | None:
    import jwt

    alg = case.alg
    if alg not in jwt.algorithms.get_default_algorithms():
        return None
    # JWK set cached (default) and signing keys cached by kid: the client's fastest setup.
    client = jwt.PyJWKClient(issuer.jwks_uri, cache_keys=True)
    iss, tokens, decode = issuer.issuer, case.tokens, jwt.decode

    def run() -> None:
        for t in tokens:
            signing_key = client.get_signing_key_from_jwt(t)
            decode(t, signing_key.key, algorithms=[alg], audience=AUDIENCE, issuer=iss)

    return run


def row_joserfc(issuer: Issuer, case: AlgCase) -> Runner | None:
    from joserfc import jwt
    from joserfc.errors import SecurityWarning
    from joserfc.jwk import KeySet

    # joserfc warns on each EdDSA decode (RFC 9864); the warn call stays in its timed path.
    warnings.filterwarnings("ignore", category=SecurityWarning)

    # joserfc refuses algorithms it does not "recommend" (EdDSA) unless named explicitly.
    alg, tokens = case.alg, case.tokens
    key = KeySet.import_key_set({"keys": [case.key.public_jwk]}).keys[0]
    claims = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": issuer.issuer},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
    )
    decode, validate = jwt.decode, claims.validate

    def run() -> None:
        for t in tokens:
            validate(decode(t, key, algorithms=[alg]).claims)

    return run


def row_authlib(issuer: Issuer, case: AlgCase) -> Runner | None:
    import authlib.deprecate  # type: ignore[import-untyped]  # noqa: F401  (installs an "always" filter)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # authlib.jose announces its move to joserfc
        from authlib.jose import JsonWebKey, JsonWebToken  # type: ignore[import-untyped]

    alg, tokens = case.alg, case.tokens
    try:
        jwt = JsonWebToken([alg])
    except Exception:
        return None
    key = JsonWebKey.import_key(case.key.public_jwk)
    options = {
        "iss": {"essential": True, "value": issuer.issuer},
        "aud": {"essential": True, "value": AUDIENCE},
        "exp": {"essential": True},
    }
    decode = jwt.decode

    def run() -> None:
        for t in tokens:
            decode(t, key, claims_options=options).validate()

    return run


ROWS: list[tuple[str, RowFactory]] = [
    (UNCACHED, row_bearerguard),
    (MISSES, row_bearerguard_misses),
    (CACHE_HIT, row_bearerguard_cached),
    (PYJWT, row_pyjwt),
    (JWKCLIENT, row_pyjwkclient),
    ("joserfc decode + claims", row_joserfc),
    ("authlib.jose decode + validate", row_authlib),
    (FLOOR, row_floor),
]


# -- measurement ----------------------------------------------------------------------------
def _time(run: Runner, n: int) -> float:
    """Microseconds per token for one pass; GC off while timing, as timeit does."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    return elapsed / n * 1e6


def measure(
    cases: dict[str, tuple[AlgCase, dict[str, Runner | None]]],
    rounds: int,
    max_seconds: float,
) -> tuple[dict[tuple[str, str], list[float]], dict[tuple[str, str], list[float]], int]:
    """Interleaved rounds → (µs per op, ratio to the same round's floor) per (alg, row)."""
    times: dict[tuple[str, str], list[float]] = {}
    ratios: dict[tuple[str, str], list[float]] = {}
    started = time.perf_counter()
    done = 0
    for r in range(rounds):
        round_start = time.perf_counter()
        for alg, (case, runners) in cases.items():
            names = [name for name, run in runners.items() if run is not None]
            shift = r % len(names)
            this_round: dict[str, float] = {}
            for name in names[shift:] + names[:shift]:
                run = runners[name]
                assert run is not None
                this_round[name] = _time(run, len(case.tokens))
            for name, us in this_round.items():
                times.setdefault((alg, name), []).append(us)
                ratios.setdefault((alg, name), []).append(us / this_round[FLOOR])
        done += 1
        spent = time.perf_counter() - started
        if spent + (time.perf_counter() - round_start) > max_seconds and r + 1 < rounds:
            print(f"(stopping after {done} rounds: --max-seconds {max_seconds:g})")
            break
    return times, ratios, done


def check_rows(issuer: Issuer, case: AlgCase, runners: dict[str, Runner | None]) -> None:
    """Every row must accept the tokens (a row that errors would time an exception path)."""
    for name, run in runners.items():
        if run is not None:
            try:
                run()
            except Exception as exc:
                raise SystemExit(f"{case.alg}: row {name!r} failed: {exc!r}") from None


def report(
    algs: list[str],
    times: dict[tuple[str, str], list[float]],
    ratios: dict[tuple[str, str], list[float]],
) -> list[str]:
    lines = []
    for alg in algs:
        lines.append(f"\n{alg}")
        lines.append(f"  {'row':<34} {'median µs/op':>12} {'min-max':>15} {'x floor':>8}")
        for name, _ in ROWS:
            t = times.get((alg, name))
            if t is None:
                lines.append(f"  {name:<34} {'n/a':>12}")
                continue
            spread = f"{min(t):.1f}-{max(t):.1f}"
            ratio = statistics.median(ratios[(alg, name)])
            lines.append(f"  {name:<34} {statistics.median(t):>12.2f} {spread:>15} {ratio:>8.2f}")
    return lines


def _speedup(ratios: dict[tuple[str, str], list[float]], alg: str, other: str) -> float | None:
    """Median over rounds of other/bearerguard (both normalised by the same floor)."""
    if (alg, other) not in ratios or (alg, UNCACHED) not in ratios:
        return None
    return statistics.median(
        o / b for o, b in zip(ratios[(alg, other)], ratios[(alg, UNCACHED)], strict=True)
    )


def targets(
    times: dict[tuple[str, str], list[float]], ratios: dict[tuple[str, str], list[float]]
) -> list[str]:
    """The issue's targets, each with the measured figure and PASS/FAIL."""
    checks: list[tuple[str, float | None, Callable[[float], bool]]] = []

    def ratio(alg: str, row: str) -> float | None:
        r = ratios.get((alg, row))
        return statistics.median(r) if r else None

    checks.append(("RS256 cache off <= 2.0x floor", ratio("RS256", UNCACHED), lambda x: x <= 2.0))
    checks.append(
        ("RS256 >= 2x faster than PyJWT", _speedup(ratios, "RS256", PYJWT), lambda x: x >= 2.0)
    )
    checks.append(
        (
            "RS256 >= 3.5x faster than PyJWKClient",
            _speedup(ratios, "RS256", JWKCLIENT),
            lambda x: x >= 3.5,
        )
    )
    for alg in ("ES256", "EdDSA"):
        checks.append((f"{alg} cache off <= 1.4x floor", ratio(alg, UNCACHED), lambda x: x <= 1.4))
    rs_floor = times.get(("RS256", FLOOR))
    hit_ratio = None
    for alg in ALGS:  # a hit does not depend on the algorithm: take the first measured
        hit = times.get((alg, CACHE_HIT))
        if hit and rs_floor:
            hit_ratio = statistics.median(hit) / statistics.median(rs_floor)
            break
    checks.append(("cache hit <= 0.15x RS256 floor", hit_ratio, lambda x: x <= 0.15))
    lines = ["\ntargets"]
    for label, value, ok in checks:
        if value is None:
            lines.append(f"  {label:<40} {'not measured':>12}")
        else:
            lines.append(f"  {label:<40} {value:>11.2f}x {'PASS' if ok(value) else 'FAIL'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (15)")
    parser.add_argument("--iterations", type=int, default=400, help="tokens per row per round")
    parser.add_argument("--algs", default=",".join(ALGS), help="comma list (RS256,PS256,...)")
    parser.add_argument("--max-seconds", type=float, default=50.0, help="stop rounds after this")
    args = parser.parse_args(argv)
    algs = [a.strip() for a in args.algs.split(",") if a.strip()]
    unknown = set(algs) - set(ALGS)
    if unknown or args.rounds < 1 or args.iterations < 1:
        parser.error(f"algs must be among {ALGS}; rounds and iterations positive")

    print(environment())
    print(f"rounds={args.rounds} iterations={args.iterations} algs={','.join(algs)}")
    issuer = start_issuer(algs)
    try:
        cases: dict[str, tuple[AlgCase, dict[str, Any]]] = {}
        for alg in algs:
            case = make_case(issuer, alg, args.iterations)
            runners = {name: factory(issuer, case) for name, factory in ROWS}
            check_rows(issuer, case, runners)
            cases[alg] = (case, runners)
        times, ratios, done = measure(cases, args.rounds, args.max_seconds)
    finally:
        issuer.stop()
    print(f"rounds completed: {done}")
    for line in report(algs, times, ratios) + targets(times, ratios):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
