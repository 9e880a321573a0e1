"""CI regression: the `ci` subset (demo data, ci presets, fixed seeds) against committed golden metrics.

To add a method, add it to CI_METHODS and regenerate the golden file:
    BENCH_UPDATE_GOLDEN=1 python -m pytest -q tests/test_run_regression.py
then review and commit tests/golden/ci_metrics.json. Regenerate too when a change is *meant* to alter
scores (a method's version bump, new demo data) -- and say so in the commit.
"""

import json
import math
import os
from pathlib import Path

import pytest

from bench.runner import WorkerConfig, plan, run_tasks
from bench.store import ResultStore
from protocols import Options

GOLDEN = Path(__file__).parent / "golden" / "ci_metrics.json"
CI_METHODS = {"nss-svr": {}}          # method -> --param overrides on top of its 'ci' preset
CI_PROTOCOLS = ("intra", "cross")
CI_OPTIONS = dict(data="demo", n_splits=3, seeds=(0,))
METRICS = ("srcc", "plcc", "plcc_logistic", "krcc", "rmse")
# Stated tolerance: correlations within 1e-4 absolute, RMSE within 1e-4 relative. CPU runs are
# deterministic, so the slack only absorbs BLAS/libm rounding across machines.
DEFAULT_TOLERANCE = {"abs": 1e-4, "rmse_rel": 1e-4}


def label(rec) -> str:
    return (f"{rec['protocol']} {rec['method']}[{rec['variant']}] {rec['train_dataset']}->{rec['test_dataset']} "
            f"split={rec['split_index']} seed={rec['seed']}")


def feature_cache() -> str:
    """Per-image caches shared by this session's tests (keyed by file and parameters, so always valid)."""
    return os.path.join(os.environ["BENCH_CACHE"], "test-method-cache")


def run_ci_subset(out: Path, backend: str = "sequential") -> list[dict]:
    store = ResultStore(out)
    cfg = WorkerConfig(out=str(out), cache_dir=feature_cache())
    for protocol in CI_PROTOCOLS:
        tasks = plan(protocol, list(CI_METHODS), Options(**CI_OPTIONS), preset="ci", param_overrides=CI_METHODS)
        summary = run_tasks(tasks, store, cfg, backend=backend, progress=False)
        assert summary.failed == 0, [f["error"] for f in summary.failures]
    return list(store.iter_results())


def compare(records: list[dict], golden: dict) -> list[str]:
    """Every way the records differ from the golden values, as readable lines (empty: they agree)."""
    problems = []
    cells = golden["cells"]
    seen = set()
    for rec in records:
        name = label(rec)
        seen.add(name)
        want = cells.get(name)
        if want is None:
            problems.append(f"{name}: no golden values (new method or cell? regenerate: see this file's docstring)")
            continue
        tol = {**DEFAULT_TOLERANCE, **golden.get("tolerance", {}), **golden.get("method_tolerance", {}).get(rec["method"], {})}
        for metric in METRICS:
            got, exp = rec["metrics"].get(metric), want["metrics"].get(metric)
            if got is None or exp is None:
                if got != exp:
                    problems.append(f"{name}: {metric} = {got}, golden {exp}")
                continue
            allowed = tol["rmse_rel"] * abs(exp) if metric == "rmse" else tol["abs"]
            if not math.isclose(got, exp, rel_tol=0.0, abs_tol=allowed):
                problems.append(f"{name}: {metric} = {got:.6f}, golden {exp:.6f} (tolerance {allowed:.1e})")
        if rec["train_revision"] != want["train_revision"]:
            problems.append(f"{name}: demo data changed (revision {rec['train_revision']} != {want['train_revision']})")
    missing = sorted(set(cells) - seen)
    problems.extend(f"{name}: golden cell not produced" for name in missing)
    return problems


def golden_from(records: list[dict]) -> dict:
    return {
        "about": "metrics of the ci subset (tests/test_run_regression.py); regenerate with BENCH_UPDATE_GOLDEN=1",
        "tolerance": DEFAULT_TOLERANCE,
        "method_tolerance": {},
        "cells": {label(r): {"metrics": {m: r["metrics"].get(m) for m in METRICS}, "params": r["params"],
                             "train_revision": r["train_revision"], "method_version": r["method_version"]}
                  for r in sorted(records, key=label)},
    }


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory, demo_cache):
    out = tmp_path_factory.mktemp("ci") / "runs"
    return out, run_ci_subset(out)


def test_ci_subset_matches_golden_values(ci_run):
    _, records = ci_run
    assert len(records) == len(CI_METHODS) * 2 * (2 * 3)       # 2 protocols x 2 (pairs|datasets) x 3 splits
    if os.environ.get("BENCH_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden_from(records), indent=1, sort_keys=True) + "\n")
        pytest.skip(f"golden values written to {GOLDEN}: review and commit them")
    assert GOLDEN.is_file(), "no golden file: run BENCH_UPDATE_GOLDEN=1 python -m pytest tests/test_run_regression.py"
    problems = compare(records, json.loads(GOLDEN.read_text()))
    assert not problems, "ci regression:\n" + "\n".join(problems)


def test_the_regression_check_catches_a_broken_method(ci_run, tmp_path, monkeypatch):
    """Break nss-svr on purpose (a wrong RBF kernel width) and the comparison must fail."""
    import methods.classical as classical

    if not GOLDEN.is_file():
        pytest.skip("no golden file yet")
    out = tmp_path / "runs"                                    # image features come from the shared cache
    real_rbf = classical._rbf
    monkeypatch.setattr(classical, "_rbf", lambda a, b, gamma: real_rbf(a, b, gamma * 3))
    problems = compare(run_ci_subset(out), json.loads(GOLDEN.read_text()))
    assert len(problems) >= 6 and all("golden" in p for p in problems)
