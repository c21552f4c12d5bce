"""RFC 7662 introspection (bearerguard.introspection) against the real test issuer over HTTP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bearerguard import InvalidToken
from bearerguard.introspection import IntrospectionUnavailable, Introspector
from bearerguard.store import MemoryStore, StoreUnavailable
from bearerguard.testing import Issuer

AUD = "https://api.example.com"
CLIENT_ID = "resource server"  # a space: RFC 6749 §2.3.1 form-encoding matters
SECRET = "s3cr:et/+&=%"


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with Issuer(audience=AUD, algs=("ES256",)) as iss:
        iss.register_client(CLIENT_ID, SECRET, scopes=())
        yield iss


def make(issuer: Issuer, **kw: Any) -> Introspector:
    options: dict[str, Any] = {
        "issuers": [issuer.issuer],
        "audiences": [AUD],
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    options.update(kw)
    return Introspector(**options)


def refused(intro: Introspector, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        intro.introspect(token)
    assert info.value.status_code == 401
    assert info.value.error == "invalid_token"
    return info.value


def unavailable(intro: Introspector, token: str) -> IntrospectionUnavailable:
    with pytest.raises(IntrospectionUnavailable) as info:
        intro.introspect(token)
    err = info.value
    assert err.status_code == 503
    assert err.reason == "introspection_unavailable"
    assert err.www_authenticate is None
    headers = err.headers()
    assert "WWW-Authenticate" not in headers
    assert int(headers["Retry-After"]) >= 1
    body = json.loads(err.body())
    assert body["error_description"] == "The access token cannot be checked right now"
    assert body["reason"] == "introspection_unavailable"
    assert body.get("error") is None
    return err


@pytest.mark.parametrize("auth", ["client_secret_basic", "client_secret_post"])
def test_active_token_discovered_endpoint(issuer: Issuer, auth: str) -> None:
    token = issuer.opaque_token("alice", ["read:messages", "write:messages"], {"tenant": "acme"})
    intro = make(issuer, client_auth=auth)
    at = intro.introspect(token)
    assert intro.endpoint == issuer.url + "/introspect"
    assert at.subject == "alice"
    assert at.scopes == frozenset({"read:messages", "write:messages"})
    assert at.client_id == "test-client"
    assert at["tenant"] == "acme"
    assert at["active"] is True
    assert at.claims["aud"] == AUD
    assert at.claims["iss"] == issuer.issuer
    assert dict(at.header) == {}
    assert issuer.introspection_calls == 1
    assert issuer.discovery_fetches == 1


def test_scope_split_on_space_only(issuer: Issuer) -> None:
    token = issuer.opaque_token(claims={"scope": "a  b\tc"})
    assert make(issuer).introspect(token).scopes == frozenset({"a", "b\tc"})


def test_jwt_minted_by_issuer_is_introspectable(issuer: Issuer) -> None:
    at = make(issuer).introspect(issuer.token("bob", ["read:messages"]))
    assert at.subject == "bob"
    assert at.scopes == frozenset({"read:messages"})


def test_inactive(issuer: Issuer) -> None:
    err = refused(make(issuer), "no-such-token")
    assert err.reason == "token_inactive"
    assert err.description == "The access token is not active"
    assert err.www_authenticate == (
        'Bearer realm="api", error="invalid_token", '
        'error_description="The access token is not active"'
    )


def test_revoked_with_ttl_zero(issuer: Issuer) -> None:
    token = issuer.opaque_token()
    intro = make(issuer, cache_ttl=0)
    assert intro.introspect(token).subject == "user-1"
    assert issuer.revoke(token) is True
    assert refused(intro, token).reason == "token_inactive"
    assert issuer.introspection_calls == 2


def test_revoked_still_cached_within_ttl(issuer: Issuer) -> None:
    # The documented trade-off: a revoked token passes for at most cache_ttl seconds.
    clock = Clock()
    token = issuer.opaque_token()
    intro = make(issuer, cache_ttl=60, clock=clock)
    intro.introspect(token)
    issuer.revoke(token)
    clock.offset = 59
    assert intro.introspect(token).subject == "user-1"
    clock.offset = 60.5
    assert refused(intro, token).reason == "token_inactive"
    assert issuer.introspection_calls == 2


def test_expired_with_leeway(issuer: Issuer) -> None:
    clock = Clock()
    token = issuer.opaque_token(expires_in=300)
    clock.offset = 330  # within the 60 s leeway
    assert make(issuer, clock=clock, cache_ttl=0).introspect(token).subject == "user-1"
    clock.offset = 361
    assert refused(make(issuer, clock=clock), token).reason == "expired"


@pytest.mark.parametrize(
    ("member", "reason"), [("nbf", "not_yet_valid"), ("iat", "issued_in_future")]
)
def test_future_times(issuer: Issuer, member: str, reason: str) -> None:
    token = issuer.opaque_token(claims={member: int(time.time()) + 3600})
    assert refused(make(issuer), token).reason == reason
    near = issuer.opaque_token(claims={member: int(time.time()) + 30})
    assert make(issuer).introspect(near).subject == "user-1"


def test_wrong_audience(issuer: Issuer) -> None:
    token = issuer.opaque_token(audience="https://other.example")
    assert refused(make(issuer), token).reason == "invalid_audience"
    several = issuer.opaque_token(audience=["https://other.example", AUD])
    assert make(issuer).introspect(several).audience == ("https://other.example", AUD)
    no_aud = issuer.opaque_token(claims={"aud": None})
    assert "aud" not in make(issuer).introspect(no_aud).claims


def test_wrong_issuer(issuer: Issuer) -> None:
    token = issuer.opaque_token(claims={"iss": "https://evil.example/"})
    assert refused(make(issuer), token).reason == "invalid_issuer"


def test_refresh_token_type(issuer: Issuer) -> None:
    token = issuer.opaque_token(token_type="refresh_token")
    err = refused(make(issuer), token)
    assert err.reason == "invalid_token_type"
    assert err.description == "The token is not an access token"


@pytest.mark.parametrize(
    "token_type",
    [
        "Bearer",
        "bearer",
        "DPoP",
        "dpop",
        "access_token",
        "urn:ietf:params:oauth:token-type:access_token",
    ],
)
def test_access_token_types(issuer: Issuer, token_type: str) -> None:
    token = issuer.opaque_token(token_type=token_type)
    assert make(issuer).introspect(token)["token_type"] == token_type


@pytest.mark.parametrize("token_type", ["ACCESS_TOKEN", "id_token", "N_A"])
def test_other_token_types(issuer: Issuer, token_type: str) -> None:
    token = issuer.opaque_token(token_type=token_type)
    assert refused(make(issuer), token).reason == "invalid_token_type"


def test_active_must_be_json_true(issuer: Issuer) -> None:
    token = issuer.opaque_token(claims={"active": "true"})
    assert refused(make(issuer), token).reason == "token_inactive"


def test_server_down(issuer: Issuer) -> None:
    token = issuer.opaque_token()
    intro = make(issuer, endpoint=issuer.url + "/introspect")
    issuer.stop()
    unavailable(intro, token)


@pytest.mark.parametrize("behaviour", ["error", "garbage", "close", "huge"])
def test_endpoint_outages(issuer: Issuer, behaviour: str) -> None:
    token = issuer.opaque_token()
    intro = make(issuer, max_bytes=64 * 1024)
    issuer.introspection_behaviour = behaviour
    unavailable(intro, token)
    assert issuer.introspection_calls == 1
    issuer.introspection_behaviour = "ok"
    assert intro.introspect(token).subject == "user-1"


def test_hanging_endpoint_bounded_by_one_deadline(issuer: Issuer) -> None:
    token = issuer.opaque_token()
    intro = make(issuer, endpoint=issuer.url + "/introspect", timeout=0.5)
    issuer.introspection_behaviour = "hang"
    started = time.monotonic()
    unavailable(intro, token)
    assert time.monotonic() - started < 2.0


def test_discovery_failure(issuer: Issuer) -> None:
    issuer.discovery_behaviour = "error"
    unavailable(make(issuer), issuer.opaque_token())
    assert issuer.introspection_calls == 0


@pytest.mark.parametrize("auth", ["client_secret_basic", "client_secret_post"])
def test_bad_client_credentials(issuer: Issuer, auth: str) -> None:
    intro = make(issuer, client_secret="wrong", client_auth=auth)
    unavailable(intro, issuer.opaque_token())
    assert issuer.introspection_calls == 1


def test_cache_reuse_and_ttl(issuer: Issuer) -> None:
    clock = Clock()
    token = issuer.opaque_token()
    intro = make(issuer, cache_ttl=30, clock=clock)
    for _ in range(10):
        assert intro.introspect(token).subject == "user-1"
    assert issuer.introspection_calls == 1
    clock.offset = 29
    intro.introspect(token)
    assert issuer.introspection_calls == 1
    clock.offset = 30.5
    intro.introspect(token)
    assert issuer.introspection_calls == 2


def test_cache_never_past_exp(issuer: Issuer) -> None:
    clock = Clock()
    token = issuer.opaque_token(expires_in=10)
    intro = make(issuer, cache_ttl=60, leeway=0, clock=clock)
    intro.introspect(token)
    clock.offset = 8  # exp = int(now) + 10 lies 9 to 10 s ahead
    intro.introspect(token)
    assert issuer.introspection_calls == 1
    clock.offset = 10.5
    assert refused(intro, token).reason == "expired"
    assert issuer.introspection_calls == 2


def test_negative_cache(issuer: Issuer) -> None:
    clock = Clock()
    intro = make(issuer, clock=clock)
    for _ in range(3):
        assert refused(intro, "unknown").reason == "token_inactive"
    assert issuer.introspection_calls == 1
    clock.offset = 4.5
    refused(intro, "unknown")
    assert issuer.introspection_calls == 1
    clock.offset = 5.5
    refused(intro, "unknown")
    assert issuer.introspection_calls == 2


def test_failures_are_not_cached(issuer: Issuer) -> None:
    token = issuer.opaque_token()
    intro = make(issuer)
    issuer.introspection_behaviour = "error"
    unavailable(intro, token)
    issuer.introspection_behaviour = "ok"
    assert intro.introspect(token).subject == "user-1"
    assert issuer.introspection_calls == 2


def test_single_flight_threads(issuer: Issuer) -> None:
    token = issuer.opaque_token()
    intro = make(issuer, endpoint=issuer.url + "/introspect")
    issuer.delay = 0.3
    barrier = threading.Barrier(8)
    results: list[str | None] = []

    def worker() -> None:
        barrier.wait()
        results.append(intro.introspect(token).subject)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == ["user-1"] * 8
    assert issuer.introspection_calls == 1


def test_single_flight_asyncio_does_not_block_the_loop(issuer: Issuer) -> None:
    token = issuer.opaque_token()
    intro = make(issuer, endpoint=issuer.url + "/introspect")
    issuer.delay = 0.3

    async def main() -> tuple[list[str | None], int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        tokens = await asyncio.gather(*(intro.introspect_async(token) for _ in range(8)))
        stop.set()
        await tick_task
        return [t.subject for t in tokens], ticks

    subjects, ticks = asyncio.run(main())
    assert subjects == ["user-1"] * 8
    assert issuer.introspection_calls == 1
    assert ticks >= 10  # the loop ran during the 0.3 s call


def test_async_refusal_and_outage(issuer: Issuer) -> None:
    intro = make(issuer)

    async def main() -> None:
        with pytest.raises(InvalidToken) as info:
            await intro.introspect_async("unknown")
        assert info.value.reason == "token_inactive"
        issuer.introspection_behaviour = "error"
        with pytest.raises(IntrospectionUnavailable):
            await intro.introspect_async("another")

    asyncio.run(main())


def test_shared_store_and_hashed_keys(issuer: Issuer) -> None:
    class Recording(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.writes: list[tuple[str, bytes, float]] = []

        def set(self, key: str, value: bytes, ttl: float) -> None:
            self.writes.append((key, value, ttl))
            super().set(key, value, ttl)

    store = Recording()
    token = issuer.opaque_token()
    first, second = make(issuer, store=store), make(issuer, store=store)
    assert first.introspect(token).subject == "user-1"
    assert second.introspect(token).subject == "user-1"  # another worker, same store

    async def other_worker() -> str | None:
        return (await make(issuer, store=store).introspect_async(token)).subject

    assert asyncio.run(other_worker()) == "user-1"
    assert issuer.introspection_calls == 1
    [(key, value, ttl)] = store.writes
    assert key.endswith(hashlib.sha256(token.encode()).hexdigest())
    assert token not in key
    assert token.encode() not in value
    assert ttl == 60


def test_store_unavailable_answers_503(issuer: Issuer) -> None:
    class Down(MemoryStore):
        def get(self, key: str) -> bytes | None:
            raise StoreUnavailable(retry_after=7)

        async def get_async(self, key: str) -> bytes | None:
            raise StoreUnavailable(retry_after=7)

    intro = make(issuer, store=Down())
    err = unavailable(intro, issuer.opaque_token())
    assert err.headers()["Retry-After"] == "7"
    assert issuer.introspection_calls == 0

    async def main() -> None:
        with pytest.raises(IntrospectionUnavailable):
            await intro.introspect_async("x")

    asyncio.run(main())


def test_token_and_secret_never_logged(issuer: Issuer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = issuer.opaque_token()
    make(issuer).introspect(token)
    attempts = [
        ("ok", make(issuer, client_secret="wrong-" + SECRET)),
        ("hang", make(issuer, timeout=0.3)),
        ("garbage", make(issuer, client_auth="client_secret_post")),
        ("ok", make(issuer, endpoint="http://127.0.0.1:9/introspect")),
    ]
    errors: list[IntrospectionUnavailable] = []
    for behaviour, intro in attempts:
        issuer.introspection_behaviour = behaviour
        with pytest.raises(IntrospectionUnavailable) as info:
            intro.introspect(token)
        errors.append(info.value)
    assert len(errors) == 4
    assert caplog.records, "failures are logged"
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        assert token not in text
        assert SECRET not in text
    for exc in errors:
        assert token not in str(exc) and token.encode() not in exc.body()
        assert exc.__cause__ is None
        assert exc.__context__ is None or exc.__suppress_context__
    assert SECRET not in repr(make(issuer))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"client_id": ""}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"client_auth": "private_key_jwt"}, "client_auth"),
        ({"issuers": []}, "issuer"),
        ({"audiences": []}, "audience"),
        ({"endpoint": "ftp://x/introspect"}, "http"),
        ({"cache_ttl": -1}, "negative"),
    ],
)
def test_construction_errors(changes: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {
        "issuers": ["https://as.example/"],
        "audiences": [AUD],
        "client_id": "api",
        "client_secret": "s",
    }
    options.update(changes)
    with pytest.raises(ValueError, match=message):
        Introspector(**options)


def test_discovery_refuses_foreign_metadata(issuer: Issuer) -> None:
    issuer.metadata_overrides = {"issuer": "https://evil.example/"}
    unavailable(make(issuer), issuer.opaque_token())
    assert issuer.introspection_calls == 0


@pytest.mark.parametrize("auth", ["client_secret_basic", "client_secret_post"])
def test_request_shape(auth: str) -> None:
    seen: list[tuple[str, bytes, dict[str, str], float, int]] = []

    def poster(
        url: str, *, data: bytes, headers: Any, timeout: float, max_bytes: int
    ) -> tuple[int, bytes]:
        seen.append((url, data, dict(headers), timeout, max_bytes))
        return 200, b'{"active": true, "scope": "a"}'

    intro = Introspector(
        issuers=["https://as.example/"],
        audiences=[AUD],
        endpoint="https://as.example/introspect",
        client_id=CLIENT_ID,
        client_secret=SECRET,
        client_auth=auth,
        poster=poster,
        timeout=2.5,
        max_bytes=1000,
    )
    assert intro.introspect("tok en+/=").scopes == frozenset({"a"})
    [(url, data, headers, timeout, max_bytes)] = seen
    assert url == "https://as.example/introspect"
    assert 0 < timeout <= 2.5
    assert max_bytes == 1000
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = "token=tok+en%2B%2F%3D&token_type_hint=access_token"
    if auth == "client_secret_basic":
        # RFC 6749 §2.3.1: "resource server" and "s3cr:et/+&=%" form-encoded, then base64.
        expected = base64.b64encode(b"resource+server:s3cr%3Aet%2F%2B%26%3D%25").decode()
        assert headers["Authorization"] == "Basic " + expected
        assert data.decode() == form
    else:
        assert "Authorization" not in headers
        assert (
            data.decode()
            == form + "&client_id=resource+server&client_secret=s3cr%3Aet%2F%2B%26%3D%25"
        )
