"""The LaTeX report compiles with pdflatex (skipped where pdflatex is not installed)."""

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
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "report.pdf").stat().st_size > 5000
    assert "Overfull" not in run.stdout and "Float too large" not in run.stdout
