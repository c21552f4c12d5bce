"""``bearerguard doctor``: why would this token be accepted or refused?

:func:`diagnose` runs every check :meth:`Verifier.verify` makes, in the same order and with
the core's own functions (base64url/JSON parsing, key-set parsing and selection, key
verifiers, the claim checks of :mod:`bearerguard.claims`), and records for each one what
was expected, what the token holds and a hint for the provider at hand. The **verdict** is
not the doctor's: it is what a :class:`Verifier` built from the same settings decides
(its ``verify``, then ``authorize`` for ``--scope``), so the two can never disagree; when the
step-by-step reading differs from it, the report says so.

The token is never sent anywhere (only the issuer's metadata and key set are fetched) and
never printed: :func:`abbreviate` shows its first and last characters at most.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bearerguard._doctor_checks import Run
from bearerguard._doctor_hints import hint
from bearerguard._doctor_report import (
    FAIL,
    PASS,
    SKIP,
    Check,
    Diagnosis,
    abbreviate,
    describe,
    show,
)
from bearerguard.discovery import Fetcher, urllib_fetcher
from bearerguard.errors import BearerError
from bearerguard.requirements import Requirements
from bearerguard.settings import Settings
from bearerguard.verifier import Verifier

__all__ = ["FAIL", "PASS", "SKIP", "Check", "Diagnosis", "abbreviate", "describe", "diagnose"]


def diagnose(
    token: str,
    settings: Settings,
    *,
    requirements: Requirements | None = None,
    clock: Callable[[], float] = time.time,
    fetcher: Fetcher = urllib_fetcher,
    verifier: Verifier | None = None,
) -> Diagnosis:
    """Check *token* against *settings* step by step; the verdict is the verifier's.

    Args:
        token: the access token (never sent anywhere, never stored in the result).
        settings: the app's settings.
        requirements: a route's requirements, checked once the token is accepted.
        clock: seconds since the epoch (both the checks and the verifier use it).
        fetcher: fetches the issuer's metadata and key set.
        verifier: the verifier whose decision is the verdict (default: one built from
            *settings* with *clock*).
    """
    run = Run(token, settings, clock, fetcher)
    formats = settings.tuple_of("token_formats")
    if "opaque" in formats and ("jwt" not in formats or token.count(".") != 2):
        # As Verifier.check_token: this token goes to the introspection endpoint.
        run.report.introspected = True
        run.report.notes.append(
            "BEARERGUARD_TOKEN_FORMATS: the app would introspect this token at the "
            "authorization server (RFC 7662); the doctor never sends a token anywhere, so "
            "it checks it as a JWT only"
        )
    if run.structure():
        run.key_and_signature()
        run.typ()
        run.claims()
    report = run.report
    verifier = verifier or Verifier(settings, clock=clock, token_cache_size=0)
    try:
        access_token = verifier.verify(token)
        if requirements is not None:
            _check_requirements(run, access_token.scopes, requirements)
            verifier.authorize(access_token, requirements)
    except BearerError as err:
        report.verdict, report.status = err.reason, err.status_code
    _reconcile(run)
    if report.verdict == "keys_unavailable" and run.keys_failure is None:
        report.notes.append("the verifier could not fetch the keys (the doctor could)")
    _notes(report)
    return report


#: The rows of the claim checks: a provider preset may decide them otherwise.
CLAIM_ROWS = frozenset(
    {"issuer", "audience", "not an ID token", "claim types", "required claims", "lifetime"}
)


def _reconcile(run: Run) -> None:
    """Make the rows tell the verifier's verdict where a preset's rules differ from the
    plain claim checks (Cognito's audience in ``client_id``, Keycloak's ``account``, …)."""
    report = run.report
    failed = [c for c in report.checks if c.status == FAIL]
    provider = str(getattr(report.settings, "provider", "generic"))
    if report.verdict is None:
        if failed and all(c.name in CLAIM_ROWS for c in failed):
            for c in failed:  # the preset accepts what the plain check refuses
                c.status, c.detail = PASS, f"accepted by the {provider} preset's rules"
                c.reason = c.expected = c.actual = c.hint = None
        return
    if report.verdict in {c.reason for c in failed}:
        return
    first = failed[0] if failed else None
    header, claims = report.header or {}, report.claims or {}
    if first is not None and first.name in CLAIM_ROWS and report.status < 500:
        # The preset names this refusal more precisely than the plain check.
        first.reason = report.verdict
        first.hint = hint(report.verdict, report.settings, header, claims, now=report.now)
        return
    # A rule the steps do not spell out: named by the verifier.
    name, expected, claim = _PRESET_RULES.get(
        report.verdict, ("provider rules", "(see the reason)", None)
    )
    actual = show(claims.get(claim)) if claim else describe(report.verdict)
    run.fail(name, report.verdict, expected, actual)
    row = report.checks.pop()
    same = next((c for c in report.checks if c.name == name), None)
    if same is None:
        report.checks.append(row)
    else:  # the row of that name passed a plain check: the preset's rule fails it
        same.status, same.reason, same.expected, same.actual, same.hint, same.detail = (
            FAIL, row.reason, row.expected, row.actual, row.hint, None,
        )  # fmt: skip


#: reason -> (row, expected, the claim shown as actual) of a preset's own rules.
_PRESET_RULES = {
    "okta_org_server": (
        "custom server",
        "an issuer of a custom authorization server (…/oauth2/<id>)",
        "iss",
    ),
    "tenant_mismatch": ("tenant", "`tid` equal to the tenant in `iss`", "tid"),
    "id_token_presented": (
        "not an ID token",
        "none of the preset's ID-token signs (Entra ID: a `nonce`, no client in azp/appid)",
        None,
    ),
    "invalid_token_type": ("token use", "`token_use` access (Cognito)", "token_use"),
}


def _check_requirements(run: Run, scopes: frozenset[str], req: Requirements) -> None:
    if not req.scopes:
        return
    missing = [s for s in req.scopes if s not in scopes]
    expected, actual = " ".join(req.scopes), " ".join(sorted(scopes)) or "(none)"
    if missing:
        run.fail("scopes", "insufficient_scope", expected, actual, missing=missing)
    else:
        run.ok("scopes", actual)


def _notes(report: Diagnosis) -> None:
    claims = report.claims or {}
    cnf = claims.get("cnf")
    if isinstance(cnf, dict) and "jkt" in cnf:
        report.notes.append(
            "this token is DPoP-bound (cnf.jkt): send it with the DPoP scheme and a proof; "
            "the doctor checks the token, not a proof"
        )
    if report.settings.dpop == "required":
        report.notes.append("BEARERGUARD_DPOP=required: the Bearer scheme is refused")
    if not report.consistent:
        first = report.first_failure
        report.notes.append(
            f"the checks above found {first.reason if first else 'no failure'} first but the "
            f"verifier decided {report.verdict or 'to accept'} (its provider rules may allow "
            "what a plain check refuses): the verdict is the verifier's"
        )
