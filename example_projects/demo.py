"""``make demo``: the dev issuer and every example project, walked through with real HTTP.

Run from a source checkout: ``python -m example_projects.demo``. It starts
``bearerguard dev-issuer`` and each project in ``example_projects/`` with its documented
command on free local ports, tells the story of one API call at a time, checks every answer
against the contract (RFC 6750; DPoP, RFC 9449; RFC 9728 discovery and RFC 9470 step-up;
RFC 7662 introspection and RFC 7009 revocation), stops everything it started and exits
non-zero on a mismatch.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

import bearerguard
from bearerguard.dpop import DEFAULT_ALGORITHMS, DPoPError
from bearerguard.errors import (
    BearerError,
    InsufficientScope,
    InsufficientUserAuthentication,
    InvalidToken,
    MissingToken,
    Responses,
)
from bearerguard.testing.cli import request_token
from bearerguard.testing.dpop import DPoPKey

HOST = "127.0.0.1"
AUDIENCE = "https://api.example.com"
ROLES_CLAIM = "https://example.com/roles"
#: The multi-factor ``acr`` value /api/private-mfa asks for (Auth0's), and its max_age.
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"
MFA_MAX_AGE = 600
#: The client registered at the dev issuer: it gets tokens (client credentials), revokes
#: them, and the APIs introspect with it.
CLIENT_ID = "demo-client"
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
#: RFC 9728 §3.1: where a resource without a path serves its metadata.
METADATA_PATH = "/.well-known/oauth-protected-resource"


def responses(resource: str) -> Responses:
    """How an example project whose ``BEARERGUARD_RESOURCE`` is *resource* answers."""
    return Responses(
        "api",
        dpop="allowed",
        dpop_algs=DEFAULT_ALGORITHMS,
        resource_metadata=resource + METADATA_PATH,
    )


def settings_for(issuer_url: str, url: str, secret: str) -> dict[str, str]:
    """The environment of the example project served at *url* (its resource identifier)."""
    return {
        "BEARERGUARD_ISSUER": issuer_url + "/",
        "BEARERGUARD_AUDIENCE": f"{AUDIENCE},{url}",
        "BEARERGUARD_JWKS_URI": issuer_url + "/.well-known/jwks.json",
        "BEARERGUARD_RESOURCE": url,
        "BEARERGUARD_TOKEN_FORMATS": "jwt,opaque",
        "BEARERGUARD_CLIENT_ID": CLIENT_ID,
        "BEARERGUARD_CLIENT_SECRET": secret,
        "BEARERGUARD_INTROSPECTION_CACHE_TTL": "0",
    }


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
    #: What a client learnt from this server in earlier steps (discovery).
    state: dict[str, Any] = dataclasses.field(default_factory=dict)

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
    headers: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
) -> Answer:
    """One real HTTP request (stdlib only); a non-JSON body is returned as text.

    *token* is sent as ``Authorization: Bearer``; *headers* are sent as they are; *form*
    is sent as an ``application/x-www-form-urlencoded`` body."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or HOST, parts.port, timeout=timeout)
    sent = {"Authorization": f"Bearer {token}"} if token else {}
    sent.update(headers or {})
    data = None
    if form is not None:
        data = urlencode(dict(form)).encode()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), data, sent)
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


def curl_line(
    method: str,
    url: str,
    token: str | None,
    *,
    scheme: str = "Bearer",
    proof: str | None = None,
    user: str | None = None,
    form: Mapping[str, str] | None = None,
) -> str:
    """A curl-like rendering of a request, tokens and proofs abbreviated; a client's
    secret (``user``: its id) is never shown."""
    line = "curl -i" + (f" -X {method}" if method != "GET" else "") + f" {url}"
    if token:
        line += f' -H "Authorization: {scheme} {abbreviate(token)}"'
    if proof:
        line += f' -H "DPoP: {abbreviate(proof)}"'
    if user:
        line += f" -u {user}:…"
    for name, value in (form or {}).items():
        line += f" -d {name}={abbreviate(value) if name == 'token' else value}"
    return line


@dataclasses.dataclass(frozen=True)
class Call:
    """A request of a client step: method, URL, form body and client authentication."""

    method: str
    url: str
    form: Mapping[str, str] | None = None
    #: (client id, secret) for HTTP Basic client authentication (RFC 6749 §2.3.1)
    client: tuple[str, str] | None = None


