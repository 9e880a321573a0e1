"""Tables from the fixed results fixture: golden Markdown/LaTeX, placement of bold/underline, missing
cells, split counts, escaping, version guard, and the `bench report` command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from reports import render_latex, render_md
from reports.build import build_report, write_report
from reports.errors import ReportError

FIXTURE = Path(__file__).parent / "fixtures" / "reports"
RUNS = FIXTURE / "runs"
GOLDEN = FIXTURE / "golden"
UPDATE = os.environ.get("REPORTS_UPDATE_GOLDEN") == "1"  # regenerate after an intended change, then review the diff


# the per-distortion view reads datasets the fixture does not have: left out so the goldens never depend on them
VIEWS = ["runtime"]


@pytest.fixture(scope="module")
def report():
    return build_report(RUNS, views=VIEWS)


@pytest.fixture(scope="module")
def report_published():
    return build_report(RUNS, with_published=True, views=VIEWS)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"golden file {path} missing: run with REPORTS_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(), f"{name} differs from its golden file (REPORTS_UPDATE_GOLDEN=1 to accept)"


def _table(report, table_id):
    return next(t for t in report.tables if t.id == table_id)


def _row(table, label):
    return next(r for r in table.rows if r.label == label)


def test_golden_markdown(report, report_published):
    _golden("report.md", render_md.render_report(report.tables))
    _golden("report_published.md", render_md.render_report(report_published.tables))


def test_golden_latex(report_published):
    _golden("report_published.tex", render_latex.render_document(report_published.tables))


def test_tables_present_and_unfinished_cells_ignored(report):
    assert [t.id for t in report.tables if not t.derived_from] == [
        "table1",
        "table2",
        "table3",
        "table4",
        "table5",
        "table6",
        "runtime",
    ]
    assert [t.derived_from for t in report.tables if t.derived_from] == [
        "table1",
        "table2",
        "table3",
        "table4",
        "table5",
        "table6",
    ]  # each followed by its rank stability
    methods = {r.method for t in report.tables for r in t.rows}
    assert "tres" not in methods  # its only cell has status 'running'
    assert "hyperiqa" not in methods  # failed/ never counts


def _raw_srcc(method, dataset):
    """Straight from the JSON files: newest result per split."""
    newest = {}
    for path in RUNS.glob("cells/*/*.json"):
        c = json.loads(path.read_text())
        if (c["status"], c["protocol"], c["method"], c["test_dataset"]) != ("done", "intra", method, dataset):
            continue
        if c["split_hash"] not in newest or c["finished_at"] > newest[c["split_hash"]]["finished_at"]:
            newest[c["split_hash"]] = c
    return [c["metrics"]["srcc"] for c in newest.values() if c["metrics"]["srcc"] is not None]


def test_medians_spreads_and_counts_come_from_the_store(report):
    import numpy as np

    t1 = _table(report, "table1")
    for method, label, dataset in (
        ("mpiqe", "MP-IQE", "live"),
        ("nss-svr", "NSS-SVR", "live"),
        ("nss-svr", "NSS-SVR", "csiq"),
        ("dbcnn", "DBCNN", "demo-a"),
    ):
        raw = _raw_srcc(method, dataset)
        stat = _row(t1, label).cells[(dataset, dataset, "srcc")]
        assert stat.n == len(raw)
        assert stat.value == pytest.approx(float(np.median(raw)))
        q25, q75 = np.percentile(raw, [25, 75])
        assert stat.spread == pytest.approx(q75 - q25)
    # the superseded MP-IQE result (SRCC 0.5, older harness) is not in the median
    assert _row(t1, "MP-IQE").cells[("live", "live", "srcc")].n == 8
    assert min(_row(t1, "MP-IQE").cells[("live", "live", "srcc")].values.values()) > 0.9
    assert _row(t1, "NSS-SVR").cells[("live", "live", "srcc")].n == 6  # 6 of 8 splits
    assert _row(t1, "NSS-SVR").cells[("csiq", "csiq", "srcc")].n == 7  # one undefined SRCC left out
    assert any("superseded" in n for n in t1.notes) and any("undefined" in n for n in t1.notes)


def test_missing_cells_are_en_dashes_and_every_number_says_n(report):
    md = render_md.render_table(_table(report, "table1"))
    dbcnn = next(line for line in md.splitlines() if line.startswith("| DBCNN"))
    cells = [c.strip() for c in dbcnn.strip("|").split("|")]
    assert cells[3:5] == ["–", "–"]  # no DBCNN result on CSIQ
    assert all("n=8" in c for c in cells[1:3] + cells[5:])
    assert "(0.004; n=6)" in md  # NSS-SVR on LIVE: 6 splits


def test_bold_underline_and_ties(report):
    t1 = _table(report, "table1")
    demo = ("demo-a", "demo-a", "srcc")
    # DBCNN is 0.0001 above MP-IQE on every demo-a split: the same printed number -> both bold, NSS-SVR second
    assert _row(t1, "DBCNN").cells[demo].rank == 1 and _row(t1, "MP-IQE").cells[demo].rank == 1
    assert _row(t1, "NSS-SVR").cells[demo].rank == 2
    # and the tie is significant (8 differences of one sign): no mark on MP-IQE, tested against DBCNN
    mp = _row(t1, "MP-IQE").cells[demo]
    assert mp.mark == "" and mp.versus == "DBCNN" and mp.p_value < 0.05
    md = render_md.render_table(t1)
    mp_line = next(line for line in md.splitlines() if line.startswith("| MP-IQE"))
    assert mp_line.count("**") == 16  # bold in all 8 columns
    nss = next(line for line in md.splitlines() if line.startswith("| NSS-SVR"))
    assert "<ins>0.853</ins>" in nss and "<ins>0.800</ins>" in nss and "**" not in nss
    tex = render_latex.render_table(t1)
    assert r"\underline{0.853}" in tex and r"\textbf{0.954}" in tex


def test_not_significant_mark(report):
    t1 = _table(report, "table1")
    mine = _row(t1, "my_method&co#1").cells[("live", "live", "srcc")]
    assert mine.rank == 2 and mine.mark == "≈" and mine.n_paired == 8 and mine.p_value >= 0.05


def test_escaping(report):
    md = render_md.render_table(_table(report, "table1"))
    assert r"| my\_method&co#1 |" in md
    tex = render_latex.render_table(_table(report, "table1"))
    assert r"my\_method\&co\#1" in tex
    assert (
        render_latex.escape(r"50% & $x_1$ {a} #2 ~^\ → ≥")
        == r"50\% \& \$x\_1\$ \{a\} \#2 \textasciitilde{}\textasciicircum{}\textbackslash{} $\rightarrow$ $\geq$"
    )
    assert render_md.escape("a|b*c_d<e> p < 0.05") == r"a\|b\*c\_d\<e> p < 0.05"


def test_version_guard_footnotes(report):
    t1 = _table(report, "table1")
    assert _row(t1, "DBCNN").marks == "†"  # one cell of method version 2
    assert _row(t1, "NIQE (pyiqa)").marks == "‡"  # harness 0.2.0 vs 0.1.0
    assert _row(t1, "MP-IQE").marks == ""
    demo = next(c for c in t1.columns if c.key == ("demo-a", "demo-a", "srcc"))
    assert demo.heads[0] == "demo-a§"  # NSS-SVR's demo-a cells: another revision
    notes = "\n".join(t1.notes)
    assert "DBCNN: version 2 (others 1)" in notes and "NIQE (pyiqa): 0.2.0" in notes
    assert "rev-other (NSS-SVR)" in notes


def test_protocol_tables(report):
    t3 = _table(report, "table3")
    assert t3.stub == ("Training", "Testing")
    assert [c.key[:2] for c in t3.columns][:3] == [("livec", "koniq10k"), ("live", "csiq"), ("csiq", "live")]
    assert _row(t3, "DBCNN").cells.get(("csiq", "live", "srcc")) is None
    t4 = _table(report, "table4")  # loose variant spellings map onto the paper's rows
    assert [r.label for r in t4.groups[0].rows] == [
        "MP-IQE",
        "w/o Scene prompts",
        "w/o Distortion prompts",
        "w/o Deep visual prompts",
        "Shallow visual prompts",
    ]
    assert t4.groups[1].label == "NSS-SVR variants"
    t5 = _table(report, "table5")
    assert [g.label for g in t5.groups] == ["training data: 20%", "training data: 40%", "training data: 60%"]
    t6 = _table(report, "table6")
    assert [g.label for g in t6.groups] == ["(1) text prompt length", "(2) visual prompt length", "scales"]
    assert [r.label for r in t6.groups[1].rows] == ["1", "2", "4"]  # 'visual_prompt_len=1' and 'visual-len-2'


def test_published_rows_and_delta(report_published):
    t1 = _table(report_published, "table1")
    paper = _row(t1, "MP-IQE (paper)")
    assert paper.published and paper.cells[("live", "live", "srcc")].value == 0.978
    assert paper.cells[("live", "live", "srcc")].rank is None  # published rows are not ranked
    assert ("demo-a", "demo-a", "srcc") not in paper.cells  # only the columns we measured
    delta = _table(report_published, "delta")
    row = next(r for r in delta.rows if r.label == "MP-IQE — LIVE" and r.key[0] == "table1")
    ours = _row(t1, "MP-IQE").cells[("live", "live", "srcc")].value
    assert row.cells[("srcc", "delta")].value == pytest.approx(ours - 0.978)
    assert any(r.label == "training data: 40%: MP-IQE — LIVEC" for r in delta.rows)


def test_spread_and_plcc_options():
    minmax = build_report(RUNS, ["intra"], spread="minmax", plcc="logistic")
    stat = _row(_table(minmax, "table1"), "MP-IQE").cells[("live", "live", "plcc")]
    vals = list(stat.values.values())
    assert stat.spread == pytest.approx(max(vals) - min(vals))
    raw = _row(_table(build_report(RUNS, ["intra"]), "table1"), "MP-IQE").cells[("live", "live", "plcc")]
    assert stat.value == pytest.approx(raw.value + 0.002)  # the fixture's logistic PLCC is raw + 0.002
    none = build_report(RUNS, ["cross"], spread="none", views=[])
    md = render_md.render_table(none.tables[0])
    assert "n=" not in md.split("\n- ")[0] and "| **0.7" in md  # bare values


def test_cli_writes_every_format(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", "--runs", str(RUNS), "--out", str(out), "--format", "md,latex,csv", "--with-published"]) == 0
    assert (out / "report.md").read_text().startswith("# biqa-bench report")
    assert (out / "tables" / "table3.tex").is_file() and (out / "report.tex").is_file()
    header = (out / "cells.csv").read_text().splitlines()[0]
    assert header.startswith("table,group,row,kind,method")
    assert "report.md" in capsys.readouterr().out


def test_cli_stdout_and_errors(tmp_path, capsys):
    assert main(["report", "--runs", str(RUNS), "--out", "-", "--protocol", "cross"]) == 0
    out = capsys.readouterr().out
    assert "Table 3" in out and "Table 1" not in out
    assert main(["report", "--runs", str(RUNS), "--format", "mdx"]) == 2
    assert "Did you mean: md" in capsys.readouterr().err
    assert main(["report", "--runs", str(RUNS), "--protocol", "intar"]) == 2
    assert "Did you mean: intra" in capsys.readouterr().err
    assert main(["report", "--runs", str(RUNS), "--spread", "iqrr"]) == 2
    assert main(["report", "--runs", str(tmp_path / "nowhere")]) == 2
    assert "--runs DIR" in capsys.readouterr().err


def test_empty_store_and_damaged_file(tmp_path):
    (tmp_path / "cells").mkdir()
    with pytest.raises(ReportError, match="no finished cells"):
        build_report(tmp_path)
    alone = build_report(tmp_path, with_published=True)  # nothing measured: the paper's tables alone
    assert [t.id for t in alone.tables] == ["table1", "table2", "table3", "table4", "table5", "table6"]
    runs = tmp_path / "runs"
    shutil.copytree(RUNS, runs)
    bad = runs / "cells" / "ff" / "ff000000000000000000.json"
    bad.parent.mkdir(exist_ok=True)
    bad.write_text('{"key": ')
    with pytest.raises(ReportError, match="ff000000000000000000.json"):
        build_report(runs)


def test_write_report_rejects_unknown_format(report, tmp_path):
    with pytest.raises(ReportError, match="Did you mean: latex"):
        write_report(report, tmp_path, ["latx"])


def test_cli_module_is_light():
    code = (
        "import sys, argparse; import reports.cli; "
        "reports.cli.add_parser(argparse.ArgumentParser().add_subparsers()); "
        "print(sorted(m for m in ('torch', 'pandas', 'matplotlib', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip() == "[]"
