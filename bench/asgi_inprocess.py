"""A cached token through Starlette and FastAPI, in-process, against the dict-lookup control.

Run from the repository root::

    PYTHONPATH=src .venv/bin/python -m bench.asgi_inprocess [--requests 4000] [--rounds 9]
        [--previous DIR]

Each app is called directly (no server, no socket): a fresh ASGI scope per request carrying
the headers a load generator sends, awaited in one coroutine per batch. Apps, per framework:

* ``dict``: the control (``bench/apps/_dict_control.py``): the raw ``Authorization`` value
  looked up in a dict, ``scope["user"]``/``scope["auth"]`` set, Starlette's ``@requires``;
* ``bearerguard``: Starlette ``bearer_auth_middleware`` + ``@require_scopes``; FastAPI
  ``Security(BearerToken(verifier), scopes=[...])``; the token is in the token cache;
* ``dep floor`` (FastAPI): a dependency with ``BearerToken``'s signature (so the same
  sub-dependencies) that returns the token without looking: what FastAPI itself charges;
  ``bg, dpop off`` and ``dep floor, dpop off``: the same with ``BEARERGUARD_DPOP=off``
  (``BearerToken`` then declares no DPoP security scheme, a sub-dependency otherwise);
* ``previous`` (with ``--previous DIR``, a ``src`` directory of another bearerguard, e.g.
  ``git archive HEAD src | tar -x -C /tmp/prev`` then ``--previous /tmp/prev/src``): the
  same app on that copy, imported in this process as ``bearerguard_prev``.

Every app serves ``/open`` and ``/protected``; a row's figures are the µs per request of
each, what the protected route adds, and open/protected (the ratio the HTTP bench reports).
Rounds are interleaved (each runs every cell once, the order rotating), GC is off while a
cell runs, and each figure is the process CPU time per request (the same measure as the
HTTP bench's; wall time on a shared machine counts the neighbours), median over rounds; "vs dict" is the difference of the
ratios in each round (median), the figure issue #19 §1 holds within 0.02 (Starlette) and
0.03 (FastAPI). A machine shared with other work moves the absolute figures, much less the
paired ones.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from bearerguard.testing import Issuer

from ._tokens import AUDIENCE, environment, mint

App = Callable[..., Any]
TARGET = {"starlette": 0.02, "fastapi": 0.03}


# -- apps -------------------------------------------------------------------------------------
def load_previous(src: str, work: Path) -> str:
    """Copy *src*/bearerguard as ``bearerguard_prev`` (imports rewritten); its package name."""
    dest = work / "bearerguard_prev"
    shutil.copytree(Path(src) / "bearerguard", dest)
    pattern = re.compile(r"\bbearerguard(?=[.\s])")
    for path in dest.rglob("*.py"):
        text = path.read_text()
        # Only the import statements and module paths: "bearerguard." / "import bearerguard".
        text = pattern.sub("bearerguard_prev", text)
        path.write_text(text)
    sys.path.insert(0, str(work))
    return "bearerguard_prev"


def _verifier(pkg: str, issuer: Issuer, **settings: Any) -> Any:
    core = importlib.import_module(pkg)
    return core.Verifier(
        issuer=issuer.issuer, audience=AUDIENCE, jwks_uri=issuer.jwks_uri, **settings
    )


def starlette_app(variant: str, pkg: str, issuer: Issuer) -> tuple[App, Any]:
    """(app, verifier or None) of one Starlette variant."""
    from starlette.applications import Starlette
    from starlette.authentication import requires
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from .apps._dict_control import DictLookupMiddleware

    async def open_route(request: Request) -> JSONResponse:
        return JSONResponse({"message": "public"})

    if variant == "dict":

        @requires("read:messages")
        async def protected_dict(request: Request) -> JSONResponse:
            return JSONResponse({"sub": request.user.display_name})

        routes = [Route("/open", open_route), Route("/protected", protected_dict)]
        return Starlette(routes=routes, middleware=[Middleware(DictLookupMiddleware)]), None
    adapter: ModuleType = importlib.import_module(f"{pkg}.adapters.starlette")
    verifier = _verifier(pkg, issuer)

    @adapter.require_scopes("read:messages")
    async def protected(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.auth.token.subject})

    routes = [Route("/open", open_route), Route("/protected", protected)]
    middleware = [adapter.bearer_auth_middleware(verifier)]
    return Starlette(routes=routes, middleware=middleware), verifier


def fastapi_app(variant: str, pkg: str, issuer: Issuer) -> tuple[App, Any]:
    """(app, verifier or None) of one FastAPI variant."""
    from fastapi import FastAPI, Request, Security
    from starlette.authentication import requires

    from .apps._dict_control import DictLookupMiddleware

    app = FastAPI()

    async def open_route() -> dict[str, str]:
        return {"message": "public"}

    open_route.__annotations__ = {"return": dict[str, str]}
    app.get("/open")(open_route)

    if variant == "dict":
        app.add_middleware(DictLookupMiddleware)

        async def protected_dict(request: Request) -> dict[str, str]:
            return {"sub": request.user.display_name}

        # This module's annotations are strings; FastAPI reads real ones.
        protected_dict.__annotations__ = {"request": Request, "return": dict[str, str]}
        app.get("/protected")(requires("read:messages")(protected_dict))
        return app, None
    adapter: ModuleType = importlib.import_module(f"{pkg}.adapters.fastapi")
    tokens: ModuleType = importlib.import_module(f"{pkg}.tokens")
    # "dpop off": no DPoP scheme, so no second security scheme in the dependency's shape.
    verifier = _verifier(pkg, issuer, **({"dpop": "off"} if "dpop off" in variant else {}))
    bearer = adapter.BearerToken(verifier)
    if variant.startswith("dep floor"):
        # FastAPI's own cost of a dependency shaped like BearerToken (same signature, so
        # the same sub-dependencies), returning the cached token without looking.
        bearer = _NoopDependency(bearer, verifier)
    adapter.install_error_handler(app)
    access_token = tokens.AccessToken

    needs_token = Security(bearer, scopes=["read:messages"])

    async def protected(token: Any = needs_token) -> dict[str, str]:
        return {"sub": token.subject or ""}

    protected.__annotations__ = {"token": access_token, "return": dict[str, str]}
    app.get("/protected")(protected)
    return app, verifier


class _NoopDependency:
    """Shaped like a ``BearerToken`` (its signature), doing nothing: FastAPI's own share."""

    def __init__(self, bearer: Any, verifier: Any) -> None:
        self.__signature__ = bearer.__signature__
        self.model, self.scheme_name = bearer.model, bearer.scheme_name
        self.verifier = verifier
        self.token: Any = None

    async def __call__(self, conn: Any, security_scopes: Any, **kwargs: Any) -> Any:
        if self.token is None:  # the first request verifies: every later one is this
            self.token = await self.verifier.authenticate_async(conn.headers.get("authorization"))
        return self.token