@dataclasses.dataclass(frozen=True)
class Step:
    """One call of the story and the answer it must get.

    By default a ``GET`` of *path* on each example project with *token* (a string, or a
    function of the server) in *scheme*, and *proof* (a function of the request URL) in a
    ``DPoP`` header. A client step sends *request* instead (a function of the server);
    *after* records what the answer taught the client, for the next steps; a step *once*
    runs against one server only (an action at the dev issuer). *scopes*: the route's, which
    a bare 401 names. *check_server*: a check of the body that needs the server.
    """

    title: str
    path: str
    token: str | Callable[[Process], str] | None
    status: int
    refusal: BearerError | None = None
    check: Callable[[Any], bool] = lambda body: True
    scheme: str = "Bearer"
    proof: Callable[[str], str] | None = None
    scopes: tuple[str, ...] = ()
    request: Callable[[Process], Call] | None = None
    after: Callable[[Process, Answer], None] | None = None
    once: bool = False
    check_server: Callable[[Process, Any], bool] | None = None


def expected(
    step: Step,
    answer: Answer,
    answering: Responses = DEFAULT_RESPONSES,
    server: Process | None = None,
) -> list[str]:
    """How *answer* differs from what *step* expects (empty when it does not), for a
    server answering as *answering* says."""
    wrong = []
    if answer.status != step.status:
        wrong.append(f"status {answer.status}, expected {step.status}")
    challenge = answering.challenge(step.refusal, step.scopes) if step.refusal else None
    if answer.www_authenticate != challenge:
        wrong.append(f"WWW-Authenticate {answer.www_authenticate!r}, expected {challenge!r}")
    if step.refusal is not None and answer.body != step.refusal.body_dict():
        wrong.append(f"body {answer.body!r}, expected {step.refusal.body_dict()!r}")
    elif step.refusal is None:
        try:
            holds = bool(step.check(answer.body))
            if holds and step.check_server is not None and server is not None:
                holds = bool(step.check_server(server, answer.body))
        except (KeyError, TypeError, AttributeError, IndexError):
            holds = False
        if not holds:
            wrong.append(f"unexpected body {answer.body!r}")
    return wrong


class Proofs:
    """DPoP proofs by one key for one token and method: one per URL, made once and then
    sent again as they are (a replay)."""

    def __init__(self, key: DPoPKey, token: str, method: str = "GET") -> None:
        self.key, self.token, self.method = key, token, method
        self._made: dict[str, str] = {}

    def __call__(self, url: str) -> str:
        if url not in self._made:
            self._made[url] = self.key.proof(self.method, url, access_token=self.token)
        return self._made[url]


def _metadata_url(server: Process, answer: Answer) -> None:
    # RFC 9728 §5.1: the challenge names the metadata URL.
    found = re.search(r'resource_metadata="([^"]+)"', answer.www_authenticate or "")
    if found is None:
        raise KeyError("resource_metadata")
    server.state["metadata"] = found.group(1)


def _authorization_server(server: Process, answer: Answer) -> None:
    server.state["issuer"] = answer.body["authorization_servers"][0]


def _rfc8414_url(issuer: str) -> str:
    # RFC 8414 §3.1: the well-known suffix goes between the host and the issuer's path.
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{path}"


def discovery(issuer_url: str, secret: str) -> list[Step]:
    """A client that knows only the API's URL finds its way to a token (RFC 9728, RFC
    8414, RFC 8707) and succeeds."""
    issuer = issuer_url + "/"

    def token_request(server: Process) -> Call:
        form = {
            "grant_type": "client_credentials",
            "scope": "read:messages",
            "resource": server.state["resource"],
        }
        return Call("POST", server.state["token_endpoint"], form, (CLIENT_ID, secret))

    def remember_resource(server: Process, answer: Answer) -> None:
        _authorization_server(server, answer)
        server.state["resource"] = answer.body["resource"]

    def remember_endpoint(server: Process, answer: Answer) -> None:
        server.state["token_endpoint"] = answer.body["token_endpoint"]

    def remember_token(server: Process, answer: Answer) -> None:
        server.state["token"] = answer.body["access_token"]

    return [
        Step("A client that knows only the API's URL calls it: a bare 401 names the "
             "resource metadata (RFC 9728 §5.1) and the scope the route needs.",
             "/api/private-scoped", None, 401, MissingToken(), scopes=("read:messages",),
             after=_metadata_url),
        Step("It fetches that document: this API's resource identifier (byte for byte) and "
             "its authorization server (RFC 9728 §3).", METADATA_PATH, None, 200,
             request=lambda s: Call("GET", s.state["metadata"]),
             check_server=lambda s, b: b["resource"] == s.url
             and b["authorization_servers"] == [issuer],
             after=remember_resource),
        Step("It fetches the authorization server's metadata (RFC 8414 §3): the token "
             "endpoint.", "/.well-known/oauth-authorization-server", None, 200,
             request=lambda s: Call("GET", _rfc8414_url(s.state["issuer"])),
             check=lambda b: b["issuer"] == issuer
             and b["token_endpoint"] == issuer_url + "/token",
             after=remember_endpoint),
        Step("It asks for a token for exactly this resource (client credentials, RFC 8707 "
             "resource).", "/token", None, 200, request=token_request,
             check=lambda b: b["token_type"] == "Bearer" and b["scope"] == "read:messages",
             after=remember_token),
        Step("It retries with that token: accepted; its aud is this API's resource.",
             "/api/private-scoped", lambda s: str(s.state["token"]), 200,
             check_server=lambda s, b: b["sub"] == CLIENT_ID and b["claims"]["aud"] == s.url
             and b["scopes"] == ["read:messages"]),
    ]  # fmt: skip


