"""The shipped `koniq-cross` study: KonIQ-10k's official training set -> the six test sets of the DeQA-Score /
Q-Align cross table, its retrained methods and MP-IQE, and the zero-shot metrics on the same sets."""

from __future__ import annotations

import json

from bench.cli import main
from bench.study.spec import load_study

TESTS = ["spaq", "kadid10k", "pipal", "livec", "agiqa3k", "csiq"]


def test_koniq_cross_study_file():
    study = load_study("koniq-cross")
    cross, zero = study.experiments
    assert cross.protocol == "cross" and zero.protocol == "eval"
    assert cross.pairs == tuple(("koniq10k", t) for t in TESTS)
    assert cross.split_set == "official" and cross.splits == 1 and cross.cross_train == "split"
    assert "mpiqe" in cross.methods and "unique" in cross.methods
    assert zero.datasets == ("koniq10k", *TESTS) and "pyiqa:qalign" in zero.methods


def test_koniq_cross_plan_without_data(tmp_path, capsys):
    nodata = tmp_path / "nodata"
    nodata.mkdir()
    argv = ["study", "plan", "koniq-cross", "--data-root", str(nodata), "--out", str(tmp_path / "r"), "--json"]
    assert main(argv) == 0
    plan = json.loads(capsys.readouterr().out)
    by_name = {e["name"]: e for e in plan["experiments"]}
    cross, zero = by_name["retrained"], by_name["zero-shot"]
    assert cross["cells"] == len(cross["methods"]) * len(TESTS)  # one official split: one cell per method and pair
    assert zero["cells"] == len(zero["methods"]) * (1 + len(TESTS))
    assert set(cross["missing_datasets"]) == {"koniq10k", *TESTS}
    assert cross["optimizer_steps"] > 0 and cross["device_hours"] > 0
