"""The ``bearerguard doctor`` command: settings as the app reads them, a token, a report.

Registered by the ``bearerguard`` console script (:mod:`bearerguard.testing.cli`); the
checks are in :mod:`bearerguard.doctor`. Exit status: 0 accepted, 1 refused, 2 a
configuration error (bad settings, a Django settings module that does not import, keys
that cannot be fetched: the app would answer 503), no token given, a token the app would
introspect (never sent by the doctor), or an internal error (reported by its type only: a
traceback could quote the token).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import re
import sys
import unicodedata
from collections.abc import Mapping
from typing import Any, TextIO

from bearerguard._doctor_hints import provider_of, relative
from bearerguard._jose import is_number
from bearerguard.doctor import FAIL, PASS, Diagnosis, abbreviate, describe, diagnose
from bearerguard.requirements import Requirements
from bearerguard.settings import SettingError, Settings

__all__ = ["add_parser", "run"]

PREFIX = "BEARERGUARD_"
CONFIG_ERROR = 2
_PREFIXES = re.compile(r"^\s*(authorization\s*:\s*)?((bearer|dpop)\s+)?", re.IGNORECASE)
_SHOWN = ("issuer", "audience", "jwks_uri", "algorithms", "leeway", "token_types",
          "required_claims", "scope_claims", "role_claims", "client_id_claims")  # fmt: skip


class ConfigError(Exception):
    """The settings cannot be read (the message names what is wrong, never a secret)."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``doctor`` subcommand to *sub* (``ArgumentParser.add_subparsers()``)."""
    doc = sub.add_parser(
        "doctor",
        help="explain why a token is accepted or refused, with the app's settings",
        description="Check TOKEN (or stdin) as the app would: print its header and claims and "
        "every check in order, with expected and actual values and hints. The token is never "
        "sent anywhere and never printed. Exit status: 0 accepted, 1 refused, 2 configuration "
        "error (or keys that cannot be fetched).",
    )
    doc.add_argument("token", nargs="?", help="the access token; `-` or absent: read stdin")
    src = doc.add_mutually_exclusive_group()
    src.add_argument(
        "--django-settings",
        metavar="MODULE",
        help="read BEARERGUARD_* from this Django settings module (default: "
        "$DJANGO_SETTINGS_MODULE when set, else the environment)",
    )
    src.add_argument(
        "--env",
        action="store_true",
        help="read the environment even if DJANGO_SETTINGS_MODULE is set",
    )
    for flag, help_text in (
        ("--issuer", "BEARERGUARD_ISSUER (repeat for several)"),
        ("--audience", "BEARERGUARD_AUDIENCE (repeat for several)"),
    ):
        doc.add_argument(flag, action="append", metavar="VALUE", help=help_text)
    for flag in ("--jwks-uri", "--provider", "--algorithms", "--leeway", "--token-types"):
        name = PREFIX + flag[2:].upper().replace("-", "_")
        doc.add_argument(flag, metavar="VALUE", help=name)
    doc.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other setting, e.g. --set BEARERGUARD_REQUIRED_CLAIMS=sub",
    )
    doc.add_argument(
        "--scope", action="append", metavar="SCOPE", help="a scope the route requires (repeat)"
    )
    doc.add_argument("--json", action="store_true", help="print the report as JSON")
    return doc  # type: ignore[no-any-return]


