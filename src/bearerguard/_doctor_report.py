"""The report of ``bearerguard doctor``: checks, the diagnosis, and how checks are recorded."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from bearerguard._doctor_hints import hint
from bearerguard.claims import ClaimRules
from bearerguard.discovery import Fetcher
from bearerguard.errors import DESCRIPTIONS
from bearerguard.settings import HMAC_ALGORITHMS, Settings

__all__ = [
    "FAIL",
    "PASS",
    "SKIP",
    "Check",
    "Diagnosis",
    "Recorder",
    "abbreviate",
    "describe",
    "show",
]

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclasses.dataclass
class Check:
    """One named check: ``pass``, ``fail`` (with its reason code) or ``skip``."""

    name: str
    status: str
    reason: str | None = None
    expected: str | None = None
    actual: str | None = None
    hint: str | None = None
    detail: str | None = None


@dataclasses.dataclass
class Diagnosis:
    """What :func:`diagnose` found.

    ``verdict`` is ``None`` when the verifier accepts the token, else the reason code of
    its refusal; ``status`` the HTTP status the app would answer (200 when accepted);
    ``exit_code`` 0 (accepted), 1 (refused) or 2 (the keys cannot be had: configuration).
    """

    settings: Settings
    length: int
    header: dict[str, Any] | None = None
    claims: dict[str, Any] | None = None
    checks: list[Check] = dataclasses.field(default_factory=list)
    keys: list[str] = dataclasses.field(default_factory=list)
    jwks_uri: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    verdict: str | None = None
    status: int = 200
    now: float = 0.0
    #: the app would introspect this token (RFC 7662), which the doctor never does
    introspected: bool = False

    @property
    def first_failure(self) -> Check | None:
        """The first failed check (what the verifier should refuse the token for)."""
        return next((c for c in self.checks if c.status == FAIL), None)

    @property
    def consistent(self) -> bool:
        """Whether the step-by-step checks agree with the verifier's verdict."""
        first = self.first_failure
        return (first.reason if first else None) == self.verdict

    @property
    def exit_code(self) -> int:
        """0 accepted, 1 refused, 2 keys unavailable (a configuration or network problem)
        or a token the app would introspect (not judged here)."""
        if self.introspected:
            return 2
        if self.verdict is None:
            return 0
        return 2 if self.status >= 500 else 1


def abbreviate(token: str) -> str:
    """At most the first 8 and last 4 characters of *token*, never the whole of it."""
    if len(token) < 40:
        return f"({len(token)} characters)"
    return f"{token[:8]}…{token[-4:]} ({len(token)} characters)"


def describe(reason: str) -> str:
    """The fixed description of a reason code."""
    return DESCRIPTIONS.get(reason, reason)


def show(value: Any) -> str:
    """A claim or header value as the report prints it."""
    if value is None:
        return "(absent)"
    if isinstance(value, str):
        return repr(value) if value.strip() != value or not value else value
    return json.dumps(value, ensure_ascii=False)


class Recorder:
    """The state of one diagnosis, and how its checks are recorded."""

    def __init__(
        self,
        token: str,
        settings: Settings,
        clock: Callable[[], float],
        fetcher: Fetcher,
    ) -> None:
        self.token = token
        self.s = settings
        self.rules = ClaimRules(settings, clock)
        self.fetcher = fetcher
        self.report = Diagnosis(settings=settings, length=len(token), now=clock())
        self.algorithms = frozenset(settings.tuple_of("algorithms"))
        secret = settings.shared_secret
        self.hmac = isinstance(secret, bytes) and bool(HMAC_ALGORITHMS & self.algorithms)
        self.signing_input = b""
        self.signature = b""
        self.keys_failure: str | None = None

    # -- recording -------------------------------------------------------------------------
    def ok(self, name: str, detail: str | None = None) -> None:
        self.report.checks.append(Check(name, PASS, detail=detail))

    def skip(self, name: str, detail: str) -> None:
        self.report.checks.append(Check(name, SKIP, detail=detail))

    def fail(self, name: str, reason: str, expected: str, actual: str, **extra: Any) -> None:
        r = self.report
        text = hint(reason, self.s, r.header or {}, r.claims or {}, now=r.now, **extra)
        r.checks.append(Check(name, FAIL, reason, expected, actual, text))
