"""Tests issue #12's review found missing: fetches, key-set edge cases, CI determinism.

- Fetches never follow a redirect (RFC 8414 §3 / OIDC Discovery §4: the metadata and the
  JWKS are read from the URL configured or published, nowhere else), for the JWKS and for
  discovery, on the sync and the async path.
- An ``http`` ``jwks_uri`` published by an ``https`` issuer is refused, never fetched.
- Duplicate ``kid``s, several kid-less keys and the key-count cap (``MAX_KEYS`` = 200),
  through static keys and a real JWKS server alike.
- Under ``CI=true`` the Hypothesis profile is derandomized, so a CI failure replays.

The RFC 7515 vectors, tokens from joserfc and the descriptions snapshot live in
``test_review_gaps_vectors.py`` (module size).
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bearerguard import FetchError, JWKSKeySource, Verifier
from bearerguard.discovery import discover_jwks_uri, urllib_fetcher
from bearerguard.keyset import MAX_KEYS, parse_jwks
from bearerguard.testing import Issuer, IssuerKey

AUDIENCE = "https://api.example.com"
COOLDOWN = 30.0
KEYS_UNAVAILABLE_BODY = {
    "error_description": "The signing keys cannot be retrieved right now",
    "reason": "keys_unavailable",
}
REDIRECTS = (301, 302, 307, 308)
ROOT = Path(__file__).resolve().parents[2]


# -- a redirecting server -------------------------------------------------------------------


class Redirector:
    """An HTTP server on 127.0.0.1 answering every GET with *status* and ``Location``."""

    def __init__(self, status: int, location: Callable[[str], str]) -> None:
        self.hits: list[str] = []
        hits, lock = self.hits, threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    hits.append(self.path)
                self.send_response(status)
                self.send_header("Location", location(self.path))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Redirector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        assert not self._thread.is_alive()


@pytest.fixture(scope="module")
def target() -> Iterator[Issuer]:
    """The server a redirect points at: it serves a valid key set, and must never be asked."""
    with Issuer(audience=AUDIENCE, algs=("RS256",)) as iss:
        yield iss


@pytest.fixture(autouse=True)
def _reset_target(request: pytest.FixtureRequest) -> None:
    if "target" in request.fixturenames:
        iss: Issuer = request.getfixturevalue("target")
        iss.metadata_overrides = {}
        iss.reset_counters()


def decide(v: Verifier, token: str, mode: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    """(status, headers, JSON body) of the refusal of a request carrying *token*."""
    auth = f"Bearer {token}"
    decision = v.decide(auth) if mode == "sync" else asyncio.run(v.decide_async(auth))
    assert decision.error is not None, "the token was accepted"
    status, headers, body = decision.response()
    return status, dict(headers), json.loads(body)


def assert_keys_unavailable(v: Verifier, token: str, mode: str) -> None:
    status, headers, body = decide(v, token, mode)
    assert status == 503
    # No challenge on a 503: the token is not to blame (DESIGN "Responses").
    assert headers == {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "Retry-After": "30",
    }
    assert body == KEYS_UNAVAILABLE_BODY


def source(url: str | None = None, **kw: Any) -> JWKSKeySource:
    return JWKSKeySource(url, cooldown=COOLDOWN, timeout=3.0, **kw)


# -- redirects are never followed -------------------------------------------------------------


def test_control_the_target_key_set_verifies_the_token(target: Issuer) -> None:
    # Without the redirect the same token verifies: a 503 below is the redirect's doing.
    v = Verifier(issuer=target.issuer, audience=AUDIENCE, key_source=source(target.jwks_uri))
    assert v.verify(target.token()).subject == "user-1"
    assert target.jwks_fetches == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("status", REDIRECTS)
def test_jwks_fetch_does_not_follow_redirects(target: Issuer, status: int, mode: str) -> None:
    with Redirector(status, lambda _path: target.jwks_uri) as redirector:
        jwks_uri = redirector.url + "/.well-known/jwks.json"
        v = Verifier(issuer=target.issuer, audience=AUDIENCE, key_source=source(jwks_uri))
        assert_keys_unavailable(v, target.token(), mode)
        assert redirector.hits == ["/.well-known/jwks.json"]
    assert (target.jwks_fetches, target.discovery_fetches) == (0, 0)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("status", REDIRECTS)
def test_discovery_does_not_follow_redirects(target: Issuer, status: int, mode: str) -> None:
    with Redirector(status, lambda path: target.url + path) as redirector:
        issuer = redirector.url + "/"
        # Followed, the target's metadata would name this issuer and its own key set.
        target.metadata_overrides = {"issuer": issuer}
        v = Verifier(issuer=issuer, audience=AUDIENCE, key_source=source(issuer=issuer))
        assert_keys_unavailable(v, target.token(issuer=issuer), mode)
        # OIDC Discovery first, then RFC 8414 §3; each answered by a redirect only.
        assert redirector.hits == [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ]
    assert (target.jwks_fetches, target.discovery_fetches) == (0, 0)


def held_response(err: BaseException) -> urllib.error.HTTPError | None:
    """The urllib HTTPError (an open response) a FetchError still references, if any."""
    ctx = err.__context__
    return ctx if isinstance(ctx, urllib.error.HTTPError) else None


@pytest.mark.parametrize("status", REDIRECTS)
def test_default_fetcher_refuses_a_redirect(target: Issuer, status: int) -> None:
    with Redirector(status, lambda _path: target.jwks_uri) as redirector:
        with pytest.raises(FetchError) as info:
            urllib_fetcher(redirector.url + "/jwks", timeout=3.0, max_bytes=65536)
        try:
            assert str(info.value) == f"HTTP {status}"
        finally:
            # See test_fetch_error_holds_no_open_response: close what src leaves open.
            held = held_response(info.value)
            if held is not None:
                held.close()
    assert target.jwks_fetches == 0


def test_fetch_error_holds_no_open_response(target: Issuer) -> None:
    with Redirector(302, lambda _path: target.jwks_uri) as redirector:
        with pytest.raises(FetchError) as info:
            urllib_fetcher(redirector.url + "/jwks", timeout=3.0, max_bytes=65536)
        held = held_response(info.value)
        try:
            fp: Any = None if held is None else held.fp
            assert fp is None or fp.closed
        finally:
            if held is not None:
                held.close()


# -- an https issuer's http jwks_uri ----------------------------------------------------------

HTTPS_ISSUER = "https://idp.example/"


class MetadataFetcher:
    """Serves the https issuer's metadata; any other URL goes to the real network fetcher."""

    def __init__(self, jwks_uri: str, issuer: str = HTTPS_ISSUER) -> None:
        self.urls: list[str] = []
        self.doc = {"issuer": issuer, "jwks_uri": jwks_uri}
        self.metadata_url = issuer + ".well-known/openid-configuration"

    def __call__(self, url: str, *, timeout: float, max_bytes: int) -> tuple[bytes, str | None]:
        self.urls.append(url)
        if url == self.metadata_url:
            return json.dumps(self.doc).encode(), None
        return urllib_fetcher(url, timeout=timeout, max_bytes=max_bytes)


