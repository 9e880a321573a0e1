"""The LaTeX report compiles with pdflatex, with its figures, in vector fonts only (skipped where pdflatex or
pdffonts is not installed; `.ci/run` installs both)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from reports.build import build_report, write_report

RUNS = Path(__file__).parent / "fixtures" / "reports" / "runs"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_latex_compiles(tmp_path):
    write_report(build_report(RUNS, with_published=True), tmp_path, ["latex"])
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "report.pdf").stat().st_size > 5000
    assert "Overfull" not in run.stdout and "Float too large" not in run.stdout


@pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("pdffonts") is None,
    reason="pdflatex/pdffonts are not installed (.ci/run installs them)",
)
def test_latex_report_with_figures_compiles_with_vector_fonts_only(tmp_path):
    report = build_report(RUNS, with_published=True, views=["runtime"])
    write_report(report, tmp_path, ["latex", "pdf"])
    tex = (tmp_path / "report.tex").read_text()
    assert r"\usepackage{lmodern}" in tex and tex.count(r"\includegraphics") == len(report.figures) >= 6
    assert "[Table 3 of the paper]" in tex
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    fonts = subprocess.run(["pdffonts", "report.pdf"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert len(fonts.splitlines()) > 2 and "LMRoman" in fonts and "Type 3" not in fonts, fonts
    for figure in sorted((tmp_path / "plots").glob("*.pdf")):  # matplotlib's own PDFs: TrueType, no Type 3
        out = subprocess.run(["pdffonts", str(figure)], capture_output=True, text=True, check=True).stdout
        assert "Type 3" not in out, (figure, out)
