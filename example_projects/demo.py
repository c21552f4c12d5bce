"""``make demo``: the dev issuer and every example project, walked through with real HTTP.

Run from a source checkout: ``python -m example_projects.demo``. It starts
``bearerguard dev-issuer`` and each project in ``example_projects/`` with its documented
command on free local ports, tells the story of one API call at a time, checks every answer
against the RFC 6750 contract, stops everything it started and exits non-zero on a mismatch.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import bearerguard
from bearerguard.dpop import DEFAULT_ALGORITHMS
from bearerguard.errors import BearerError, InsufficientScope, InvalidToken, MissingToken, Responses
from bearerguard.testing.cli import request_token

HOST = "127.0.0.1"
AUDIENCE = "https://api.example.com"
ROLES_CLAIM = "https://example.com/roles"
TIME_LIMIT = 40.0  # seconds for starting and walking; stopping adds at most 5 s a child
#: Each project's documented start command ({python}, {host}, {port} filled in).
COMMANDS: dict[str, tuple[str, ...]] = {
    "flask_api": ("flask", "--app", "app", "run", "--host", "{host}", "--port", "{port}"),
    "django_api": ("{python}", "manage.py", "runserver", "{host}:{port}", "--noreload"),
    "starlette_api": ("uvicorn", "app:app", "--host", "{host}", "--port", "{port}"),
    "fastapi_api": ("uvicorn", "app:app", "--host", "{host}", "--port", "{port}"),
    "drf_api": ("{python}", "manage.py", "runserver", "{host}:{port}", "--noreload"),
    "ninja_api": ("{python}", "manage.py", "runserver", "{host}:{port}", "--noreload"),
}

#: How the example projects answer with the default settings (both schemes offered).
DEFAULT_RESPONSES = Responses("api", dpop="allowed", dpop_algs=DEFAULT_ALGORITHMS)


def examples_dir() -> Path:
    """``example_projects/`` of the checkout this module sits in (editable install),
    else of the current directory (an installed wheel run from a checkout, as in tox)."""
    beside = Path(__file__).resolve().parent
    return beside if beside.is_dir() else Path.cwd() / "example_projects"


def free_ports(count: int, host: str = HOST) -> list[int]:
    """Ports that were free a moment ago (held together, so they are distinct)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]


def command(name: str, host: str, port: int | None, *, shown: bool = False) -> list[str]:
    """The documented start command of example project *name*: as the README shows it, or
    (by default) with executables resolved next to this interpreter (a virtualenv's bin)."""
    python = "python" if shown else sys.executable
    args = [a.format(python=python, host=host, port=port) for a in COMMANDS[name]]
    local = Path(sys.executable).parent / args[0]
    if not shown and local.is_file():
        args[0] = str(local)
    return args


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment for a child: ours without any ``BEARERGUARD_*``, plus *extra*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEARERGUARD_")}
    # The children must run the very bearerguard this process runs.
    src = str(Path(bearerguard.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclasses.dataclass
class Process:
    """A child process we started, its base URL and its log file."""

    name: str
    url: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes]

    def log_tail(self, lines: int = 15) -> str:
        self.log.flush()
        self.log.seek(0)
        return "\n".join(self.log.read().decode("utf-8", "replace").splitlines()[-lines:])


@contextlib.contextmanager
def running(
    specs: Sequence[tuple[str, Sequence[str], Path, str, Mapping[str, str]]],
    *,
    ready_path: str = "/api/public",
    timeout: float = 30.0,
) -> Iterator[list[Process]]:
    """Start ``(name, argv, cwd, url, env)`` children, wait until each answers 200 at
    ``url + ready_path``, and stop them all by PID on exit."""
    procs: list[Process] = []
    with tempfile.TemporaryDirectory(prefix="bearerguard-demo-") as logs:
        try:
            for name, argv, cwd, url, env in specs:
                log = open(Path(logs) / f"{name}.log", "w+b")  # noqa: SIM115 - closed below
                popen = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdout=log, stderr=log)
                procs.append(Process(name, url, popen, log))
            _wait_ready(procs, ready_path, time.monotonic() + timeout)
            yield procs
        finally:
            for proc in procs:
                stop(proc.popen)
                proc.log.close()


def stop(popen: subprocess.Popen[bytes]) -> None:
    """Terminate one child by PID; kill it if it lingers."""
    if popen.poll() is None:
        popen.terminate()
        try:
            popen.wait(5)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)