# -- the driver --------------------------------------------------------------------------------
def runner(app: App, path: str, authorization: bytes | None) -> Callable[[int], int]:
    """A function running *n* requests to *path* in one event-loop step; the last status."""
    loop = asyncio.new_event_loop()
    base = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"bench"),
        (b"accept", b"*/*"),
    ]
    if authorization is not None:
        base.append((b"authorization", authorization))
    raw_path = path.encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def batch(n: int) -> int:
        status = 0

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        for _ in range(n):
            # Built as uvicorn builds it (nine keys, then four as the request line is
            # parsed): the dict's table then has room for what middleware adds, as in a
            # server. (A 13-key literal is sized to 21 keys: the 22nd would resize it.)
            scope: dict[str, Any] = {
                "type": "http",
                "asgi": {"version": "3.0", "spec_version": "2.3"},
                "http_version": "1.1",
                "server": ("127.0.0.1", 8000),
                "client": ("127.0.0.1", 50000),
                "scheme": "http",
                "root_path": "",
                # A new bytes object per request, as a server parses it: no cached hash.
                "headers": [(k, bytes(bytearray(v))) for k, v in base],
                "state": {},
            }
            scope["method"] = "GET"
            scope["path"] = path
            scope["raw_path"] = raw_path
            scope["query_string"] = b""
            await app(scope, receive, send)
        return status

    return lambda n: loop.run_until_complete(batch(n))


