"""The ``bearerguard`` command: ``dev-issuer`` and ``token``, run as real processes."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import re
import selectors
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from example_projects.demo import free_ports

from bearerguard import InvalidToken, Verifier
from bearerguard.pipeline import Decision
from bearerguard.testing import Issuer
from bearerguard.testing.dpop import DPoPKey

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
    assert f"  revocation: {dev_issuer.url}/revoke\n" in dev_issuer.banner
    assert (
        f"  bearerguard token --issuer-url {dev_issuer.url} --dpop --url URL   "
        "(DPoP-bound, with a proof for URL)\n"
    ) in dev_issuer.banner


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


URL = "http://127.0.0.1:8000/api/private"


def segments(jws: str) -> tuple[dict[str, Any], dict[str, Any]]:
    def part(text: str) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        return doc

    header, claims, _ = jws.split(".")
    return part(header), part(claims)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict[str, Any]) -> str:
    # RFC 7638 §3.2: the required members only, sorted, no whitespace; SHA-256.
    required = {
        "EC": ("crv", "kty", "x", "y"),
        "OKP": ("crv", "kty", "x"),
        "RSA": ("e", "kty", "n"),
    }
    members = {k: jwk[k] for k in required[jwk["kty"]]}
    return b64(hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest())


def assignments(stdout: str) -> tuple[str, str, list[str]]:
    lines = stdout.splitlines()
    assert lines[0].startswith("TOKEN=") and lines[1].startswith("PROOF="), stdout
    return lines[0][len("TOKEN=") :], lines[1][len("PROOF=") :], lines[2:]


def reason(decision: Decision) -> str | None:
    return None if decision.error is None else decision.error.reason


def test_token_dpop_prints_a_bound_token_and_its_proof(
    dev_issuer: DevIssuer, verifier: Verifier
) -> None:
    result = run("token", "--issuer-url", dev_issuer.url, "--dpop", "--url", URL + "?page=2#top")
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    token, proof, comments = assignments(result.stdout)
    assert comments == [
        "# curl -i 'http://127.0.0.1:8000/api/private?page=2#top' "
        '-H "Authorization: DPoP $TOKEN" -H "DPoP: $PROOF"',
        "# a proof is accepted once: pass --dpop-key PATH to keep the key and make the next "
        "one with `bearerguard proof`",
    ]
    header, claims = segments(proof)
    # RFC 9449 §4.2: typ, an asymmetric alg, the public key only; htm, htu without query
    # and fragment, ath = base64url(SHA-256(token)), a jti and iat.
    assert (header["typ"], header["alg"], sorted(header["jwk"])) == (
        "dpop+jwt",
        "ES256",
        ["crv", "kty", "x", "y"],
    )
    assert (claims["htm"], claims["htu"]) == ("GET", URL)
    assert claims["ath"] == b64(hashlib.sha256(token.encode()).digest())
    assert sorted(claims) == ["ath", "htm", "htu", "iat", "jti"]
    assert abs(claims["iat"] - time.time()) < 30
    assert segments(token)[1]["cnf"] == {"jkt": thumbprint(header["jwk"])}  # RFC 9449 §6.1
    # Through the request pipeline, as an API decides.
    assert reason(verifier.decide(f"Bearer {token}", method="GET", url=URL)) == "bound_token"
    assert reason(verifier.decide(f"DPoP {token}", method="GET", url=URL)) == "dpop_proof_missing"
    other = "http://127.0.0.1:8000/api/private-scoped"
    wrong_url = verifier.decide(f"DPoP {token}", method="GET", url=other, dpop=[proof])
    assert reason(wrong_url) == "dpop_htu_mismatch"
    wrong_method = verifier.decide(f"DPoP {token}", method="POST", url=URL, dpop=[proof])
    assert reason(wrong_method) == "dpop_htm_mismatch"
    ok = verifier.decide(f"DPoP {token}", method="GET", url=URL + "?page=2", dpop=[proof])
    assert ok.error is None and ok.token is not None
    assert (ok.token.subject, ok.token.jkt) == ("user-1", thumbprint(header["jwk"]))
    again = verifier.decide(f"DPoP {token}", method="GET", url=URL, dpop=[proof])
    assert reason(again) == "dpop_replayed"


def test_a_saved_key_makes_later_proofs(
    dev_issuer: DevIssuer, verifier: Verifier, tmp_path: Path
) -> None:
    key = tmp_path / "dpop-key.json"
    result = run(
        "token", "--issuer-url", dev_issuer.url, "--dpop", "--method", "post", "--url", URL,
        "--dpop-key", str(key), "--dpop-alg", "EdDSA",
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    token, proof, comments = assignments(result.stdout)
    assert comments == [
        f'# curl -i -X POST {URL} -H "Authorization: DPoP $TOKEN" -H "DPoP: $PROOF"',
        f"# next request: PROOF=$(bearerguard proof --key {key} --method POST --url {URL} "
        '--token "$TOKEN")',
    ]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    saved = json.loads(key.read_text())
    assert (saved["kty"], saved["crv"], saved["alg"], "d" in saved) == (
        "OKP",
        "Ed25519",
        "EdDSA",
        True,
    )
    jkt = thumbprint(saved)
    assert segments(token)[1]["cnf"] == {"jkt": jkt}
    assert segments(proof)[0]["alg"] == "EdDSA"
    assert "d" not in segments(proof)[0]["jwk"]  # RFC 9449 §4.2: the public key only
    first = verifier.decide(f"DPoP {token}", method="POST", url=URL, dpop=[proof])
    assert first.error is None
    # The next request's proof, from the saved key.
    made = run("proof", "--key", str(key), "--method", "POST", "--url", URL, "--token", token)
    assert (made.returncode, made.stderr) == (0, "")
    later = made.stdout.strip()
    assert made.stdout == later + "\n"  # only the proof
    header, claims = segments(later)
    assert thumbprint(header["jwk"]) == jkt
    assert claims["jti"] != segments(proof)[1]["jti"]
    assert verifier.decide(f"DPoP {token}", method="POST", url=URL, dpop=[later]).error is None
    # A nonce the API sent (RFC 9449 §9); without --token there is no ath.
    made = run("proof", "--key", str(key), "--url", URL, "--nonce", "n-1")
    claims = segments(made.stdout.strip())[1]
    assert (claims["htm"], claims["nonce"], "ath" in claims) == ("GET", "n-1", False)
    # An existing key file is reused: a second token bound to the same key.
    again = run(
        "token", "--issuer-url", dev_issuer.url, "--dpop", "--url", URL, "--dpop-key", str(key)
    )
    assert again.returncode == 0, again.stderr
    assert segments(assignments(again.stdout)[0])[1]["cnf"] == {"jkt": jkt}


def test_an_opaque_dpop_token(dev_issuer: DevIssuer) -> None:
    secret = re.search(r"export BEARERGUARD_CLIENT_SECRET=(\S+)\n", dev_issuer.banner)
    assert secret is not None
    verifier = Verifier(
        issuer=dev_issuer.issuer,
        audience=AUDIENCE,
        token_formats="jwt,opaque",
        client_id="api",
        client_secret=secret.group(1),
    )
    result = run("token", "--issuer-url", dev_issuer.url, "--opaque", "--dpop", "--url", URL)
    assert result.returncode == 0, result.stderr
    token, proof, _ = assignments(result.stdout)
    assert "." not in token
    assert reason(verifier.decide(f"Bearer {token}", method="GET", url=URL)) == "bound_token"
    ok = verifier.decide(f"DPoP {token}", method="GET", url=URL, dpop=[proof])
    assert ok.token is not None, ok.error
    assert ok.token.jkt == thumbprint(segments(proof)[0]["jwk"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dpop"], "--dpop needs --url, the URL of the request the proof is for"),
        (["--url", URL], "--url and --dpop-key go with --dpop"),
        (["--dpop-key", "k.json"], "--url and --dpop-key go with --dpop"),
        (
            ["--dpop", "--id-token", "--url", URL],
            "--dpop binds an access token: not with --id-token",
        ),
    ],
)
def test_token_dpop_usage_errors(args: list[str], message: str) -> None:
    result = run("token", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.endswith(f"bearerguard token: error: {message}\n"), result.stderr


def test_dpop_bad_url_and_bad_key(tmp_path: Path) -> None:
    result = run("token", "--dpop", "--url", "ftp://h/x", "--dpop-key", str(tmp_path / "k"))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "bearerguard: --url must be an absolute http(s) URL, got 'ftp://h/x'\n"
    assert not (tmp_path / "k").exists()
    missing = tmp_path / "missing.json"
    result = run("proof", "--key", str(missing), "--url", URL)
    assert (result.returncode, result.stdout) == (1, "")
    assert (
        result.stderr
        == f"bearerguard: cannot read the DPoP key {missing}: No such file or directory\n"
    )
    public = tmp_path / "public.json"
    public.write_text(json.dumps({**DPoPKey("ES256").jwk, "alg": "ES256"}))
    result = run("proof", "--key", str(public), "--url", URL)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(
        f"bearerguard: {public} is not a DPoP key saved by bearerguard ("
    )
    hmac_key = tmp_path / "hs.json"
    hmac_key.write_text(json.dumps({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}))
    result = run("proof", "--key", str(hmac_key), "--url", URL)
    assert result.stderr == (
        f"bearerguard: {hmac_key} is not a DPoP key saved by bearerguard "
        "(the JWK has no asymmetric 'alg')\n"
    )
    assert "c2VjcmV0" not in result.stderr


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512", "PS256", "RS256", "EdDSA", "Ed25519"])
def test_a_saved_key_loads_and_proves(tmp_path: Path, alg: str) -> None:
    key = DPoPKey(alg)
    path = tmp_path / "key.json"
    key.save(path)
    with pytest.raises(FileExistsError):
        key.save(path)  # never overwritten
    loaded = DPoPKey.load(path)
    assert (loaded.alg, loaded.thumbprint, loaded.jwk) == (alg, key.thumbprint, key.jwk)
    with Issuer(audience=AUDIENCE) as issuer:
        token = issuer.token(claims={"cnf": {"jkt": key.thumbprint}})
        verifier = Verifier(issuer=issuer.issuer, audience=AUDIENCE)
        proof = loaded.proof("GET", URL, access_token=token)
        decision = verifier.decide(f"DPoP {token}", method="GET", url=URL, dpop=[proof])
    assert decision.error is None and decision.token is not None
    assert decision.token.jkt == key.thumbprint


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"alg": "RS256"}, "a EC key cannot sign RS256"),
        ({"alg": "ES384"}, "a EC key cannot sign ES384"),  # RFC 7518 §3.4: P-384
        ({"alg": None}, "the JWK has no asymmetric 'alg'"),
        ({"alg": "none"}, "the JWK has no asymmetric 'alg'"),
        ({"d": None}, "not a private 'EC' JWK ('d')"),
        ({"kty": "oct"}, "not a private 'oct' JWK (kty must be EC, RSA or OKP)"),
        ({"crv": "P-999"}, "not a private 'EC' JWK ('P-999')"),
    ],
)
def test_a_bad_private_jwk_is_refused(change: dict[str, Any], message: str) -> None:
    jwk = {**DPoPKey("ES256").private_jwk(), "alg": "ES256"}
    for name, value in change.items():
        if value is None:
            del jwk[name]
        else:
            jwk[name] = value
    with pytest.raises(ValueError) as caught:
        DPoPKey.from_private_jwk(jwk)
    assert str(caught.value) == message
    assert jwk.get("d", "-") not in str(caught.value)