def _wait_ready(procs: Sequence[Process], ready_path: str, deadline: float) -> None:
    pending = list(procs)
    while pending:
        for proc in list(pending):
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited early:\n{proc.log_tail()}")
            with contextlib.suppress(OSError):
                if fetch("GET", proc.url + ready_path, timeout=1).status == 200:
                    pending.remove(proc)
        if pending and time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.log_tail()}" for p in pending)
            raise RuntimeError(f"not ready in time: {[p.name for p in pending]}\n{tails}")
        if pending:
            time.sleep(0.1)


@dataclasses.dataclass(frozen=True)
class Answer:
    """What an HTTP call answered: status, ``WWW-Authenticate`` (or None), JSON body."""

    status: int
    www_authenticate: str | None
    body: Any


def fetch(
    method: str,
    url: str,
    *,
    token: str | None = None,
    timeout: float = 10.0,
) -> Answer:
    """One real HTTP request (stdlib only); a non-JSON body is returned as text."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=timeout)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), None, headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")
    return Answer(response.status, response.getheader("WWW-Authenticate"), body)


def abbreviate(token: str) -> str:
    """A token as the transcript shows it: its first 12 characters and an ellipsis."""
    return token[:12] + "…"


def curl_line(method: str, url: str, token: str | None) -> str:
    """A curl-like rendering of a request, the token abbreviated."""
    line = "curl -i" + (f" -X {method}" if method != "GET" else "") + f" {url}"
    return line + (f' -H "Authorization: Bearer {abbreviate(token)}"' if token else "")


@dataclasses.dataclass(frozen=True)
class Step:
    """One call of the story and the answer it must get."""

    title: str
    path: str
    token: str | None
    status: int
    refusal: BearerError | None = None
    check: Callable[[Any], bool] = lambda body: True


def expected(step: Step, answer: Answer) -> list[str]:
    """How *answer* differs from what *step* expects (empty when it does not)."""
    wrong = []
    if answer.status != step.status:
        wrong.append(f"status {answer.status}, expected {step.status}")
    challenge = DEFAULT_RESPONSES.challenge(step.refusal) if step.refusal else None
    if answer.www_authenticate != challenge:
        wrong.append(f"WWW-Authenticate {answer.www_authenticate!r}, expected {challenge!r}")
    if step.refusal is not None and answer.body != step.refusal.body_dict():
        wrong.append(f"body {answer.body!r}, expected {step.refusal.body_dict()!r}")
    elif step.refusal is None:
        try:
            holds = bool(step.check(answer.body))
        except (KeyError, TypeError, AttributeError):
            holds = False
        if not holds:
            wrong.append(f"unexpected body {answer.body!r}")
    return wrong


def story(issuer_url: str) -> list[Step]:
    """The demo's steps, with tokens minted by the dev issuer's mint endpoint."""
    token = request_token(
        issuer_url,
        sub="user-42",
        scopes=["read:messages"],
        claims={ROLES_CLAIM: ["editor"]},
        timeout=5,
    )
    id_token = request_token(issuer_url, sub="user-42", id_token=True, timeout=5)
    expired = request_token(issuer_url, sub="user-42", expires_in=-600, timeout=5)
    rw = ("read:messages", "write:messages")
    return [
        Step("A public route needs no token.", "/api/public", None, 200,
             check=lambda b: b == {"message": "public"}),
        Step("A private route without a token: 401 and a bare challenge (RFC 6750 §3.1).",
             "/api/private", None, 401, MissingToken()),
        Step("With an access token from the dev issuer: who called, with which scopes and a "
             f"namespaced custom claim ({ROLES_CLAIM}).", "/api/private", token, 200,
             check=lambda b: b["sub"] == "user-42" and b["scopes"] == ["read:messages"]
             and b["claims"].get(ROLES_CLAIM) == ["editor"]),
        Step("The same token lacks write:messages: 403 insufficient_scope (RFC 6750 §3.1).",
             "/api/private-scoped-rw", token, 403, InsufficientScope(scopes=rw)),
        Step("An ID token is for the client, not the API: refused.",
             "/api/private", id_token, 401, InvalidToken("id_token_presented")),
        Step("An expired access token is refused.",
             "/api/private", expired, 401, InvalidToken("expired")),
    ]  # fmt: skip


def show(answer: Answer) -> str:
    """The transcript's rendering of an answer."""
    lines = [f"  HTTP {answer.status}"]
    if answer.www_authenticate is not None:
        lines.append(f"  WWW-Authenticate: {answer.www_authenticate}")
    text = json.dumps(answer.body, ensure_ascii=False)
    if len(text) > 100:
        text = json.dumps(answer.body, ensure_ascii=False, indent=2)
    lines.extend("  " + line for line in text.splitlines())
    return "\n".join(lines)


