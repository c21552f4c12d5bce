"""``make demo`` (``python -m example_projects.demo``), run as a user runs it."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from example_projects.demo import (
    COMMANDS,
    Answer,
    Call,
    Process,
    Step,
    abbreviate,
    curl_line,
    expected,
    main,
    walk,
)

from bearerguard import InvalidToken
from bearerguard.errors import MissingToken
from bearerguard.testing import Issuer
from tests.expect import DPOP_ALGS, DPOP_CHALLENGE

JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


@pytest.fixture(scope="module")
def transcript() -> Iterator[tuple[subprocess.CompletedProcess[str], float]]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "example_projects.demo"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    yield result, time.monotonic() - started


def test_demo_succeeds_quickly(transcript: tuple[subprocess.CompletedProcess[str], float]) -> None:
    result, elapsed = transcript
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    assert elapsed < 60
    assert re.search(r"\nEvery answer matched the story \(\d+\.\d s\)\.\n$", result.stdout)


def test_demo_tells_the_story(transcript: tuple[subprocess.CompletedProcess[str], float]) -> None:
    out = transcript[0].stdout
    steps = re.findall(r"^(\d+)\. ", out, re.MULTILINE)
    assert steps == [str(n) for n in range(1, 21)]
    # Each project is started with its documented command and answers every step but the
    # one at the dev issuer (19, the revocation), which runs once.
    for name in COMMANDS:
        assert len(re.findall(rf"^  \[{name}\] \d{{3}} ok$", out, re.MULTILINE)) == 19
    assert re.findall(r"^  \[dev-issuer\] .*$", out, re.MULTILINE) == ["  [dev-issuer] 200 ok"]
    assert "MISMATCH" not in out
    assert re.search(
        r"^flask_api +http://127\.0\.0\.1:(\d+)  \(flask --app app run --host 127\.0\.0\.1 --port \1\)$",
        out,
        re.MULTILINE,
    )
    assert re.search(
        r"^django_api +http://127\.0\.0\.1:(\d+)  \(python manage\.py runserver 127\.0\.0\.1:\1 --noreload\)$",
        out,
        re.MULTILINE,
    )
    assert re.search(
        r"^starlette_api +http://127\.0\.0\.1:(\d+)  \(uvicorn app:app --host 127\.0\.0\.1 --port \1\)$",
        out,
        re.MULTILINE,
    )


@dataclass(frozen=True)
class Shown:
    """One step of the transcript: its title, what it expects, its curl line, the answer
    shown, the lead server and its port."""

    title: str
    expect: str
    curl: str
    status: int
    www: str | None
    body: Any
    lead: str
    port: str


def shown_steps(out: str) -> dict[int, Shown]:
    projects = dict(re.findall(r"^(\w+_\w+) +http://127\.0\.0\.1:(\d+)  \(", out, re.MULTILINE))
    found = re.findall(
        r"^(\d+)\. (.+)\n  expect: (.+)\n\$ (curl .+)\n  HTTP (\d{3})\n((?:  (?!\[).*\n)+)",
        out,
        re.MULTILINE,
    )
    steps = {}
    for number, title, expect, curl, status, rest in found:
        lines = [line[2:] for line in rest.splitlines()]
        www = lines.pop(0)[len("WWW-Authenticate: ") :] if lines[0].startswith("WWW-") else None
        lead = curl.rsplit("    # ", 1)[1] if "    # " in curl else "dev-issuer"
        steps[int(number)] = Shown(
            title,
            expect,
            curl,
            int(status),
            www,
            json.loads("\n".join(lines)),
            lead,
            projects.get(lead, ""),
        )
    return steps


def www(port: str, bearer: str = "", dpop: str = "") -> str:
    """The challenge of the demo's projects: realm "api", both schemes, the RFC 9728
    metadata URL of the project on *port* in each."""
    meta = f'resource_metadata="http://127.0.0.1:{port}/.well-known/oauth-protected-resource"'
    return f'Bearer realm="api"{bearer}, {meta}, DPoP {dpop}algs="{DPOP_ALGS}", {meta}'


ABBREVIATED_JWT = r"eyJ[\w-]{9}…"
MFA = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"


def refusal(error: str | None, description: str, reason: str) -> dict[str, str]:
    body = {"error": error} if error else {}
    return {**body, "error_description": description, "reason": reason}


#: step -> (path and headers in the curl line (a regex), status, Bearer and DPoP challenge
#: parameters, JSON body) for every refusal of the story.
REFUSALS: dict[int, tuple[str, int, str, str, dict[str, str]]] = {
    2: ("/api/private", 401, "", "",
        refusal(None, "Authentication required", "missing_token")),
    4: (f'/api/private-scoped-rw -H "Authorization: Bearer {ABBREVIATED_JWT}"', 403,
        ', error="insufficient_scope", error_description="The access token lacks a required '
        'scope", scope="read:messages write:messages"', "",
        refusal("insufficient_scope", "The access token lacks a required scope",
                "insufficient_scope")),
    5: (f'/api/private -H "Authorization: Bearer {ABBREVIATED_JWT}"', 401,
        ', error="invalid_token", error_description="An ID token was presented; send the '
        'access token instead"', "",
        refusal("invalid_token", "An ID token was presented; send the access token instead",
                "id_token_presented")),
    6: (f'/api/private -H "Authorization: Bearer {ABBREVIATED_JWT}"', 401,
        ', error="invalid_token", error_description="The access token expired"', "",
        refusal("invalid_token", "The access token expired", "expired")),
    # RFC 9449 §7.2: a bound token is never accepted as a plain bearer token.
    7: (f'/api/private -H "Authorization: Bearer {ABBREVIATED_JWT}"', 401,
        ', error="invalid_token", error_description="The access token is bound to a key; '
        'present it with the DPoP scheme and a proof"', "",
        refusal("invalid_token",
                "The access token is bound to a key; present it with the DPoP scheme and a "
                "proof", "bound_token")),
    # RFC 9449 §7.1: the error rides on the DPoP challenge.
    8: (f'/api/private -H "Authorization: DPoP {ABBREVIATED_JWT}"', 401, "",
        'error="invalid_dpop_proof", error_description="The DPoP scheme requires a DPoP proof '
        'header", ',
        refusal("invalid_dpop_proof", "The DPoP scheme requires a DPoP proof header",
                "dpop_proof_missing")),
    10: (f'/api/private -H "Authorization: DPoP {ABBREVIATED_JWT}" -H "DPoP: {ABBREVIATED_JWT}"',
         401, "", 'error="invalid_dpop_proof", error_description="The DPoP proof was already '
         'used", ',
         refusal("invalid_dpop_proof", "The DPoP proof was already used", "dpop_replayed")),
    # RFC 9470 §3: acr_values and max_age beside the error.
    11: (f'/api/private-mfa -H "Authorization: Bearer {ABBREVIATED_JWT}"', 401,
         ', error="insufficient_user_authentication", error_description="A stronger user '
         f'authentication is required", acr_values="{MFA}", max_age="600"', "",
         refusal("insufficient_user_authentication", "A stronger user authentication is required",
                 "acr_not_accepted")),
    # RFC 9728 §5.1 and RFC 6750 §3: a bare challenge naming the route's scope in each scheme.
    13: ("/api/private-scoped", 401, ', scope="read:messages"', 'scope="read:messages", ',
         refusal(None, "Authentication required", "missing_token")),
    20: (r'/api/private -H "Authorization: Bearer [\w-]{12}…"', 401,
         ', error="invalid_token", error_description="The access token is not active"', "",
         refusal("invalid_token", "The access token is not active", "token_inactive")),
}  # fmt: skip


#: What each step says it expects (status, error code, reason), in order.
EXPECTATIONS = [
    "HTTP 200",
    "HTTP 401, no error code, reason missing_token",
    "HTTP 200",
    "HTTP 403, error insufficient_scope, reason insufficient_scope",
    "HTTP 401, error invalid_token, reason id_token_presented",
    "HTTP 401, error invalid_token, reason expired",
    "HTTP 401, error invalid_token, reason bound_token",
    "HTTP 401, error invalid_dpop_proof, reason dpop_proof_missing",
    "HTTP 200",
    "HTTP 401, error invalid_dpop_proof, reason dpop_replayed",
    "HTTP 401, error insufficient_user_authentication, reason acr_not_accepted",
    "HTTP 200",
    "HTTP 401, no error code, reason missing_token",
    "HTTP 200",
    "HTTP 200",
    "HTTP 200",
    "HTTP 200",
    "HTTP 200",
    "HTTP 200",
    "HTTP 401, error invalid_token, reason token_inactive",
]


def test_each_step_says_what_it_expects(
    transcript: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    steps = shown_steps(transcript[0].stdout)
    assert [steps[n].expect for n in sorted(steps)] == EXPECTATIONS
    titles = [steps[n].title for n in sorted(steps)]
    assert titles[6].startswith("A DPoP-bound token (cnf.jkt, RFC 9449 §6) is stolen")
    assert titles[9].startswith("The same proof sent again (a replay): refused")
    assert titles[10].startswith("/api/private-mfa needs a multi-factor sign-in at most 600 s")
    assert titles[12].startswith("A client that knows only the API's URL calls it: a bare 401")
    assert titles[17].startswith("An opaque access token (not a JWT) is checked at the dev")
    assert titles[18] == "Its client revokes it at the dev issuer (RFC 7009)."


def test_every_refusal_is_shown_exactly(
    transcript: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    steps = shown_steps(transcript[0].stdout)
    assert sorted(steps) == list(range(1, 21))
    for number, (request, status, bearer, dpop, body) in REFUSALS.items():
        step = steps[number]
        assert re.fullmatch(
            rf"curl -i http://127\.0\.0\.1:{step.port}{request}    # {step.lead}", step.curl
        ), (number, step.curl)
        assert (step.status, step.www, step.body) == (status, www(step.port, bearer, dpop), body), (
            number
        )
    # the opaque token refused after revocation is the one accepted before it
    assert steps[20].curl.split('"')[-2] == steps[18].curl.split('"')[-2]


def test_the_accepted_calls(transcript: tuple[subprocess.CompletedProcess[str], float]) -> None:
    steps = shown_steps(transcript[0].stdout)
    issuer = re.search(r"^dev issuer  (http://127\.0\.0\.1:(\d+)/)  ", transcript[0].stdout, re.M)
    assert issuer is not None
    iss, iss_port = issuer.groups()
    bearer = f' -H "Authorization: Bearer {ABBREVIATED_JWT}"'

    def call(number: int, path: str, headers: str = bearer) -> Shown:
        step = steps[number]
        expected = rf"curl -i http://127\.0\.0\.1:{step.port}{path}{headers}    # {step.lead}"
        assert re.fullmatch(expected, step.curl), (number, step.curl)
        assert (step.status, step.www) == (200, None), number
        return step

    assert call(1, "/api/public", "").body == {"message": "public"}
    body = call(3, "/api/private").body
    assert (body["sub"], body["scopes"]) == ("user-42", ["read:messages"])
    assert body["claims"]["https://example.com/roles"] == ["editor"]
    assert body["claims"]["aud"] == "https://api.example.com"
    # DPoP (RFC 9449): the bound token with a proof of the key named by cnf.jkt.
    body = call(9, "/api/private", f' -H "Authorization: DPoP {ABBREVIATED_JWT}" -H "DPoP: '
                f'{ABBREVIATED_JWT}"').body  # fmt: skip
    assert body["sub"] == "user-42"
    assert list(body["claims"]["cnf"]) == ["jkt"]
    assert re.fullmatch(r"[\w-]{43}", body["claims"]["cnf"]["jkt"])  # RFC 7638: SHA-256
    # RFC 9470: a multi-factor sign-in, fresh.
    claims = call(12, "/api/private-mfa").body["claims"]
    assert claims["acr"] == MFA
    assert 0 <= claims["iat"] - claims["auth_time"] <= 5
    # RFC 9728 §3: the metadata document; resource is the project's URL, byte for byte.
    step = call(14, "/.well-known/oauth-protected-resource", "")
    assert step.body == {
        "resource": f"http://127.0.0.1:{step.port}",
        "authorization_servers": [iss],
        "bearer_methods_supported": ["header"],
        "dpop_signing_alg_values_supported": DPOP_ALGS.split(),
    }
    # RFC 8414 §3.1: the authorization server's metadata, at the dev issuer.
    step = steps[15]
    assert re.fullmatch(
        rf"curl -i http://127\.0\.0\.1:{iss_port}/\.well-known/oauth-authorization-server"
        rf"    # {step.lead}",
        step.curl,
    )
    assert (step.status, step.www, step.body["issuer"]) == (200, None, iss)
    assert step.body["token_endpoint"] == iss + "token"
    assert step.body["grant_types_supported"] == ["client_credentials"]
    # RFC 6749 §4.4 with RFC 8707 resource: the lead project's URL; the secret never shown.
    step = steps[16]
    assert re.fullmatch(
        rf"curl -i -X POST http://127\.0\.0\.1:{iss_port}/token -u demo-client:… "
        r"-d grant_type=client_credentials -d scope=read:messages "
        rf"-d resource=http://127\.0\.0\.1:{step.port}    # {step.lead}",
        step.curl,
    ), step.curl
    assert (step.status, step.www) == (200, None)
    assert set(step.body) == {"access_token", "token_type", "expires_in", "scope"}
    assert re.fullmatch(ABBREVIATED_JWT, step.body["access_token"])
    assert (step.body["token_type"], step.body["expires_in"], step.body["scope"]) == (
        "Bearer",
        300,
        "read:messages",
    )
    body = call(17, "/api/private-scoped").body
    assert (body["sub"], body["scopes"]) == ("demo-client", ["read:messages"])
    assert body["claims"]["aud"] == f"http://127.0.0.1:{steps[17].port}"
    # RFC 7662: an opaque token, introspected.
    body = call(18, "/api/private", r' -H "Authorization: Bearer [\w-]{12}…"').body
    assert (body["sub"], body["scopes"]) == ("user-42", ["read:messages"])
    assert (body["claims"]["active"], body["claims"]["client_id"]) == (True, "demo-client")
    # RFC 7009: the client revokes it at the dev issuer, once.
    step = steps[19]
    opaque = steps[18].curl.split("Bearer ")[1].split('"')[0]
    assert step.curl == (
        f"curl -i -X POST http://127.0.0.1:{iss_port}/revoke -u demo-client:… -d token={opaque}"
    )
    assert (step.status, step.www, step.body, step.lead) == (200, None, {}, "dev-issuer")


def test_demo_shows_the_settings(
    transcript: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = transcript[0].stdout
    issuer = re.search(r"^dev issuer  (http://127\.0\.0\.1:\d+)/  \(bearerguard dev-issuer "
                       r"--client-id demo-client --client-scope read:messages; ", out, re.M)  # fmt: skip
    assert issuer is not None
    url = issuer.group(1)
    assert (
        "\nEach project's environment (<URL> is its own):\n"
        f"  BEARERGUARD_ISSUER={url}/\n"
        "  BEARERGUARD_AUDIENCE=https://api.example.com,<URL>\n"
        f"  BEARERGUARD_JWKS_URI={url}/.well-known/jwks.json\n"
        "  BEARERGUARD_RESOURCE=<URL>\n"
        "  BEARERGUARD_TOKEN_FORMATS=jwt,opaque\n"
        "  BEARERGUARD_CLIENT_ID=demo-client\n"
        "  BEARERGUARD_CLIENT_SECRET=…\n"
        "  BEARERGUARD_INTROSPECTION_CACHE_TTL=0\n\n1. "
    ) in out


def test_demo_never_prints_a_whole_token(
    transcript: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = transcript[0].stdout
    assert JWT.search(out) is None
    shown = re.findall(r"^\$ curl .* -H \"Authorization: Bearer ([^\"]*)\"", out, re.MULTILINE)
    assert len(shown) == 10
    # steps 3-7, 11, 12 and 17 send JWTs; 18 and 20 the opaque token
    assert all(re.fullmatch(r"eyJ[\w-]{9}…", token) for token in shown[:8])
    assert all(re.fullmatch(r"[\w-]{12}…", token) for token in shown[8:])
    proofs = re.findall(r'^\$ curl .* -H "DPoP: ([^"]*)"', out, re.MULTILINE)
    assert len(proofs) == 2
    assert all(re.fullmatch(r"eyJ[\w-]{9}…", proof) for proof in proofs)
    assert re.findall(r" -u ([^ ]*)", out) == ["demo-client:…", "demo-client:…"]


def test_demo_prints_what_to_do_next(
    transcript: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = transcript[0].stdout
    assert "  bearerguard dev-issuer --port 9000" in out
    assert "  TOKEN=$(bearerguard token --scope read:messages --claim tenant=acme)  " in out
    assert (
        '  curl -i http://127.0.0.1:5000/api/private-tenant -H "Authorization: Bearer $TOKEN"\n'
        "  # a DPoP-bound token and its proof (TOKEN=… PROOF=…):\n"
        '  eval "$(bearerguard token --dpop --url http://127.0.0.1:5000/api/private)"\n'
        '  curl -i http://127.0.0.1:5000/api/private -H "Authorization: DPoP $TOKEN" '
        '-H "DPoP: $PROOF"\n'
    ) in out


def test_demo_stops_everything_it_started(
    transcript: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    ports = {int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)", transcript[0].stdout)}
    ports.discard(5000)  # the example command printed at the end
    assert len(ports) == len(COMMANDS) + 1
    for port in ports:
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", port))


def test_a_differing_answer_is_a_failure() -> None:
    step = Step("expired", "/api/private", "t", 401, InvalidToken("expired"))
    body = {
        "error": "invalid_token",
        "error_description": "The access token expired",
        "reason": "expired",
    }
    challenge = (
        'Bearer realm="api", error="invalid_token", error_description="The access token expired", '
        + DPOP_CHALLENGE
    )
    assert expected(step, Answer(401, challenge, body)) == []
    assert expected(step, Answer(200, None, {"sub": "x"})) == [
        "status 200, expected 401",
        f"WWW-Authenticate None, expected {challenge!r}",
        f"body {{'sub': 'x'}}, expected {body!r}",
    ]
    ok = Step("public", "/api/public", None, 200, check=lambda b: b == {"message": "public"})
    assert expected(ok, Answer(200, None, {"message": "public"})) == []
    assert expected(ok, Answer(200, None, "<html>")) == ["unexpected body '<html>'"]
    assert expected(ok, Answer(200, 'Bearer realm="api"', {"message": "public"})) == [
        "WWW-Authenticate 'Bearer realm=\"api\"', expected None"
    ]


def test_rendering_helpers() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    assert abbreviate(token) == "eyJhbGciOiJS…"
    assert curl_line("GET", "http://h/api", None) == "curl -i http://h/api"
    assert curl_line("POST", "http://h/api", token) == (
        'curl -i -X POST http://h/api -H "Authorization: Bearer eyJhbGciOiJS…"'
    )


def test_unknown_project(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--projects", "rails_api"]) == 2
    assert "unknown or missing example projects ['rails_api']" in capsys.readouterr().err


def test_rendering_a_client_request() -> None:
    proof = "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.c2ln"
    token = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"
    assert curl_line("GET", "http://h/api", token, scheme="DPoP", proof=proof) == (
        'curl -i http://h/api -H "Authorization: DPoP eyJhbGciOiJF…" -H "DPoP: eyJ0eXAiOiJk…"'
    )
    form = {"token": "0123456789abcdefghij", "token_type_hint": "access_token"}
    assert curl_line("POST", "http://h/revoke", None, user="c", form=form) == (
        "curl -i -X POST http://h/revoke -u c:… -d token=0123456789ab… "
        "-d token_type_hint=access_token"
    )


def test_a_walk_counts_every_mismatch() -> None:
    """A wrong status, a step whose client state is missing and an answer the client cannot
    use are each a failure, shown as a MISMATCH (real HTTP, against a test issuer)."""
    lines: list[str] = []
    with Issuer() as issuer:
        server = Process("issuer", issuer.url, cast(Any, None), cast(Any, None))
        steps = [
            Step("keys", "/.well-known/jwks.json", None, 200, check=lambda b: "keys" in b),
            Step("wrong", "/.well-known/jwks.json", None, 401, MissingToken()),
            Step("needs state", "/", None, 200, request=lambda s: Call("GET", s.state["none"])),
            Step("after", "/.well-known/jwks.json", None, 200, after=lambda s, a: a.body["no"]),
            Step("remembers", "/.well-known/jwks.json", None, 200,
                 after=lambda s, a: s.state.update(keys=a.body["keys"])),
        ]  # fmt: skip
        assert walk([server], steps, lines.append, time.monotonic() + 30) == 3
    marks = [line for line in lines if line.startswith("  [issuer]")]
    assert marks[0] == "  [issuer] 200 ok"
    assert marks[1].startswith("  [issuer] 200 MISMATCH: status 200, expected 401; ")
    assert marks[2] == "  [issuer] MISMATCH: skipped, an earlier step failed"
    assert marks[3].startswith("  [issuer] 200 MISMATCH: unexpected answer None {'keys': [")
    assert marks[4] == "  [issuer] 200 ok"
    assert len(server.state["keys"]) == 1