def test_discovery_refuses_http_jwks_uri_for_https_issuer(target: Issuer) -> None:
    fetcher = MetadataFetcher(target.jwks_uri)
    with pytest.raises(FetchError) as info:
        discover_jwks_uri(HTTPS_ISSUER, fetcher, timeout=3.0, max_bytes=65536)
    assert str(info.value) == "jwks_uri must use https"
    assert fetcher.urls == ["https://idp.example/.well-known/openid-configuration"]
    assert target.jwks_fetches == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_verifier_answers_503_for_http_jwks_uri_of_https_issuer(target: Issuer, mode: str) -> None:
    fetcher = MetadataFetcher(target.jwks_uri)
    ks = source(issuer=HTTPS_ISSUER, fetcher=fetcher)
    v = Verifier(issuer=HTTPS_ISSUER, audience=AUDIENCE, key_source=ks)
    assert_keys_unavailable(v, target.token(issuer=HTTPS_ISSUER), mode)
    assert fetcher.urls == ["https://idp.example/.well-known/openid-configuration"]
    assert target.jwks_fetches == 0
    assert ks.jwks_uri is None  # the refused URL is not remembered either


def test_control_http_issuer_may_publish_http_jwks_uri(target: Issuer) -> None:
    # The documented exception: a plain-http (development) issuer.
    fetcher = MetadataFetcher(target.jwks_uri, issuer="http://idp.example/")
    found = discover_jwks_uri("http://idp.example/", fetcher, timeout=3.0, max_bytes=65536)
    assert found == target.jwks_uri


