"""CI regression: the `ci` subset (demo data, ci presets, fixed seeds) against committed golden metrics.

Why it holds on any CPU (issue 19). The ci subset runs with ``--precision float64`` (``REPRODUCIBLE``,
bench/core/numerics.py): every torch tensor of a cell in float64, autocast off, one CPU thread per cell. In float32
the CNN baselines' scores differed by up to 0.02 PLCC between torch's AVX-512 and AVX2 kernels on one machine:
their ci-preset models make nearly constant predictions (two optimizer steps from fake weights), and a metric of
nearly constant predictions magnifies last-bit differences of summation order (vector width, oneDNN vs native
convolutions, MKL code paths). Float64 starts those differences ~1e9 times smaller. Measured across
``ATEN_CPU_CAPABILITY`` default / avx2 / avx512 with ``ONEDNN_MAX_CPU_ISA``, ``MKL_ENABLE_INSTRUCTIONS`` and
``NPY_DISABLE_CPU_FEATURES`` to match (tests/test_run_regression_kernels.py, on an Intel Xeon with AVX-512): the
largest spread was 2.8e-9 (PLCC), 1.0e-9 (PLCC logistic), 1.6e-10 (RMSE, relative), 0 (SRCC, KRCC).

That was not enough across machines: the golden file written on that Xeon failed on an AMD EPYC (AVX2) by up to
5.0e-5 PLCC (unique), 1.8e-6 (paq2piq), 4.1e-5 PLCC and 2.6e-3 KRCC (nss-svr). Two causes, and what was done:

* Inputs made on the machine. The fake weight files came from ``torch.randn``, whose normal fill runs other code
  per CPU capability: on the EPYC its buffer differs between ``ATEN_CPU_CAPABILITY=default`` and ``avx2``
  (measured), so an AVX-512 Xeon wrote other fake weights than an AVX2 EPYC (inferred), and the kernel test never
  saw it (its settings share one fake-weight cache). They now come from numpy's seeded generator: bit-identical
  files under both capabilities (measured; tests/fake_weights.py, FORMAT 3).
* Library code paths chosen by the CPU model, which no torch variable covers: numpy's AVX-512 (X86_V4) loops for
  exp/log/power/sin/..., OpenBLAS's per-CPU kernels, MKL's per-CPU branch. The ci subset now runs in its own
  process with them pinned on x86-64 (``PINNED_X86_ENV``: numpy at its baseline, OpenBLAS Nehalem, MKL_CBWR
  COMPATIBLE), demo data generated there too. A value already in the environment is kept and recorded in each
  cell's ``numerics`` (``OPENBLAS_CORETYPE`` is preset on some machines to avoid OpenBLAS bugs there).
  Measured on the EPYC, none of these paths moves the metrics by more than 1e-8: OpenBLAS Haswell / Zen /
  Sandybridge / Nehalem / Prescott 5.4e-15 (nss-svr PLCC), numpy X86_V3 vs baseline 0 (nss-svr; demo pixels and
  nss features bit-identical), MKL_CBWR=COMPATIBLE vs default 1.1e-9 PLCC, 1.0e-8 PLCC logistic (unique,
  paq2piq). The AVX-512 side of these paths could not be run here: that they explain the rest of the nss-svr
  difference is inferred, not measured, and the first AVX-512 CI run against this file is the check.

The tolerance is 1e-6 for every metric (RMSE relative): >100x the spreads measured on one machine, and >1000x
tighter than any real change (a 10% learning rate change moves PLCC by >1e-3:
``test_a_recipe_change_fails_the_regression``). What is not promised: float32 (the default) numbers across CPUs,
and users' runs get no pins; docs/RUNNING.md, "Reproducibility", states the contract.

To add a method, add it to CI_METHODS and regenerate the golden file:
    BENCH_UPDATE_GOLDEN=1 python -m pytest -q tests/test_run_regression.py
then review and commit tests/golden/ci_metrics.json. Regenerate too when a change is *meant* to alter
scores (a method's version bump, new demo data) -- and say so in the commit.
"""

import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from bench.core.integrity import VERIFIED, status_of
from bench.results.store import ResultStore
from bench.run.backends import run_tasks
from bench.run.execute import WorkerConfig
from bench.run.planning import plan
from protocols import Options

