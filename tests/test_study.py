"""Study files and `bench study plan|run|report` (bench/study/, bench/cli/commands/study.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.study.spec import SHIPPED, load_study, shipped_names

PAPER_CELLS = {"table1": 600, "table2": 60, "table3": 200, "table4": 100, "table5": 180, "table6": 160}

SMALL = """
[study]
name = "small"

[[experiment]]
name = "svr"
table = "Table 1"
protocol = "intra"
methods = ["nss-svr"]
datasets = ["demo-a"]
preset = "ci"
splits = 1

[[experiment]]
name = "mp"
table = "Table 3"
protocol = "cross"
methods = ["mpiqe"]
pairs = [["demo-a", "demo-b"]]
preset = "ci"
splits = 1
"""


def cli(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def write(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_studies_load():
    assert {"mpiqe-paper", "zero-shot"} <= set(shipped_names())
    paper = load_study("mpiqe-paper")
    assert [e.name for e in paper.experiments] == list(PAPER_CELLS)
    assert paper.tables == [f"Table {i}" for i in range(1, 7)]
    assert load_study("zero-shot").protocols == ["eval"]


def test_plan_paper_without_data(tmp_path, capsys):
    nodata = tmp_path / "nodata"
    nodata.mkdir()
    rc, out, _ = cli(
        capsys, "study", "plan", "mpiqe-paper", "--data-root", str(nodata), "--out", str(tmp_path / "r"), "--json"
    )
    assert rc == 0
    plan = json.loads(out)
    by_name = {e["name"]: e for e in plan["experiments"]}
    assert {n: e["cells"] for n, e in by_name.items()} == PAPER_CELLS
    assert all(e["optimizer_steps"] > 0 and e["device_hours"] > 0 for e in plan["experiments"])
    # MP-IQE's intra cells on LIVEC/KonIQ feed Tables 1 and 2: counted once in the total
    assert plan["total"]["cells"] == sum(PAPER_CELLS.values()) - 20
    assert set(by_name["table1"]["missing_datasets"]) == {"live", "csiq", "kadid10k", "livec", "bid", "koniq10k"}
    assert "ViT-B-16.pt" in by_name["table4"]["missing_weights"]  # no weights in the test caches
    assert plan["throughput"]["source"].startswith("default: timm vit_base_patch16_224")
    rc, out, _ = cli(capsys, "study", "plan", "mpiqe-paper", "--data-root", str(nodata), "--out", str(tmp_path / "r"))
    for name in PAPER_CELLS:
        assert name in out
    assert "missing weight files" in out and "weights fetch --study mpiqe-paper" in out
    assert "missing datasets (6)" in out


def test_plan_uses_the_perf_measurement(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    from bench.study.estimate import save_perf

    save_perf(
        {
            "method": "mpiqe",
            "device": "cuda:0",
            "device_name": "Test GPU",
            "backbone": "ViT-B-16",
            "crops_per_s": {"mpiqe_train_step": 100.0, "mpiqe_inference": 400.0},
        }
    )
    rc, out, _ = cli(
        capsys,
        "study",
        "plan",
        "mpiqe-paper",
        "--data-root",
        str(tmp_path),
        "--json",
        "--only",
        "table4",
        "--out",
        str(tmp_path / "r"),
    )
    assert rc == 0
    plan = json.loads(out)
    assert plan["throughput"]["source"].startswith("measured: bench perf --method mpiqe on Test GPU")
    default_h = 13.9  # table4 at the default 390.86 / 1132.21 samples/s; 100 / 400 is ~3.9x slower
    assert plan["experiments"][0]["device_hours"] > 3 * default_h


@pytest.mark.parametrize(
    "text, needle",
    [
        (
            '[[experiment]]\nname="a"\nprotocol="intra"\nmethods=["nss-svr"]\ndatasetz=["live"]',
            "experiment 'a': key 'datasetz': unknown key 'datasetz'. Did you mean: datasets?",
        ),
        (
            '[[experiment]]\nname="a"\nprotocol="intra"\nmethods=["nss-svr"]\nsplits=0',
            "experiment 'a': key 'splits': bad value 0",
        ),
        ('[[experiment]]\nname="a"\nprotocol="intro"\nmethods=["nss-svr"]', "key 'protocol': unknown protocol 'intro'"),
        ('[[experiment]]\nname="a"\nprotocol="cross"\nmethods=["nss-svr"]\ndatasets=["live"]', "key 'datasets'"),
        (
            (
                '[[experiment]]\nname="a"\nprotocol="intra"\nmethods=["nss-svr"]\n[[experiment]]\nname="a"\nprotocol="intra"\n'
                'methods=["nss-svr"]'
            ),
            "experiment 'a': key 'name': used twice",
        ),
        ('[[experiment]]\nname="a"\nprotocol="intra"', "experiment 'a': key 'methods': missing"),
        (
            '[[experiment]]\nname="a"\nprotocol="intra"\nmethods=["nss-svr"]\nprecision="float16"',
            "key 'precision': bad value 'float16'; expected auto or float64",
        ),
        ('[[experiment]\nname="a"', "not valid TOML"),
    ],
)
def test_bad_study_file_one_error(tmp_path, capsys, text, needle):
    path = write(tmp_path, text)
    rc, out, err = cli(capsys, "study", "plan", str(path))
    assert rc == 2 and out == ""
    assert str(path) in err and needle in err, err


@pytest.mark.parametrize(
    "extra, needle",
    [
        ('params = { "nss-svr.no_such" = 1 }', "key 'params'"),
        ('params = { "mpiqe.epochs" = 1 }', "key 'params': 'mpiqe.epochs' names method 'mpiqe'"),
        ('methods = ["nss-svr", "no-such-method"]', "key 'methods': unknown method"),
        ('datasets = ["livee"]', "key 'datasets'"),
    ],
)
def test_bad_values_found_before_anything_runs(tmp_path, capsys, extra, needle):
    base = {"methods": 'methods = ["nss-svr"]', "datasets": 'datasets = ["live"]'}
    key = extra.split(" ", 1)[0]
    lines = [v for k, v in base.items() if k != key] + [extra]
    path = write(tmp_path, '[[experiment]]\nname = "a"\nprotocol = "intra"\n' + "\n".join(lines))
    rc, _, err = cli(capsys, "study", "run", str(path), "--data", "demo", "--out", str(tmp_path / "runs"))
    assert rc == 2 and "experiment 'a'" in err and needle in err, err
    assert not (tmp_path / "runs" / "cells").exists()


def test_small_study_end_to_end(tmp_path, capsys):
    path = write(tmp_path, SMALL)
    runs, rep = tmp_path / "runs", tmp_path / "rep"
    t0 = time.perf_counter()
    rc, out, _ = cli(
        capsys, "study", "run", str(path), "--out", str(runs), "--backend", "sequential", "--no-progress", "--json"
    )
    seconds = time.perf_counter() - t0
    assert rc == 0, out
    summary = {e["name"]: e for e in json.loads(out)["experiments"]}
    assert summary["svr"]["planned"] == summary["svr"]["done"] == 1
    assert summary["mp"]["planned"] == summary["mp"]["done"] == 1
    # resumable: the plan now counts them done, a second run runs nothing
    rc, out, _ = cli(capsys, "study", "plan", str(path), "--out", str(runs), "--json")
    assert json.loads(out)["total"]["done"] == 2
    rc, out, _ = cli(capsys, "study", "run", str(path), "--out", str(runs), "--no-progress")
    assert rc == 0 and "0 finished now, 2 already done" in out
    rc, out, _ = cli(capsys, "study", "report", str(path), "--runs", str(runs), "-o", str(rep))
    assert rc == 0 and "2 of 2 table(s)" in out
    md = (rep / "report.md").read_text()
    assert "Table 1" in md and "Table 3" in md and "MP-IQE" in md
    print(f"small study run: {seconds:.1f} s")


def test_missing_weights_skip_or_strict(tmp_path, capsys):
    """dbcnn's files are not in the test caches: its cells are skipped with the reason; --strict refuses."""
    path = write(
        tmp_path,
        '[[experiment]]\nname = "mixed"\nprotocol = "intra"\nmethods = ["nss-svr", "dbcnn"]\n'
        'datasets = ["live"]\nsplits = 1\n',
    )
    runs = tmp_path / "runs"
    rc, out, _ = cli(capsys, "study", "run", str(path), "--data", "demo", "--out", str(runs), "--dry-run")
    assert rc == 0 and "vgg16-397923af.pth (dbcnn)" in out and not runs.exists()
    rc, out, err = cli(capsys, "study", "run", str(path), "--data", "demo", "--out", str(runs), "--strict")
    assert rc == 2 and "--strict" in err and "dbcnn" in err and "weights fetch" in err
    assert not (runs / "cells").exists()
    rc, out, _ = cli(
        capsys,
        "study",
        "run",
        str(path),
        "--data",
        "demo",
        "--out",
        str(runs),
        "--no-progress",
        "--backend",
        "sequential",
    )
    assert rc == 0
    assert "2/2" in out and "skipped: method dbcnn: weight file vgg16-397923af.pth missing" in out
    assert "python -m bench weights fetch --study" in out


