"""The runner on the real demo data: planning, backends (loky, real Dask), failures, resume."""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.results.store import ResultStore
from bench.run.backends import interleave, run_tasks
from bench.run.devices import claim_gpu, visible_gpus
from bench.run.execute import WorkerConfig, execute_task
from bench.run.planning import plan, select
from bench.run.summary import median_table
from protocols import Options


@pytest.fixture(scope="module", autouse=True)
def demo_data(demo_cache):
    from bench.data.datasets import load_dataset

    return {n: load_dataset(n) for n in ("demo-a", "demo-b")}


def tasks_for(protocol="intra", methods=("noop",), n_splits=2, params=None, **options):
    return plan(
        protocol,
        list(methods),
        Options(data="demo", n_splits=n_splits, **options),
        preset="ci",
        param_overrides=params or {},
    )


def run(tasks, out, **kw):
    cache = os.path.join(os.environ["BENCH_CACHE"], "test-method-cache")  # nss-svr features, shared by tests
    return run_tasks(tasks, ResultStore(out), WorkerConfig(out=str(out), cache_dir=cache), progress=False, **kw)


def test_plan_intra_cross_efficiency(demo_data):
    intra = tasks_for("intra", n_splits=2)
    assert len(intra) == 4 and len({t.key for t in intra}) == 4
    for t in intra:
        assert not set(t.train_ids) & set(t.test_ids)
        assert t.cell.train_revision == demo_data[t.cell.train_dataset].dataset.revision
    assert [t.key for t in tasks_for("intra", n_splits=2)] == [t.key for t in intra]  # splits reload, same keys
    cross = tasks_for("cross", n_splits=2)
    assert {(t.cell.train_dataset, t.cell.test_dataset) for t in cross} == {("demo-a", "demo-b"), ("demo-b", "demo-a")}
    assert all(t.test_ids is None for t in cross)
    assert not {t.key for t in cross} & {t.key for t in intra}
    eff = tasks_for("efficiency", n_splits=2)
    assert sorted({t.cell.fraction for t in eff}) == [0.2, 0.4, 0.6] and len(eff) == 12
    seeds = tasks_for("intra", n_splits=1, seeds=(0, 1))
    assert len(seeds) == 4 and len({t.key for t in seeds}) == 4
    abl = tasks_for("ablation", methods=("nss-svr",), n_splits=1)
    assert {t.cell.variant for t in abl} == {"full", "no-paired-products", "single-scale", "linear-ridge"}
    assert {t.cell.params["n_scales"] for t in abl} == {1, 2}


@pytest.fixture(scope="module")
def score_run(tmp_path_factory):
    """intra on both demo sets, noop predicting truth + noise, 3 splits, in this process (read-only for tests)."""
    tasks = tasks_for("intra", params={"noop": {"output": "score"}}, n_splits=3)
    out = tmp_path_factory.mktemp("score") / "seq"
    return tasks, out, run(tasks, out, backend="sequential")


def test_loky_and_real_dask_give_the_same_records_as_sequential(score_run, tmp_path):
    from dask.distributed import LocalCluster

    tasks, seq_out, seq = score_run
    loky = run(tasks, tmp_path / "loky", jobs=2, backend="loky")
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        dask = run(tasks, tmp_path / "dask", backend="dask", scheduler=cluster.scheduler_address)
    assert seq.done == loky.done == dask.done == 6
    recs = {}
    for name, out in (("seq", seq_out), ("loky", tmp_path / "loky"), ("dask", tmp_path / "dask")):
        recs[name] = {r["key"]: r for r in ResultStore(out).iter_results()}
    assert recs["seq"].keys() == recs["loky"].keys() == recs["dask"].keys()
    for key, rec in recs["seq"].items():
        for other in ("loky", "dask"):
            assert recs[other][key]["metrics"] == rec["metrics"]
            assert recs[other][key]["method_seed"] == rec["method_seed"]
        assert recs["dask"][key]["backend"] == "dask"
        assert rec["metrics"]["srcc"] > 0.5  # 'score' output: truth + noise, seeded per cell
        assert ResultStore(tmp_path / "dask").load_predictions(key) == ResultStore(seq_out).load_predictions(key)