GOLDEN = Path(__file__).parent / "golden" / "ci_metrics.json"
# method -> what of it the ci subset runs: protocols (on --data demo), splits, --param overrides on
# top of the method's 'ci' preset. A slow method can run fewer protocols/splits, e.g.
#   "mpiqe": {"protocols": ("cross",), "n_splits": 1, "params": {}},
CI_METHODS = {
    "nss-svr": {"protocols": ("intra", "cross"), "n_splits": 3, "params": {}},
    "mpiqe": {"protocols": ("cross",), "n_splits": 1, "params": {}},  # tiny CLIP, ci preset: seconds
    # retrained baselines on the shared engine (methods/retrained/engine.py), fake weight files: ~3 s CPU a cell
    "paq2piq": {"protocols": ("cross",), "n_splits": 1, "params": {}},
    "unique": {"protocols": ("cross",), "n_splits": 1, "params": {}},
}
# deterministic fake weight files (tests/fake_weights.py): the torchvision ones paq2piq and unique load are always
# written; this pyiqa list is tests/test_baselines_retrained.py's, so that both share one session cache
FAKE_WEIGHT_FILES = [
    "DBCNN_scnn-7ea73d75.pth",
    "musiq_imagenet_pretrain-51d9b0a5.pth",
    "Metaiqa_prior.pth",
    "UNIQUE.pt",
]
ROOT = Path(__file__).resolve().parents[1]
# Library code paths chosen by the CPU model, pinned for the regression's cells on x86-64 (module docstring; never
# for users' runs): MKL's "conditional numerical reproducibility" branch that every Intel/AMD x86-64 CPU runs,
# OpenBLAS's Nehalem (SSE4.2) kernels instead of Haswell/Zen/SkylakeX ones, numpy's loops at its baseline (no
# AVX2/AVX-512 dispatch: on an AVX-512 CPU numpy runs other exp/log/power/sin loops). A value already set wins:
# on some machines OPENBLAS_CORETYPE is preset to avoid OpenBLAS bugs there, and the kernel test sets its own.
PINNED_X86_ENV = {
    "MKL_CBWR": "COMPATIBLE",
    "OPENBLAS_CORETYPE": "Nehalem",
    "NPY_DISABLE_CPU_FEATURES": None,  # every target numpy dispatches to above its baseline: numpy_dispatch_targets()
}
REPRODUCIBLE = {"precision": "float64"}  # the same numbers on any CPU (module docstring)
METRICS = ("srcc", "plcc", "plcc_logistic", "krcc", "rmse")
# Stated tolerance (argued in the module docstring): 1e-6 absolute for the correlations, 1e-6 relative for RMSE.
DEFAULT_TOLERANCE = {"abs": 1e-6, "rank_abs": 1e-6, "rmse_rel": 1e-6}
RANK_METRICS = ("srcc", "krcc")


def pinned_cpu_env(environ) -> dict:
    """``environ`` plus the pinned library paths (x86-64 only; a variable already set is kept)."""
    env = dict(environ)
    if platform.machine() in ("x86_64", "AMD64"):
        for key, value in PINNED_X86_ENV.items():
            env.setdefault(key, numpy_dispatch_targets() if value is None else value)
    return env


def numpy_dispatch_targets() -> str:
    """The SIMD targets this numpy can dispatch to above its compiled baseline (X86_V3, X86_V4, ... in numpy 2.4)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__

    return " ".join(__cpu_dispatch__)


def label(rec) -> str:
    return (
        f"{rec['protocol']} {rec['method']}[{rec['variant']}] {rec['train_dataset']}->{rec['test_dataset']} "
        f"split={rec['split_index']} seed={rec['seed']}"
    )


def feature_cache() -> str:
    """Per-image caches shared by this session's tests (keyed by file and parameters, so always valid)."""
    return os.path.join(os.environ["BENCH_CACHE"], "test-method-cache")


def ci_tasks():
    tasks = []
    for method, spec in CI_METHODS.items():
        for protocol in spec["protocols"]:
            tasks += plan(
                protocol,
                [method],
                Options(data="demo", n_splits=spec["n_splits"], seeds=(0,), **REPRODUCIBLE),
                preset="ci",
                param_overrides={method: spec["params"]},
            )
    return tasks


