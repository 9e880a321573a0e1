"""The eval protocol: every image scored once, through the score cache; checkpoints; its report table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.cli import main
from bench.results.store import ResultStore

METRIC = "pyiqa:entropy"  # a pyiqa NR metric that needs no weight file


def cli(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def entropy_run(tmp_path_factory):
    """demo-a scored once by pyiqa:entropy (sequential backend: in this process, so the spy below sees it)."""
    pytest.importorskip("pyiqa")
    out = tmp_path_factory.mktemp("eval")
    rc = main(
        [
            "run",
            "--protocol",
            "eval",
            "--method",
            METRIC,
            "--data",
            "demo",
            "--datasets",
            "demo-a",
            "--backend",
            "sequential",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    return out


def test_eval_scores_every_image_once(entropy_run):
    from bench.core.metrics import compute_metrics
    from bench.data.datasets import load_dataset

    (rec,) = ResultStore(entropy_run).iter_results()
    ds = load_dataset("demo-a")
    assert rec["protocol"] == "eval" and rec["split_set"] == "all" and rec["n_test"] == len(ds) == 280
    assert rec["n_train"] == 0 and rec["fit_s"] < 0.01
    preds = (entropy_run / "cells" / rec["key"][:2] / f"{rec['key']}.preds.csv").read_text().splitlines()[1:]
    assert sorted(line.split(",")[0] for line in preds) == sorted(ds.ids)
    mos = np.array([float(line.split(",")[1]) for line in preds])
    pred = np.array([float(line.split(",")[2]) for line in preds])
    assert rec["metrics"]["srcc"] == pytest.approx(compute_metrics(mos, pred)["srcc"])


def test_second_run_scores_nothing(entropy_run, capsys, monkeypatch):
    """--rerun all recomputes the cell; every per-image score comes from the cache (no metric runs)."""
    from methods import pyiqa_zeroshot

    def refuse(self, items):
        raise AssertionError(f"{len(items)} image(s) scored again")

    monkeypatch.setattr(pyiqa_zeroshot.PyiqaZeroShot, "_score", refuse)
    (before,) = ResultStore(entropy_run).iter_results()
    rc, out, err = cli(
        capsys,
        "run",
        "--protocol",
        "eval",
        "--method",
        METRIC,
        "--data",
        "demo",
        "--datasets",
        "demo-a",
        "--backend",
        "sequential",
        "--out",
        str(entropy_run),
        "--no-progress",
        "--rerun",
        "all",
    )
    assert rc == 0, err
    (after,) = ResultStore(entropy_run).iter_results()
    assert after["key"] == before["key"] and after["metrics"] == before["metrics"]
    assert after["finished_at"] >= before["finished_at"]


def test_eval_table_in_the_report(entropy_run, tmp_path, capsys):
    (rec,) = ResultStore(entropy_run).iter_results()
    rc, out, err = cli(capsys, "report", "--runs", str(entropy_run), "--out", str(tmp_path), "--format", "md,csv")
    assert rc == 0, err
    md = (tmp_path / "report.md").read_text()
    table = md.split("**Zero-shot evaluation.**", 1)[1].split("\n\n**", 1)[0]
    assert "| demo-a |" in table and "**SRCC**" in table and "**KRCC**" in table
    row = next(line for line in table.splitlines() if "ENTROPY" in line.upper())
    for metric in ("plcc", "srcc", "krcc"):
        assert f"{rec['metrics'][metric]:.3f}" in row
    assert "Protocol eval" not in md  # not a second, generic table as well


def test_eval_refuses_what_does_not_apply(tmp_path, capsys):
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "eval",
        "--method",
        "nss-svr",
        "--data",
        "demo",
        "--out",
        str(tmp_path),
        "--dry-run",
    )
    assert rc == 2 and "trains" in err and "--checkpoint" in err
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "eval",
        "--method",
        "noop",
        "--data",
        "demo",
        "--splits",
        "3",
        "--out",
        str(tmp_path),
        "--dry-run",
    )
    assert rc == 2 and "--splits does not apply to the eval protocol" in err
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "intra",
        "--method",
        "noop",
        "--data",
        "demo",
        "--checkpoint",
        "x",
        "--out",
        str(tmp_path),
        "--dry-run",
    )
    assert rc == 2 and "--checkpoint is for the eval protocol" in err


def test_eval_of_a_checkpoint_on_the_other_dataset(tmp_path, capsys):
    runs = tmp_path / "runs"
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "intra",
        "--method",
        "nss-svr",
        "--data",
        "demo",
        "--datasets",
        "demo-a",
        "--splits",
        "1",
        "--preset",
        "ci",
        "--save-checkpoints",
        "--out",
        str(runs),
        "--no-progress",
    )
    assert rc == 0, err
    (trained,) = ResultStore(runs).iter_results()
    ckpt = trained["checkpoint"]
    rc, out, err = cli(
        capsys,
        "run",
        "--protocol",
        "eval",
        "--method",
        "nss-svr",
        "--checkpoint",
        ckpt,
        "--data",
        "demo",
        "--out",
        str(runs),
        "--no-progress",
    )
    assert rc == 0, err
    assert "not scored, trained on that dataset" in err and "on demo-a" in err
    evals = [r for r in ResultStore(runs).iter_results() if r["protocol"] == "eval"]
    assert [r["test_dataset"] for r in evals] == ["demo-b"]
    (ev,) = evals
    assert ev["variant"].startswith(f"ckpt-{trained['key'][:10]}-") and ev["params"] == trained["params"]
    assert ev["checkpoint"] == ckpt and ev["n_test"] == 280 and ev["n_train"] == 0
    # scoring demo-b with the checkpoint is what the cross protocol's demo-a -> demo-b cell does with this split
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "cross",
        "--method",
        "nss-svr",
        "--train",
        "demo-a",
        "--test",
        "demo-b",
        "--splits",
        "1",
        "--preset",
        "ci",
        "--out",
        str(runs),
        "--no-progress",
    )
    assert rc == 0, err
    (cross,) = [r for r in ResultStore(runs).iter_results() if r["protocol"] == "cross"]
    assert cross["metrics"]["srcc"] == pytest.approx(ev["metrics"]["srcc"], abs=1e-9)
    # the record the eval protocol takes the method and parameters from is checked like any other (issue 32)
    record_path = ResultStore(runs).cell_path(trained["key"])
    edited = json.loads(record_path.read_text())
    edited["params"]["svr_c"] = 123.0
    record_path.write_text(json.dumps(edited))
    rc, _, err = cli(
        capsys, "run", "--protocol", "eval", "--method", "nss-svr", "--checkpoint", ckpt, "--data", "demo",
        "--out", str(runs), "--dry-run",
    )  # fmt: skip
    assert rc == 2 and "fails its integrity check" in err and "do not match the hash" in err


def test_checkpoint_errors(tmp_path, capsys):
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "eval",
        "--method",
        "nss-svr",
        "--checkpoint",
        str(tmp_path / "nope"),
        "--data",
        "demo",
        "--out",
        str(tmp_path),
        "--dry-run",
    )
    assert rc == 2 and "no such file" in err
    stray = tmp_path / "checkpoints" / "ab" / "ab000"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"x")
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "eval",
        "--method",
        "nss-svr",
        "--checkpoint",
        str(stray),
        "--data",
        "demo",
        "--out",
        str(tmp_path),
        "--dry-run",
    )
    assert rc == 2 and "cell record" in err


def test_default_datasets_are_the_ones_found(tmp_path, capsys):
    """No --datasets: every known dataset; the missing ones are skipped and named."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    lines = []
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
        lines.append(f"{i}.png,{i + 1}")
    (tmp_path / "s.csv").write_text("f,m\n" + "\n".join(lines) + "\n")
    (tmp_path / "datasets.toml").write_text(
        '[datasets.tiny]\nimages = "imgs"\nscores = "s.csv"\nimage_column = "f"\n'
        'score_column = "m"\nscale = [1, 8]\norientation = "mos"\n'
    )
    rc, out, err = cli(
        capsys,
        "run",
        "--protocol",
        "eval",
        "--method",
        METRIC,
        "--data-root",
        str(tmp_path),
        "--out",
        str(tmp_path / "runs"),
        "--dry-run",
    )
    assert rc == 0, err
    assert "1 cells" in out and f"eval {METRIC} tiny" in out
    assert "skipped" in err and "live" in err and "koniq10k" in err
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "eval",
        "--method",
        METRIC,
        "--data-root",
        str(tmp_path / "empty"),
        "--out",
        str(tmp_path / "runs"),
        "--dry-run",
    )
    assert rc == 2 and "no dataset found" in err
    rc, _, err = cli(
        capsys,
        "run",
        "--protocol",
        "eval",
        "--method",
        METRIC,
        "--datasets",
        "live",
        "--data-root",
        str(tmp_path),
        "--out",
        str(tmp_path / "runs"),
        "--dry-run",
    )
    assert rc == 2 and "not found" in err  # named explicitly: an error, not a skip


def test_eval_protocol_is_listed(capsys):
    rc, out, _ = cli(capsys, "protocols", "eval")
    assert rc == 0 and out.startswith("eval") and "no splits" in out
