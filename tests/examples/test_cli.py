"""The ``bearerguard`` command: ``dev-issuer`` and ``token``, run as real processes."""

from __future__ import annotations

import importlib.metadata
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from example_projects.demo import free_ports

from bearerguard import InvalidToken, Verifier

AUDIENCE = "https://api.example.com"


def bearerguard_command() -> list[str]:
    # The console script when the distribution is installed (its entry point is declared in
    # pyproject.toml); the module otherwise.
    scripts = importlib.metadata.entry_points(group="console_scripts", name="bearerguard")
    script = os.path.join(os.path.dirname(sys.executable), "bearerguard")
    if scripts and os.path.isfile(script):
        return [script]
    return [sys.executable, "-m", "bearerguard.testing.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*bearerguard_command(), *args], capture_output=True, text=True, timeout=30, check=False
    )


@dataclass
class DevIssuer:
    process: subprocess.Popen[bytes]
    banner: str
    url: str
    issuer: str
    jwks_uri: str


def read_banner(process: subprocess.Popen[bytes], until: str, timeout: float = 15) -> str:
    """What the process printed up to *until* (raw reads: no buffered lines left unseen)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while until.encode() not in data:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                raise AssertionError(f"no {until!r} in {data!r}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"dev-issuer exited: {data!r}")
            data += chunk
    return data.decode()


@pytest.fixture(scope="module")
def dev_issuer() -> Iterator[DevIssuer]:
    process = subprocess.Popen(
        [*bearerguard_command(), "dev-issuer", "--port", "0", "--audience", AUDIENCE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        banner = read_banner(process, "Press Ctrl+C to stop.\n")
        issuer = re.search(r"issuer:\s+(\S+)", banner)
        jwks = re.search(r"jwks_uri:\s+(\S+)", banner)
        assert issuer and jwks, banner
        url = issuer.group(1).rstrip("/")
        yield DevIssuer(process, banner, url, issuer.group(1), jwks.group(1))
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def verifier(dev_issuer: DevIssuer) -> Verifier:
    return Verifier(issuer=dev_issuer.issuer, audience=AUDIENCE, jwks_uri=dev_issuer.jwks_uri)


def test_dev_issuer_prints_the_settings(dev_issuer: DevIssuer) -> None:
    port = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", dev_issuer.url)
    assert port is not None and int(port.group(1)) > 0
    assert dev_issuer.issuer == dev_issuer.url + "/"
    assert dev_issuer.jwks_uri == dev_issuer.url + "/.well-known/jwks.json"
    assert f"export BEARERGUARD_ISSUER={dev_issuer.url}/\n" in dev_issuer.banner
    assert f"export BEARERGUARD_AUDIENCE={AUDIENCE}\n" in dev_issuer.banner
    assert f"export BEARERGUARD_JWKS_URI={dev_issuer.jwks_uri}\n" in dev_issuer.banner
    assert f"bearerguard token --issuer-url {dev_issuer.url} --scope read:messages" in (
        dev_issuer.banner
    )


def test_token_mints_an_access_token(dev_issuer: DevIssuer, verifier: Verifier) -> None:
    result = run(
        "token", "--issuer-url", dev_issuer.url, "--sub", "alice",
        "--scope", "read:messages write:messages", "--scope", "admin",
        "--claim", "tenant=acme", "--claim", 'roles=["writer"]', "--claim", "level=3",
        "--claim", "https://example.com/roles=[\"editor\"]",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    token = result.stdout.strip()
    assert result.stdout == token + "\n"  # only the token
    access = verifier.verify(token)
    assert access.subject == "alice"
    assert access.scopes == {"read:messages", "write:messages", "admin"}
    assert access["tenant"] == "acme"
    assert access["roles"] == ["writer"]
    assert access["level"] == 3
    assert access["https://example.com/roles"] == ["editor"]
    assert access["exp"] - access["iat"] == 300


def test_token_defaults(dev_issuer: DevIssuer, verifier: Verifier) -> None:
    result = run("token", "--issuer-url", dev_issuer.url + "/", "--expires-in", "60")
    assert result.returncode == 0, result.stderr
    access = verifier.verify(result.stdout.strip())
    assert access.subject == "user-1"
    assert access.scopes == {"read:messages"}
    assert access["exp"] - access["iat"] == 60


@pytest.mark.parametrize(
    ("args", "reason"),
    [(["--id-token"], "id_token_presented"), (["--expires-in", "-600"], "expired")],
)
def test_tokens_an_api_must_refuse(
    dev_issuer: DevIssuer, verifier: Verifier, args: list[str], reason: str
) -> None:
    result = run("token", "--issuer-url", dev_issuer.url, *args)
    assert result.returncode == 0, result.stderr
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(result.stdout.strip())
    assert caught.value.reason == reason


def test_token_without_a_dev_issuer() -> None:
    (port,) = free_ports(1)
    result = run("token", "--issuer-url", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"bearerguard: cannot reach the dev issuer at http://127.0.0.1:{port}"
    )
    assert "start it with `bearerguard dev-issuer`" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("claim", ["no-equals-sign", "=value"])
def test_token_rejects_a_bad_claim(claim: str) -> None:
    result = run("token", "--claim", claim)
    assert result.returncode == 2
    assert "argument --claim: expected NAME=VALUE" in result.stderr


def test_dev_issuer_port_in_use(dev_issuer: DevIssuer) -> None:
    port = dev_issuer.url.rsplit(":", 1)[1]
    result = run("dev-issuer", "--port", port)
    assert result.returncode == 1
    assert result.stderr.startswith(f"bearerguard: cannot listen on 127.0.0.1:{port}")


def test_dev_issuer_stops_on_sigterm_and_its_keys_die_with_it() -> None:
    process = subprocess.Popen(
        [*bearerguard_command(), "dev-issuer", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        banner = read_banner(process, "Press Ctrl+C to stop.\n")
        url = re.search(r"issuer:\s+(\S+)/", banner)
        assert url is not None
        minted = run("token", "--issuer-url", url.group(1))
        assert minted.returncode == 0
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
        assert process.returncode == 0
        assert out == b"bearerguard dev issuer stopped.\n"
        assert err == b""
        assert run("token", "--issuer-url", url.group(1)).returncode == 1
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
