"""Small results stores for the report tests: a real `bench run` on a 3-reference demo-a, and a synthetic store
(scripts/synthetic-store) with several methods, names that need escaping in every format, and training curves."""

from __future__ import annotations

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


def synthetic_store(out: Path, cache: Path, names=HOSTILE_NAMES, cells: int = 24, epochs: int = 4) -> Path:
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
    return out
