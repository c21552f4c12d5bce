"""``make demo`` (``python -m example_projects.demo``), run as a user runs it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from example_projects.demo import COMMANDS, Answer, Step, abbreviate, curl_line, expected, main

from bearerguard import InvalidToken
from tests.expect import DPOP_CHALLENGE

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
    steps = re.findall(r"^(\d)\. ", out, re.MULTILINE)
    assert steps == ["1", "2", "3", "4", "5", "6"]
    # Each project is started with its documented command and answers every step.
    for name in COMMANDS:
        assert len(re.findall(rf"^  \[{name}\] \d{{3}} ok$", out, re.MULTILINE)) == 6
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
    D = DPOP_CHALLENGE
    expected_answers = [
        ("/api/public", "  HTTP 200\n  {\"message\": \"public\"}\n"),
        ("/api/private", f'  HTTP 401\n  WWW-Authenticate: Bearer realm="api", {D}\n'),
        ("/api/private-scoped-rw", "  HTTP 403\n  WWW-Authenticate: Bearer realm=\"api\", "
         'error="insufficient_scope", error_description="The access token lacks a required '
         f'scope", scope="read:messages write:messages", {D}\n'),
        ("/api/private", '  HTTP 401\n  WWW-Authenticate: Bearer realm="api", error="invalid_token", '
         f'error_description="An ID token was presented; send the access token instead", {D}\n'),
        ("/api/private", '  HTTP 401\n  WWW-Authenticate: Bearer realm="api", error="invalid_token", '
         f'error_description="The access token expired", {D}\n'),
    ]  # fmt: skip
    for path, answer in expected_answers:
        assert re.search(
            rf"^\$ curl -i http://127\.0\.0\.1:\d+{path}.*\n{re.escape(answer)}", out, re.MULTILINE
        ), (path, answer)
    assert '"reason": "id_token_presented"' in out
    assert '"reason": "expired"' in out
    assert '"reason": "missing_token"' in out
    # The private answer shows who called, the scopes and the namespaced custom claim.
    assert '"sub": "user-42"' in out
    assert '"https://example.com/roles": [\n        "editor"\n      ]' in out
    assert '"scopes": [\n      "read:messages"\n    ]' in out


def test_demo_never_prints_a_whole_token(
    transcript: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = transcript[0].stdout
    assert JWT.search(out) is None
    shown = re.findall(r"^\$ curl .* -H \"Authorization: Bearer ([^\"]*)\"", out, re.MULTILINE)
    assert len(shown) == 4
    assert all(re.fullmatch(r"eyJ[\w-]{9}…", token) for token in shown)


def test_demo_prints_what_to_do_next(
    transcript: tuple[subprocess.CompletedProcess[str], float],
) -> None:
    out = transcript[0].stdout
    assert "  bearerguard dev-issuer --port 9000" in out
    assert "  TOKEN=$(bearerguard token --scope read:messages --claim tenant=acme)  " in out
    assert (
        '  curl -i http://127.0.0.1:5000/api/private-tenant -H "Authorization: Bearer $TOKEN"\n'
        in out
    )


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
