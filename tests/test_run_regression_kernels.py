"""The CI regression across CPU kernel paths on one machine (issue 19): one golden file, every setting.

Each setting runs ``tests/test_run_regression.py::test_ci_subset_matches_golden_values`` in a fresh Python (the
variables are read when torch loads) with torch's vector code path (``ATEN_CPU_CAPABILITY``), oneDNN's
(``ONEDNN_MAX_CPU_ISA``) and MKL's instruction cap (``MKL_ENABLE_INSTRUCTIONS``) held at one level: scalar
``default`` (SSE4.1/4.2 for the libraries), ``avx2`` and ``avx512``. numpy's SIMD dispatch, OpenBLAS's kernels and
MKL's reproducibility branch are not varied: the regression pins them for its cells (``PINNED_X86_ENV`` in
tests/test_run_regression.py). A setting the CPU lacks is skipped, saying so. The last test prints the largest difference seen per metric between the settings (the
figures quoted in tests/test_run_regression.py).

Slow (about 1-2 minutes a setting on 2 cores): excluded from the default run; `.ci/run` runs it once:
    python -m pytest -q -m slow tests/test_run_regression_kernels.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("srcc", "plcc", "plcc_logistic", "krcc", "rmse")
# name -> (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, MKL_ENABLE_INSTRUCTIONS, the /proc/cpuinfo flag it needs)
SETTINGS = {
    "default": ("default", "SSE41", "SSE4_2", None),
    "avx2": ("avx2", "AVX2", "AVX2", "avx2"),
    "avx512": ("avx512", "AVX512_CORE", "AVX512", "avx512f"),
}
RESULTS: dict[str, dict] = {}  # setting -> {cell label: {"metrics": ..., "numerics": ...}}

pytestmark = pytest.mark.slow


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_ci_subset_matches_golden_under_kernel_path(setting, tmp_path):
    aten, onednn, mkl, flag = SETTINGS[setting]
    if setting != "default" and platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"{setting}: an x86-64 code path; this CPU is {platform.machine()}")
    if flag and flag not in cpu_flags():
        pytest.skip(f"{setting}: this CPU has no {flag} (/proc/cpuinfo): the setting cannot run here")
    records = tmp_path / "records.json"
    env = {
        **os.environ,
        "ATEN_CPU_CAPABILITY": aten,
        "ONEDNN_MAX_CPU_ISA": onednn,
        "MKL_ENABLE_INSTRUCTIONS": mkl,
        "BENCH_CI_RECORDS": str(records),
    }
    env.pop("BENCH_UPDATE_GOLDEN", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not gpu",
            "tests/test_run_regression.py::test_ci_subset_matches_golden_values",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, f"{setting}: the ci subset does not match the golden file:\n{proc.stdout[-6000:]}"
    got = json.loads(records.read_text())
    capability = {rec["numerics"].get("cpu_capability") for rec in got.values() if rec.get("numerics")} - {None}
    # the variable took effect: torch reports the path it runs (DEFAULT / AVX2 / AVX512)
    assert capability == {aten.upper()}, f"{setting}: torch ran {capability}, asked {aten}"
    RESULTS[setting] = got


def test_largest_difference_between_kernel_paths():
    """Run after the settings: the spread per metric, printed (pytest -s shows it) and bounded by the
    regression's own tolerance."""
    from tests.test_run_regression import DEFAULT_TOLERANCE

    if len(RESULTS) < 2:
        pytest.skip(f"fewer than two kernel settings ran ({sorted(RESULTS)}): nothing to compare")
    labels = set.intersection(*(set(r) for r in RESULTS.values()))
    spread = {m: 0.0 for m in METRICS}
    for label in labels:
        for m in METRICS:
            vals = [RESULTS[s][label]["metrics"][m] for s in RESULTS]
            vals = [v for v in vals if v is not None]
            if vals:
                d = max(vals) - min(vals)
                spread[m] = max(spread[m], d / abs(vals[0]) if m == "rmse" and vals[0] else d)
    print(
        f"\nkernel settings {sorted(RESULTS)}, {len(labels)} cells; largest difference per metric "
        f"(RMSE relative): " + ", ".join(f"{m} {v:.2e}" for m, v in spread.items())
    )
    assert all(v <= DEFAULT_TOLERANCE["abs"] for v in spread.values()), spread