def walk(
    servers: Sequence[Process], steps: Sequence[Step], out: Callable[[str], None], deadline: float
) -> int:
    """Run *steps* against every server (one shown in full, in turn); return failures.

    Raises TimeoutError past *deadline* (``time.monotonic()``)."""
    failures = 0
    for number, step in enumerate(steps, 1):
        lead = servers[(number - 1) % len(servers)]
        out(f"\n{number}. {step.title}")
        for server in [lead, *(s for s in servers if s is not lead)]:
            url = server.url + step.path
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the demo ran out of time")
            answer = fetch("GET", url, token=step.token, timeout=min(5.0, remaining))
            wrong = expected(step, answer)
            failures += bool(wrong)
            if server is lead:
                out(f"$ {curl_line('GET', url, step.token)}    # {server.name}")
                out(show(answer))
            mark = "ok" if not wrong else "MISMATCH: " + "; ".join(wrong)
            out(f"  [{server.name}] {answer.status} {mark}")
    return failures


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 when every answer matched the story."""
    parser = argparse.ArgumentParser(prog="python -m example_projects.demo")
    parser.add_argument("--projects", default=",".join(COMMANDS), help="comma-separated")
    args = parser.parse_args(argv)
    names = [n for n in args.projects.split(",") if n]
    folder = examples_dir()
    if unknown := [n for n in names if n not in COMMANDS or not (folder / n).is_dir()]:
        print(f"demo: unknown or missing example projects {unknown} in {folder}", file=sys.stderr)
        return 2
    out = print
    started = time.monotonic()
    issuer_port, *ports = free_ports(len(names) + 1)
    issuer_url = f"http://{HOST}:{issuer_port}"
    cli = [sys.executable, "-m", "bearerguard.testing.cli", "dev-issuer"]
    issuer_spec = ("dev-issuer", [*cli, "--host", HOST, "--port", str(issuer_port)],
                   Path.cwd(), issuer_url, child_env({}))  # fmt: skip
    settings = {
        "BEARERGUARD_ISSUER": issuer_url + "/",
        "BEARERGUARD_AUDIENCE": AUDIENCE,
        "BEARERGUARD_JWKS_URI": issuer_url + "/.well-known/jwks.json",
    }
    specs = [
        (n, command(n, HOST, p), folder / n, f"http://{HOST}:{p}", child_env(settings))
        for n, p in zip(names, ports, strict=True)
    ]
    out(f"bearerguard demo: {len(names)} example projects, the same RFC 6750 answers.")
    try:
        with (
            running([issuer_spec], ready_path="/.well-known/openid-configuration", timeout=10),
            running(specs, timeout=TIME_LIMIT / 2) as servers,
        ):
            out(f"\ndev issuer  {issuer_url}/  (bearerguard dev-issuer; keys live in that process)")
            for s in servers:
                shown = " ".join(command(s.name, HOST, urlsplit(s.url).port, shown=True))
                out(f"{s.name:<14}{s.url}  ({shown})")
            failures = walk(servers, story(issuer_url), out, started + TIME_LIMIT)
    except (RuntimeError, OSError) as exc:
        print(f"\ndemo: {exc}", file=sys.stderr)
        return 2
    out(
        "\nKeep experimenting:\n"
        "  bearerguard dev-issuer --port 9000    # terminal 1; prints export lines for terminal 2\n"
        "  cd example_projects/flask_api && flask --app app run --port 5000    # terminal 2\n"
        "  TOKEN=$(bearerguard token --scope read:messages --claim tenant=acme)    # terminal 3\n"
        '  curl -i http://127.0.0.1:5000/api/private-tenant -H "Authorization: Bearer $TOKEN"'
    )
    elapsed = time.monotonic() - started
    if failures:
        out(f"\n{failures} answer(s) differed from the story ({elapsed:.1f} s).")
        return 1
    out(f"\nEvery answer matched the story ({elapsed:.1f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
