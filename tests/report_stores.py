"""Small results stores for the report tests: a real `bench run` on a 3-reference demo-a, and a synthetic store
(scripts/synthetic-store) with several methods, names that need escaping in every format, and training curves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# names with the characters every format must escape: Markdown '|' '_' '<', LaTeX '&' '%' '_' '#', HTML '<' '&'
HOSTILE_NAMES = ("a|b", "R&D_100%", "#1 <script>alert(1)</script>", "dbcnn")


def make_small_demo(cache: Path) -> Path:
    """demo-a with 3 of its references (120 images, seconds) in a private cache."""
    from bench.data import demo

    demo.generate("demo-a", demo.demo_dir("demo-a", cache), n_refs=3)
    return cache


@contextmanager
def using_cache(cache: Path):
    """BENCH_CACHE -> ``cache`` for the block (the demo set is read from there)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_CACHE", str(cache))
        yield


def demo_store(out: Path, cache: Path) -> Path:
    """A real run: noop (predictions = MOS + noise) and NSS-SVR, 3 intra splits of demo-a."""
    from bench.cli import main

    with using_cache(cache):
        rc = main(
            [
                "run",
                "--protocol",
                "intra",
                "--method",
                "noop,nss-svr",
                "--datasets",
                "demo-a",
                "--splits",
                "3",
                "--preset",
                "ci",
                "--param",
                "noop.output=score",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
    assert rc == 0
    return out


# one `bench perf --methods --save` record (reports/efficiency_view.py reads RUNS/efficiency/*.json): the shape only
EFFICIENCY_RECORD = {
    "method": "dbcnn",
    "device": "cpu",
    "device_name": "test CPU",
    "params_total": 15_000_000,
    "params_trainable": 15_000_000,
    "gflops": 40.0,
    "latency_s": 0.2,
    "latency_1080x800_s": 0.6,
    "peak_mem_mb": 900.0,
    "peak_mem_kind": "RSS",
    "train_crops_per_s": 12.0,
    "weights": "fake",
}


def synthetic_store(out: Path, cache: Path, names=HOSTILE_NAMES, cells: int = 24, epochs: int = 4) -> Path:
    """Cells of made-up methods (scripts/synthetic-store) plus one efficiency record."""
    env = {**os.environ, "BENCH_CACHE": str(cache)}
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "synthetic-store"),
            str(cells),
            str(out),
            "--names",
            ",".join(names),
            "--epochs",
            str(epochs),
        ],
        check=True,
        env=env,
        capture_output=True,
        cwd=ROOT,
    )
    (out / "efficiency").mkdir()
    (out / "efficiency" / "test.json").write_text(json.dumps({"records": [EFFICIENCY_RECORD]}))
    return out
