"""The layers of pyproject.toml's import-linter contracts, and no private name imported across
packages (import-linter checks private modules; this checks private functions and classes)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("experiments", "models", "geo", "manifolds")


def test_import_linter_contracts_hold():
    done = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def _private_imports(path: Path) -> list[str]:
    package = path.relative_to(ROOT).parts[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            source = node.module.split(".")[0]
            if source in PACKAGES and source != package:
                found += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_")
                ]
    return found


def test_no_private_name_is_imported_from_another_package():
    files = [p for pkg in (*PACKAGES, "benchmarks") for p in (ROOT / pkg).rglob("*.py")]
    found = [hit for path in files for hit in _private_imports(path)]
    assert not found, "\n".join(found)
