"""Every Python block of README.md and docs/**/*.md runs, so the docs cannot drift from the code.

Sybil parses each Markdown file; its ```` ```python ```` blocks run in order in one namespace
per file (as a reader pasting them into one session would), with the environment a reader is
told to have: ``BEARERGUARD_ISSUER``, ``BEARERGUARD_AUDIENCE`` and ``BEARERGUARD_JWKS_URI``
pointing at a real test issuer on 127.0.0.1 (the pytest plugin's ``bearerguard_env``).

A block that cannot run here says so in its info string, with the reason:
```` ```python notest="needs a Django project" ````. Blocks in other languages (sh, toml, ini,
text) are not run. The settings and reason-code references are rendered at build time by
``docs/_hooks/reference.py``; the last tests check that they cover every setting and reason.
"""

from __future__ import annotations

import gc
import importlib.util
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sybil import Document
from sybil.parsers.markdown import PythonCodeBlockParser

from bearerguard.errors import DESCRIPTIONS
from bearerguard.settings import FIELDS
from tests.expect import join_started

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# An opening fence and its info string (CommonMark §4.5: three or more backticks or tildes).
FENCE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*)$", re.MULTILINE)
NOTEST = re.compile(r'python notest="(?P<reason>[^"]{12,})"')
PYTHON_WORDS = {"python", "python3", "py", "py3", "pycon", "pyi"}
MAX_EXEMPT = 8  # keep exceptions few: each one is a block the suite cannot vouch for


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _infos(path: Path) -> Iterator[tuple[int, str]]:
    """(line, info string) of every opening fence in *path*."""
    text = path.read_text(encoding="utf-8")
    opened: str | None = None
    for match in FENCE.finditer(text):
        fence, info = match["fence"], match["info"].strip()
        if opened is None:
            opened = fence
            yield text.count("\n", 0, match.start()) + 1, info
        elif fence[0] == opened[0] and len(fence) >= len(opened) and not info:
            opened = None


def _exempt() -> list[tuple[str, int, str]]:
    return [
        (_name(path), line, m["reason"])
        for path in PAGES
        for line, info in _infos(path)
        if (m := NOTEST.fullmatch(info)) is not None
    ]


@pytest.fixture
def _local_names_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The pages' example issuers (https://tenant.example.com/ ...) are never looked up: an
    # adapter built there starts its background key fetch (Verifier.warm), which must fail
    # here at once instead of touching the network.
    lookup = socket.getaddrinfo

    def local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "::1", "localhost", b"127.0.0.1", None):
            raise socket.gaierror(socket.EAI_NONAME, "not looked up in the docs tests")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    yield
    # Before the lookup is put back: let the fetches under way fail, and free the page's
    # verifiers (apps hold cycles), so none is retried later.
    gc.collect()
    for thread in threading.enumerate():
        if thread.name == "bearerguard-jwks-refresh":
            join_started(thread, 10)


@pytest.mark.parametrize("path", PAGES, ids=_name)
@pytest.mark.usefixtures("_local_names_only")
def test_python_blocks_run(path: Path, bearerguard_env: dict[str, str]) -> None:
    document = Document.parse(str(path), PythonCodeBlockParser())
    document.namespace["__name__"] = "docs_" + re.sub(r"\W", "_", path.stem)
    for example in document:
        try:
            example.evaluate()
        except Exception as exc:
            raise AssertionError(f"{_name(path)}, line {example.line}: {exc!r}") from exc


@pytest.mark.parametrize("path", PAGES, ids=_name)
def test_python_blocks_are_run_or_exempt_with_a_reason(path: Path) -> None:
    for line, info in _infos(path):
        words = info.split()
        if not words or words[0].lower() not in PYTHON_WORDS:
            continue
        assert info == "python" or NOTEST.fullmatch(info), (
            f'{_name(path)}, line {line}: a Python block is ```python, or ```python notest="why" '
            f"with a reason, not ```{info}"
        )


def test_exemptions_are_few() -> None:
    exempt = _exempt()
    assert len(exempt) <= MAX_EXEMPT, exempt
    assert not [e for e in exempt if e[0] == "README.md"], "every README block runs"


def _reference_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docs_reference_hook", ROOT / "docs" / "_hooks" / "reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_reference_lists_every_setting() -> None:
    table = _reference_hook().settings_table()
    rows = [line for line in table.splitlines() if line.startswith("| `BEARERGUARD_")]
    assert [row.split("`")[1] for row in rows] == [f.env for f in FIELDS]
    assert "| `BEARERGUARD_LEEWAY` | `leeway` | `60` |" in table
    assert "| `BEARERGUARD_ISSUER` | `issuer` | required |" in table


def test_reason_reference_lists_every_reason_with_its_status() -> None:
    table = _reference_hook().reasons_table()
    rows = {line.split("`")[1]: line for line in table.splitlines() if line.startswith("| `")}
    assert set(rows) == set(DESCRIPTIONS)
    # Statuses from RFC 6750 §3.1 and RFC 9449 §7.1, as DESIGN.md's table gives them.
    assert rows["missing_token"].startswith("| `missing_token` | 401 |")
    assert rows["multiple_tokens"].startswith("| `multiple_tokens` | 400 |")
    assert rows["expired"].startswith("| `expired` | 401 |")
    assert rows["insufficient_scope"].startswith("| `insufficient_scope` | 403 |")
    assert rows["dpop_replayed"].startswith("| `dpop_replayed` | 401 |")
    assert rows["keys_unavailable"].startswith("| `keys_unavailable` | 503 |")


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = [p.relative_to(ROOT / "docs").as_posix() for p in PAGES[1:]]
    assert [p for p in pages if p not in nav] == []
