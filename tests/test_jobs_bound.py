"""Issue 24 item 3: --jobs capped at the cells to run; above the cores (or GPUs) a warning, far above a refusal."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.core.errors import RunError
from bench.data import pipeline
from bench.run.jobs import OVERSUBSCRIBE, bounded_jobs


@pytest.fixture()
def two_cores(monkeypatch):
    monkeypatch.setattr(pipeline, "available_cores", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


def test_jobs_are_capped_at_the_cells_to_run(two_cores):
    jobs, notes = bounded_jobs(64, 2, "loky", None, "cpu")
    assert jobs == 2 and "--jobs 64 capped at 2: the run has 2 cell(s)" in notes[0]
    assert bounded_jobs(10000, 2, "loky", None, "cpu")[0] == 2
    assert bounded_jobs(3, 0, "loky", None, "cpu")[0] == 1


def test_above_the_cores_warns_far_above_refuses(two_cores):
    jobs, notes = bounded_jobs(5, 100, "loky", None, "cpu")
    assert jobs == 5 and "more than the 2 CPU core(s)" in notes[0]
    with pytest.raises(
        RunError,
        match=rf"--jobs 9 would start 9 worker processes on 2 CPU core\(s\).*at most --jobs {2 * OVERSUBSCRIBE}",
    ):
        bounded_jobs(9, 100, "dask", "local", "cpu")
    assert bounded_jobs(2, 100, "loky", None, "cpu") == (2, [])


def test_gpus_bound_a_cuda_run(two_cores, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    jobs, notes = bounded_jobs(3, 10, "loky", None, "cuda")
    assert jobs == 3 and "more than the 2 visible GPU(s): 1 cell(s) share a GPU" in notes[0]


def test_remote_backends_are_bounded_by_cells_only(two_cores):
    assert bounded_jobs(500, 1000, "slurm", None, "cuda") == (500, [])
    assert bounded_jobs(500, 1000, "dask", "tcp://head:8786", "cpu") == (500, [])


def test_run_with_too_many_jobs_starts_one_worker_per_cell(tmp_path, demo_cache, capsys, monkeypatch):
    import bench.run.workers

    seen = []
    real = bench.run.workers.run_contained
    monkeypatch.setattr(
        bench.run.workers,
        "run_contained",
        lambda todo, cfg, jobs, *a: (seen.append(jobs), real(todo, cfg, jobs, *a))[1],
    )
    assert (
        main(
            [
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
                "1",
                "--jobs",
                "64",
                "--out",
                str(tmp_path / "runs"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "--jobs 64 capped at 1" in capsys.readouterr().err
    assert seen == [1]
