"""Failures named, contained and recoverable (issue 13): bad images, bad labels folders, dying workers,
bad parameter values and devices, damaged or read-only stores, imported split counts, thread pinning.

Real files, real processes: a truncated JPEG, a worker killed by SIGKILL, a read-only tmpfs mount."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from bench.cli import main
from bench.data.datasets.fixtures import write_fixture
from bench.results.store import ResultStore
from bench.run.backends import run_tasks
from bench.run.execute import WorkerConfig, execute_task
from bench.run.planning import plan
from protocols import Options


@pytest.fixture(scope="module", autouse=True)
def demo_data(demo_cache):
    from bench.data.datasets import load_dataset

    for name in ("demo-a", "demo-b"):
        load_dataset(name)


def cli(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture()
def koniq_truncated(tmp_path):
    """A KonIQ fixture (20 real JPEGs) with one JPEG cut in half: it exists, is not empty, does not decode."""
    root = write_fixture(tmp_path / "data", "koniq10k")
    bad = root / "koniq10k" / "1024x768" / "1000003.jpg"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    return root, bad


def nss_run(root, out, *extra):
    return [
        "run",
        "--protocol",
        "intra",
        "--method",
        "nss-svr",
        "--datasets",
        "koniq10k",
        "--data-root",
        str(root),
        "--splits",
        "1",
        "--preset",
        "ci",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


# --- 1: --skip-corrupt and undecodable images ---------------------------------------------------------
def test_skip_corrupt_excludes_an_undecodable_image_in_run_as_in_check_deep(koniq_truncated, tmp_path, capsys):
    root, _ = koniq_truncated
    rc, out, _ = cli(
        capsys, "data", "check", "koniq10k", "--data-root", str(root), "--deep", "--skip-corrupt", "--json"
    )
    checked = json.loads(out)
    assert checked["n_images"] == 19 and any("excluded 1" in n for n in checked["notes"])
    rc, out, err = cli(capsys, *nss_run(root, tmp_path / "runs", "--skip-corrupt"))
    assert rc == 0, err
    [rec] = ResultStore(tmp_path / "runs").iter_results()
    assert rec["train_revision"] == checked["revision"]  # both commands exclude the same image
    assert rec["n_train"] + rec["n_test"] == 19


def test_without_skip_corrupt_the_cell_error_names_the_undecodable_file(koniq_truncated, tmp_path, capsys):
    root, bad = koniq_truncated
    rc, _, _ = cli(capsys, *nss_run(root, tmp_path / "runs"))
    assert rc == 1
    [failure] = ResultStore(tmp_path / "runs").iter_failures()
    assert failure["error"].startswith(f"DatasetError: cannot decode image {bad}")
    assert "--skip-corrupt" in failure["error"]


def test_decode_checks_are_cached_per_file(koniq_truncated):
    from bench.data.datasets import load_dataset
    from bench.data.datasets.locate import DecodeChecks

    root, bad = koniq_truncated
    first = load_dataset("koniq10k", data_root=root, skip_corrupt=True)
    checks = DecodeChecks(bad.parent.parent)
    assert len(checks.known) == 20 and checks.known[f"1024x768/{bad.name}"][3].startswith("does not decode")
    bad.write_bytes(b"\xff\xd8 still broken, other size")  # a changed file is decoded again
    again = load_dataset("koniq10k", data_root=root, skip_corrupt=True)
    assert len(again) == len(first) == 19
    assert DecodeChecks(bad.parent.parent).known[f"1024x768/{bad.name}"][0] == bad.stat().st_size


# --- 2: --labels --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "where,message",
    [
        ("liqx", "no such folder"),  # a typo
        ("koniq10k", "holds no IQA_Database/"),  # a real folder, not LIQE's
    ],
)
def test_a_mistyped_labels_folder_is_an_error(koniq_truncated, capsys, where, message):
    root, _ = koniq_truncated
    rc, out, err = cli(capsys, "data", "check", "koniq10k", "--data-root", str(root), "--labels", str(root / where))
    assert rc == 2 and message in err and f"--labels {root / where}" in err and "OK" not in out


def test_a_labels_folder_without_this_datasets_files_is_an_error(koniq_truncated, tmp_path):
    from bench.core.errors import DatasetError
    from bench.data.datasets import load_dataset

    root, _ = koniq_truncated
    other = tmp_path / "liqe" / "IQA_Database" / "databaserelease2"
    other.mkdir(parents=True)
    with pytest.raises(DatasetError, match="no LIQE label files of KonIQ-10k"):
        load_dataset("koniq10k", data_root=root, labels_dir=tmp_path / "liqe", skip_corrupt=True)
    ds = load_dataset("koniq10k", data_root=root, labels_dir=root / "liqe", skip_corrupt=True)
    assert ds.dataset.has_scene_labels  # the right folder still works


# --- 4: parameter values and --device ------------------------------------------------------------------
@pytest.mark.parametrize(
    "param,message",
    [
        ("alpha=abc", "alpha='abc' (nss-svr expects a number)"),
        ("n_scales=2.0", "n_scales=2.0 (nss-svr expects an integer)"),
        ("paired_products=yes", "paired_products='yes' (nss-svr expects true or false)"),
        ("n_scales=9", "n_scales must be 1..5"),  # the method's own range check, at plan time
    ],
)
def test_bad_parameter_values_fail_once_before_any_cell(tmp_path, capsys, param, message):
    out = tmp_path / "runs"
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "intra",
        "--method",
        "nss-svr",
        "--data",
        "demo",
        "--splits",
        "2",
        "--param",
        param,
        "--out",
        str(out),
    )
    assert rc == 2 and err.count("error: ") == 1 and message in err and "Traceback" not in err
    assert not list(out.rglob("*.json"))  # no cell ran, no failure records


def test_a_bad_learning_rate_fails_at_plan_time_for_mpiqe(tmp_path, capsys):
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "cross",
        "--method",
        "mpiqe",
        "--data",
        "demo",
        "--splits",
        "1",
        "--param",
        "lr=abc",
        "--out",
        str(tmp_path / "runs"),
    )
    assert rc == 2 and "lr='abc' (mpiqe expects a number)" in err


def test_integer_and_float_spellings_of_a_float_parameter_give_one_cell_key():
    def keys(value):
        tasks = plan(
            "intra",
            ["nss-svr"],
            Options(data="demo", n_splits=1),
            preset="ci",
            param_overrides={"nss-svr": {"alpha": value}},
        )
        return [t.key for t in tasks], tasks[0].cell.params["alpha"]

    (k1, a1), (k2, a2) = keys(1), keys(1.0)
    assert k1 == k2 and a1 == a2 == 1.0 and isinstance(a1, float)


@pytest.mark.parametrize("device,message", [("gpu", "expected auto, cpu, cuda or cuda:N"), ("cuda:5", "CUDA device")])
def test_a_bad_device_is_refused_at_start(tmp_path, capsys, device, message):
    from bench.run.devices import visible_gpus

    if device.startswith("cuda") and visible_gpus() > 5:
        pytest.skip("this machine has a cuda:5")
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "intra",
        "--method",
        "noop",
        "--data",
        "demo",
        "--device",
        device,
        "--out",
        str(tmp_path / "runs"),
    )
    assert rc == 2 and message in err and not (tmp_path / "runs").exists()


def test_a_cpu_only_method_records_the_device_it_really_used(tmp_path):
    task = plan("intra", ["nss-svr"], Options(data="demo", n_splits=1, datasets=("demo-a",)), preset="ci")[0]
    result = execute_task(task, WorkerConfig(out=str(tmp_path), device="cuda:5"))
    assert result["status"] == "done", result["record"].get("error")
    assert result["record"]["device"] == "cpu" and result["record"]["device_requested"] == "cuda:5"


# --- 3: resume after a worker death ---------------------------------------------------------------------
def test_on_resume_a_poisoned_cell_does_not_stop_the_others_and_runs_last(tmp_path):
    tasks = plan(
        "intra", ["noop"], Options(data="demo", n_splits=3), preset="ci", param_overrides={"noop": {"die_on": "demo-b"}}
    )
    poisoned = [t for t in tasks if t.cell.train_dataset == "demo-b"]
    store, cfg = ResultStore(tmp_path), WorkerConfig(out=str(tmp_path))
    first = run_tasks(poisoned, store, cfg, jobs=2, progress=False)  # the run that met the deaths
    assert (first.done, first.failed) == (0, 3)
    order = []
    resumed = run_tasks(
        tasks,
        store,
        cfg,
        jobs=1,
        progress=False,  # jobs=1: the order is the queue's
        on_result=lambda r: order.append(r["record"]["train_dataset"]),
    )
    assert (resumed.done, resumed.failed) == (3, 3)  # every other cell finished
    assert order == ["demo-a"] * 3 + ["demo-b"] * 3  # the poisoned ones went last


# --- 6: the store, the cache, the smaller checks -------------------------------------------------------
def noop_run(out, *extra):
    return [
        "run",
        "--protocol",
        "intra",
        "--method",
        "noop",
        "--data",
        "demo",
        "--out",
        str(out),
        "--no-progress",
        *extra,
    ]


def test_dry_run_creates_nothing(tmp_path, capsys):
    out = tmp_path / "new" / "runs"
    rc, text, _ = cli(capsys, *noop_run(out, "--splits", "1", "--dry-run"))
    assert rc == 0 and "2 cells: 0 done" in text and not (tmp_path / "new").exists()


def test_truncated_cell_files_are_not_done_and_are_all_reported_then_recomputed(tmp_path, capsys):
    out = tmp_path / "runs"
    assert cli(capsys, *noop_run(out, "--splits", "2"))[0] == 0
    store = ResultStore(out)
    keys = sorted(store.done_keys())
    for key in keys[:2]:  # two damaged files: both named at once
        store.cell_path(key).write_text('{"key": ')
    rc, text, err = cli(capsys, *noop_run(out, "--splits", "2", "--dry-run"))
    assert rc == 0 and "4 cells: 2 done" in text and "without --dry-run, 2 would run" in text
    assert text.count(" damaged ") == 2 and "2 result file(s) damaged" in err
    assert all(str(store.cell_path(k)) in err for k in keys[:2])
    rc, text, err = cli(capsys, *noop_run(out, "--splits", "2"))
    assert rc == 0 and "2 cell(s) finished, 2 already done" in text and "2 result file(s) damaged" in err
    assert all(store.load(k)["status"] == "done" for k in keys)


def test_results_failures_on_a_missing_store_is_an_error(tmp_path, capsys):
    rc, out, err = cli(capsys, "results", "failures", "--out", str(tmp_path / "nonexistent"))
    assert rc == 2 and "no results store" in err and "0 failed" not in out


def test_data_flags_beside_data_demo_are_refused(tmp_path, capsys):
    rc, _, err = cli(capsys, *noop_run(tmp_path / "runs", "--data-root", str(tmp_path)))
    assert rc == 2 and "--data demo uses the generated demo sets only, so --data-root would be ignored" in err


def test_more_splits_than_an_imported_split_set_has_is_an_error(tmp_path, capsys):
    root = write_fixture(tmp_path / "data", "koniq10k")  # its LIQE files hold 2 splits
    args = [
        "run",
        "--protocol",
        "intra",
        "--method",
        "noop",
        "--datasets",
        "koniq10k",
        "--data-root",
        str(root),
        "--split-set",
        "liqe",
        "--out",
        str(tmp_path / "runs"),
        "--dry-run",
    ]
    rc, _, err = cli(capsys, *args, "--splits", "12")
    assert rc == 2 and "--splits 12: split set 'liqe' has 2 split(s) for 'koniq10k'" in err
    rc, text, _ = cli(capsys, *args, "--splits", "1")
    assert rc == 0 and "1 cells:" in text  # --splits N takes the first N


@pytest.fixture()
def read_only_dir(tmp_path):
    """A real read-only file system (root ignores permission bits): a tmpfs mounted ro."""
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    target = tmp_path / "ro"
    target.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(target)], capture_output=True, check=False
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here")
    yield target
    subprocess.run(["umount", str(target)], capture_output=True, check=False)


def test_a_read_only_cache_dir_is_refused_at_start(read_only_dir, tmp_path, capsys):
    rc, _, err = cli(capsys, *noop_run(tmp_path / "runs", "--splits", "1", "--cache-dir", str(read_only_dir / "c")))
    assert rc == 2 and "--cache-dir" in err and "not writable" in err and "Read-only file system" in err
    assert not (tmp_path / "runs" / "cells").exists() or not any((tmp_path / "runs" / "cells").iterdir())


def test_dry_run_on_a_read_only_out_warns_and_creates_nothing(read_only_dir, capsys):
    rc, text, err = cli(capsys, *noop_run(read_only_dir / "runs", "--splits", "1", "--dry-run"))
    assert rc == 0 and "2 cells" in text and "read-only file system" in err


# --- 7: nss-svr numbers do not depend on --jobs -----------------------------------------------------------
def test_nss_svr_gives_identical_numbers_under_jobs_1_and_jobs_2(tmp_path):
    tasks = plan("intra", ["nss-svr"], Options(data="demo", n_splits=2), preset="ci")
    cache = os.path.join(os.environ["BENCH_CACHE"], "test-method-cache")
    records = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        summary = run_tasks(
            tasks, ResultStore(out), WorkerConfig(out=str(out), cache_dir=cache), jobs=jobs, progress=False
        )
        assert summary.done == 4
        store = ResultStore(out)
        records[jobs] = {r["key"]: (r["metrics"], store.load_predictions(r["key"])) for r in store.iter_results()}
    assert records[1] == records[2]  # bit for bit, predictions included


def test_nss_svr_linear_algebra_runs_on_one_blas_thread_whatever_the_outer_limit(monkeypatch, tmp_path):
    """The real fit and predict under an outer limit of 4 BLAS threads (what a worker may be given):
    every kernel evaluation sees exactly one thread, so its summation order cannot depend on --jobs."""
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits

    from bench.data.datasets import load_dataset
    from methods import classical
    from methods.base import RunContext

    seen, real_rbf = [], classical._rbf

    def rbf_watching_threads(a, b, gamma):
        seen.append({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
        return real_rbf(a, b, gamma)

    monkeypatch.setattr(classical, "_rbf", rbf_watching_threads)
    ds = load_dataset("demo-a")
    train, test = ds.subset(ds.ids[:60]), ds.subset(ds.ids[60:80])
    method = classical.NSSRegressor(
        classical.NSSRegressor.make_params("ci"),
        RunContext(cache_dir=Path(os.environ["BENCH_CACHE"]) / "test-method-cache"),
    )
    with threadpool_limits(4, user_api="blas"):
        method.fit(train)
        preds = method.predict(test)
    assert np.isfinite(preds).all() and len(seen) == 2  # one kernel in fit, one in predict
    assert all(threads == {1} for threads in seen), seen


THREADS_PROBE = """
from dataclasses import dataclass
import numpy as np
import torch
from threadpoolctl import threadpool_info
from methods.base import Method


