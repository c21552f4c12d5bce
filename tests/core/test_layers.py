"""The layering is enforced: ``lint-imports`` passes on the tree and fails on a bad import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[2]


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "300"}  # one line per contract
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=src.parent, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("verifier.py", "import flask", "the core imports no framework"),
        ("pipeline.py", "import bearerguard.adapters.flask", "the core imports no framework"),
        ("tokens.py", "import bearerguard.testing.issuer", "the core imports no framework"),
        ("adapters/flask.py", "import bearerguard.adapters.django.conf", "adapters do not import"),
        ("middleware/asgi.py", "import starlette", "the protocol middleware imports no"),
        ("adapters/starlette.py", "import bearerguard.testing", "adapters do not import the test"),
    ],
)
def test_a_forbidden_import_breaks_the_build(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "bearerguard", src / "bearerguard")
    target = src / "bearerguard" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = _lint(src)
    assert result.returncode == 1, result.stdout
    assert "0 broken" not in result.stdout
    # (a core module's bad import also breaks the contracts of everything importing it)
    broken = [ln for ln in result.stdout.splitlines() if " BROKEN" in ln]
    assert any(ln.startswith(contract) for ln in broken), result.stdout
