"""``bearerguard doctor``: the real command (``main([...])`` and a subprocess) against real
issuers on 127.0.0.1, one case per reason code it can meet.

Each case states its reason as a literal; the test checks that ``Verifier.verify`` with the
same settings refuses for that reason, that the doctor's verdict and exit status say the
same, that its first failed check names it, and that the token never appears in full in
anything the doctor prints.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bearerguard import BearerError, Requirements, Settings, Verifier
from bearerguard.doctor import abbreviate, diagnose
from bearerguard.testing import Issuer, IssuerKey
from bearerguard.testing.cli import main

AUDIENCE = "https://api.example.com"
SECRET = b"0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("BEARERGUARD_") or name == "DJANGO_SETTINGS_MODULE":
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def two_rsa() -> Iterator[Issuer]:
    with Issuer(audience=AUDIENCE, algs=("RS256", "RS256")) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def mixed() -> Iterator[Issuer]:
    with Issuer(audience=AUDIENCE, algs=("RS256", "ES256")) as issuer:
        yield issuer


@pytest.fixture(scope="module")
def weak() -> Iterator[Issuer]:
    with Issuer(audience=AUDIENCE, algs=()) as issuer:
        issuer.new_key("RS256", size=1024)
        yield issuer


def run_doctor(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(["doctor", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def env_args(issuer: Issuer, **settings: str) -> list[str]:
    """Flags for *issuer* and extra settings (``--set NAME=VALUE``)."""
    args = ["--issuer", issuer.issuer, "--audience", AUDIENCE]
    for name, value in settings.items():
        args += ["--set", f"{name.upper()}={value}"]
    return args


def verifier_reason(token: str, settings: Settings) -> str | None:
    try:
        Verifier(settings, token_cache_size=0).verify(token)
    except BearerError as err:
        return err.reason
    return None


def assert_no_token(token: str, *texts: str) -> None:
    """Neither the token nor its payload or signature segment is printed."""
    pieces = [token, *(p for p in token.split(".") if len(p) >= 16)]
    for text in texts:
        for piece in pieces:
            assert piece not in text


def forge(issuer: Issuer, header: dict[str, Any], claims: dict[str, Any] | None = None) -> str:
    now = int(time.time())
    payload = {"iss": issuer.issuer, "aud": AUDIENCE, "sub": "user-1", "iat": now,
               "exp": now + 300}  # fmt: skip
    return issuer.sign(header, {**payload, **(claims or {})}, raw_signature=b"not-a-signature")


# Each case: the token, the extra settings, the reason (a literal), the check that fails
# first, and a text its hint (or expected/actual lines) must hold.
Case = tuple[Callable[[Issuer], str], dict[str, str], str, str, str]
CASES: dict[str, Case] = {
    "token_too_large": (
        lambda i: i.token(claims={"pad": "x" * 20000}), {}, "token_too_large", "size",
        "at most 16384 bytes",
    ),
    "malformed_token": (
        lambda i: i.token().replace(".", "..", 1), {}, "malformed_token", "compact form",
        "4 segments",
    ),
    "malformed_payload": (
        lambda i: i.token().split(".")[0] + ".bm90IGpzb24.c2ln", {}, "malformed_token",
        "payload", "not decodable",
    ),
    "malformed_header": (
        lambda i: "bm90IGpzb24." + i.token().split(".", 1)[1], {}, "malformed_token", "header",
        "not decodable",
    ),
    "alg_not_a_string": (
        lambda i: forge(i, {"alg": 256}), {}, "malformed_token", "header", "actual:   256",
    ),
    "kid_not_a_string": (
        lambda i: i.token(header={"kid": 7}), {}, "malformed_token", "header members",
        "expected: `kid` a string",
    ),
    "typ_not_a_string": (
        lambda i: i.token(header={"typ": ["at+jwt"]}), {}, "invalid_typ", "header members",
        'actual:   ["at+jwt"]',
    ),
    "jwe_enc_in_header": (
        lambda i: i.token(header={"enc": "A128CBC-HS256"}), {}, "jwe_not_supported", "header",
        "actual:   a JWE (enc)",
    ),
    "jwe_not_supported": (
        lambda i: "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", {},
        "jwe_not_supported", "compact form", "turn token encryption off",
    ),
    "alg_none": (
        lambda i: forge(i, {"alg": "none", "typ": "at+jwt"}), {}, "alg_none", "alg",
        "unsigned tokens are never accepted",
    ),
    "alg_not_allowed": (
        lambda i: i.token(), {"algorithms": "ES256"}, "alg_not_allowed", "alg",
        "if your issuer really signs with RS256, add it to BEARERGUARD_ALGORITHMS",
    ),
    "alg_not_allowed_hs256": (
        lambda i: forge(i, {"alg": "HS256"}), {}, "alg_not_allowed", "alg",
        "HS256 is a shared-secret algorithm: it needs BEARERGUARD_SHARED_SECRET",
    ),
    "crit_unsupported": (
        lambda i: i.token(header={"crit": ["exp"], "exp": 1}), {}, "crit_unsupported", "crit",
        "bearerguard understands no JWS extension",
    ),
    "unknown_kid": (
        lambda i: i.token(kid="no-such-key"), {}, "unknown_kid", "key",
        "the key set has: ",
    ),
    "bad_signature": (
        lambda i: i.token(key=IssuerKey.generate("RS256"), kid=i.current_key.kid), {},
        "bad_signature", "signature", "the token was altered or cut",
    ),
    "bad_signature_hs256": (
        lambda i: i.token(key=IssuerKey.generate("HS256", secret=b"y" * 32), alg="HS256"),
        {"algorithms": "HS256", "shared_secret": SECRET.decode()}, "bad_signature",
        "signature", "the token was altered or cut",
    ),
    "invalid_typ": (
        lambda i: i.token(typ="JWT"), {"token_types": "at+jwt"}, "invalid_typ", "typ",
        "add `jwt` for providers that send typ JWT",
    ),
    "invalid_issuer": (
        lambda i: i.token(issuer=i.issuer + "other/"), {"jwks_uri": "{jwks}"}, "invalid_issuer",
        "issuer", "the token's `iss` must equal one of BEARERGUARD_ISSUER exactly",
    ),
    "invalid_issuer_selects_keys": (
        lambda i: i.token(issuer="https://elsewhere.example/"), {}, "invalid_issuer",
        "issuer selects keys", "the token's `iss` must equal one of BEARERGUARD_ISSUER",
    ),
    "invalid_audience": (
        lambda i: i.token(audience="https://other.example.com"), {}, "invalid_audience",
        "audience", "the token's `aud` must contain one of BEARERGUARD_AUDIENCE",
    ),
    "invalid_audience_keycloak": (
        lambda i: i.token(audience="account"), {}, "invalid_audience", "audience",
        "Keycloak sets `aud` to `account` unless an audience mapper adds your API",
    ),
    "invalid_audience_graph": (
        lambda i: i.token(audience="00000003-0000-0000-c000-000000000000"), {},
        "invalid_audience", "audience", "this token is for Microsoft Graph",
    ),
    "id_token_presented": (
        lambda i: i.id_token(), {}, "id_token_presented", "audience",
        "this is an ID token (it carries at_hash/c_hash): send the access token",
    ),
    "id_token_presented_cognito": (
        lambda i: i.token(claims={"token_use": "id"}), {}, "id_token_presented",
        "not an ID token", "Cognito marks it `token_use: id`",
    ),
    "invalid_token_type": (
        lambda i: i.token(claims={"typ": "Refresh"}), {}, "invalid_token_type",
        "not an ID token", "this is a refresh token: send the access token",
    ),
    "invalid_claim": (
        lambda i: i.token(sub=None, claims={"sub": 42}), {}, "invalid_claim", "claim types",
        "wrong: sub=42",
    ),
    "missing_claim": (
        lambda i: i.token(), {"required_claims": "tenant"}, "missing_claim", "required claims",
        "missing: tenant",
    ),
    "missing_exp": (
        lambda i: i.token(expires_in=None), {}, "missing_claim", "required claims",
        "missing: exp",
    ),
    "expired": (
        lambda i: i.token(exp=int(time.time()) - 7200), {}, "expired", "lifetime",
        "it expired 2 h",
    ),
    "not_yet_valid": (
        lambda i: i.token(nbf=int(time.time()) + 7200), {}, "not_yet_valid", "lifetime",
        "it becomes valid in 1 h 59 min",
    ),
    "issued_in_future": (
        lambda i: i.token(iat=int(time.time()) + 7200), {}, "issued_in_future", "lifetime",
        "it was issued 1 h 59 min in the future",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_reason(issuer: Issuer, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    make, extra, reason, check, text = CASES[case]
    extra = {k: v.replace("{jwks}", issuer.jwks_uri) for k, v in extra.items()}
    token = make(issuer)
    settings = Settings(issuer=issuer.issuer, audience=AUDIENCE, **extra)
    # The literal is what the verifier itself decides...
    assert verifier_reason(token, settings) == reason
    # ...and what the doctor's verdict and its first failed check say.
    report = diagnose(token, settings)
    assert (report.verdict, report.status, report.exit_code) == (reason, 401, 1)
    first = report.first_failure
    assert first is not None
    assert (first.name, first.reason) == (check, reason)
    assert report.consistent
    rc, out, err = run_doctor([*env_args(issuer, **extra), token], capsys)
    assert rc == 1
    assert f"  FAIL  {check:<20}{reason}\n" in out
    assert text in out
    assert out.endswith(f"verdict: REFUSED ({reason}: {describe(reason)}; the app answers 401)\n")
    assert err == ""
    assert_no_token(token, out, err)


def test_every_token_reason_has_a_case() -> None:
    # A new reason Verifier.verify can give needs a doctor case (test_verify_rules lists them).
    from tests.core import test_verify_rules as rules

    covered = {case[2] for case in CASES.values()} | {
        "ambiguous_key", "key_alg_mismatch", "weak_key",  # test_key_reasons
        "keys_unavailable", "insufficient_scope", "tenant_mismatch",  # their own tests
        *(case[3] for case in PRESET_CASES.values()),
    }  # fmt: skip
    provider = getattr(rules, "PROVIDER_REASONS", set())
    assert rules.INVALID_TOKEN_REASONS | provider | {"invalid_token_type"} <= covered


def test_opaque_token_is_not_judged(issuer: Issuer, capsys: pytest.CaptureFixture[str]) -> None:
    extra = {"token_formats": "jwt,opaque", "client_id": "api", "client_secret": "s3cret-value"}
    token = "opaque-token-value-0123456789-abcdefghijklmnop"
    rc, out, err = run_doctor([*env_args(issuer, **extra), token], capsys)
    assert rc == 2
    assert "note: BEARERGUARD_TOKEN_FORMATS: the app would introspect this token" in out
    assert out.endswith("verdict: NOT CHECKED: the app would introspect this token\n")
    assert "s3cret-value" not in out
    assert_no_token(token, out, err)


def describe(reason: str) -> str:
    from bearerguard.errors import DESCRIPTIONS

    return DESCRIPTIONS[reason]


@pytest.mark.parametrize(
    ("make_issuer", "make_token", "reason", "hint"),
    [
        ("two_rsa", lambda i: i.token(kid=""), "ambiguous_key", "put `kid` in its tokens"),
        (
            "mixed",
            lambda i: i.token(alg="RS256", kid=next(k.kid for k in i.keys if k.alg == "ES256")),
            "key_alg_mismatch",
            "does not fit its `alg`",
        ),
        ("weak", lambda i: i.token(), "weak_key", "an RSA key under 2048 bits"),
    ],
)
def test_key_reasons(
    request: pytest.FixtureRequest,
    make_issuer: str,
    make_token: Callable[[Issuer], str],
    reason: str,
    hint: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    issuer: Issuer = request.getfixturevalue(make_issuer)
    token = make_token(issuer)
    settings = Settings(issuer=issuer.issuer, audience=AUDIENCE)
    assert verifier_reason(token, settings) == reason
    rc, out, err = run_doctor([*env_args(issuer), token], capsys)
    assert rc == 1
    assert f"  FAIL  {'key':<20}{reason}\n" in out
    assert hint in out
    assert f"verdict: REFUSED ({reason}: " in out
    assert_no_token(token, out, err)


def test_accepted(issuer: Issuer, capsys: pytest.CaptureFixture[str]) -> None:
    token = issuer.token(scopes=["read:messages"])
    rc, out, err = run_doctor([*env_args(issuer), "--scope", "read:messages", token], capsys)
    assert rc == 0
    assert out.endswith("verdict: ACCEPTED\n")
    assert "FAIL" not in out
    assert f"  ok    {'signature':<20}valid\n" in out
    assert f"  ok    {'scopes':<20}read:messages\n" in out
    assert f"kid {issuer.current_key.kid!r} (RSA, RS256)" in out
    assert '"scope": "read:messages"' in out  # the claims are printed
    assert_no_token(token, out, err)


def test_insufficient_scope(issuer: Issuer, capsys: pytest.CaptureFixture[str]) -> None:
    token = issuer.token(scopes=["read:messages"])
    settings = Settings(issuer=issuer.issuer, audience=AUDIENCE)
    verifier = Verifier(settings)
    with pytest.raises(BearerError) as exc:
        verifier.authorize(verifier.verify(token), Requirements(scopes=["write:messages"]))
    assert exc.value.reason == "insufficient_scope"
    rc, out, _ = run_doctor([*env_args(issuer), "--scope", "write:messages", token], capsys)
    assert rc == 1
    assert f"  FAIL  {'scopes':<20}insufficient_scope\n" in out
    assert "        expected: write:messages\n        actual:   read:messages\n" in out
    assert out.endswith(
        "verdict: REFUSED (insufficient_scope: The access token lacks a required scope; "
        "the app answers 403)\n"
    )


def test_trailing_slash_hint(issuer: Issuer, capsys: pytest.CaptureFixture[str]) -> None:
    token = issuer.token()
    bare = issuer.issuer.rstrip("/")
    rc, out, _ = run_doctor(["--issuer", bare, "--audience", AUDIENCE, token], capsys)
    assert rc == 1
    assert (
        "hint:     the issuer has a trailing slash in the token but not in your settings: "
        "they must match exactly\n" in out
    )
    assert "verdict: REFUSED (invalid_issuer: " in out


def test_expired_by_how_long() -> None:
    with Issuer(audience=AUDIENCE) as issuer:
        now = time.time()
        token = issuer.token(exp=int(now) - 3725)
        settings = Settings(issuer=issuer.issuer, audience=AUDIENCE)
        report = diagnose(token, settings, clock=lambda: now)
    (check,) = [c for c in report.checks if c.status == "fail"]
    assert (
        check.hint
        == "it expired 1 h 2 min ago (leeway 60 s): get a fresh token (the client should refresh it)"
    )
    assert report.verdict == "expired"


def test_unknown_kid_lists_the_kids(issuer: Issuer, capsys: pytest.CaptureFixture[str]) -> None:
    token = issuer.token(kid="rotated-away")
    _, out, _ = run_doctor([*env_args(issuer), token], capsys)
    assert f"        expected: one of {issuer.current_key.kid!r}\n" in out
    assert "        actual:   kid 'rotated-away'\n" in out
    assert f"the key set has: {issuer.current_key.kid}." in out


# -- exit status 2: configuration ---------------------------------------------------------


def test_missing_audience_is_a_configuration_error(
    issuer: Issuer, capsys: pytest.CaptureFixture[str]
) -> None:
    token = issuer.token()
    rc, out, err = run_doctor(["--issuer", issuer.issuer, token], capsys)
    assert rc == 2
    assert out == ""
    assert err.startswith(
        "bearerguard doctor: configuration error: BEARERGUARD_AUDIENCE is required"
    )
    assert_no_token(token, err)


def test_unreachable_issuer_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with Issuer(audience=AUDIENCE) as issuer:
        token = issuer.token()
        args = env_args(issuer)
    # The issuer stopped: nothing listens on its port any more.
    settings = Settings(issuer=issuer.issuer, audience=AUDIENCE)
    assert verifier_reason(token, settings) == "keys_unavailable"
    rc, out, err = run_doctor([*args, token], capsys)
    assert rc == 2
    assert f"  FAIL  {'discovery':<20}keys_unavailable\n" in out
    assert "is BEARERGUARD_ISSUER (or BEARERGUARD_JWKS_URI) right and reachable from here?" in out
    assert out.endswith(
        "verdict: NOT CHECKED: the keys cannot be had (keys_unavailable: The signing keys "
        "cannot be retrieved right now; the app answers 503)\n"
    )
    assert_no_token(token, out, err)


def test_metadata_issuer_mismatch_is_explained(
    issuer: Issuer, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer.metadata_overrides = {"issuer": issuer.issuer.rstrip("/")}
    token = issuer.token()
    rc, out, _ = run_doctor([*env_args(issuer), token], capsys)
    assert rc == 2
    assert "metadata issuer does not match the configured issuer" in out
    assert (
        f"the metadata names the issuer {issuer.issuer.rstrip('/')}: a trailing slash differs "
        "from BEARERGUARD_ISSUER" in out
    )


def test_jwks_down_is_exit_2(issuer: Issuer, capsys: pytest.CaptureFixture[str]) -> None:
    token = issuer.token()
    with issuer.outage():
        rc, out, _ = run_doctor([*env_args(issuer, jwks_uri=issuer.jwks_uri), token], capsys)
    assert rc == 2
    assert f"  FAIL  {'key set':<20}keys_unavailable\n" in out
    assert "        actual:   HTTP 503\n" in out


def test_bad_django_module_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run_doctor(["--django-settings", "no_such_module_h3", "x.y.z"], capsys)
    assert (rc, out) == (2, "")
    assert err == (
        "bearerguard doctor: configuration error: cannot import the Django settings module "
        "'no_such_module_h3' (ModuleNotFoundError)\n"
    )


def test_no_token_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("  \n"))
    rc, _, err = run_doctor(["--issuer", "https://i.example/", "--audience", AUDIENCE], capsys)
    assert rc == 2
    assert err == "bearerguard doctor: no token given (argument or stdin)\n"


# -- where settings and the token come from -----------------------------------------------


def test_settings_from_the_environment(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BEARERGUARD_ISSUER", issuer.issuer)
    monkeypatch.setenv("BEARERGUARD_AUDIENCE", "https://other.example.com")
    token = issuer.token()
    rc, out, _ = run_doctor([token], capsys)
    assert rc == 1
    assert "settings (from the environment):\n" in out
    assert "invalid_audience" in out
    # A flag wins over the environment.
    rc, out, _ = run_doctor(["--audience", AUDIENCE, token], capsys)
    assert rc == 0
    assert "settings (from the environment and flags):\n" in out


def test_settings_from_a_django_module(
    issuer: Issuer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "h3_doctor_settings.py").write_text(
        f"DEBUG = True\nBEARERGUARD_ISSUER = {issuer.issuer!r}\n"
        f"BEARERGUARD_AUDIENCE = [{AUDIENCE!r}]\nBEARERGUARD_USER_HOOK = 'x.y'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("BEARERGUARD_ISSUER", issuer.issuer)
    monkeypatch.setenv("BEARERGUARD_AUDIENCE", "https://ignored.example.com")  # Django wins
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "h3_doctor_settings")
    token = issuer.token()
    rc, out, _ = run_doctor([token], capsys)
    assert rc == 0
    assert "settings (from Django settings module h3_doctor_settings):\n" in out
    # --env reads the environment instead.
    rc, out, _ = run_doctor(["--env", token], capsys)
    assert rc == 1
    assert "invalid_audience" in out


@pytest.mark.parametrize("arg", [[], ["-"]], ids=["no-argument", "dash"])
@pytest.mark.parametrize("prefix", ["", "Bearer ", "Authorization: Bearer "])
def test_token_from_stdin(
    issuer: Issuer,
    arg: list[str],
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = issuer.token()
    monkeypatch.setattr(sys, "stdin", io.StringIO(prefix + token + "\n"))
    rc, out, err = run_doctor([*env_args(issuer), *arg], capsys)
    assert rc == 0
    assert ("note: the Authorization scheme before the token was removed\n" in out) == bool(prefix)
    assert_no_token(token, out, err)


def test_json_report(issuer: Issuer, capsys: pytest.CaptureFixture[str]) -> None:
    token = issuer.token(audience="account")
    rc, out, _ = run_doctor([*env_args(issuer), "--json", token], capsys)
    doc = json.loads(out)
    assert rc == 1
    assert (doc["accepted"], doc["reason"], doc["status"], doc["exit_code"]) == (
        False, "invalid_audience", 401, 1,
    )  # fmt: skip
    assert doc["claims"]["aud"] == "account"
    audience = next(c for c in doc["checks"] if c["name"] == "audience")
    assert audience["status"] == "fail"
    assert audience["actual"] == "account"
    assert doc["token"] == abbreviate(token)
    assert_no_token(token, out)


def test_abbreviation_never_shows_a_short_token_whole() -> None:
    assert abbreviate("abc.def.ghi") == "(11 characters)"
    long = "A" * 30 + "B" * 30
    assert abbreviate(long) == "AAAAAAAA…BBBB (60 characters)"


# -- the installed command, as a user runs it ---------------------------------------------


def _command() -> list[str]:
    script = Path(sys.executable).with_name("bearerguard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bearerguard.testing.cli"]


@pytest.mark.parametrize(
    ("make", "code", "last"),
    [
        (lambda i: i.token(), 0, "verdict: ACCEPTED"),
        (lambda i: i.id_token(), 1, "verdict: REFUSED (id_token_presented: "),
    ],
    ids=["accepted", "id-token"],
)
def test_subprocess(issuer: Issuer, make: Callable[[Issuer], str], code: int, last: str) -> None:
    token = make(issuer)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEARERGUARD_")}
    env.update(BEARERGUARD_ISSUER=issuer.issuer, BEARERGUARD_AUDIENCE=AUDIENCE)
    done = subprocess.run(
        [*_command(), "doctor", "-"],
        input=token,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == code
    assert done.stdout.splitlines()[-1].startswith(last)
    assert_no_token(token, done.stdout, done.stderr)


def test_subprocess_configuration_error() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEARERGUARD_")}
    env["BEARERGUARD_ISSUER"] = "https://issuer.example/"
    env["BEARERGUARD_LEEWAY"] = "many"
    done = subprocess.run(
        [*_command(), "doctor", "-"], input="a.b.c", capture_output=True, text=True, env=env,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("bearerguard doctor: configuration error: BEARERGUARD_LEEWAY")


# -- provider hints, from the token's shape (the generic preset) ---------------------------

TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
API_GUID = "6c3c1f1a-6a43-4c4f-9e0e-2f6b1d6f0f3a"
SHAPES = {
    "keycloak-account": (
        "https://sso.example.com/realms/acme", "https://sso.example.com/realms/acme",
        {"aud": "account", "azp": "spa"}, "invalid_audience", "audience",
        "Keycloak sets `aud` to `account` unless an audience mapper adds your API",
    ),
    "keycloak-id-token": (
        "https://sso.example.com/realms/acme", "https://sso.example.com/realms/acme",
        {"typ": "ID"}, "id_token_presented", "not an ID token",
        "this is an ID token (Keycloak marks it `typ: ID`): send the access token",
    ),
    "auth0-userinfo-only": (
        "https://dev-acme.eu.auth0.com/", "https://dev-acme.eu.auth0.com/",
        {"aud": ["https://dev-acme.eu.auth0.com/userinfo"]}, "invalid_audience", "audience",
        "Auth0 gives a token for your API only when the request names it",
    ),
    "auth0-trailing-slash": (
        "https://dev-acme.eu.auth0.com/", "https://dev-acme.eu.auth0.com", {},
        "invalid_issuer", "issuer",
        "the issuer has a trailing slash in the token but not in your settings: they must "
        "match exactly (Auth0 issuers end with a slash)",
    ),
    "okta-org-server": (
        "https://acme.okta.com", "https://acme.okta.com/oauth2/default", {},
        "invalid_issuer", "issuer", "this token comes from Okta's org authorization server",
    ),
    "okta-default-audience": (
        "https://acme.okta.com/oauth2/default", "https://acme.okta.com/oauth2/default",
        {"aud": "api://default"}, "invalid_audience", "audience",
        "Okta's default authorization server uses the audience api://default",
    ),
    "entra-v1-token": (
        f"https://sts.windows.net/{TENANT}/", f"https://login.microsoftonline.com/{TENANT}/v2.0",
        {}, "invalid_issuer", "issuer", "this is an Entra ID v1.0 token",
    ),
    "entra-guid-audience": (
        f"https://login.microsoftonline.com/{TENANT}/v2.0",
        f"https://login.microsoftonline.com/{TENANT}/v2.0", {"aud": API_GUID},
        "invalid_audience", "audience", "Entra ID v2.0 tokens carry the API's client id",
    ),
    "entra-graph": (
        f"https://login.microsoftonline.com/{TENANT}/v2.0",
        f"https://login.microsoftonline.com/{TENANT}/v2.0",
        {"aud": "https://graph.microsoft.com"}, "invalid_audience", "audience",
        "this token is for Microsoft Graph, not your API",
    ),
    "cognito-no-aud": (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf",
        {"token_use": "access", "aud": None}, "invalid_audience", "audience",
        "Cognito access tokens carry no `aud`: set BEARERGUARD_PROVIDER=cognito",
    ),
    "cognito-id-token": (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf",
        {"token_use": "id"}, "id_token_presented", "not an ID token",
        "this is an ID token (Cognito marks it `token_use: id`): send the access token",
    ),
}  # fmt: skip


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_provider_hints(issuer: Issuer, shape: str, capsys: pytest.CaptureFixture[str]) -> None:
    iss, configured, claims, reason, check, text = SHAPES[shape]
    drop = [name for name, value in claims.items() if value is None]
    token = issuer.token(
        issuer=iss,
        audience=claims.get("aud") or AUDIENCE,
        claims={k: v for k, v in claims.items() if k != "aud" and v is not None},
        drop=drop,
    )
    settings = Settings(issuer=configured, audience=AUDIENCE, jwks_uri=issuer.jwks_uri)
    assert verifier_reason(token, settings) == reason
    args = ["--issuer", configured, "--audience", AUDIENCE, "--jwks-uri", issuer.jwks_uri]
    rc, out, err = run_doctor([*args, token], capsys)
    assert rc == 1
    assert f"  FAIL  {check:<20}{reason}\n" in out
    assert text in " ".join(out.split())  # the hint, however the line is laid out
    assert f"verdict: REFUSED ({reason}: " in out
    assert_no_token(token, out, err)


# -- the verdict is the verifier's, whatever the steps say ---------------------------------


def test_a_refusal_the_steps_do_not_know_is_named_by_the_verifier(issuer: Issuer) -> None:
    # The verifier (as an app with a rule of its own would) refuses what the steps pass.
    token = issuer.token()
    settings = Settings(issuer=issuer.issuer, audience=AUDIENCE)
    stricter = Verifier(issuer=issuer.issuer, audience="https://only-this.example.com")
    report = diagnose(token, settings, verifier=stricter)
    assert (report.verdict, report.exit_code) == ("invalid_audience", 1)
    last = report.checks[-1]
    assert (last.name, last.status, last.reason) == ("provider rules", "fail", "invalid_audience")
    assert last.actual == "The token is not intended for this API"
    assert report.consistent


def test_an_acceptance_overrules_the_steps(issuer: Issuer) -> None:
    token = issuer.token(audience="account")
    settings = Settings(issuer=issuer.issuer, audience=AUDIENCE)
    lenient = Verifier(issuer=issuer.issuer, audience="account")
    report = diagnose(token, settings, verifier=lenient)
    assert (report.verdict, report.exit_code) == (None, 0)
    audience = next(c for c in report.checks if c.name == "audience")
    assert (audience.status, audience.reason) == ("pass", None)
    assert audience.detail == "accepted by the generic preset's rules"
    assert report.consistent
    assert report.notes == []


def test_a_difference_outside_the_claims_is_reported(issuer: Issuer) -> None:
    # A verifier with other keys: the steps (the issuer's key set) accept, it refuses.
    token = issuer.token()
    settings = Settings(issuer=issuer.issuer, audience=AUDIENCE)
    other = Verifier(
        issuer=issuer.issuer, audience=AUDIENCE, keys=IssuerKey.generate("RS256").public_jwk
    )
    report = diagnose(token, settings, verifier=other)
    assert report.verdict == "unknown_kid"
    assert report.checks[-1].name == "provider rules"
    assert report.consistent  # the one failure is the verifier's


def test_dpop_notes(issuer: Issuer) -> None:
    token = issuer.token(claims={"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}})
    settings = Settings(issuer=issuer.issuer, audience=AUDIENCE, dpop="required")
    report = diagnose(token, settings)
    assert report.verdict is None
    assert report.notes == [
        "this token is DPoP-bound (cnf.jkt): send it with the DPoP scheme and a proof; "
        "the doctor checks the token, not a proof",
        "BEARERGUARD_DPOP=required: the Bearer scheme is refused",
    ]


# -- with each provider preset: the verdict is the preset's, the rows and hints say why -----

PRESET_CASES = {
    "keycloak-account": (
        "keycloak", "https://sso.example.com/realms/acme", {"aud": "account"},
        "keycloak_default_audience", "audience",
        "Keycloak sets aud to 'account' unless an audience mapper",
    ),
    "keycloak-id-token": (
        "keycloak", "https://sso.example.com/realms/acme", {"typ": "ID"},
        "id_token_presented", "not an ID token", "Keycloak marks it `typ: ID`",
    ),
    "cognito-id-token": (
        "cognito", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf",
        {"token_use": "id"}, "id_token_presented", "not an ID token",
        "Cognito marks it `token_use: id`",
    ),
    "okta-org-server": (
        "okta", "https://acme.okta.com", {}, "okta_org_server", "custom server",
        "use a custom authorization server",
    ),
    "auth0-userinfo": (
        "auth0", "https://dev-acme.eu.auth0.com/",
        {"aud": ["https://dev-acme.eu.auth0.com/userinfo"]}, "invalid_audience", "audience",
        "Auth0 gives a token for your API only when the request names it",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(PRESET_CASES))
def test_presets(issuer: Issuer, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    provider, iss, claims, reason, row, text = PRESET_CASES[case]
    token = issuer.token(
        issuer=iss,
        audience=claims.get("aud") or AUDIENCE,
        claims={k: v for k, v in claims.items() if k != "aud"},
    )
    settings = Settings(issuer=iss, audience=AUDIENCE, jwks_uri=issuer.jwks_uri, provider=provider)
    assert verifier_reason(token, settings) == reason
    report = diagnose(token, settings)
    assert report.consistent
    args = ["--issuer", iss, "--audience", AUDIENCE, "--jwks-uri", issuer.jwks_uri]
    rc, out, err = run_doctor([*args, "--provider", provider, token], capsys)
    assert rc == 1
    assert f"  FAIL  {row:<20}{reason}\n" in out
    assert text in " ".join(out.split())
    assert f"verdict: REFUSED ({reason}: " in out
    assert "note:" not in out
    assert_no_token(token, out, err)


def test_cognito_access_token_accepted_by_its_preset(
    issuer: Issuer, capsys: pytest.CaptureFixture[str]
) -> None:
    iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf"
    client = "3n4b5urk1ft4fl3mg5e62d9ado"
    token = issuer.token(issuer=iss, client_id=client, claims={"token_use": "access"}, drop=["aud"])
    args = ["--issuer", iss, "--audience", client, "--jwks-uri", issuer.jwks_uri]
    rc, out, _ = run_doctor([*args, "--provider", "cognito", token], capsys)
    assert rc == 0
    assert f"  ok    {'audience':<20}accepted by the cognito preset's rules\n" in out
    assert out.endswith("verdict: ACCEPTED\n")
    # The generic preset refuses it, and says what to set.
    rc, out, _ = run_doctor([*args, token], capsys)
    assert rc == 1
    assert "Cognito access tokens carry no `aud`: set BEARERGUARD_PROVIDER=cognito" in " ".join(
        out.split()
    )


def test_entra_tenant_mismatch(issuer: Issuer, capsys: pytest.CaptureFixture[str]) -> None:
    template = "https://login.microsoftonline.com/{tenantid}/v2.0"
    iss = template.replace("{tenantid}", TENANT)
    other = "0b0e3c51-1c3a-4d0c-9e6e-3a7f2f7a1c11"
    token = issuer.token(issuer=iss, claims={"tid": other, "azp": "spa-client"})
    settings = Settings(
        issuer=template, tenants=TENANT, audience=AUDIENCE, jwks_uri=issuer.jwks_uri,
        provider="entra",
    )  # fmt: skip
    assert verifier_reason(token, settings) == "tenant_mismatch"
    args = ["--issuer", template, "--set", f"TENANTS={TENANT}", "--audience", AUDIENCE]
    rc, out, _ = run_doctor(
        [*args, "--jwks-uri", issuer.jwks_uri, "--provider", "entra", token], capsys
    )
    assert rc == 1
    assert f"  ok    {'issuer':<20}{iss}\n" in out
    assert f"  FAIL  {'tenant':<20}tenant_mismatch\n" in out
    assert f"        actual:   {other}\n" in out
    assert "the token's tid differs from the tenant in its iss" in out
    # A tenant outside the allow-list is an untrusted issuer.
    stranger = issuer.token(issuer=template.replace("{tenantid}", other), claims={"tid": other})
    assert verifier_reason(stranger, settings) == "invalid_issuer"
    rc, out, _ = run_doctor(
        [*args, "--jwks-uri", issuer.jwks_uri, "--provider", "entra", stranger], capsys
    )
    assert rc == 1
    assert f"  FAIL  {'issuer':<20}invalid_issuer\n" in out


def test_control_characters_are_escaped(issuer: Issuer, capsys: pytest.CaptureFixture[str]) -> None:
    # A hostile token's claims must not drive the terminal (ANSI escapes, bidi overrides).
    token = issuer.token(
        sub="\x1b[2J\x9b31m", claims={"name": "a\u202eb"}, audience="x\x1b]0;t\x07"
    )
    rc, out, _ = run_doctor([*env_args(issuer), token], capsys)
    assert rc == 1
    assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out and "\x07" not in out
    assert "actual:   x\\u001b]0;t\\u0007\n" in out
    rc, out, _ = run_doctor([*env_args(issuer), "--json", token], capsys)
    assert "\x1b" not in out and "\u202e" not in out
    assert json.loads(out)["claims"]["name"] == "a\u202eb"


def test_entra_id_token_of_a_shared_registration(
    issuer: Issuer, capsys: pytest.CaptureFixture[str]
) -> None:
    # SPA and API share one app registration: the ID token's aud is the API's client id.
    iss = f"https://login.microsoftonline.com/{TENANT}/v2.0"
    token = issuer.token(
        issuer=iss, audience=API_GUID, client_id=None, claims={"tid": TENANT, "nonce": "n-1"}
    )
    settings = Settings(issuer=iss, audience=API_GUID, jwks_uri=issuer.jwks_uri, provider="entra")
    assert verifier_reason(token, settings) == "id_token_presented"
    args = ["--issuer", iss, "--audience", API_GUID, "--jwks-uri", issuer.jwks_uri]
    rc, out, _ = run_doctor([*args, "--provider", "entra", token], capsys)
    assert rc == 1
    assert f"  FAIL  {'not an ID token':<20}id_token_presented\n" in out
    assert "this is an ID token (Entra ID marks it by its `nonce`): send the access token" in out
    assert f"  ok    {'not an ID token':<20}" not in out  # one row, failed
    assert "note:" not in out