def run_ci_subset(out: Path, backend: str = "sequential", tasks=None) -> list[dict]:
    store = ResultStore(out)
    tasks = ci_tasks() if tasks is None else tasks
    # one CPU thread per cell: the golden values must not depend on the machine's cores (bench/run/threads.py)
    summary = run_tasks(
        tasks,
        store,
        WorkerConfig(out=str(out), cache_dir=feature_cache(), cpu_threads=1),
        backend=backend,
        progress=False,
    )
    assert summary.failed == 0, [f["error"] for f in summary.failures]
    assert summary.done == len(tasks)
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
        # the tolerance is this file's (argued in its docstring), not the golden file's: a regenerated golden file
        # cannot loosen it
        tol = {**DEFAULT_TOLERANCE, **golden.get("method_tolerance", {}).get(rec["method"], {})}
        if rec.get("training_options", {}).get("precision") != REPRODUCIBLE["precision"]:
            problems.append(
                f"{name}: not run with --precision {REPRODUCIBLE['precision']}: the golden values hold "
                "on any CPU only in that mode"
            )
        for metric in METRICS:
            got, exp = rec["metrics"].get(metric), want["metrics"].get(metric)
            if got is None or exp is None:
                if got != exp:
                    problems.append(f"{name}: {metric} = {got}, golden {exp}")
                continue
            allowed = (
                tol["rmse_rel"] * abs(exp)
                if metric == "rmse"
                else tol.get("rank_abs", tol["abs"])
                if metric in RANK_METRICS
                else tol["abs"]
            )
            if not math.isclose(got, exp, rel_tol=0.0, abs_tol=allowed):
                problems.append(f"{name}: {metric} = {got:.6f}, golden {exp:.6f} (tolerance {allowed:.1e})")
        if rec["train_revision"] != want["train_revision"]:
            problems.append(f"{name}: demo data changed (revision {rec['train_revision']} != {want['train_revision']})")
        if rec["split_hash"] != want.get("split_hash"):
            problems.append(
                f"{name}: the split changed (hash {rec['split_hash']} != {want.get('split_hash')}): "
                "if the data layer meant it, regenerate the golden file"
            )
    missing = sorted(set(cells) - seen)
    problems.extend(f"{name}: golden cell not produced" for name in missing)
    return problems


def golden_from(records: list[dict]) -> dict:
    return {
        "about": "metrics of the ci subset (tests/test_run_regression.py); regenerate with BENCH_UPDATE_GOLDEN=1",
        "tolerance": DEFAULT_TOLERANCE,  # informational: tests/test_run_regression.py's own is used
        "run_options": REPRODUCIBLE,
        "method_tolerance": {},
        "cells": {
            label(r): {
                "metrics": {m: r["metrics"].get(m) for m in METRICS},
                "params": r["params"],
                "train_revision": r["train_revision"],
                "split_hash": r["split_hash"],
                "method_version": r["method_version"],
            }
            for r in sorted(records, key=label)
        },
    }