# -- key-set edge cases: duplicate kids, kid-less keys, the key-count cap ------------------------

KINDS = ["static", "jwks"]


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    """A fresh issuer publishing nothing but what the test adds."""
    with Issuer(audience=AUDIENCE, algs=()) as iss:
        yield iss


def verifier_for(iss: Issuer, kind: str) -> Verifier:
    if kind == "static":
        return Verifier(issuer=iss.issuer, audience=AUDIENCE, keys=iss.jwks())
    return Verifier(issuer=iss.issuer, audience=AUDIENCE, key_source=source(iss.jwks_uri))


def reason_of(v: Verifier, token: str) -> str | None:
    """The refusal's reason (sync and async must agree), or None when accepted."""
    reasons = []
    for mode in ("sync", "async"):
        auth = f"Bearer {token}"
        d = v.decide(auth) if mode == "sync" else asyncio.run(v.decide_async(auth))
        reasons.append(None if d.error is None else d.error.reason)
    assert reasons[0] == reasons[1]
    return reasons[0]


def publish(iss: Issuer, *keys: IssuerKey, kidless: bool = False) -> None:
    for key in keys:
        if kidless:
            jwk = {k: v for k, v in key.public_jwk.items() if k != "kid"}
            iss.extra_jwks = [*iss.extra_jwks, jwk]
        else:
            iss.publish(key)


@pytest.mark.parametrize("kind", KINDS)
def test_duplicate_kid_two_fitting_keys_is_ambiguous(issuer: Issuer, kind: str) -> None:
    a, b = IssuerKey.generate("RS256", kid="dup"), IssuerKey.generate("RS256", kid="dup")
    publish(issuer, a, b)
    v = verifier_for(issuer, kind)
    assert reason_of(v, issuer.token(key=a, kid="dup")) == "ambiguous_key"
    assert reason_of(v, issuer.token(key=b, kid="dup")) == "ambiguous_key"


@pytest.mark.parametrize("kind", KINDS)
def test_duplicate_kid_no_key_fits_alg(issuer: Issuer, kind: str) -> None:
    a, b = IssuerKey.generate("RS256", kid="dup"), IssuerKey.generate("RS256", kid="dup")
    publish(issuer, a, b)
    signer = IssuerKey.generate("ES256", kid="dup")
    v = verifier_for(issuer, kind)
    assert reason_of(v, issuer.token(key=signer, kid="dup", alg="ES256")) == "key_alg_mismatch"


@pytest.mark.parametrize("kind", KINDS)
def test_duplicate_kid_exactly_one_fitting_key_is_used(issuer: Issuer, kind: str) -> None:
    rsa, ec = IssuerKey.generate("RS256", kid="dup"), IssuerKey.generate("ES256", kid="dup")
    ps = IssuerKey.generate("PS256", kid="dup2")  # JWK "alg": PS256 — does not fit RS256
    rs = IssuerKey.generate("RS256", kid="dup2")
    publish(issuer, rsa, ec, ps, rs)
    v = verifier_for(issuer, kind)
    assert reason_of(v, issuer.token(key=rsa, kid="dup", alg="RS256")) is None
    assert reason_of(v, issuer.token(key=ec, kid="dup", alg="ES256")) is None
    assert reason_of(v, issuer.token(key=rs, kid="dup2", alg="RS256")) is None
    assert reason_of(v, issuer.token(key=ps, kid="dup2", alg="PS256")) is None
    # The fitting key is the only candidate: another key's signature is bad, not ambiguous.
    assert reason_of(v, issuer.token(key=ec, kid="dup2", alg="ES256")) == "key_alg_mismatch"
    assert reason_of(v, issuer.token(key=ps, kid="dup2", alg="RS256")) == "bad_signature"


