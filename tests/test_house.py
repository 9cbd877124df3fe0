"""The dependency rule of docs/architecture.md, as import-linter contracts in pyproject.toml.

``scripts/test.sh`` runs ``lint-imports`` on the real tree; these tests show the contracts have
teeth: a copy of the tree with one forbidden import added fails, naming the import.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "probes", "drp", "exporters")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy_tree(dest: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _add_import(tree: Path, module: str, line: str) -> None:
    path = tree / (module.replace(".", "/") + ".py")
    text = path.read_text(encoding="utf-8")
    marker = "from __future__ import annotations\n"
    path.write_text(text.replace(marker, marker + line + "\n", 1), encoding="utf-8")


def test_the_real_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = _lint(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        # the bottom imports nothing of pantau
        (
            "agent.core.clock",
            "import agent.store.database",
            "agent.core is not allowed to import agent.store",
        ),
        # the daemon never imports a command
        (
            "agent.runtime.runner",
            "import agent.cli.main",
            "agent.runtime is not allowed to import agent.cli",
        ),
        # probes and backup sources are independent plug-ins
        ("probes.tcp", "import drp.files", "probes is not allowed to import drp"),
        # the engine does no I/O
        (
            "agent.engine.availability",
            "import sqlite3",
            "agent.engine is not allowed to import sqlite3",
        ),
        # the store knows only the shared vocabulary
        (
            "agent.store.records",
            "import agent.config.models",
            "agent.store is not allowed to import agent.config",
        ),
        # the bottom is standard library only
        ("agent.core.durations", "import pydantic", "agent.core is not allowed to import pydantic"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, line: str, expected: str
) -> None:
    tree = _copy_tree(tmp_path)
    _add_import(tree, module, line)
    result = _lint(tree)
    assert result.returncode != 0
    assert expected in result.stdout, result.stdout