@pytest.fixture(scope="module")
def nss_cell(tmp_path_factory):
    """One nss-svr cell (demo-a, split 0) run with --save-checkpoints."""
    out = tmp_path_factory.mktemp("nss")
    cfg = WorkerConfig(
        out=str(out), cache_dir=os.path.join(os.environ["BENCH_CACHE"], "test-method-cache"), save_checkpoints=True
    )
    task = tasks_for("intra", methods=("nss-svr",), n_splits=1, datasets=("demo-a",))[0]
    return task, cfg, execute_task(task, cfg)


def test_classical_baseline_is_deterministic_on_cpu(nss_cell):
    """Same cell twice gives the same numbers (features' determinism: test_run_classical; across sessions: the CI golden)."""
    task, cfg, first = nss_cell
    again = execute_task(task, replace(cfg, save_checkpoints=False, skip_if_done=False))
    a, b = first["record"], again["record"]
    assert a["status"] == b["status"] == "done"
    assert a["metrics"] == b["metrics"] and first["predictions"] == again["predictions"] and a["device"] == "cpu"
    assert a["metrics"]["srcc"] > 0.3 and a["n_train"] == 240 and a["n_test"] == 40
    assert a["versions"]["numpy"] and a["git_commit"] is not None and a["fit_s"] > 0


def test_a_failing_method_fails_its_cells_only(tmp_path):
    tasks = tasks_for("intra", params={"noop": {"fail_on": "demo-a"}})
    summary = run(tasks, tmp_path)
    assert (summary.done, summary.failed) == (2, 2)
    store = ResultStore(tmp_path)
    failures = list(store.iter_failures())
    assert {f["train_dataset"] for f in failures} == {"demo-a"}
    assert all("asked to fail" in f["traceback"] and f["status"] == "failed" for f in failures)
    assert {r["train_dataset"] for r in store.iter_results()} == {"demo-b"}
    assert len(select(tasks, store, "missing")) == 2 and len(select(tasks, store, "failed")) == 2


def test_rerun_failed_after_the_cause_is_fixed(tmp_path):
    flag = tmp_path / "broken"
    flag.write_text("x")
    tasks = tasks_for("intra", params={"noop": {"fail_while_file": str(flag)}})
    out = tmp_path / "runs"
    assert run(tasks, out).failed == 4
    flag.unlink()
    summary = run(tasks, out, rerun="failed")
    assert (summary.submitted, summary.done, summary.failed) == (4, 4, 0)
    assert ResultStore(out).failed_keys() == set()


def test_resume_of_a_finished_run_trains_nothing_and_rerun_all_redoes_everything(tmp_path):
    tasks = tasks_for("cross", n_splits=2)
    assert run(tasks, tmp_path).done == 4
    store = ResultStore(tmp_path)
    mtimes = {k: store.cell_path(k).stat().st_mtime_ns for k in store.done_keys()}
    again = run(tasks, tmp_path)
    assert (again.submitted, again.done, again.already_done) == (0, 0, 4)
    assert {k: store.cell_path(k).stat().st_mtime_ns for k in store.done_keys()} == mtimes
    redo = run(tasks, tmp_path, rerun="all")
    assert (redo.done, redo.already_done) == (4, 0)  # redone cells are not also 'already done'


def test_a_cell_finished_by_another_run_is_skipped(tmp_path):
    task = tasks_for("intra", n_splits=1, datasets=("demo-a",))[0]
    cfg = WorkerConfig(out=str(tmp_path))
    result = execute_task(task, cfg)
    ResultStore(tmp_path).write_done(result["record"], result["predictions"])
    assert execute_task(task, cfg)["status"] == "skipped"


def test_interrupt_keeps_finished_cells_and_resume_completes(tmp_path):
    tasks = tasks_for("intra", n_splits=3)
    seen = []

    def ctrl_c(result):
        seen.append(result)
        if len(seen) == 2:
            raise KeyboardInterrupt

    summary = run(tasks, tmp_path, on_result=ctrl_c)
    assert summary.interrupted and summary.done == 2
    assert len(ResultStore(tmp_path).done_keys()) == 2
    resumed = run(tasks, tmp_path)
    assert (resumed.submitted, resumed.done) == (4, 4)


