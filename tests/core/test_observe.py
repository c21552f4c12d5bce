"""Logs, metrics, span attributes and hooks (issue #18): what an operator sees.

Records are asserted field by field, and no record, message or attribute ever holds a
token. Metrics use the OpenTelemetry SDK's in-memory reader; spans its in-memory exporter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bearerguard import JWKSKeySource, Requirements, Verifier
from bearerguard.errors import BearerError
from bearerguard.observe import INSTRUMENTS
from bearerguard.pipeline import decide
from bearerguard.testing import Issuer

otel_sdk = pytest.importorskip("opentelemetry.sdk.metrics")
from opentelemetry import metrics, trace  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

READER = InMemoryMetricReader()
SPANS = InMemorySpanExporter()
metrics.set_meter_provider(otel_sdk.MeterProvider(metric_readers=[READER]))
_tracer_provider = TracerProvider()
_tracer_provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(_tracer_provider)


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer(audience="https://api.example.com", cache_control=None) as iss:
        yield iss


def verifier(issuer: Issuer, **kw: Any) -> Verifier:
    return Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks(), **kw)


def _points(name: str) -> list[Any]:
    data = READER.get_metrics_data()
    out = []
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    out.extend(metric.data.data_points)
    return out


def _no_token_anywhere(records: list[logging.LogRecord], *tokens: str) -> None:
    for record in records:
        text = record.getMessage() + repr(record.__dict__)
        for token in tokens:
            for part in token.split("."):
                assert part not in text, record


def test_a_refusal_is_one_record_with_fields(
    issuer: Issuer, caplog: pytest.LogCaptureFixture
) -> None:
    v = verifier(issuer)
    token = issuer.token(expires_in=-3600)
    with caplog.at_level(logging.INFO, logger="bearerguard"):
        v.decide(f"Bearer {token}", url="https://api.example.com/api/private?x=1")
    records = [r for r in caplog.records if r.name == "bearerguard"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.INFO
    assert record.getMessage() == "bearerguard: refused (expired)"
    assert (record.bearerguard_reason, record.bearerguard_status) == ("expired", 401)  # type: ignore[attr-defined]
    assert record.bearerguard_scheme == "bearer"  # type: ignore[attr-defined]
    assert record.bearerguard_path == "/api/private"  # type: ignore[attr-defined]
    assert not hasattr(record, "bearerguard_subject")  # an unverified claim is never logged
    _no_token_anywhere(caplog.records, token)


def test_a_403_record_names_the_verified_caller(
    issuer: Issuer, caplog: pytest.LogCaptureFixture
) -> None:
    v = verifier(issuer)
    token = issuer.token(scopes=())
    with caplog.at_level(logging.INFO, logger="bearerguard"):
        v.decide(f"Bearer {token}", requirements=Requirements(scopes=["admin"]))
    (record,) = [r for r in caplog.records if r.name == "bearerguard"]
    assert record.bearerguard_status == 403  # type: ignore[attr-defined]
    assert record.bearerguard_issuer == issuer.issuer  # type: ignore[attr-defined]
    assert record.bearerguard_client_id == "test-client"  # type: ignore[attr-defined]
    assert record.bearerguard_subject == "user-1"  # type: ignore[attr-defined]
    assert record.bearerguard_kid == issuer.current_key.kid  # type: ignore[attr-defined]
    _no_token_anywhere(caplog.records, token)


def test_silent_by_default_beyond_warning(issuer: Issuer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        verifier(issuer).decide("Bearer not-a-jwt")
    assert caplog.records == []


def test_key_set_events(caplog: pytest.LogCaptureFixture) -> None:
    with Issuer(audience="https://api.example.com", cache_control=None) as iss:
        clock = [1000.0]
        source = JWKSKeySource(
            iss.jwks_uri, cooldown=0, min_ttl=0, default_ttl=10, clock=lambda: clock[0]
        )
        v = Verifier(issuer=iss.issuer, audience=iss.audience, key_source=source)
        with caplog.at_level(logging.INFO, logger="bearerguard.keys"):
            v.verify(iss.token())
            iss.behaviour = "error"
            clock[0] += 20
            with pytest.raises(BearerError):
                v.verify(iss.token(kid="unknown-kid", key=iss.current_key))
            iss.behaviour = "ok"
            iss.rotate()
            clock[0] += 20
            v.verify(iss.token(key=iss.current_key))
        events = [
            (r.levelno, r.bearerguard_event)  # type: ignore[attr-defined]
            for r in caplog.records
            if r.name == "bearerguard.keys"
        ]
        assert events[:3] == [
            (logging.INFO, "fetched"),
            (logging.WARNING, "refresh_failed"),
            (logging.INFO, "recovered"),
        ]
        # (with no cooldown a background refresh of the stale set may follow: the rotation)
        assert set(events[3:]) <= {(logging.INFO, "rotated"), (logging.INFO, "fetched")}
        fetched = next(r for r in caplog.records if r.name == "bearerguard.keys")
        assert fetched.bearerguard_keys == 1  # type: ignore[attr-defined]
        assert fetched.bearerguard_url == iss.jwks_uri  # type: ignore[attr-defined]


def test_hooks_get_the_refusal_or_the_token_never_the_raw_token(issuer: Issuer) -> None:
    refused: list[tuple[BearerError, dict[str, Any]]] = []
    accepted: list[Any] = []
    v = verifier(
        issuer,
        on_refusal=lambda err, fields: refused.append((err, dict(fields))),
        on_success=accepted.append,
    )
    good = issuer.token()
    assert v.decide(f"Bearer {good}").token is not None
    v.decide(f"Bearer {good}")  # a cache hit reports too
    v.decide("Bearer a.b.c")
    assert [t.subject for t in accepted] == ["user-1", "user-1"]
    assert [(e.reason, f["bearerguard_status"]) for e, f in refused] == [("malformed_token", 401)]


def test_zero_cost_when_nothing_watches(issuer: Issuer) -> None:
    v = verifier(issuer)
    assert v.decide.__func__ is decide  # type: ignore[attr-defined]  # unwrapped: no extra call


def test_metrics_and_span_attributes(issuer: Issuer) -> None:
    v = verifier(issuer, telemetry=True, enduser_id=True)
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request"):
        v.decide(f"Bearer {issuer.token()}")
    with tracer.start_as_current_span("refused"):
        v.decide(f"Bearer {issuer.token(expires_in=-3600)}")
    v.decide(None)
    counts = {
        (p.attributes["outcome"], p.attributes["reason"], p.attributes["scheme"]): p.value
        for p in _points("bearerguard.requests")
    }
    assert counts[("accepted", "", "bearer")] >= 1
    assert counts[("refused", "expired", "bearer")] >= 1
    assert counts[("anonymous", "", "")] >= 1
    durations = _points("bearerguard.decision.duration")
    assert sum(p.count for p in durations) >= 3
    spans = {s.name: dict(s.attributes or {}) for s in SPANS.get_finished_spans()}
    assert spans["request"]["bearerguard.outcome"] == "accepted"
    assert spans["request"]["enduser.id"] == "user-1"
    assert spans["refused"]["bearerguard.reason"] == "expired"
    assert "enduser.id" not in spans["refused"]


def test_key_fetch_instruments() -> None:
    with Issuer(audience="https://api.example.com") as iss:
        Verifier(issuer=iss.issuer, audience=iss.audience).verify(iss.token())
    ok = [p for p in _points("bearerguard.keys.fetches") if p.attributes["outcome"] == "ok"]
    assert ok and ok[0].value >= 1
    assert sum(p.count for p in _points("bearerguard.keys.fetch.duration")) >= 1


def test_instrument_table_is_complete() -> None:
    assert [i[0] for i in INSTRUMENTS] == [
        "bearerguard.requests",
        "bearerguard.decision.duration",
        "bearerguard.keys.fetches",
        "bearerguard.keys.fetch.duration",
        "bearerguard.introspection.duration",
    ]
    assert time.perf_counter() > 0


def test_warm_loads_keys_before_the_first_request(caplog: pytest.LogCaptureFixture) -> None:
    # Issue #19 §3: no cold first request; a readiness check tells when keys are there.
    with Issuer(audience="https://api.example.com") as iss:
        v = Verifier(issuer=iss.issuer, audience=iss.audience)
        assert not v.ready()
        v.warm()
        deadline = time.monotonic() + 5
        while not v.ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert v.ready()
        assert iss.jwks_fetches == 1
        v.verify(iss.token())
        assert iss.jwks_fetches == 1  # the first request did not fetch


def test_warm_never_fails_when_the_issuer_is_down() -> None:
    v = Verifier(issuer="http://127.0.0.1:9/", audience="https://api.example.com")
    v.warm()  # returns at once; the background attempts log and give up
    assert not v.ready()
