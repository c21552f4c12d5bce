"""What an operator sees: log records, OpenTelemetry metrics and span attributes, hooks.

* Logs: one ``logging`` tree — ``bearerguard`` (refusals, at INFO), ``bearerguard.keys``
  (key-set fetches, rotations, failures, stale keys), ``bearerguard.introspection``. Silent
  by default beyond WARNING (a ``NullHandler`` on the root of the tree). A refusal is one
  record whose ``extra`` fields are ``bearerguard_reason``, ``bearerguard_status``,
  ``bearerguard_scheme``, ``bearerguard_path`` and, only for a verified token (403),
  ``bearerguard_issuer``, ``bearerguard_client_id``, ``bearerguard_subject``,
  ``bearerguard_kid``. Never a token, a proof, a secret, or any unverified claim.
* Metrics (``pip install 'bearerguard[otel]'``: ``opentelemetry-api`` only, a no-op until the
  app installs an SDK): see :data:`INSTRUMENTS`. Span attributes go on the current span.
* Hooks for teams without OpenTelemetry: ``Verifier(on_refusal=…, on_success=…)``.

Zero cost when unused: the verifier wraps its ``decide`` only when a hook is given or
telemetry is asked for (``Verifier(telemetry=True)``); otherwise the request path is
untouched. Log records cost nothing on accepted requests either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bearerguard.errors import BearerError

if TYPE_CHECKING:
    from bearerguard.pipeline import Decision
    from bearerguard.tokens import AccessToken

__all__ = ["INSTRUMENTS", "Observer", "RefusalHook", "SuccessHook", "logger"]

logger = logging.getLogger("bearerguard")
logger.addHandler(logging.NullHandler())  # the app decides where records go

RefusalHook = Callable[[BearerError, Mapping[str, Any]], object]
SuccessHook = Callable[["AccessToken"], object]

#: OpenTelemetry instruments (name, kind, unit, description), following the semantic
#: conventions' naming (dot-separated, unit in the unit field).
INSTRUMENTS: tuple[tuple[str, str, str, str], ...] = (
    ("bearerguard.requests", "counter", "{request}",
     "Requests decided, by outcome (accepted, anonymous, refused), reason and scheme"),
    ("bearerguard.decision.duration", "histogram", "s",
     "Time to decide a request (extraction, verification, requirements)"),
    ("bearerguard.keys.fetches", "counter", "{fetch}",
     "Key-set fetches, by outcome (ok, failed)"),
    ("bearerguard.keys.fetch.duration", "histogram", "s", "Duration of key-set fetches"),
    ("bearerguard.introspection.duration", "histogram", "s",
     "Duration of introspection calls (RFC 7662)"),
)  # fmt: skip


def _meter() -> Any | None:
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        return None
    return metrics, trace


class Observer:
    """Logs, metrics, span attributes and hooks around one verifier's decisions.

    Args:
        on_refusal: called with the refusal and its log fields for every refused request.
        on_success: called with the accepted token for every authenticated request.
        telemetry: record OpenTelemetry metrics and span attributes (needs
            ``opentelemetry-api``; opt-in, because FastAPI installs the API anyway and an
            unconfigured API still costs a call per request).
        enduser_id: put the token's subject in the span attribute ``enduser.id``.
    """

    def __init__(
        self,
        *,
        on_refusal: RefusalHook | None = None,
        on_success: SuccessHook | None = None,
        telemetry: bool = False,
        enduser_id: bool = False,
    ) -> None:
        self.on_refusal, self.on_success, self.enduser_id = on_refusal, on_success, enduser_id
        otel = _meter() if telemetry else None
        if telemetry and otel is None:
            raise ValueError("telemetry needs opentelemetry-api: pip install 'bearerguard[otel]'")
        self._trace: Any = None
        self._requests: Any = None
        self._duration: Any = None
        if otel is not None:
            metrics, self._trace = otel
            meter = metrics.get_meter("bearerguard")
            self._requests = meter.create_counter(
                INSTRUMENTS[0][0], unit=INSTRUMENTS[0][2], description=INSTRUMENTS[0][3]
            )
            self._duration = meter.create_histogram(
                INSTRUMENTS[1][0], unit=INSTRUMENTS[1][2], description=INSTRUMENTS[1][3]
            )

    @property
    def active(self) -> bool:
        """Whether anything watches: else the verifier leaves its request path unwrapped."""
        return bool(self.on_refusal or self.on_success or self._requests is not None)

    def wrap(
        self, decide: Callable[..., Decision], decide_async: Callable[..., Awaitable[Decision]]
    ) -> tuple[Callable[..., Decision], Callable[..., Awaitable[Decision]]]:
        """*decide* and *decide_async*, each reporting its decision."""

        def observed(*args: Any, **kwargs: Any) -> Decision:
            start = time.perf_counter()
            decision = decide(*args, **kwargs)
            self.report(decision, time.perf_counter() - start, kwargs.get("url"))
            return decision

        async def observed_async(*args: Any, **kwargs: Any) -> Decision:
            start = time.perf_counter()
            decision = await decide_async(*args, **kwargs)
            self.report(decision, time.perf_counter() - start, kwargs.get("url"))
            return decision

        return observed, observed_async

    def report(self, decision: Decision, seconds: float, url: Any = None) -> None:
        """Count and call the hooks for one decision."""
        err, token = decision.error, decision.token
        if err is not None:  # (the pipeline has logged it)
            if self.on_refusal is not None:
                self.on_refusal(err, refusal_fields(err, url))
            outcome, reason, scheme = "refused", err.reason, err.scheme
        else:
            if token is not None and self.on_success is not None:
                self.on_success(token)
            outcome = "accepted" if token is not None else "anonymous"
            reason, scheme = "", (token.scheme.lower() if token is not None else "")
        if self._requests is not None:
            attrs = {"outcome": outcome, "reason": reason, "scheme": scheme}
            self._requests.add(1, attrs)
            self._duration.record(seconds, {"outcome": outcome})
            span = self._trace.get_current_span()
            if span.is_recording():
                span.set_attribute("bearerguard.outcome", outcome)
                if reason:
                    span.set_attribute("bearerguard.reason", reason)
                if scheme:
                    span.set_attribute("bearerguard.scheme", scheme)
                if self.enduser_id and token is not None and token.subject:
                    span.set_attribute("enduser.id", token.subject)


def refusal_fields(err: BearerError, url: Any = None) -> dict[str, Any]:
    """The structured fields of a refusal's log record (no token, no unverified claim)."""
    fields: dict[str, Any] = {
        "bearerguard_reason": err.reason,
        "bearerguard_status": err.status_code,
        "bearerguard_scheme": err.scheme,
    }
    path = _path(url)
    if path is not None:
        fields["bearerguard_path"] = path
    token = getattr(err, "token", None)  # set on authorization failures (a verified token)
    if token is not None:
        fields["bearerguard_issuer"] = token.claims.get("iss")
        fields["bearerguard_client_id"] = token.client_id
        fields["bearerguard_subject"] = token.subject
        fields["bearerguard_kid"] = token.header.get("kid")
    return fields