@pytest.mark.parametrize("jobs", [2, 1])
def test_a_cell_that_kills_its_worker_is_recorded_failed_and_the_others_finish(tmp_path, capfd, jobs):
    """A real SIGKILL of the worker process (noop die_on): the cells in flight are named, each is
    retried alone in a fresh worker; the one that dies again is a failure record, the run goes on."""
    tasks = tasks_for("intra", n_splits=2, params={"noop": {"die_on": "demo-b"}})
    summary = run(tasks, tmp_path, jobs=jobs)
    assert (summary.done, summary.failed) == (2, 2)
    store = ResultStore(tmp_path)
    assert {r["train_dataset"] for r in store.iter_results()} == {"demo-a"}
    failures = list(store.iter_failures())
    assert {f["train_dataset"] for f in failures} == {"demo-b"} and all(f["worker_died"] for f in failures)
    assert all("worker died (exit code SIGKILL(-9))" in f["error"] and "fewer --jobs" in f["error"] for f in failures)
    err = capfd.readouterr().err
    for f in failures:  # each killer named while the run went on
        assert f"{f['key']} intra noop demo-b split={f['split_index']}" in err
    assert not (tmp_path / "work").exists()  # dead workers' scratch removed


def test_a_concurrent_attempt_keeps_its_scratch_folder(tmp_path):
    """Two runs computing one cell at once: neither deletes the other's work folder."""
    task = tasks_for("intra", n_splits=1, datasets=("demo-a",))[0]
    other = tmp_path / "work" / f"{task.key}.other-run"
    other.mkdir(parents=True)
    (other / "epoch1.pt").write_text("in use")
    assert execute_task(task, WorkerConfig(out=str(tmp_path)))["status"] == "done"
    assert (other / "epoch1.pt").read_text() == "in use"
    assert [p.name for p in (tmp_path / "work").iterdir()] == [other.name]  # its own scratch is gone


def test_worker_refuses_a_dataset_that_changed(tmp_path):
    task = tasks_for("intra", n_splits=1, datasets=("demo-a",))[0]
    stale = replace(task, cell=replace(task.cell, train_revision="0" * 16))
    result = execute_task(stale, WorkerConfig(out=str(tmp_path)))
    assert result["status"] == "failed" and "changed since the cell was planned" in result["record"]["error"]


def test_median_table(score_run):
    tasks, out, _ = score_run
    rows = {r["train_dataset"]: r for r in median_table(tasks, ResultStore(out))}
    srcc = [r["metrics"]["srcc"] for r in ResultStore(out).iter_results() if r["train_dataset"] == "demo-a"]
    assert rows["demo-a"]["srcc"] == pytest.approx(float(np.median(srcc)))
    assert rows["demo-a"]["done"] == rows["demo-a"]["cells"] == 3


def test_one_gpu_per_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert visible_gpus() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == 0
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / f"gpu0.{os.getppid()}").touch()  # a live worker holds GPU 0
    (claims / "gpu1.999999999").touch()  # a dead one held GPU 1
    assert claim_gpu(2, claims) == 1  # least loaded among the living
    assert not (claims / "gpu1.999999999").exists()
    assert (claims / f"gpu1.{os.getpid()}").exists()
    assert claim_gpu(2, claims) == 0  # 1 vs 1 live claims: first index wins


def test_save_checkpoints(nss_cell):
    from bench.data.datasets import load_dataset
    from methods.base import RunContext
    from methods.classical import NSSRegressor

    task, cfg, result = nss_cell
    ckpt = Path(result["record"]["checkpoint"])
    assert result["status"] == "done" and ckpt.is_file()
    method = NSSRegressor(NSSRegressor.Params(**task.cell.params), RunContext(cache_dir=Path(cfg.cache_dir)))
    method.load(ckpt)
    test = load_dataset("demo-a").subset(task.test_ids)
    assert np.allclose(method.predict(test), [p for _, _, p in result["predictions"]])
    noop = execute_task(tasks_for("intra", n_splits=1, datasets=("demo-a",))[0], cfg)
    assert any("no checkpoint saved" in n for n in noop["record"]["notes"])


def test_cells_side_by_side_use_different_datasets():
    tasks = tasks_for("efficiency", n_splits=2)  # planned dataset by dataset
    order = [t.cell.train_dataset for t in interleave(tasks)]
    assert order[:4] == ["demo-a", "demo-b", "demo-a", "demo-b"]
    assert sorted(t.key for t in interleave(tasks)) == sorted(t.key for t in tasks)