def story(issuer_url: str, secret: str) -> list[Step]:
    """The demo's steps, with tokens minted by the dev issuer's mint endpoint; *secret* is
    the demo client's (see :data:`CLIENT_ID`)."""

    def mint(**kw: Any) -> str:
        return request_token(issuer_url, sub="user-42", timeout=5, **kw)

    token = mint(scopes=["read:messages"], claims={ROLES_CLAIM: ["editor"]})
    id_token = mint(id_token=True)
    expired = mint(expires_in=-600)
    key = DPoPKey("ES256")
    bound = mint(claims={"cnf": {"jkt": key.thumbprint}})  # RFC 9449 §6.1
    proofs = Proofs(key, bound)
    now = int(time.time())
    password = mint(claims={"acr": "urn:example:password", "auth_time": now - 60})
    stepped_up = mint(claims={"acr": MFA, "auth_time": now})
    opaque = mint(opaque=True, claims={"client_id": CLIENT_ID})
    rw = ("read:messages", "write:messages")
    revoke = Call("POST", issuer_url + "/revoke", {"token": opaque}, (CLIENT_ID, secret))
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
        Step("A DPoP-bound token (cnf.jkt, RFC 9449 §6) is stolen and sent as a Bearer "
             "token: refused.", "/api/private", bound, 401, InvalidToken("bound_token")),
        Step("The thief tries the DPoP scheme, but has no key to make a proof: refused.",
             "/api/private", bound, 401, DPoPError("dpop_proof_missing"), scheme="DPoP"),
        Step("The client holding the key sends a proof for this method, URL and token (htm, "
             "htu, ath; RFC 9449 §4): accepted.", "/api/private", bound, 200,
             scheme="DPoP", proof=proofs,
             check=lambda b: b["claims"]["cnf"] == {"jkt": key.thumbprint}),
        Step("The same proof sent again (a replay): refused; each proof's jti is accepted "
             "once (RFC 9449 §11.1).", "/api/private", bound, 401,
             DPoPError("dpop_replayed"), scheme="DPoP", proof=proofs),
        Step(f"/api/private-mfa needs a multi-factor sign-in at most {MFA_MAX_AGE} s old: a "
             "password sign-in gets the step-up challenge (RFC 9470 §3).",
             "/api/private-mfa", password, 401,
             InsufficientUserAuthentication("acr_not_accepted", acr_values=(MFA,),
                                            max_age=MFA_MAX_AGE)),
        Step("After signing in again with a second factor (that acr, a fresh auth_time): "
             "accepted.", "/api/private-mfa", stepped_up, 200,
             check=lambda b: b["claims"]["acr"] == MFA and b["claims"]["auth_time"] == now),
        *discovery(issuer_url, secret),
        Step("An opaque access token (not a JWT) is checked at the dev issuer's introspection "
             "endpoint (RFC 7662): accepted.", "/api/private", opaque, 200,
             check=lambda b: b["sub"] == "user-42" and b["scopes"] == ["read:messages"]
             and b["claims"]["active"] is True),
        Step("Its client revokes it at the dev issuer (RFC 7009).", "/revoke", None, 200,
             request=lambda s: revoke, check=lambda b: b == {}, once=True),
        Step("The same opaque token is refused at once: introspection says it is no longer "
             "active (cache TTL 0 here).", "/api/private", opaque, 401,
             InvalidToken("token_inactive")),
    ]  # fmt: skip


def show(answer: Answer) -> str:
    """The transcript's rendering of an answer (tokens in it abbreviated)."""
    lines = [f"  HTTP {answer.status}"]
    if answer.www_authenticate is not None:
        lines.append(f"  WWW-Authenticate: {answer.www_authenticate}")
    body = answer.body
    if isinstance(body, dict) and isinstance(body.get("access_token"), str):
        body = {**body, "access_token": abbreviate(body["access_token"])}
    text = json.dumps(body, ensure_ascii=False)
    if len(text) > 100:
        text = json.dumps(body, ensure_ascii=False, indent=2)
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
        out(f"  expect: {expectation(step)}")
        for server in [lead] if step.once else [lead, *(s for s in servers if s is not lead)]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the demo ran out of time")
            try:
                answer, shown = _send(step, server, min(5.0, remaining))
            except KeyError:  # what an earlier step should have taught the client
                failures += 1
                out(f"  [{server.name}] MISMATCH: skipped, an earlier step failed")
                continue
            wrong = expected(step, answer, responses(server.url), server)
            if not wrong and step.after is not None:
                try:
                    step.after(server, answer)
                except (KeyError, TypeError, AttributeError, IndexError):
                    wrong = [f"unexpected answer {answer.www_authenticate!r} {answer.body!r}"]
            failures += bool(wrong)
            if server is lead:
                out(f"$ {shown}" + ("" if step.once else f"    # {server.name}"))
                out(show(answer))
            mark = "ok" if not wrong else "MISMATCH: " + "; ".join(wrong)
            out(f"  [{'dev-issuer' if step.once else server.name}] {answer.status} {mark}")
    return failures