@pytest.fixture(scope="module", autouse=True)
def fake_weights_home():
    """TORCH_HOME / HF_HOME with the fake weight files (same seeds everywhere, so the golden values hold)."""
    from tests.fake_weights import make_fake_cache, session_fake_root

    root = make_fake_cache(session_fake_root(FAKE_WEIGHT_FILES), pyiqa_files=FAKE_WEIGHT_FILES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(root))
        mp.setenv("HF_HOME", str(root / "hf"))
        yield root


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory, demo_cache):
    """The ci subset in a fresh Python whose CPU-dependent library paths are pinned (``pinned_cpu_env``): the
    variables are read when numpy / OpenBLAS / MKL load, so they cannot be set in this (already loaded) process.
    The child generates the demo data too, in its own cache, so the pixels are made under the same pins."""
    out = tmp_path_factory.mktemp("ci") / "runs"
    env = pinned_cpu_env(os.environ)
    env["BENCH_CACHE"] = str(tmp_path_factory.mktemp("ci-cache"))
    env.pop("BENCH_UPDATE_GOLDEN", None)
    child = "import sys; from tests.test_run_regression import run_ci_subset; run_ci_subset(__import__('pathlib').Path(sys.argv[1]))"
    proc = subprocess.run(
        [sys.executable, "-c", child, str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, f"the ci subset failed in its pinned process:\n{proc.stderr[-6000:]}"
    return out, list(ResultStore(out).iter_results())


def test_ci_subset_matches_golden_values(ci_run):
    _, records = ci_run
    if os.environ.get("BENCH_CI_RECORDS"):  # the cross-kernel test (test_run_regression_kernels.py) reads these
        Path(os.environ["BENCH_CI_RECORDS"]).write_text(
            json.dumps({label(r): {"metrics": r["metrics"], "numerics": r.get("numerics")} for r in records}, indent=1)
        )
    # every method: its protocols x 2 (demo datasets or pairs) x its splits
    assert len(records) == sum(len(s["protocols"]) * 2 * s["n_splits"] for s in CI_METHODS.values())
    if os.environ.get("BENCH_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(golden_from(records), indent=1, sort_keys=True) + "\n")
        pytest.skip(f"golden values written to {GOLDEN}: review and commit them")
    assert GOLDEN.is_file(), "no golden file: run BENCH_UPDATE_GOLDEN=1 python -m pytest tests/test_run_regression.py"
    problems = compare(records, json.loads(GOLDEN.read_text()))
    assert not problems, "ci regression:\n" + "\n".join(problems)
    # every compared number comes from a record whose every field is covered by its integrity hash (schema 3)
    assert {status_of(r) for r in records} == {VERIFIED}


def test_the_ci_cells_ran_with_the_pinned_library_paths(ci_run):
    """Each cell records the variables in force (``numerics``): on x86-64 every pinned one was set."""
    _, records = ci_run
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"the pins are x86-64 only; this CPU is {platform.machine()}")
    for rec in records:
        env = rec["numerics"]["env"]
        assert set(PINNED_X86_ENV) <= set(env), f"{label(rec)}: ran without {sorted(set(PINNED_X86_ENV) - set(env))}"


def test_the_regression_check_catches_a_broken_method(ci_run, tmp_path, monkeypatch):
    """Break nss-svr on purpose (a wrong RBF kernel width) and the comparison must fail."""
    from methods import classical

    if not GOLDEN.is_file():
        pytest.skip("no golden file yet")
    out = tmp_path / "runs"  # image features come from the shared cache
    real_rbf = classical._rbf
    monkeypatch.setattr(classical, "_rbf", lambda a, b, gamma: real_rbf(a, b, gamma * 3))
    problems = compare(run_ci_subset(out), json.loads(GOLDEN.read_text()))
    broken = [p for p in problems if p.startswith(("intra nss-svr", "cross nss-svr"))]
    assert len(broken) >= 6 and all("golden" in p for p in broken)


def test_a_recipe_change_fails_the_regression(ci_run, tmp_path):
    """A deliberate change to a trained baseline's recipe (PaQ-2-PiQ's head learning rate 3e-3 -> 3.3e-3, 10%)
    must fail the comparison: the float64 tolerance does not hide a real change."""
    from methods.retrained.paq2piq import PaQ2PiQ

    if not GOLDEN.is_file():
        pytest.skip("no golden file yet")
    lr = PaQ2PiQ.make_params("ci").lr
    tasks = plan(
        "cross",
        ["paq2piq"],
        Options(data="demo", n_splits=1, seeds=(0,), **REPRODUCIBLE),
        preset="ci",
        param_overrides={"paq2piq": {"lr": lr * 1.1}},
    )
    problems = compare(run_ci_subset(tmp_path / "runs", tasks=tasks), json.loads(GOLDEN.read_text()))
    changed = [p for p in problems if p.startswith("cross paq2piq") and "golden" in p]
    # both cells, and on the value metrics (the ranks of 40 predictions may survive a small change)
    assert {p.split(":")[0] for p in changed} == {
        "cross paq2piq[default] demo-a->demo-b split=0 seed=0",
        "cross paq2piq[default] demo-b->demo-a split=0 seed=0",
    }
    assert any(": plcc =" in p for p in changed) and any(": rmse =" in p for p in changed)
