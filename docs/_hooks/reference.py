"""MkDocs hook: the settings and reason-code references, rendered from the code at build time.

A page holding the marker ``<!-- bearerguard:settings -->`` gets the table of
:data:`bearerguard.settings.FIELDS` (the one place a setting is defined); one holding
``<!-- bearerguard:reasons -->`` gets :data:`bearerguard.errors.DESCRIPTIONS` with each
reason's status, read from the status comment that heads its group in ``errors.py``. Nothing
here is a copy: a setting or reason added to the code shows up in the next build, and a
reason without a status group fails the build.

The docstrings are written with Sphinx roles (``:class:`~bearerguard.Verifier```), which
Markdown shows as text: :func:`on_page_content` turns each into a cross-reference that
mkdocs-autorefs resolves (or, for a name the reference does not document, plain code).
"""

from __future__ import annotations

import html
import inspect
import re
from typing import Any

SETTINGS_MARKER = "<!-- bearerguard:settings -->"
INSTRUMENTS_MARKER = "<!-- bearerguard:instruments -->"
REASONS_MARKER = "<!-- bearerguard:reasons -->"
# "    # 401 invalid_token: introspection (RFC 7662)" heads the reasons that follow it.
_GROUP = re.compile(r"^\s*#\s*(?P<status>[1-5]\d\d)\b\s*(?P<what>.*)$")
_REASON = re.compile(r'^\s*"(?P<reason>[a-z0-9_]+)"\s*:')


# ":class:<code>~bearerguard.Verifier</code>", as a role followed by a code span renders.
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|mod|attr|exc|obj|const):<code>(.*?)</code>")
_TITLED = re.compile(r"(?P<title>.*?)\s*<(?P<target>[^<>]+)>$")


def _role(match: re.Match[str]) -> str:
    text = html.unescape(match[1]).strip()
    titled = _TITLED.fullmatch(text)
    if titled is not None:
        title, target = titled["title"], titled["target"]
    else:
        target = text.lstrip(".")
        title = target.lstrip("~")
        if target.startswith("~"):
            target, title = target[1:], target.rsplit(".", 1)[-1]
    target = target.lstrip("~.")
    # A bare name (":class:`BearerError`") is most often re-exported by the package.
    slug = f' slug="{html.escape(target)}"' if "." not in target else ""
    identifier = f"bearerguard.{target}" if slug else target
    return (
        f'<autoref identifier="{html.escape(identifier)}"{slug} optional>'
        f"<code>{html.escape(title)}</code></autoref>"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(field: Any) -> str:
    if field.shown is not None:
        return _cell(field.shown)
    value = field.default
    if value is None or value == ():
        return "none"
    if isinstance(value, tuple):
        value = ",".join(value)
    if isinstance(value, bool):
        value = "on" if value else "off"
    return f"`{_cell(str(value))}`"


def settings_table() -> str:
    """The Markdown table of every setting: env name, keyword, default, description."""
    from bearerguard.settings import FIELDS

    rows = [
        "| setting | keyword | default | meaning |",
        "|---|---|---|---|",
    ]
    for f in FIELDS:
        secret = " (secret: never shown in a repr)" if f.secret else ""
        rows.append(f"| `{f.env}` | `{f.name}` | {_default(f)} | {_cell(f.description)}{secret} |")
    return "\n".join(rows)


def reason_statuses() -> dict[str, tuple[int, str]]:
    """reason -> (status, group) as ``errors.DESCRIPTIONS`` groups them in the source."""
    from bearerguard import errors

    source = inspect.getsource(errors)
    start = source.index("DESCRIPTIONS: dict[str, str] = {")
    end = source.index("\n}\n", start)
    status, what, out = None, "", {}
    for line in source[start:end].splitlines()[1:]:
        group = _GROUP.match(line)
        if group is not None:
            status, what = int(group["status"]), group["what"].strip()
            continue
        reason = _REASON.match(line)
        if reason is not None:
            if status is None:
                raise ValueError(f"reason {reason['reason']!r} has no status comment above it")
            out[reason["reason"]] = (status, what)
    missing = set(errors.DESCRIPTIONS) - set(out)
    if missing:
        raise ValueError(f"reasons without a status group in errors.py: {sorted(missing)}")
    return out


def reasons_table() -> str:
    """The Markdown table of every reason code: status, group, fixed description."""
    from bearerguard.errors import DESCRIPTIONS

    statuses = reason_statuses()
    rows = ["| reason | status | error / kind | description |", "|---|---|---|---|"]
    for reason, description in DESCRIPTIONS.items():
        status, what = statuses[reason]
        if not what and status == 503:
            what = "no challenge; `Retry-After`"
        rows.append(f"| `{reason}` | {status} | {_cell(what) or ' '} | {_cell(description)} |")
    return "\n".join(rows)


def instruments_table() -> str:
    """The Markdown table of the OpenTelemetry instruments (``bearerguard.observe``)."""
    from bearerguard.observe import INSTRUMENTS

    rows = ["| instrument | kind | unit | what it measures |", "|---|---|---|---|"]
    for name, kind, unit, description in INSTRUMENTS:
        rows.append(f"| `{name}` | {kind} | `{unit}` | {_cell(description)} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """MkDocs event: replace the markers by the generated tables."""
    if INSTRUMENTS_MARKER in markdown:
        markdown = markdown.replace(INSTRUMENTS_MARKER, instruments_table())
    if SETTINGS_MARKER in markdown:
        markdown = markdown.replace(SETTINGS_MARKER, settings_table())
    if REASONS_MARKER in markdown:
        markdown = markdown.replace(REASONS_MARKER, reasons_table())
    return markdown


def on_page_content(html_text: str, **kwargs: Any) -> str:
    """MkDocs event: Sphinx roles in rendered docstrings become cross-references."""
    # reST's "Example::" introduces a literal block; in Markdown the block is code already.
    return _ROLE.sub(_role, html_text).replace("::</p>", ":</p>")
