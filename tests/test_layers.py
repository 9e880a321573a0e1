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
    assert "0 broken" in out.stdout and "4 kept" in out.stdout


def _contract_modules(config: dict) -> set[str]:
    """Every module a contract names: sources, forbidden ones, layers (inside their containers)."""
    names = set(config["root_packages"])
    for c in config["contracts"]:
        names |= set(c.get("source_modules", ())) | set(c.get("forbidden_modules", ()))
        for layer in c.get("layers", ()):
            for part in layer.split("|"):
                for container in c.get("containers", [""]):
                    names.add(f"{container}.{part.strip()}".strip("."))
    return names


@pytest.mark.parametrize(
    "imports,broken",
    [
        # the core reaching up to the methods
        ({"bench.core.records": "methods.base"}, "bench.core.records -> methods.base"),
        # a module nobody listed anywhere, new in the data floor, reaching up to the run floor: its folder decides
        ({"bench.data.brand_new": "bench.run.planning"}, "bench.data.brand_new -> bench.run.planning"),
        # the run floor and reports stand side by side: neither imports the other
        ({"bench.run.planning": "reports.build"}, "bench.run.planning -> reports.build"),
        # a circle inside one floor
        (
            {"bench.core.records": "bench.core.metrics", "bench.core.metrics": "bench.core.records"},
            "No cycles are allowed in bench.core",
        ),
        # the project importing a compatibility re-export instead of the module that owns the name
        ({"bench.run.planning": "bench.records"}, "bench.run.planning -> bench.records"),
        # a new top-level module of bench/ that stands on no floor
        ({"bench.loose_module": "bench.core"}, "bench.loose_module"),
    ],
)
def test_import_contracts_catch_a_violation(tmp_path, imports, broken):
    """The same contracts on an empty skeleton of the project with one violation (inside a function): broken."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for name in _contract_modules(config) | set(imports) | set(imports.values()):
        pkg = tmp_path.joinpath(*name.split("."))
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").touch()
    (tmp_path / "methods" / "base.py").write_text("")
    for importer, imported in imports.items():
        tmp_path.joinpath(*importer.split("."), "__init__.py").write_text(f"def f():\n    import {imported}\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    out = _lint_imports(tmp_path)
    assert out.returncode != 0, out.stdout
    assert broken in out.stdout and "broken" in out.stdout


def test_old_public_names_still_import():
    """Plug-ins and scripts written against the flat bench/ keep working: the names move, the objects are the same."""
    import bench.core.errors as errors
    import bench.core.records as records
    import bench.data.datasets as datasets
    import bench.data.splits as splits
    import bench.run.backends as backends
    import bench.run.execute as execute
    import bench.run.planning as planning
    from bench.datasets import load_dataset
    from bench.errors import BenchError
    from bench.records import DatasetInfo, ImageRecord, ImageSet, Split
    from bench.runner import Task, WorkerConfig, plan, run_tasks
    from bench.splits import Split as SplitFromSplits

    assert (ImageSet, ImageRecord, DatasetInfo, Split) == (
        records.ImageSet,
        records.ImageRecord,
        records.DatasetInfo,
        records.Split,
    )
    assert SplitFromSplits is splits.Split is records.Split
    assert load_dataset is datasets.load_dataset and BenchError is errors.BenchError
    assert (plan, run_tasks, WorkerConfig) == (planning.plan, backends.run_tasks, execute.WorkerConfig)
    assert Task.__module__ == "bench.results.cells"
    # each re-export says where its names now live
    import bench.datasets
    import bench.records
    import bench.runner
    import bench.splits

    for shim, home in (
        (bench.records, "bench.core.records"),
        (bench.splits, "bench.data.splits"),
        (bench.datasets, "bench.data.datasets"),
        (bench.runner, "bench/run/"),
    ):
        assert home in shim.__doc__, shim.__name__


def test_no_module_over_450_lines():
    """Modules are split by role before they grow past 450 lines (the team's rule; issue 27)."""
    long = [
        f"{p.relative_to(ROOT)}: {n}"
        for pkg in ("bench", "methods", "protocols", "reports")
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450
    ]
    assert not long, "modules over 450 lines: " + ", ".join(long)


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