def middleware_alone(
    variants: dict[str, str], issuer: Issuer, header: bytes, rounds: int
) -> list[str]:
    """The Starlette-level authentication layer alone: each middleware around an app that
    does nothing, its coroutine driven by hand (no event loop, no routing, no response).
    Best over interleaved rounds: what the layer itself costs per request, settled in one
    ``send``. The scope is made per request as in :func:`runner` (its cost is in every row)."""
    from .apps._dict_control import DictLookupMiddleware

    async def nothing(scope: Any, receive: Any, send: Any) -> None:
        return None

    layers: dict[str, Any] = {"dict": DictLookupMiddleware(nothing)}
    for variant, pkg in variants.items():
        if variant in ("bearerguard", "previous"):
            adapter = importlib.import_module(f"{pkg}.adapters.starlette")
            layers[variant] = adapter.BearerAuthenticationMiddleware(
                nothing, _verifier(pkg, issuer)
            )
    base = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"bench"), (b"accept", b"*/*")]

    def run(layer: Any, with_token: bool, n: int) -> None:
        headers = [*base, (b"authorization", header)] if with_token else base
        for _ in range(n):
            scope: dict[str, Any] = {"type": "http", "headers": [(k, bytes(v)) for k, v in headers]}
            scope["method"], scope["path"], scope["query_string"] = "GET", "/p", b""
            coroutine = layer(scope, None, None)
            try:
                coroutine.send(None)
            except StopIteration:
                pass
            else:  # pragma: no cover - a cached token never suspends
                raise SystemExit("the middleware suspended on a cached token")

    for layer in layers.values():  # warm-up: keys fetched, token verified and cached
        for _ in range(3):
            with contextlib.suppress(Exception):
                asyncio.run(
                    layer({"type": "http", "headers": [(b"authorization", header)]}, None, None)
                )
        run(layer, True, 10)
    best: dict[tuple[str, bool], float] = {}
    n = 2000
    for _ in range(rounds):
        for name, layer in layers.items():
            for with_token in (False, True):
                gc.disable()
                start = time.process_time()
                run(layer, with_token, n)
                elapsed = (time.process_time() - start) / n * 1e6
                gc.enable()
                key = (name, with_token)
                best[key] = min(best.get(key, float("inf")), elapsed)
    lines = [
        f"\nthe authentication middleware alone (Starlette), CPU µs per request, best of "
        f"{rounds} interleaved rounds x {n}",
        f"  {'layer':<12} {'no credentials':>15} {'same token':>11} {'token adds':>11}"
        f" {'vs dict':>8}",
    ]
    for name in layers:
        anon, same = best[(name, False)], best[(name, True)]
        lines.append(
            f"  {name:<12} {anon:>15.2f} {same:>11.2f} {same - anon:>11.2f}"
            f" {same - best[('dict', True)]:>+8.2f}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=4000, help="per cell and round (4000)")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (9; median)")
    parser.add_argument("--frameworks", default="starlette,fastapi")
    parser.add_argument("--previous", help="a src directory holding another bearerguard")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {0})
    print(environment())
    builders = {"starlette": starlette_app, "fastapi": fastapi_app}
    frameworks = [f for f in args.frameworks.split(",") if f]
    with Issuer(audience=AUDIENCE) as issuer, tempfile.TemporaryDirectory() as tmp:
        variants = {"dict": "bearerguard", "bearerguard": "bearerguard"}
        if args.previous:
            variants["previous"] = load_previous(args.previous, Path(tmp))
        if "fastapi" in frameworks:
            variants["dep floor"] = "bearerguard"
            variants["bg, dpop off"] = "bearerguard"
            variants["dep floor, dpop off"] = "bearerguard"
        token = mint(issuer, "RS256", 1)[0]
        header = f"Bearer {token}".encode()
        cells: dict[tuple[str, str, str], Callable[[int], int]] = {}
        for fw in frameworks:
            for variant, pkg in variants.items():
                if variant not in ("dict", "bearerguard", "previous") and fw != "fastapi":
                    continue
                app, _ = builders[fw](variant, pkg, issuer)
                for cell, path, value in (("open", "/open", None), ("same", "/protected", header)):
                    run = cells[(fw, variant, cell)] = runner(app, path, value)
                    if run(50) != 200:  # warm-up: keys fetched, token cached
                        raise SystemExit(f"{fw}/{variant}: {path} did not answer 200")
        times: dict[tuple[str, str, str], list[float]] = {k: [] for k in cells}
        order = list(cells)
        for r in range(args.rounds):
            shift = r % len(order)
            for key in order[shift:] + order[:shift]:
                gc.collect()
                gc.disable()
                start = time.process_time()  # CPU time: what neighbours' load moves least
                cells[key](args.requests)
                elapsed = time.process_time() - start
                gc.enable()
                times[key].append(elapsed / args.requests * 1e6)
        middleware = (
            middleware_alone(variants, issuer, header, args.rounds)
            if "starlette" in frameworks
            else []
        )
    print(
        f"\nCPU µs per request, median of {args.rounds} interleaved rounds x {args.requests}; "
        "ratio = open / protected; 'vs dict' = ratio - the dict control's, per round"
    )
    print(
        f"  {'framework':<10} {'app':<20} {'open':>7} {'same':>7} {'added':>7} "
        f"{'ratio':>6} {'vs dict':>8}"
    )
    checks = []
    for fw in frameworks:
        ratios = {
            v: [o / s for o, s in zip(times[(fw, v, "open")], times[(fw, v, "same")], strict=True)]
            for v in variants
            if (fw, v, "open") in times
        }
        for v in [v for v in variants if (fw, v, "open") in times]:
            o, s = times[(fw, v, "open")], times[(fw, v, "same")]
            added = statistics.median(b - a for a, b in zip(o, s, strict=True))
            diff = statistics.median(x - d for x, d in zip(ratios[v], ratios["dict"], strict=True))
            print(
                f"  {fw:<10} {v:<20} {statistics.median(o):>7.2f} {statistics.median(s):>7.2f}"
                f" {added:>7.2f} {statistics.median(ratios[v]):>6.3f} {diff:>+8.3f}"
            )
            if v == "bearerguard":
                checks.append((fw, diff, diff >= -TARGET[fw]))
    for line in middleware:
        print(line)
    print("\ntargets (in-process; the issue's are by server CPU, bench.http_bench)")
    for fw, diff, ok in checks:
        label = f"{fw}: same-token ratio within {TARGET[fw]:.2f} of the dict control"
        print(f"  {label:<58} {diff:>+7.3f} {'PASS' if ok else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
