"""The layer rules are checked by tools, not prose: import-linter's contracts (pyproject.toml,
[tool.importlinter]) on the project, that they catch a violation, and ruff's lint and format checks.
(The no-heavy-imports rule: tests/test_run_protocols.py::test_run_layer_modules_and_listings_import_nothing_heavy.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("importlinter")
    return subprocess.run([sys.executable, "-c", LINT], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold():
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout and "5 kept" in out.stdout


@pytest.mark.parametrize(
    "imports,broken",
    [
        ({"bench.records": "methods.base"}, "bench.records -> methods.base"),  # the core reaching up
        ({"bench.records": "bench.cells", "bench.cells": "bench.records"}, "No cycles are allowed in bench"),
    ],
)
def test_import_contracts_catch_a_violation(tmp_path, imports, broken):
    """The same contracts on an empty skeleton of the project with one violation (inside a function): broken."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    modules = {
        m for c in config["contracts"] for key in ("source_modules", "forbidden_modules") for m in c.get(key, ())
    }
    for name in modules | set(config["root_packages"]):
        pkg = tmp_path.joinpath(*name.split("."))
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").touch()
    (tmp_path / "methods" / "base.py").write_text("")
    for importer, imported in imports.items():
        tmp_path.joinpath(*importer.split("."), "__init__.py").write_text(f"def f():\n    import {imported}\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    out = _lint_imports(tmp_path)
    assert out.returncode != 0
    assert broken in out.stdout and "1 broken" in out.stdout


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = pytest.importorskip("ruff.__main__")
    return subprocess.run([ruff.find_ruff_bin(), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check_is_clean():
    out = _ruff("check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr


def test_ruff_format_is_clean():
    out = _ruff("format", "--check", "--no-cache", ".")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr


def test_no_private_names_cross_modules():
    """A module of bench/, methods/, protocols/ or reports/ imports only public names of the project's other
    modules (what is shared is public: e.g. pyiqa_zeroshot's weight sources, losses.std_normal_cdf)."""
    import ast

    found = []
    for pkg in ("bench", "methods", "protocols", "reports"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.ImportFrom)
                    and node.module
                    and node.level == 0
                    and node.module.split(".")[0] in ("bench", "methods", "protocols", "reports")
                ):
                    found += [
                        f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{a.name}"
                        for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")
                    ]
    assert not found, "private names imported across modules:\n" + "\n".join(found)
