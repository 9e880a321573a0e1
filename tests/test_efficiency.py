"""`bench perf --methods` (methods/efficiency.py), the report's Efficiency view, and `scripts/gpu-check --device cpu
--quick` (issue 23). Tiny CLIP (ci preset), MP-IQE and a method without a torch network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")
ROOT = Path(__file__).resolve().parents[1]


def test_perf_methods_records_and_the_efficiency_view(tmp_path, capsys):
    from bench.cli import main
    from bench.results.store import ResultStore
    from reports.build import build_report

    runs = tmp_path / "runs"
    assert (
        main(["perf", "--methods", "mpiqe,nss-svr", "--preset", "ci", "--repeats", "1", "--json", "--save", str(runs)])
        == 0
    )
    records = json.loads(capsys.readouterr().out)
    mp, classical = records
    assert "skipped" in classical and classical["method"] == "nss-svr"
    # parameters: the real MP-IQE construction, counted independently here
    from methods.base import RunContext
    from methods.mpiqe import MPIQE

    m = MPIQE(MPIQE.make_params("ci", pretrained="none"), RunContext(seed=0))
    model = m.build()
    assert mp["params_total"] == sum(p.numel() for p in model.parameters())
    assert mp["params_trainable"] == sum(p.numel() for p in model.parameters() if p.requires_grad) < mp["params_total"]
    assert mp["gflops"] > 0 and mp["gmacs"] == pytest.approx(mp["gflops"] / 2)
    assert mp["latency_s"] > 0 and mp["peak_mem_mb"] > 0 and mp["train_crops_per_s"] > 0
    assert mp["weights"].startswith("random") and mp["peak_mem_kind"] == "process peak RSS"
    assert len(list((runs / "efficiency").glob("*.json"))) == 1
    # the report's Efficiency view (a store needs one cell to report on)
    ResultStore(runs, create=True).write_done(
        {
            "key": "k" * 20,
            "status": "done",
            "schema": 1,
            "protocol": "intra",
            "method": "noop",
            "method_version": "1",
            "variant": "default",
            "train_dataset": "demo-a",
            "test_dataset": "demo-a",
            "train_revision": "r",
            "test_revision": "r",
            "split_set": "default",
            "split_index": 0,
            "split_hash": "h",
            "fraction": None,
            "seed": 0,
            "harness_version": "0.1.0",
            "metrics": {"srcc": 0.5, "plcc": 0.5, "flags": []},
        },
        [("a.png", 1.0, 0.5), ("b.png", 2.0, 0.7), ("c.png", 3.0, 0.9)],
    )
    report = build_report(runs, views=["efficiency"])
    table = next(t for t in report.tables if t.id == "efficiency-cpu")
    row = table.groups[0].rows[0]
    assert row.method == "mpiqe" and row.label.endswith("‡")  # random weights, said so
    assert row.cells[("params",)].text == f"{mp['params_total'] / 1e6:.2f}"
    assert any("another machine" in n for n in table.notes)


def test_pyiqa_published_latencies_are_read():
    from reports.efficiency_view import pyiqa_latencies

    rows = pyiqa_latencies()
    assert rows["hyperiqa"]["cuda_v100_s"] == "0.0303" and rows["liqe"]["cpu_xe6150_s"] == "0.3716"


@pytest.mark.slow
def test_gpu_check_script_runs_on_the_cpu(tmp_path):
    out = tmp_path / "gc"
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(
        [str(ROOT / "scripts" / "gpu-check"), "--device", "cpu", "--quick", str(out)],
        cwd=ROOT,
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((out / "gpu-check.json").read_text())
    assert summary["passed"] and set(summary["steps"]) == {
        "doctor",
        "perf8",
        "perf16",
        "pipeline",
        "decode",
        "efficiency",
    }
    assert [r["method"] for r in summary["efficiency"]] == ["mpiqe", "visual-only"]
    assert summary["decode"]["images"] == 4 and summary["pipeline"]["by_workers"]
    # the cache built by the batched decoder (torchvision on the CPU) holds PIL's pixels exactly (measured here)
    assert summary["decode"]["cache_build"]["identical_entries"] == 4 and "cache build:" in proc.stdout
    assert "GPU CHECK PASSED" in proc.stdout


def test_the_fake_weight_folder_is_removed_after_measuring(tmp_path, monkeypatch):
    """The fake files are up to 1 GB (full-size CLIP): `perf --methods` leaves none behind, even when a
    measurement raises."""
    from methods import efficiency

    home = tmp_path / "fake-home"

    def needs_fakes(name, *args):
        fake = args[-1]
        if "home" not in fake:
            home.mkdir()
            (home / "weights.pth").write_bytes(b"x" * 1024)
            fake["home"] = home
        if name == "boom":
            raise RuntimeError("boom")
        return {"method": name}

    monkeypatch.setattr(efficiency, "_measure_in_process", needs_fakes)
    assert efficiency.measure(["a", "b"]) == [{"method": "a"}, {"method": "b"}]
    assert not home.exists()
    with pytest.raises(RuntimeError):
        efficiency.measure(["a", "boom"])
    assert not home.exists()


def test_method_timeout_is_an_option(capsys):
    """`--method-timeout S` bounds each method's measuring process (MANIQA's CPU training step needs > 600 s on a
    loaded 2-core machine): its row says so; a non-positive value is refused before anything runs."""
    from bench.cli import main

    assert main(["perf", "--methods", "paq2piq", "--method-timeout", "0.5", "--repeats", "1", "--json"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["method"] == "paq2piq" and rec["error"].startswith("timed out after") and "params_total" not in rec
    assert main(["perf", "--methods", "paq2piq", "--method-timeout", "0"]) != 0
    assert "--method-timeout must be > 0" in capsys.readouterr().err