@pytest.mark.parametrize("kind", KINDS)
def test_several_kidless_keys_fitting_the_alg_are_ambiguous(issuer: Issuer, kind: str) -> None:
    a, b = IssuerKey.generate("RS256"), IssuerKey.generate("RS256")
    publish(issuer, a, b, kidless=True)
    v = verifier_for(issuer, kind)
    assert reason_of(v, issuer.token(key=a, kid="")) == "ambiguous_key"
    assert reason_of(v, issuer.token(key=b, kid="")) == "ambiguous_key"


@pytest.mark.parametrize("kind", KINDS)
def test_one_kidless_key_fitting_the_alg_is_used(issuer: Issuer, kind: str) -> None:
    rsa, ec, ed = (IssuerKey.generate(a) for a in ("RS256", "ES256", "EdDSA"))
    publish(issuer, rsa, ec, ed, kidless=True)
    v = verifier_for(issuer, kind)
    assert reason_of(v, issuer.token(key=rsa, kid="", alg="RS256")) is None
    assert reason_of(v, issuer.token(key=ec, kid="", alg="ES256")) is None
    assert reason_of(v, issuer.token(key=ed, kid="", alg="EdDSA")) is None
    other = IssuerKey.generate("RS256")
    assert reason_of(v, issuer.token(key=other, kid="", alg="RS256")) == "bad_signature"


def test_max_keys_is_200() -> None:
    assert MAX_KEYS == 200


@pytest.fixture(scope="module")
def many_keys() -> list[IssuerKey]:
    """201 ES256 keys, kids k001..k201 (EC: quick to generate)."""
    return [IssuerKey.generate("ES256", kid=f"k{i:03d}") for i in range(1, 202)]


def test_parse_jwks_keeps_the_first_200_keys(many_keys: list[IssuerKey]) -> None:
    keyset = parse_jwks({"keys": [k.public_jwk for k in many_keys]})
    assert len(keyset.keys) == 200
    assert [k.kid for k in keyset.keys][-1] == "k200"
    assert keyset.select("k201", "ES256") is None


@pytest.mark.parametrize(
    "kind",
    [
        "static",
        "jwks",
    ],
)
def test_key_count_cap(issuer: Issuer, many_keys: list[IssuerKey], kind: str) -> None:
    publish(issuer, *many_keys)
    v = verifier_for(issuer, kind)
    k200, k201 = many_keys[199], many_keys[200]
    assert (k200.kid, k201.kid) == ("k200", "k201")
    assert reason_of(v, issuer.token(key=k200, alg="ES256")) is None
    assert reason_of(v, issuer.token(key=k201, alg="ES256")) == "unknown_kid"
    if kind == "jwks":
        assert issuer.jwks_fetches == 1  # the miss is within the cooldown: no refetch


# -- Hypothesis: derandomized in CI ------------------------------------------------------------

PROBE = (
    "import tests.conftest, hypothesis; s = hypothesis.settings.default; "
    "print(s.derandomize, s.print_blob)"
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"CI": "true"}, "True True"),
        ({"HYPOTHESIS_PROFILE": "ci"}, "True True"),
        # the dev profile, named explicitly: with no variable at all, Hypothesis's own CI
        # detection (and tox's environment) may pick its CI defaults
        ({"HYPOTHESIS_PROFILE": "dev"}, "False False"),
    ],
)
def test_ci_loads_a_derandomized_hypothesis_profile(env: dict[str, str], expected: str) -> None:
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", PROBE],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == expected
