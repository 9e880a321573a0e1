"""`bench run / methods / protocols / results` as a user meets them: real subprocesses, real signals."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.results.store import ResultStore

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def demo_data(demo_cache):
    from bench.data.datasets import load_dataset

    for name in ("demo-a", "demo-b"):
        load_dataset(name)


def bench_cmd(*args):
    return [sys.executable, "-m", "bench", *args]


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


def wait_for_cells(store, n, proc, timeout=90):
    deadline = time.time() + timeout
    while len(store.done_keys()) < n:
        assert proc.poll() is None, f"run ended early: {proc.communicate()}"
        assert time.time() < deadline, "no progress"
        time.sleep(0.05)


def test_sigkill_loses_only_cells_in_flight_and_resume_runs_each_cell_once(tmp_path):
    out = tmp_path / "runs"
    args = noop_run(out, "--splits", "6", "--param", "sleep_s=0.1")
    proc = subprocess.Popen(
        bench_cmd(*args, "--jobs", "2"),
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = ResultStore(out)
    wait_for_cells(store, 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its loky workers, mid-flight
    proc.wait(10)
    before = {k: store.cell_path(k).stat().st_mtime_ns for k in store.done_keys()}
    assert 3 <= len(before) < 12
    resumed = subprocess.run(bench_cmd(*args, "--jobs", "1"), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{12 - len(before)} cell(s) finished, {len(before)} already done;" in resumed.stdout
    assert len(store.done_keys()) == 12 and store.failed_keys() == set()
    for key, mtime in before.items():  # finished before the kill: never run again
        assert store.cell_path(key).stat().st_mtime_ns == mtime
    for rec in store.iter_results():  # every file complete, predictions beside it
        assert rec["status"] == "done" and len(store.load_predictions(rec["key"])) == rec["n_test"]
    stray = [
        p
        for p in out.rglob("*")
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith((".json", ".preds.csv"))
    ]
    assert stray == []


def test_ctrl_c_keeps_finished_cells_and_says_how_to_resume(tmp_path):
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        bench_cmd(*noop_run(out, "--splits", "10", "--param", "sleep_s=0.2")),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = ResultStore(out)
    wait_for_cells(store, 2, proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Run the same command again to resume" in stderr
    assert 2 <= len(store.done_keys()) < 20 and store.failed_keys() == set()


def test_dry_run_lists_cells_and_what_is_done(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(noop_run(out, "--splits", "2", "--datasets", "demo-a")) == 0
    capsys.readouterr()
    assert main(noop_run(out, "--splits", "3", "--dry-run")) == 0
    text = capsys.readouterr().out
    assert "6 cells: 2 done, 0 failed, 4 not run yet" in text and "without --dry-run, 4 would run" in text
    assert text.count(" done ") == 2 and text.count(" todo ") == 4
    assert not (out / "work").exists() and len(ResultStore(out).done_keys()) == 2  # ran nothing


def test_dry_run_on_an_unwritable_out_lists_the_cells_and_warns(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(noop_run(blocker / "runs", "--splits", "1", "--dry-run")) == 0
    cap = capsys.readouterr()
    assert "2 cells: 0 done" in cap.out and "warning: results folder" in cap.err and "not writable" in cap.err


def test_finished_run_prints_the_median_table_and_nothing_to_do(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(noop_run(out, "--splits", "2")) == 0
    first = capsys.readouterr().out
    assert "intra     noop" in first and "2/2" in first and "4 cell(s) finished" in first
    assert "variant" not in first and "frac" not in first  # columns with nothing to say are left out
    assert main(noop_run(out, "--splits", "2")) == 0
    assert "nothing to do: all 4 cells" in capsys.readouterr().out


def test_a_method_raising_in_one_cell_lets_the_others_finish(tmp_path, capsys):
    rc = main(noop_run(tmp_path, "--splits", "4", "--param", "noop.fail_on=demo-b"))
    cap = capsys.readouterr()
    assert rc == 1
    assert "4 cell(s) FAILED" in cap.err and "--rerun failed" in cap.err
    assert cap.err.count("asked to fail on dataset 'demo-b'") == 1  # one error, said once
    assert cap.err.count("intra noop demo-b split=") == 3 and "and 1 more cell(s) with this error" in cap.err
    assert "4 cell(s) finished, 4 failed" in cap.out and "0/4" in cap.out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--protocol", "intr", "--method", "noop", "--data", "demo"], "Did you mean: intra"),
        (["--protocol", "intra", "--method", "nop", "--data", "demo"], "Did you mean: noop"),
        (["--protocol", "intra", "--method", "noop", "--datasets", "demo-c"], "Did you mean: demo-b, demo-a"),
        (
            ["--protocol", "intra", "--method", "noop", "--data", "demo", "--param", "sleep=1"],
            "has no parameter(s) ['sleep']",
        ),
        (["--protocol", "intra", "--method", "noop", "--data", "demo", "--param", "x.sleep_s=1"], "not in --method"),
        (["--protocol", "intra", "--method", "noop", "--data", "demo", "--backend", "dsk"], "Did you mean: dask"),
        (["--protocol", "intra", "--method", "noop", "--data", "demo", "--backend", "dask"], "--scheduler"),
        (["--protocol", "intra", "--method", "noop", "--data", "demo", "--jobs", "0"], "--jobs"),
        (
            ["--protocol", "intra", "--method", "noop", "--data", "demo", "--scheduler", "tcp://h:8786"],
            "--backend dask",
        ),
        (["--protocol", "intra", "--method", "noop", "--data", "demo", "--preset", "papr"], "Did you mean: paper"),
        (["--protocol", "ablation", "--method", "noop", "--data", "demo"], "declares no variants for method 'noop'"),
    ],
)
def test_bad_input_is_one_clear_message(tmp_path, capsys, args, message):
    assert main(["run", *args, "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_unwritable_out_is_reported_before_the_data_is_loaded(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(noop_run(blocker / "runs", "--splits", "1")) == 2
    assert "not writable" in capsys.readouterr().err
    # the dataset is missing too, but the cheap check comes first (loading can take minutes)
    assert (
        main(
            [
                "run",
                "--protocol",
                "intra",
                "--method",
                "noop",
                "--datasets",
                "live",
                "--data-root",
                str(tmp_path / "nothing-here"),
                "--out",
                str(blocker / "runs"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "not writable" in err and "bench data check" not in err


def test_an_empty_list_is_refused_not_read_as_the_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--protocol", "intra", "--method", "noop", "--datasets", ","])
    assert exit_.value.code == 2 and "expected one or more names" in capsys.readouterr().err


def test_missing_dataset_points_to_data_check(tmp_path, capsys):
    rc = main(
        [
            "run",
            "--protocol",
            "intra",
            "--method",
            "noop",
            "--datasets",
            "live",
            "--data-root",
            str(tmp_path / "nothing-here"),
            "--out",
            str(tmp_path / "runs"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "bench data check" in err and "live" in err.lower()


def test_results_export_csv_and_parquet(tmp_path, capsys):
    import pandas as pd

    out = tmp_path / "runs"
    main(noop_run(out, "--splits", "2", "--param", 'output="score"'))
    main(["run", "--protocol", "cross", "--method", "noop", "--data", "demo", "--splits", "1", "--out", str(out)])
    capsys.readouterr()
    assert main(["results", "export", "--out", str(out)]) == 0
    csv = pd.read_csv(out / "results.csv")
    pq = pd.read_parquet(out / "results.parquet")
    assert len(csv) == len(pq) == 6
    for col in (
        "protocol",
        "method",
        "params",
        "train",
        "test",
        "split",
        "fraction",
        "seed",
        "srcc",
        "plcc",
        "krcc",
        "rmse",
        "n_train",
        "n_test",
        "fit_s",
        "predict_s",
        "device",
        "versions",
        "git_commit",
    ):
        assert col in csv.columns
    assert set(csv.protocol) == {"intra", "cross"} and json.loads(csv.params[0])["output"] in ("score", "hash")
    assert main(["results", "export", "--out", str(tmp_path / "empty")]) == 2


def test_methods_and_protocols_listings(capsys):
    assert main(["methods"]) == 0
    text = capsys.readouterr().out
    line = next(row for row in text.splitlines() if row.startswith("nss-svr "))
    assert "native" in line and "yes" in line
    assert main(["methods", "--preset", "papr"]) == 2
    assert "Did you mean: paper" in capsys.readouterr().err
    assert main(["protocols"]) == 0
    text = capsys.readouterr().out
    for name in ("intra", "cross", "efficiency", "ablation", "sensitivity", "livec->koniq10k", "0.2, 0.4, 0.6"):
        assert name in text
    assert main(["protocols", "ablation"]) == 0
    assert "no-deep-visual-prompts" in capsys.readouterr().out