@dataclass
class P:
    pass


class ThreadsProbe(Method):
    name = "threads-probe"
    trains = True
    Params = P

    def fit(self, train, val=None):
        self.context.record("probe_torch_threads", torch.get_num_threads())
        self.context.record("probe_blas_threads", sorted({p["num_threads"] for p in threadpool_info()
                                                          if p["user_api"] == "blas"}))
        # a reduction whose summation order follows the thread count
        x = torch.arange(1, 200_001, dtype=torch.float32).sqrt()
        self.total = float((x * x.flip(0)).sum())

    def predict(self, images):
        return np.full(len(images), self.total) + np.arange(len(images))
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cpu_threads_policy_pins_torch_and_blas_in_every_cell(tmp_path, capsys, jobs):
    """--cpu-threads N: torch's intra-op pool and BLAS have N threads inside every cell, whatever --jobs,
    and the cell records it; auto is the cores divided by --jobs."""
    probe = tmp_path / "probe.py"
    probe.write_text(THREADS_PROBE)
    base = [
        "run",
        "--protocol",
        "intra",
        "--method",
        f"{probe}:ThreadsProbe",
        "--data",
        "demo",
        "--datasets",
        "demo-a",
        "--splits",
        "2",
        "--jobs",
        jobs,
        "--no-progress",
    ]
    assert main(base + ["--cpu-threads", "1", "--out", str(tmp_path / "one")]) == 0
    for rec in ResultStore(tmp_path / "one").iter_results():
        assert rec["cpu_threads"] == 1 and rec["probe_torch_threads"] == 1
        assert set(rec["probe_blas_threads"]) <= {1}
    assert main(base + ["--out", str(tmp_path / "auto")]) == 0
    from bench.data.pipeline import available_cores

    want = max(1, available_cores() // int(jobs))
    if os.environ.get("OMP_NUM_THREADS"):  # a limit the user set caps auto (conftest sets 1)
        want = min(want, int(os.environ["OMP_NUM_THREADS"]))
    assert {r["cpu_threads"] for r in ResultStore(tmp_path / "auto").iter_results()} == {want}
    assert {r["probe_torch_threads"] for r in ResultStore(tmp_path / "auto").iter_results()} == {want}
    capsys.readouterr()


def test_bad_cpu_threads_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--protocol", "intra", "--method", "noop", "--data", "demo", "--cpu-threads", "0"])
    assert "--cpu-threads must be >= 1" in capsys.readouterr().err


def test_auto_cpu_threads_share_the_cores_and_respect_omp_num_threads(monkeypatch):
    from bench.run.threads import resolve_cpu_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert [resolve_cpu_threads("auto", jobs, cores=8) for jobs in (1, 2, 3, 16)] == [8, 4, 2, 1]
    assert resolve_cpu_threads(5, 4, cores=8) == 5  # an explicit count is taken as given
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert resolve_cpu_threads("auto", 1, cores=8) == 3 and resolve_cpu_threads("auto", 4, cores=8) == 2


def test_cell_threads_reach_torch_imported_during_the_cell(tmp_path):
    """A torch-free worker stays torch-free; a method that imports torch inside the cell gets the cell's threads."""
    import sys

    code = (
        "import os, sys; os.environ.pop('OMP_NUM_THREADS', None)\n"
        "from bench.run.threads import cell_threads\n"
        "with cell_threads(1):\n"
        "    assert 'torch' not in sys.modules\n"
        "    import torch\n"
        "    inside = torch.get_num_threads()\n"
        "print(inside, os.environ.get('OMP_NUM_THREADS'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    ).stdout.split()
    assert out == ["1", "None"]  # torch started on the cell's 1 thread; the environment restored after
