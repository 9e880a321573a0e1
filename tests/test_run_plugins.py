"""Methods from outside the package: a file, a module, an entry point; the documented example end to end."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from bench.cli import main
from bench.results.store import ResultStore
from protocols import Options

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "sharpness_ridge.py"
EXAMPLE_TARGET = "docs/examples/sharpness_ridge.py:SharpnessRidge"

TINY = """
from dataclasses import dataclass
import numpy as np
from methods.base import Method


@dataclass
class P:
    offset: float = 0.0


class {cls}(Method):
    name = "{name}"
    version = "3"
    trains = {trains}
    Params = P

    def fit(self, train, val=None):
        self.mean = float(train.scores.mean())

    def predict(self, images):
        # the records' levels (demo sets: 1..4): a real, data-dependent prediction
        return -np.asarray([r.level or 0 for r in images.records], dtype=float) + self.params.offset
"""


def cli(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_the_documented_example_is_the_file():
    doc = (ROOT / "docs" / "ADDING_A_METHOD.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert EXAMPLE.read_text() in blocks


def test_the_documented_example_runs_on_demo_data(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # exactly the command of docs/ADDING_A_METHOD.md
    rc, out, err = cli(
        capsys,
        "run",
        "--protocol",
        "intra",
        "--method",
        EXAMPLE_TARGET,
        "--data",
        "demo",
        "--splits",
        "1",
        "--preset",
        "ci",
        "--out",
        str(tmp_path / "runs"),
        "--no-progress",
    )
    assert rc == 0, err
    records = list(ResultStore(tmp_path / "runs").iter_results())
    assert {r["test_dataset"] for r in records} == {"demo-a", "demo-b"}
    for r in records:
        assert r["method"] == "sharpness-ridge" and r["method_version"] == "1" and r["params"]["max_side"] == 64
        assert r["method_source"] == f"{EXAMPLE.resolve()}:SharpnessRidge"
        assert -1.0 <= r["metrics"]["srcc"] <= 1.0 and r["n_train"] > 0
    assert "sharpness-ridge" in out


def test_file_plugin_keys_do_not_depend_on_how_the_path_is_written(tmp_path, monkeypatch):
    from bench.run.planning import plan

    monkeypatch.chdir(ROOT)
    rel = plan("intra", [EXAMPLE_TARGET], Options(data="demo"), preset="ci", check_weights=False)
    monkeypatch.chdir(tmp_path)
    absolute = plan("intra", [f"{EXAMPLE}:SharpnessRidge"], Options(data="demo"), preset="ci", check_weights=False)
    assert [t.key for t in rel] == [t.key for t in absolute] and len(rel) == 20
    assert all(
        t.cell.method == "sharpness-ridge" and t.method_target == f"{EXAMPLE.resolve()}:SharpnessRidge" for t in rel
    )


def test_module_plugin_runs_in_loky_workers(tmp_path, capsys, monkeypatch):
    pkg = tmp_path / "my_iqa_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "levels.py").write_text(TINY.format(cls="Levels", name="levels", trains=True))
    # workers that started before the package was on the path (joblib reuses its loky pool): the
    # planner's import folder must travel with the cells, as PYTHONPATH is not re-read by a live worker
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "intra",
        "--method",
        "noop",
        "--data",
        "demo",
        "--datasets",
        "demo-a",
        "--splits",
        "2",
        "--jobs",
        "2",
        "--out",
        str(tmp_path / "warm"),
        "--no-progress",
    )
    assert rc == 0, err
    monkeypatch.syspath_prepend(str(tmp_path))
    rc, out, err = cli(
        capsys,
        "run",
        "--protocol",
        "intra",
        "--method",
        "my_iqa_pkg.levels:Levels",
        "--data",
        "demo",
        "--datasets",
        "demo-a",
        "--splits",
        "2",
        "--jobs",
        "2",
        "--param",
        "offset=1.5",
        "--out",
        str(tmp_path / "runs"),
        "--no-progress",
    )
    assert rc == 0, err
    recs = list(ResultStore(tmp_path / "runs").iter_results())
    assert len(recs) == 2 and all(r["method"] == "levels" and r["params"] == {"offset": 1.5} for r in recs)
    # distortion level predicts the pseudo-MOS of the demo set well: the prediction really ran
    assert all(r["metrics"]["srcc"] > 0.5 for r in recs)


def test_entry_point_plugin(tmp_path, capsys, monkeypatch):
    from methods import registry

    site = tmp_path / "site"
    (site / "ep_iqa").mkdir(parents=True)
    (site / "ep_iqa" / "__init__.py").write_text(TINY.format(cls="EpLevels", name="ep-levels", trains=False))
    dist = site / "ep_iqa-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-iqa\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\nep-levels = ep_iqa:EpLevels\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", str(site))
    assert "ep-levels" in registry.names()
    assert registry.get_method("ep-levels").__name__ == "EpLevels"
    rc, out, err = cli(capsys, "methods")
    assert rc == 0 and re.search(r"^ep-levels\s+native\s+no\s+yes", out, re.M), out
    rc, out, err = cli(
        capsys,
        "run",
        "--protocol",
        "intra",
        "--method",
        "ep-levels",
        "--data",
        "demo",
        "--datasets",
        "demo-b",
        "--splits",
        "1",
        "--out",
        str(tmp_path / "runs"),
        "--no-progress",
    )
    assert rc == 0, err
    (rec,) = ResultStore(tmp_path / "runs").iter_results()
    assert rec["method"] == "ep-levels" and "method_source" not in rec and rec["n_train"] == 0


@pytest.mark.parametrize(
    "body, target, expected",
    [
        (None, "missing_file.py:X", "does not exist"),
        ("class X: pass\n", "{file}:Y", "defines no 'Y' (classes there: X)"),
        ("class X: pass\n", "{file}:X", "is not a subclass of methods.base.Method"),
        ("from methods.base import Method\nclass X(Method): pass\n", "{file}:X", "set the class attribute name"),
        (
            "from methods.base import Method\nclass X(Method):\n    name = 'mpiqe'\n",
            "{file}:X",
            "is a built-in method's",
        ),
        (None, "no_such_pkg_zz.mod:X", "no module 'no_such_pkg_zz'"),
        (None, "file.py:", "expected 'package.module:ClassName'"),
    ],
)
def test_plugin_errors_name_the_problem(tmp_path, monkeypatch, body, target, expected):
    from methods.plugins import PluginError
    from methods.registry import get_method

    monkeypatch.chdir(tmp_path)
    file = tmp_path / f"plug_{abs(hash((body, target))) % 10**8}.py"
    if body is not None:
        file.write_text(textwrap.dedent(body))
    with pytest.raises(PluginError) as err:
        get_method(target.format(file=file))
    assert expected in str(err.value)


def test_two_values_naming_one_method_are_refused(tmp_path, monkeypatch):
    from bench.core.errors import RunError
    from bench.run.planning import plan

    monkeypatch.chdir(ROOT)
    with pytest.raises(RunError, match="both named 'sharpness-ridge'"):
        plan(
            "intra",
            [EXAMPLE_TARGET, f"{EXAMPLE}:SharpnessRidge"],
            Options(data="demo"),
            preset="ci",
            check_weights=False,
        )


def test_param_names_a_plugin_by_its_name_or_its_location(monkeypatch):
    from bench.cli.commands.run import parse_params

    monkeypatch.chdir(ROOT)
    assert parse_params(["sharpness-ridge.alpha=0.1"], (EXAMPLE_TARGET, "nss-svr")) == {
        EXAMPLE_TARGET: {"alpha": 0.1},
        "nss-svr": {},
    }
    assert parse_params([f"{EXAMPLE_TARGET}.max_side=32"], (EXAMPLE_TARGET,)) == {EXAMPLE_TARGET: {"max_side": 32}}