def test_zero_shot_study_plans_on_demo(tmp_path, capsys):
    rc, out, _ = cli(capsys, "study", "plan", "zero-shot", "--data", "demo", "--out", str(tmp_path), "--json")
    assert rc == 0
    exps = json.loads(out)["experiments"]
    assert {e["protocol"] for e in exps} == {"eval"}
    hand = next(e for e in exps if e["name"] == "hand-crafted")
    assert hand["cells"] == 2 * 5 and hand["datasets"] == ["demo-a", "demo-b"]


def test_studies_are_package_data():
    import tomllib

    root = Path(__file__).resolve().parents[1]
    cfg = tomllib.loads((root / "pyproject.toml").read_text())
    globs = cfg["tool"]["setuptools"]["package-data"]["bench"]
    assert SHIPPED.relative_to(root / "bench").as_posix() + "/*.toml" in globs
    assert all(p.is_file() for p in SHIPPED.glob("*.toml"))


@pytest.mark.slow
def test_paper_study_on_demo_data(tmp_path, capsys):
    """The whole paper study on the demo data: every table that can run here, then all six in the report."""
    runs, rep = tmp_path / "runs", tmp_path / "rep"
    t0 = time.perf_counter()
    rc, out, _ = cli(
        capsys,
        "study",
        "run",
        "mpiqe-paper",
        "--data",
        "demo",
        "--out",
        str(runs),
        "--no-progress",
        "--splits",
        "1",
        "--preset",
        "ci",
        "--jobs",
        "2",
    )
    assert rc == 0, out
    rc, out, _ = cli(capsys, "study", "report", "mpiqe-paper", "--runs", str(runs), "-o", str(rep))
    print(f"mpiqe-paper on demo data (1 split, ci preset): {time.perf_counter() - t0:.1f} s")
    assert rc == 0 and "6 of 6 table(s)" in out, out
