"""Issue 32 item 2: a cell whose predictions were partly non-finite carries a mark in every table format, the
table's notes count the dropped predictions, and a number above the stated limit (1 %) is not ranked."""

from __future__ import annotations

import csv
import io

import pytest

from bench.cli import main
from reports.model import DROPPED, DROPPED_RANK_LIMIT

RUN = ["run", "--protocol", "intra", "--method", "noop", "--data", "demo", "--datasets", "demo-a", "--splits", "2"]
OUTPUTS = {"good": ["output=score", "noise=0.05"], "poor": ["output=score", "noise=1.0"], "nan": ["output=mostly_nan"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, demo_cache):
    out = tmp_path_factory.mktemp("dropped") / "runs"
    for params in OUTPUTS.values():
        args = [a for p in params for a in ("--param", f"noop.{p}")]
        assert main([*RUN, "--no-progress", "--out", str(out), *args]) == 0
    return out


def report(runs, fmt, capsys):
    capsys.readouterr()
    assert main(["report", "--runs", str(runs), "--out", "-", "--format", fmt, "--views", "none"]) == 0
    return capsys.readouterr().out


def test_the_stated_limit():
    assert DROPPED_RANK_LIMIT == 0.01


def test_markdown_marks_the_cell_counts_the_dropped_and_does_not_rank_it(runs, capsys):
    text = report(runs, "md", capsys)
    main_table = text.split("rank stability")[0]  # the rank-stability table after it leaves this row out
    (nan_row,) = [line for line in main_table.splitlines() if line.startswith("| noop") and r"mostly\_nan" in line]
    assert DROPPED in nan_row and "**" not in nan_row and "<ins>" not in nan_row  # 1.000 on a quarter: unranked
    (good_row,) = [line for line in main_table.splitlines() if line.startswith("| noop") and "noise=0.05" in line]
    assert "**" in good_row and DROPPED not in good_row  # the best of the rows scored on every image
    note = next(line for line in text.splitlines() if line.startswith(f"- {DROPPED} :"))
    assert "non-finite predictions (NaN/inf) were left out of the metrics" in note
    # demo-a's intra test sets: 2 splits of 40 images; 3 of every 4 predictions dropped (the first of 4 kept)
    assert r"output=mostly\_nan) on demo-a: 60 of 80 test predictions over 2 split(s) (not ranked)" in note
    assert "more than 1% of its test predictions is not ranked" in note


def test_csv_carries_the_counts_and_the_mark(runs, capsys):
    rows = list(csv.DictReader(io.StringIO(report(runs, "csv", capsys))))
    nan = [r for r in rows if r["kind"] == "measured" and "mostly_nan" in r["row"]]
    assert nan and all(DROPPED in r["note"] and r["rank"] == "" for r in nan)
    for r in nan:
        dropped, of = int(r["dropped"]), int(r["dropped_of"])
        assert of > 0 and 0.7 < dropped / of < 0.8
    others = [r for r in rows if r["kind"] == "measured" and "mostly_nan" not in r["row"]]
    assert others and all(r["dropped"] == "0" and DROPPED not in r["note"] for r in others)
    assert any(r["rank"] == "1" for r in others)


def test_latex_marks_the_cell(runs, capsys):
    text = report(runs, "latex", capsys)
    assert r"$^{\Vert}$" in text and "non-finite predictions" in text


def test_the_run_summary_shows_the_dropped_predictions(tmp_path, capsys, demo_cache):
    args = ["--splits", "1", "--param", "noop.output=mostly_nan", "--no-progress", "--out", str(tmp_path / "r")]
    assert main([*RUN[:-2], *args]) == 0
    out = capsys.readouterr().out
    header, _, row = out.splitlines()[:3]
    assert header.split()[-1] == "dropped" and row.split()[-1] == "30/40"  # 3 of every 4 of the 40 test images
    assert "DROPPED: non-finite predictions (NaN/inf) left out of the metrics" in out
