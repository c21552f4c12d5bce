"""Where one RS256 (or ``--alg``) verification spends its time: in a loop, and in a route.

Run from the repository root::

    PYTHONPATH=src .venv/bin/python -m bench.profile [--tokens 2000] [--repeat 7]

Each step of ``Verifier.verify`` is timed on its own over distinct tokens (cache off), best
of ``--repeat`` passes. Then the same steps run inside a Starlette route called in-process,
and each is reported as what it adds to an open route: the same code costs more there,
because the framework's work between two verifications leaves the caches cold. The cache
hit and the ``authenticate`` shortcut for a lone ``Bearer`` header are timed last.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from itertools import count
from typing import Any

from bearerguard import Verifier
from bearerguard.extract import parse_authorization
from bearerguard.testing import Issuer
from bearerguard.tokens import freeze_members, read_scopes

from ._tokens import AUDIENCE, environment, mint

Step = Callable[[str], Any]


def steps(v: Verifier) -> dict[str, Step]:
    """Cumulative prefixes of ``verify``: each one does everything the previous one did.

    They call the verifier's private steps (``_decode``, ``_source``, ``_claims``), so they
    follow its internals: a refactoring of ``verify`` updates them.
    """
    decoded: dict[str, tuple[Any, ...]] = {}

    def decode(t: str) -> Any:
        decoded[t] = v._decode(t)
        return decoded[t]

    def signature(t: str) -> Any:
        _, header, claims, signing_input, sig = decode(t)
        key = v._source(claims).get_key(header.get("kid"), header["alg"])
        return key.verifier(header["alg"])(signing_input, sig)

    def claims_checked(t: str) -> Any:
        signature(t)
        _, header, claims, _, _ = decoded[t]
        return v._claims.check(claims, header["alg"])

    def scopes(t: str) -> Any:
        rules = claims_checked(t)
        return read_scopes(decoded[t][2], rules.scope_claims)

    def frozen(t: str) -> Any:
        scopes(t)
        return freeze_members(decoded[t][2])

    return {
        "decode (split, base64url, JSON)": decode,
        "+ key lookup and signature": signature,
        "+ claim checks": claims_checked,
        "+ scopes": scopes,
        "+ claims frozen": frozen,
        "whole verify (+ AccessToken, cache)": v.verify,
    }


def tight(fn: Step, tokens: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for t in tokens:
            fn(t)
        best = min(best, (time.perf_counter() - start) / len(tokens))
    return best * 1e6


def tight_interleaved(named: dict[str, Step], tokens: list[str], repeat: int) -> dict[str, float]:
    """:func:`tight` of every step, the steps interleaved in each of *repeat* rounds (a
    neighbour's burst then hits one round of every step, not every pass of one step);
    each step's median over rounds, in process CPU time (what the neighbours move least)."""
    runs: dict[str, list[float]] = {name: [] for name in named}
    for _ in range(repeat):
        for name, fn in named.items():
            start = time.process_time()
            for t in tokens:
                fn(t)
            runs[name].append((time.process_time() - start) / len(tokens) * 1e6)
    return {name: sorted(r)[len(r) // 2] for name, r in runs.items()}


def in_route(named: dict[str, Step], tokens: list[str], repeat: int) -> dict[str, float]:
    """µs each step adds to an open Starlette route, the app called in-process."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from .http_bench import _asgi_caller

    turn = count()

    async def open_route(request: Any) -> JSONResponse:
        return JSONResponse({"message": "public"})

    def endpoint(fn: Step) -> Callable[[Any], Any]:
        async def run(request: Any) -> JSONResponse:
            fn(tokens[next(turn) % len(tokens)])
            return JSONResponse({"message": "public"})

        return run

    # One app per step, each with its route alone: Starlette tries routes in order, and
    # every route passed over would add ~0.45 µs to the step behind it.
    def caller(endpoint: Callable[[Any], Any]) -> Callable[[str, str | None], int]:
        return _asgi_caller(Starlette(routes=[Route("/step", endpoint)]))

    def timed(call: Callable[[str, str | None], int]) -> float:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in tokens:
                call("/step", None)
            best = min(best, (time.perf_counter() - start) / len(tokens))
        return best * 1e6

    calls = {name: caller(endpoint(fn)) for name, fn in named.items()}
    base = caller(open_route)
    out: dict[str, float] = {}
    for name, call in calls.items():  # the open route timed next to each step: drift cancels
        out[name] = timed(call) - timed(base)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--alg", default="RS256", help="RS256 (default), PS256, ES256, EdDSA")
    parser.add_argument("--no-route", action="store_true", help="the tight loop only")
    args = parser.parse_args(argv)
    alg = args.alg
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})
    print(environment())
    with Issuer(audience=AUDIENCE, algs=(alg,)) as issuer:
        tokens = mint(issuer, alg, args.tokens)
        v = Verifier(
            issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks(), token_cache_size=0
        )
        named = steps(v)
        for fn in named.values():  # every step must pass on every token
            for t in tokens[:50]:
                fn(t)
        _, header, claims, signing_input, sig = v._decode(tokens[0])
        key = v._source(claims).get_key(header.get("kid"), header["alg"])
        # bearerguard's own verify callable of the key (jwk.py: padding and hash objects
        # made once per key and algorithm; ES*: R||S turned into DER per call)
        rsa = key.verifier(alg)
        loop = tight_interleaved(
            {"floor": lambda t: rsa(signing_input, sig)} | named, tokens, args.repeat
        )
        floor = loop.pop("floor")
        timed = {"cryptography verify alone": lambda t: rsa(signing_input, sig)} | named
        route = (
            dict.fromkeys(timed, float("nan"))
            if args.no_route
            else in_route(timed, tokens, args.repeat)
        )

        print(
            f"\n{alg}, µs per token over {len(tokens)} distinct tokens; tight loop: median of "
            f"{args.repeat} interleaved rounds (CPU time); in a route: best of {args.repeat}"
        )
        print(f"  {'step (cumulative)':<38} {'tight loop':>10} {'in a route':>11} {'x floor':>8}")
        print(
            f"  {'cryptography verify alone':<38} {floor:>10.2f} "
            f"{route['cryptography verify alone']:>+11.2f}"
        )
        for name in named:
            print(
                f"  {name:<38} {loop[name]:>10.2f} {route[name]:>+11.2f} {loop[name] / floor:>8.2f}"
            )

        cached = Verifier(issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks())
        cached.verify(tokens[0])
        header_value = "Bearer " + tokens[0]
        n = 200_000
        rows: dict[str, Callable[[], Any]] = {
            "cache hit: verify(token)": lambda: cached.verify(tokens[0]),
            "cache hit: authenticate(header)": lambda: cached.authenticate(header_value),
            "general header parser alone": lambda: parse_authorization(header_value),
        }
        print(f"\nper call, µs (best of {args.repeat} x {n})")
        for name, call in rows.items():
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                for _ in range(n):
                    call()
                best = min(best, (time.perf_counter() - start) / n)
            print(f"  {name:<38} {best * 1e6:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
