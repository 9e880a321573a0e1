"""Every plot writes a non-empty PNG and PDF; the scatter picks the cell it is asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.build import build_report
from reports.errors import ReportError
from reports.plots import PLOTS, pick_cell, plot_scatter

RUNS = Path(__file__).parent / "fixtures" / "reports" / "runs"


@pytest.fixture(scope="module")
def report():
    return build_report(RUNS, with_published=True)


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_plot_writes_png_and_pdf(report, tmp_path, name):
    paths = PLOTS[name](report, tmp_path / name, ["png", "pdf"])
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    for p in paths:
        assert p.stat().st_size > 2000, p
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[1].read_bytes()[:5] == b"%PDF-"


def test_scatter(report, tmp_path):
    cell = pick_cell(report.results, None)  # the only cell with predictions
    assert (cell.method, cell.test, cell.split_index) == ("mpiqe", "live", 0)
    assert pick_cell(report.results, "mpiqe:live:0").key == cell.key
    assert pick_cell(report.results, cell.key[:8]).key == cell.key
    paths = plot_scatter(cell, tmp_path / "scatter", ["png"])
    assert paths[0].stat().st_size > 2000
    with pytest.raises(ReportError, match="METHOD:TEST_DATASET"):
        pick_cell(report.results, "nosuch:live")
    other = pick_cell(report.results, "dbcnn:live:0")
    with pytest.raises(ReportError, match="preds.csv"):
        plot_scatter(other, tmp_path / "s2", ["png"])


def test_plots_skip_what_is_not_there(tmp_path):
    cross_only = build_report(RUNS, ["cross"])
    written = {p.stem for name, plot in PLOTS.items() for p in plot(cross_only, tmp_path / name, ["png"])}
    assert written == {"cross_heatmap"}