def expectation(step: Step) -> str:
    """What the transcript says *step* expects: the status, error code and reason."""
    if step.refusal is None:
        return f"HTTP {step.status}"
    code = f"error {step.refusal.error}" if step.refusal.error else "no error code"
    return f"HTTP {step.status}, {code}, reason {step.refusal.reason}"


def _send(step: Step, server: Process, timeout: float) -> tuple[Answer, str]:
    """Make *step*'s request to *server*: its answer and its curl rendering."""
    if step.request is not None:
        call = step.request(server)
        headers = {}
        if call.client is not None:
            pair = ":".join(call.client).encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        answer = fetch(call.method, call.url, headers=headers, form=call.form, timeout=timeout)
        user = call.client[0] if call.client else None
        return answer, curl_line(call.method, call.url, None, user=user, form=call.form)
    url = server.url + step.path
    token = step.token(server) if callable(step.token) else step.token
    headers = {}
    if token is not None:
        headers["Authorization"] = f"{step.scheme} {token}"
    proof = step.proof(url) if step.proof is not None else None
    if proof is not None:
        headers["DPoP"] = proof
    answer = fetch("GET", url, headers=headers, timeout=timeout)
    return answer, curl_line("GET", url, token, scheme=step.scheme, proof=proof)


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
    secret = secrets.token_urlsafe(16)
    client = ["--client-id", CLIENT_ID, "--client-scope", "read:messages"]
    cli = [sys.executable, "-m", "bearerguard.testing.cli", "dev-issuer", *client]
    issuer_spec = ("dev-issuer", [*cli, "--client-secret", secret, "--host", HOST, "--port",
                   str(issuer_port)], Path.cwd(), issuer_url, child_env({}))  # fmt: skip
    specs = []
    for name, port in zip(names, ports, strict=True):
        url = f"http://{HOST}:{port}"
        env = child_env(settings_for(issuer_url, url, secret))
        specs.append((name, command(name, HOST, port), folder / name, url, env))
    out(f"bearerguard demo: {len(names)} example projects, the same answers.")
    try:
        with (
            running([issuer_spec], ready_path="/.well-known/openid-configuration", timeout=10),
            running(specs, timeout=TIME_LIMIT / 2) as servers,
        ):
            out(
                f"\ndev issuer  {issuer_url}/  (bearerguard dev-issuer {' '.join(client)}; "
                "keys live in that process)"
            )
            for s in servers:
                shown = " ".join(command(s.name, HOST, urlsplit(s.url).port, shown=True))
                out(f"{s.name:<14}{s.url}  ({shown})")
            out("\nEach project's environment (<URL> is its own):")
            for name, value in settings_for(issuer_url, "<URL>", "…").items():
                out(f"  {name}={value}")
            failures = walk(servers, story(issuer_url, secret), out, started + TIME_LIMIT)
    except (RuntimeError, OSError) as exc:
        print(f"\ndemo: {exc}", file=sys.stderr)
        return 2
    out(
        "\nKeep experimenting:\n"
        "  bearerguard dev-issuer --port 9000    # terminal 1; prints export lines for terminal 2\n"
        "  cd example_projects/flask_api && flask --app app run --port 5000    # terminal 2\n"
        "  TOKEN=$(bearerguard token --scope read:messages --claim tenant=acme)    # terminal 3\n"
        '  curl -i http://127.0.0.1:5000/api/private-tenant -H "Authorization: Bearer $TOKEN"\n'
        "  # a DPoP-bound token and its proof (TOKEN=… PROOF=…):\n"
        '  eval "$(bearerguard token --dpop --url http://127.0.0.1:5000/api/private)"\n'
        '  curl -i http://127.0.0.1:5000/api/private -H "Authorization: DPoP $TOKEN" '
        '-H "DPoP: $PROOF"'
    )
    elapsed = time.monotonic() - started
    if failures:
        out(f"\n{failures} answer(s) differed from the story ({elapsed:.1f} s).")
        return 1
    out(f"\nEvery answer matched the story ({elapsed:.1f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