def load_settings(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[Settings, str]:
    """The settings the app would read, with the flags applied; and where they came from."""
    module = None if args.env else args.django_settings or environ.get("DJANGO_SETTINGS_MODULE")
    if module:
        mapping = _django_settings(module)
        source = f"Django settings module {module}"
    else:
        mapping = {k: v for k, v in environ.items() if k.startswith(PREFIX)}
        source = "the environment"
    flags: dict[str, Any] = {}
    for name in ("issuer", "audience"):
        if getattr(args, name):
            flags[PREFIX + name.upper()] = ",".join(getattr(args, name))
    for name in ("jwks_uri", "provider", "algorithms", "leeway", "token_types"):
        if getattr(args, name) is not None:
            flags[PREFIX + name.upper()] = getattr(args, name)
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set expects NAME=VALUE, got {name or item!r}")
        name = name.strip().upper()
        flags[name if name.startswith(PREFIX) else PREFIX + name] = value
    if flags:
        source += " and flags"
    try:
        return Settings.from_mapping({**mapping, **flags}), source
    except SettingError as exc:
        raise ConfigError(str(exc)) from None


def _django_settings(module: str) -> dict[str, Any]:
    # As manage.py runs: the project's folder is importable.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # any failure of the user's module is a configuration error
        raise ConfigError(
            f"cannot import the Django settings module {module!r} ({type(exc).__name__})"
        ) from None
    # What bearerguard's Django adapter reads: every BEARERGUARD_* setting.
    return {name: getattr(mod, name) for name in dir(mod) if name.startswith(PREFIX)}


def read_token(value: str | None, stdin: TextIO) -> tuple[str, bool]:
    """The token from *value* or stdin (``-`` or absent), without an ``Authorization``
    header's ``Bearer``/``DPoP`` prefix; and whether a prefix was removed."""
    if value is None or value == "-":
        if stdin.isatty():
            print("Paste the token, then press Ctrl-D:", file=sys.stderr)
        value = stdin.read()
    text = value.strip()
    prefix = _PREFIXES.match(text)
    stripped = bool(prefix and prefix.group(0))
    return (text[prefix.end() :].strip() if prefix else text), stripped


def run(
    args: argparse.Namespace,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run ``bearerguard doctor``; return the exit status."""
    out = stdout or sys.stdout
    try:
        settings, source = load_settings(args, os.environ if environ is None else environ)
        requirements = (
            Requirements(scopes=[s for x in args.scope for s in x.split()]) if args.scope else None
        )
    except (ConfigError, ValueError) as exc:
        print(f"bearerguard doctor: configuration error: {exc}", file=sys.stderr)
        return CONFIG_ERROR
    token, stripped = read_token(args.token, stdin or sys.stdin)
    if not token:
        print("bearerguard doctor: no token given (argument or stdin)", file=sys.stderr)
        return CONFIG_ERROR
    try:
        report = diagnose(token, settings, requirements=requirements)
    except Exception as exc:  # never a traceback that could quote the token
        print(f"bearerguard doctor: internal error ({type(exc).__name__})", file=sys.stderr)
        return CONFIG_ERROR
    if stripped:
        report.notes.insert(0, "the Authorization scheme before the token was removed")
    if args.json:
        out.write(json.dumps(as_json(report, token, source), indent=2) + "\n")
    else:
        out.write(render(report, token, source))
    return report.exit_code


def as_json(report: Diagnosis, token: str, source: str) -> dict[str, Any]:
    """The report as a JSON-ready dict (the token abbreviated)."""
    return {
        "token": abbreviate(token),
        "settings_source": source,
        "accepted": report.verdict is None and not report.introspected,
        "introspected": report.introspected,
        "reason": report.verdict,
        "status": report.status,
        "exit_code": report.exit_code,
        "header": report.header,
        "claims": report.claims,
        "jwks_uri": report.jwks_uri,
        "keys": report.keys,
        "checks": [{k: v for k, v in vars(c).items() if v is not None} for c in report.checks],
        "notes": report.notes,
    }


def render(report: Diagnosis, token: str, source: str) -> str:
    """The report as text."""
    s = report.settings
    lines = [f"bearerguard doctor: token {abbreviate(token)}, checked here, sent nowhere", ""]
    lines.append(f"settings (from {source}):")
    for name in _SHOWN:
        value = getattr(s, name, None)
        if value is None and name != "jwks_uri":
            continue  # a setting this version does not have
        shown = ", ".join(value) if isinstance(value, tuple) else str(value)
        if name == "jwks_uri" and value is None:
            shown = "(discovered from the issuer)"
        lines.append(f"  {name:<16}{shown or '(none)'}")
    configured = str(getattr(s, "provider", "generic"))
    looks = provider_of(s, report.claims or {})
    if looks != configured:
        configured += f" (the token looks like {looks}'s)"
    lines.append(f"  {'provider':<16}{configured}")
    if report.jwks_uri:
        lines.append(f"  {'key set':<16}{report.jwks_uri}")
        for key in report.keys:
            lines.append(f"  {'':<16}{key}")
    for title, value in (("header", report.header), ("claims", report.claims)):
        if value is not None:
            lines += ["", f"{title}:"] + [f"  {x}" for x in _pretty(value).splitlines()]
    if report.claims:
        lines += _dates(report.claims, report.now)
    lines += ["", "checks:"]
    for c in report.checks:
        mark = {PASS: "ok  ", FAIL: "FAIL"}.get(c.status, "skip")
        lines.append(f"  {mark}  {c.name:<20}{c.detail or c.reason or ''}")
        if c.status == FAIL:
            lines.append(f"        {'expected:':<10}{c.expected}")
            lines.append(f"        {'actual:':<10}{c.actual}")
            if c.hint:
                lines.append(f"        {'hint:':<10}{c.hint}")
    lines.append("")
    for note in report.notes:
        lines.append(f"note: {note}")
    if report.introspected:
        lines.append("verdict: NOT CHECKED: the app would introspect this token")
    elif report.verdict is None:
        lines.append("verdict: ACCEPTED")
    else:
        what = "REFUSED" if report.status < 500 else "NOT CHECKED: the keys cannot be had"
        lines.append(
            f"verdict: {what} ({report.verdict}: {describe(report.verdict)}; "
            f"the app answers {report.status})"
        )
    return _printable("\n".join(lines)) + "\n"


def _printable(text: str) -> str:
    """*text* with control and format characters escaped (a token's claims could hold
    terminal escape sequences or bidi overrides); line breaks kept."""
    return "".join(
        c if c == "\n" or unicodedata.category(c)[0] != "C" else f"\\u{ord(c):04x}" for c in text
    )


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def _dates(claims: Mapping[str, Any], now: float) -> list[str]:
    lines = []
    for name in ("iat", "nbf", "exp", "auth_time"):
        value = claims.get(name)
        if value is not None and is_number(value):
            when = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
            lines.append(f"  {name}: {when:%Y-%m-%d %H:%M:%S} UTC ({relative(value - now)})")
    return lines
