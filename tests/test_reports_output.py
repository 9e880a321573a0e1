"""Report and export files onto real read-only, full and over-long paths: one clear error, no traceback, and
no empty or half-written file left behind; `results export` options; truncated predictions; the scatter's
cell choice; training curves."""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.cli import main
from reports.build import build_report, write_report
from reports.errors import ReportError
from reports.plots import pick_cell, plot_scatter

RUNS = Path(__file__).parent / "fixtures" / "reports" / "runs"
REPORT = ["report", "--runs", str(RUNS), "--views", "runtime"]


def _writable(folder: Path) -> bool:
    try:
        (folder / ".probe").write_text("x")
        (folder / ".probe").unlink()
        return True
    except OSError:
        return False


@contextmanager
def read_only(folder: Path):
    """A real read-only folder: mode 555, or (as root, who ignores modes) the immutable attribute."""
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = lambda: folder.chmod(0o755)
    elif (
        shutil.which("chattr")
        and subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False).returncode == 0
    ):
        undo = lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        pytest.skip("cannot make a read-only folder here (root without chattr)")
    try:
        if _writable(folder):
            pytest.skip("this file system ignores the read-only setting")
        yield folder
    finally:
        undo()


@contextmanager
def nearly_full(folder: Path, free_kb: int = 12):
    """A real tmpfs of 256 KiB with only ``free_kb`` left (root only)."""
    folder.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True, check=False
        ).returncode
        != 0
    ):
        pytest.skip("mounting a small tmpfs needs root")
    try:
        (folder / "ballast").write_bytes(b"\0" * ((256 - free_kb) * 1024))
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _leftovers(folder: Path) -> list[Path]:
    """Empty files or temporary files: what a failed write must never leave."""
    return [
        p
        for p in folder.rglob("*")
        if p.is_file() and p.name != "ballast" and (p.stat().st_size == 0 or ".tmp" in p.name)
    ]


def _clean_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ")
    return err


def test_report_onto_a_read_only_folder(tmp_path, capsys):
    with read_only(tmp_path / "ro") as ro:
        assert main(REPORT + ["--out", str(ro / "rep"), "--format", "md,png"]) == 2
        err = _clean_error(capsys)
        assert str(ro / "rep") in err and "--out" in err
        assert not (ro / "rep").exists()


def test_report_onto_a_full_disk_leaves_no_empty_files(tmp_path, capsys):
    with nearly_full(tmp_path / "full") as full:
        assert main(REPORT + ["--out", str(full / "rep"), "--format", "md,png"]) == 2
        err = _clean_error(capsys)
        assert "No space left on device" in err and "free some space" in err
        assert _leftovers(full) == []
        assert not (full / "rep" / "report.md").exists()


def test_report_onto_an_over_long_path(tmp_path, capsys):
    long = tmp_path / ("x" * 300)
    assert main(REPORT + ["--out", str(long), "--format", "md"]) == 2
    assert "shorter --out" in _clean_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_export_errors_and_options(tmp_path, capsys):
    with read_only(tmp_path / "ro") as ro:
        assert main(["results", "export", "--out", str(RUNS), "--to", str(ro / "table")]) == 2
        assert "--to" in _clean_error(capsys) and list(ro.iterdir()) == []
    with nearly_full(tmp_path / "full", free_kb=8) as full:
        assert main(["results", "export", "--out", str(RUNS), "--to", str(full / "table.csv")]) == 2
        assert "No space left" in _clean_error(capsys) and _leftovers(full) == []
    assert main(["results", "export", "--out", str(RUNS), "--to", str(tmp_path / ("y" * 300))]) == 2
    assert "shorter --to" in _clean_error(capsys)
    # --to x.txt was written as x.csv and x.parquet: now a clear error, nothing written
    assert main(["results", "export", "--out", str(RUNS), "--to", str(tmp_path / "x.txt")]) == 2
    assert "give a stem without a suffix" in _clean_error(capsys)
    assert not list(tmp_path.glob("x.*"))
    # --format both, as the help says
    assert main(["results", "export", "--out", str(RUNS), "--to", str(tmp_path / "t"), "--format", "both"]) == 0
    assert (tmp_path / "t.csv").stat().st_size > 0 and (tmp_path / "t.parquet").stat().st_size > 0
    assert main(["results", "export", "--out", str(RUNS), "--to", str(tmp_path / "u.csv"), "--format", "parquet"]) == 2
    assert "drop one of the two" in _clean_error(capsys)


def _copy_with_preds(tmp_path) -> tuple[Path, Path]:
    runs = tmp_path / "runs"
    shutil.copytree(RUNS, runs)
    preds = next(runs.glob("cells/*/*.preds.csv"))
    return runs, preds


def test_truncated_predictions_are_named_not_plotted(tmp_path):
    runs, preds = _copy_with_preds(tmp_path)
    lines = preds.read_text().splitlines()
    preds.write_text("\n".join(lines[:2]) + "\n")  # header + 1 row: the old scatter said n=1
    report = build_report(runs, views=[])
    cell = next(r for r in report.results if r.preds_path == preds)
    with pytest.raises(ReportError, match=r"holds 1 prediction\(s\) but its cell tested 30 images: .*truncated"):
        plot_scatter(cell, tmp_path / "s", ["png"])
    with pytest.raises(ReportError, match="truncated"):
        write_report(report, tmp_path / "rep", ["png"], scatter=cell.key)
    write_report(report, tmp_path / "rep2", ["md", "png"])  # default pick: skipped, and the report says so
    assert not (tmp_path / "rep2" / "plots" / "scatter.png").exists()
    assert "No scatter plot" in (tmp_path / "rep2" / "report.md").read_text()


def test_scatter_best_picks_the_highest_srcc(tmp_path):
    runs, _ = _copy_with_preds(tmp_path)
    report = build_report(runs, views=[])
    with_preds = [r for r in report.results if r.preds_path and r.preds_path.is_file()]
    assert pick_cell(report.results, "best").key == max(with_preds, key=lambda r: r.metric("srcc")).key
    assert pick_cell(report.results, "mpiqe:live:best").method == "mpiqe"
    with pytest.raises(ReportError, match="best"):
        pick_cell(report.results, "nosuch:best")


def test_training_curves_are_medians_of_the_histories():
    from reports.plot_curves import curve_panels

    report = build_report(RUNS, views=[])
    panels = curve_panels(report)
    ((key, panel),) = panels.items()
    assert key[:2] == ("intra", "mpiqe") and key[3] == "live" and panel["n"] == 8
    assert panel["selected"] == 4
    # loss at epoch 1 is 1/1 + 0.01 * split index over indices 0..7: median 1.035
    assert panel["terms"]["loss"][1] == pytest.approx(1.035)
    assert set(panel["terms"]) == {"loss", "loss_quality", "loss_scene", "loss_distortion"}
    assert panel["val"][5] == pytest.approx(0.95 - 0.0035)
