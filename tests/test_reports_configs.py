"""One configuration per row, on a store built from real runs: nss-svr on demo-a with 10 splits, then 3 splits
with --param paired_products=false into the same --out (the sweep a user makes). Also the synthetic-data labels
in every output, the per-distortion table against SRCC recomputed from preds.csv, the runtime table,
--where/--preset, --metrics, --aggregate and the confidence interval."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from bench.cli import main
from bench.results.store import ResultStore
from reports import configs, render_md
from reports.build import build_report, write_report
from reports.errors import ReportError


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mixed") / "runs"
    common = [
        "run",
        "--protocol",
        "intra",
        "--method",
        "nss-svr",
        "--data",
        "demo",
        "--datasets",
        "demo-a",
        "--out",
        str(out),
        "--no-progress",
        "--jobs",
        "1",
    ]
    assert main(common + ["--splits", "10"]) == 0
    assert main(common + ["--splits", "3", "--param", "paired_products=false"]) == 0
    return out


def _cells(runs: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(runs.glob("cells/*/*.json"))]


def _table(report, table_id):
    return next(t for t in report.tables if t.id == table_id)


def test_two_rows_labelled_by_what_differs_with_medians_from_the_json(mixed):
    t1 = _table(build_report(mixed, views=[]), "table1")
    assert sorted(r.label for r in t1.rows) == ["NSS-SVR (paired_products=false)", "NSS-SVR (paired_products=true)"]
    by_value = defaultdict(list)
    for c in _cells(mixed):
        by_value[json.dumps(c["params"]["paired_products"])].append(c["metrics"]["srcc"])
    assert sorted(len(v) for v in by_value.values()) == [3, 10]
    for value, srccs in by_value.items():
        row = next(r for r in t1.rows if r.config == f"paired_products={value}")
        stat = row.cells[("demo-a", "demo-a", "srcc")]
        assert stat.n == len(srccs) and stat.value == pytest.approx(float(np.median(srccs)))
    assert not any("superseded" in n for n in t1.notes)  # nothing is thrown away any more
    assert any("never pooled" in n and "--where" in n for n in t1.notes)


def test_where_and_preset_choose_one_configuration(mixed, capsys):
    only = _table(build_report(mixed, where=["nss-svr.paired_products=false"], views=[]), "table1")
    (row,) = only.rows
    assert row.label == "NSS-SVR" and row.cells[("demo-a", "demo-a", "srcc")].n == 3
    # a single row ranks nothing: no bold, no underline
    md = render_md.render_table(only)
    assert "**0." not in md and "<ins>" not in md
    (row,) = _table(build_report(mixed, where=["paired_products=true"], views=[]), "table1").rows
    assert row.cells[("demo-a", "demo-a", "srcc")].n == 10
    # numerically equal spellings are one value: alpha is stored as 1.0; 1 and 1.0 both select all 13 cells
    for spelling in ("1", "1.0", "1e0"):
        t1 = _table(build_report(mixed, where=[f"nss-svr.alpha={spelling}"], views=[]), "table1")
        assert sum(r.cells[("demo-a", "demo-a", "srcc")].n for r in t1.rows) == 13
    assert len(_table(build_report(mixed, presets=["demo"], views=[]), "table1").rows) == 2
    with pytest.raises(ReportError, match="Did you mean: paired_products"):
        build_report(mixed, where=["nss-svr.paired_product=0"])
    with pytest.raises(ReportError, match="matches no cell; the store holds false, true"):
        build_report(mixed, where=["nss-svr.paired_products=2"])
    with pytest.raises(ReportError, match="preset"):
        build_report(mixed, presets=["paper"])
    assert main(["report", "--runs", str(mixed), "--out", "-", "--where", "nss-svr.alpha=x"]) == 2
    assert "matches no cell" in capsys.readouterr().err


def test_numerically_equal_parameters_are_one_configuration(mixed, tmp_path):
    assert configs.config_of({"params": {"alpha": 1, "size": [224.0, 224]}}) == configs.config_of(
        {"params": {"alpha": 1.0, "size": [224, 224.0]}}
    )
    assert configs.config_of({"params": {"alpha": 1}}) != configs.config_of({"params": {"alpha": 1.5}})
    runs = tmp_path / "runs"
    shutil.copytree(mixed, runs)
    # the same 10 cells again under new keys, alpha written as the int 1 instead of 1.0: still one row of 10
    for c in _cells(mixed):
        if c["params"]["paired_products"] is True:
            c["params"]["alpha"] = int(c["params"]["alpha"])
            old = c["key"]
            c["key"] = "ee" + c["key"][2:]
            c["finished_at"] = "2099-01-01T00:00:00+00:00"
            # written as a run writes it: its integrity hashes cover every field (bench/core/integrity.py)
            store = ResultStore(runs)
            store.write_done(c, store.load_predictions(old))
    t1 = _table(build_report(runs, views=[]), "table1")
    assert len(t1.rows) == 2
    assert any("10 older result(s) of the same configuration" in n for n in t1.notes)


def test_synthetic_data_is_labelled_in_every_output(mixed, tmp_path, capsys):
    report = build_report(mixed)
    written = write_report(report, tmp_path / "rep", ["md", "latex", "csv", "png"])
    md = (tmp_path / "rep" / "report.md").read_text()
    tex = (tmp_path / "rep" / "report.tex").read_text()
    assert "Synthetic data: demo-a is synthetic and not human-rated" in md
    assert "synthetic and not human-rated" in tex and "(synthetic, not human-rated)" in tex
    assert "(synthetic, not human-rated)" in (tmp_path / "rep" / "tables" / "table1.tex").read_text()
    rows = list(csv.DictReader((tmp_path / "rep" / "cells.csv").open()))
    assert rows and all(r["synthetic_data"] == "yes" for r in rows if r["test"] == "demo-a")
    pngs = [p for p in written if p.suffix == ".png"]
    assert {p.stem for p in pngs} >= {"srcc_by_dataset", "scatter"}
    for figure in report.figures:  # captions (md links, LaTeX figures) say it too
        assert figure[1].endswith("Synthetic data, not human-rated.")
        assert (
            f"]({figure[0]})" in md
            and rf"\includegraphics[width=\linewidth,height=0.4\textheight,"
            rf"keepaspectratio]{{{figure[0]}}}"
            in tex
        )
    # bench run's summary, and results export
    assert (
        main(
            [
                "run",
                "--protocol",
                "intra",
                "--method",
                "nss-svr",
                "--data",
                "demo",
                "--datasets",
                "demo-a",
                "--out",
                str(mixed),
                "--splits",
                "3",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "SYNTHETIC DATA: demo-a is synthetic and not human-rated" in capsys.readouterr().out
    assert main(["results", "export", "--out", str(mixed), "--to", str(tmp_path / "t.csv")]) == 0
    exported = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert exported and all(r["synthetic_data"] == "True" for r in exported)


def test_with_published_says_why_nothing_is_shown(mixed):
    report = build_report(mixed, with_published=True, views=[])
    assert not any(r.published for t in report.tables for r in t.rows)
    assert any("no measured row has a counterpart in the paper" in n and "demo datasets" in n for n in report.notes)


def test_per_distortion_table_equals_srcc_recomputed_from_preds(mixed):
    from bench.data.datasets import load_dataset

    table = _table(build_report(mixed, views=["distortion"]), "distortion-demo-a")
    kind_of = {r.id: r.distortion for r in load_dataset("demo-a").records}
    per: dict[tuple, list] = defaultdict(list)  # (paired_products, distortion) -> SRCC per cell
    for c in _cells(mixed):
        with (mixed / "cells" / c["key"][:2] / f"{c['key']}.preds.csv").open() as f:
            rows = list(csv.DictReader(f))
        groups = defaultdict(list)
        for r in rows:
            groups[kind_of[r["id"]]].append((float(r["score"]), float(r["prediction"])))
        for kind, pairs in groups.items():
            mos, pred = zip(*pairs)
            rho = sps.spearmanr(pred, mos)[0]
            if np.isfinite(rho):
                per[(json.dumps(c["params"]["paired_products"]), kind)].append(rho)
    assert len({k for _, k in per}) == 10
    checked = 0
    for (value, kind), srccs in per.items():
        row = next(r for r in table.rows if r.config == f"paired_products={value}")
        stat = row.cells[("demo-a", "demo-a", f"{kind}:srcc")]
        assert stat.n == len(srccs) and stat.value == pytest.approx(float(np.median(srccs)))
        checked += 1
    assert checked == 20


def test_runtime_table_sums_the_cells(mixed):
    table = _table(build_report(mixed, views=["runtime"]), "runtime")
    cells = _cells(mixed)
    total = sum(c["fit_s"] + c["predict_s"] for c in cells)
    assert table.groups[0].label.startswith(f"intra: {total / 3600:.3g} CPU-hours, 0 GPU-hours")
    counts = sorted(int(r.cells["cells"].text) for r in table.rows)
    assert counts == [3, 10] and {r.cells["device"].text for r in table.rows} == {"cpu"}
    row = next(r for r in table.rows if "paired_products=false" in r.label)
    fits = [c["fit_s"] for c in cells if c["params"]["paired_products"] is False]
    assert row.cells["fit"].text == f"{np.median(fits):.3g}"


def test_metrics_aggregate_and_spreads(mixed):
    srcc = [c["metrics"]["srcc"] for c in _cells(mixed) if c["params"]["paired_products"] is True]
    rmse = [c["metrics"]["rmse"] for c in _cells(mixed) if c["params"]["paired_products"] is True]
    report = build_report(mixed, metrics=["krcc", "rmse", "srcc"], aggregate="mean", views=[])
    t1 = _table(report, "table1")
    assert [c.key[2] for c in t1.columns] == ["srcc", "krcc", "rmse"]
    row = next(r for r in t1.rows if r.config == "paired_products=true")
    stat = row.cells[("demo-a", "demo-a", "srcc")]
    assert stat.value == pytest.approx(np.mean(srcc)) and stat.spread == pytest.approx(np.std(srcc, ddof=1))
    assert f"{np.mean(srcc):.3f} ± {np.std(srcc, ddof=1):.3f} (n=10)" in render_md.number(stat, ranked=False)
    # RMSE: lower is better, so the lower row is the bold one
    other = next(r for r in t1.rows if r.config == "paired_products=false")
    lower = min((row, other), key=lambda r: r.cells[("demo-a", "demo-a", "rmse")].value)
    assert lower.cells[("demo-a", "demo-a", "rmse")].rank == 1
    assert row.cells[("demo-a", "demo-a", "rmse")].value == pytest.approx(np.mean(rmse))
    ci = _table(build_report(mixed, spread="ci", views=[]), "table1")
    stat = next(r for r in ci.rows if r.config == "paired_products=true").cells[("demo-a", "demo-a", "srcc")]
    lo, hi = stat.bounds
    assert lo <= stat.value <= hi and min(srcc) <= lo and hi <= max(srcc)
    again = _table(build_report(mixed, spread="ci", views=[]), "table1")
    assert next(r for r in again.rows if r.config == "paired_products=true").cells[
        ("demo-a", "demo-a", "srcc")
    ].bounds == (lo, hi)  # seeded: the same interval twice
    with pytest.raises(ReportError, match="Did you mean: rmse"):
        build_report(mixed, metrics=["rmsee"])


def test_protocol_options_separate_rows_and_trained_on_test_is_marked(mixed, tmp_path):
    from reports import render_latex

    runs = tmp_path / "runs"
    shutil.copytree(mixed, runs)
    for path in runs.glob("cells/*/*.json"):
        c = json.loads(path.read_text())
        if c["params"]["paired_products"] is True:
            c["cross_train"] = "full" if c["split_index"] % 2 else "train-split"  # an option another protocol sets
            c["trained_on_test_dataset"] = c["split_index"] == 0
            ResultStore(runs).write_done(c, ResultStore(runs).load_predictions(c["key"]))  # re-hashed as written
    t1 = _table(build_report(runs, views=[]), "table1")
    labels = sorted(r.label for r in t1.rows)
    assert labels == [
        "NSS-SVR (paired_products=false, cross_train=–)",
        "NSS-SVR (paired_products=true, cross_train=full)",
        "NSS-SVR (paired_products=true, cross_train=train-split)",
    ]
    marked = next(r for r in t1.rows if "train-split" in r.label).cells[("demo-a", "demo-a", "srcc")]
    assert marked.note == "¶" and marked.n == 5
    assert next(r for r in t1.rows if "=full" in r.label).cells[("demo-a", "demo-a", "srcc")].note == ""
    assert any(n.startswith("¶ : a zero-shot checkpoint tested on a dataset it was trained on") for n in t1.notes)
    assert r"\textsuperscript{\P}" in render_latex.render_table(t1)
    # --where on a protocol option: only the method's cells with that value (not those without the field)
    (row,) = _table(build_report(runs, where=["nss-svr.cross_train=full"], views=[]), "table1").rows
    assert row.cells[("demo-a", "demo-a", "srcc")].n == 5 and row.label == "NSS-SVR"


def test_run_options_recorded_by_the_runner_separate_rows(tmp_path):
    """`--cross-train full` cells (recorded in the cell's training_options) never pool with split cells."""
    out = tmp_path / "runs"
    common = [
        "run",
        "--protocol",
        "cross",
        "--method",
        "nss-svr",
        "--data",
        "demo",
        "--train",
        "demo-a",
        "--test",
        "demo-b",
        "--out",
        str(out),
        "--no-progress",
        "--jobs",
        "1",
        "--splits",
        "2",
    ]
    assert main(common) == 0
    assert main(common + ["--cross-train", "full"]) == 0
    cells = _cells(out)
    assert sorted((c.get("training_options") or {}).get("cross_train", "split") for c in cells) == [
        "full",
        "split",
        "split",
    ]
    t3 = _table(build_report(out, views=[]), "table3")
    by_label = {r.label: r for r in t3.rows}
    assert sorted(by_label) == ["NSS-SVR (cross_train=full)", "NSS-SVR (cross_train=–)"]
    stats = {label: next(iter(r.cells.values())) for label, r in by_label.items()}
    assert stats["NSS-SVR (cross_train=full)"].n == 1 and stats["NSS-SVR (cross_train=–)"].n == 2