def _path(url: Any) -> str | None:
    try:
        value = url() if callable(url) else url
        return urlsplit(value).path if isinstance(value, str) else None
    except Exception:  # a URL the framework cannot build: the record goes without it
        return None


def key_event(event: str, issuer: str, level: int = logging.INFO, **fields: Any) -> None:
    """A key-set event on ``bearerguard.keys`` (fetched, rotated, refresh failed, stale…)."""
    logging.getLogger("bearerguard.keys").log(
        level,
        "bearerguard: keys %s (%s)",
        event,
        issuer,
        extra={"bearerguard_event": event, "bearerguard_issuer": issuer, **fields},
    )


def histogram(name: str) -> Callable[[float, Mapping[str, str]], None]:
    """A recorder for one of :data:`INSTRUMENTS`' histograms (a no-op without OpenTelemetry)."""
    otel = _meter()
    if otel is None:
        return lambda seconds, attributes: None
    spec = next(i for i in INSTRUMENTS if i[0] == name)
    instrument = (
        otel[0].get_meter("bearerguard").create_histogram(name, unit=spec[2], description=spec[3])
    )
    return lambda seconds, attributes: instrument.record(seconds, dict(attributes))


def counter(name: str) -> Callable[[Mapping[str, str]], None]:
    """An adder for one of :data:`INSTRUMENTS`' counters (a no-op without OpenTelemetry)."""
    otel = _meter()
    if otel is None:
        return lambda attributes: None
    spec = next(i for i in INSTRUMENTS if i[0] == name)
    instrument = (
        otel[0].get_meter("bearerguard").create_counter(name, unit=spec[2], description=spec[3])
    )
    return lambda attributes: instrument.add(1, dict(attributes))
