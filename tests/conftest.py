"""Shared test setup: offline, and no test ever touches the user's real caches."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"  # reference material; tests using it skip when absent

# Before anything imports torch / huggingface_hub / open_clip: no network, private caches.
_CACHE = Path(os.environ.get("BENCH_TEST_CACHE", "/tmp/biqa-bench-test-cache")) / str(os.getpid())
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
for var, sub in (("TORCH_HOME", "torch"), ("HF_HOME", "hf"), ("XDG_CACHE_HOME", "xdg"), ("BENCH_CACHE", "bench")):
    os.environ[var] = str(_CACHE / sub)
# tiny models: one BLAS/OpenMP thread beats two fighting over 2 cores (7 s -> 0.4 s per step seen here)
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# matplotlib's font cache is slow to build and harmless to share between test runs
os.environ.setdefault("MPLCONFIGDIR", str(_CACHE.parent / "matplotlib"))
sys.path.insert(0, str(ROOT))  # our packages win over anything of the same name in site-packages


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared reference material is not present")
    return SHARED


@pytest.fixture(scope="session")
def demo_cache() -> Path:
    """The session's private BENCH_CACHE (demo data is generated here once per session)."""
    return Path(os.environ["BENCH_CACHE"])


@pytest.fixture(scope="session")
def demo_small(tmp_path_factory):
    """40 real demo-a images (one reference, every distortion and level): tests/demo_images.py."""
    from tests.demo_images import one_reference_demo

    return one_reference_demo(tmp_path_factory.mktemp("demo-cache"))
