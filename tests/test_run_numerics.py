"""--precision and --deterministic (bench/core/numerics.py): set for the cell, recorded, keyed only when set, undone after.

Their CUDA effects (bit-identical reruns on one GPU) are in tests/test_gpu.py; across CPU kernel paths:
tests/test_run_regression_kernels.py.
"""

from __future__ import annotations

import textwrap

import pytest

from bench.cli import main
from bench.results.store import ResultStore
from protocols import Options

torch = pytest.importorskip("torch")

# A method that reports, from inside its cell, what the cell's numerics were, and computes in the default dtype.
PROBE = textwrap.dedent("""
    from dataclasses import dataclass
    import os
    import numpy as np
    from methods.base import Method


    @dataclass
    class P:
        scale: float = 1.0


    class NumericsProbe(Method):
        name = "numerics-probe"
        version = "1"
        trains = True
        Params = P

        def fit(self, train, val=None):
            import torch

            w = torch.ones(3, requires_grad=True)            # created in the default dtype
            self.context.record("seen", {
                "default_dtype": str(torch.get_default_dtype()), "param_dtype": str(w.dtype),
                "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
                "cudnn_deterministic": torch.backends.cudnn.deterministic,
                "cudnn_benchmark": torch.backends.cudnn.benchmark,
                "cublas_workspace": os.environ.get("CUBLAS_WORKSPACE_CONFIG")})

        def predict(self, images):
            return -np.asarray([r.level or 0 for r in images.records], dtype=float) * self.params.scale
""")


@pytest.fixture()
def probe(tmp_path, monkeypatch):
    path = tmp_path / "numerics_probe.py"
    path.write_text(PROBE)
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    return f"{path}:NumericsProbe"


def run(capsys, out, method, *extra):
    rc = main(
        [
            "run",
            "--protocol",
            "intra",
            "--method",
            method,
            "--data",
            "demo",
            "--datasets",
            "demo-a",
            "--splits",
            "1",
            "--backend",
            "sequential",
            "--out",
            str(out),
            "--no-progress",
            *extra,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 0, err
    return list(ResultStore(out).iter_results())


def test_both_options_are_in_force_during_the_cell_and_undone_after(probe, tmp_path, capsys):
    before = (
        torch.get_default_dtype(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    (rec,) = run(capsys, tmp_path / "runs", probe, "--precision", "float64", "--deterministic")
    assert rec["seen"] == {
        "default_dtype": "torch.float64",
        "param_dtype": "torch.float64",
        "deterministic_algorithms": True,
        "cudnn_deterministic": True,
        "cudnn_benchmark": False,
        "cublas_workspace": ":4096:8",
    }
    assert rec["training_options"] == {"precision": "float64", "deterministic": True}
    num = rec["numerics"]
    assert num["precision"] == "float64" and num["deterministic"] is True
    # what traces a difference: torch and its CPU code path, the BLAS numpy loaded, threads, the CPU
    assert num["torch"] == torch.__version__ and num["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert num["torch_threads"] >= 1 and "cpu" in num and isinstance(num.get("blas", []), list)
    # the same process after the cell (sequential backend): every setting as it was
    assert (
        torch.get_default_dtype(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    ) == before


def test_defaults_keep_the_cell_key_and_are_still_recorded(probe, tmp_path, capsys):
    (plain,) = run(capsys, tmp_path / "a", probe)
    assert plain["seen"]["default_dtype"] == "torch.float32" and not plain["seen"]["deterministic_algorithms"]
    assert plain["seen"]["cublas_workspace"] is None
    assert "training_options" not in plain or not plain["training_options"]
    assert plain["numerics"]["precision"] == "auto" and plain["numerics"]["deterministic"] is False
    # keys: the defaults hash nothing new (cells run before these options existed keep their keys); each option
    # set is its own cell
    assert Options().training_options() == {}
    (det,) = run(capsys, tmp_path / "b", probe, "--deterministic")
    (f64,) = run(capsys, tmp_path / "c", probe, "--precision", "float64")
    assert len({plain["key"], det["key"], f64["key"]}) == 3


def test_bad_precision_is_refused_before_any_cell(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:  # argparse: the choices, named
        main(
            [
                "run",
                "--protocol",
                "intra",
                "--method",
                "nss-svr",
                "--data",
                "demo",
                "--precision",
                "float16",
                "--out",
                str(tmp_path / "runs"),
            ]
        )
    assert exc.value.code == 2 and "'float16'" in capsys.readouterr().err and not (tmp_path / "runs").exists()
    from bench.core.errors import BenchError
    from bench.run.planning import plan

    with pytest.raises(BenchError, match="--precision"):
        plan("intra", ["nss-svr"], Options(data="demo", precision="half"))


def test_mpiqe_autocast_is_off_in_float64():
    from methods.mpiqe.train import autocast_for

    saved = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        with autocast_for(torch.device("cpu"), "bf16"):
            assert not torch.is_autocast_enabled("cpu")
    finally:
        torch.set_default_dtype(saved)
    with autocast_for(torch.device("cpu"), "bf16"):
        assert torch.is_autocast_enabled("cpu")


@pytest.mark.slow  # two loky workers importing torch: ~1 min on 2 busy cores; `make test-repro` runs it
def test_a_trained_baseline_is_bit_identical_across_backends_and_jobs(tmp_path):
    """The contract's first line (docs/RUNNING.md): on one machine, with a fixed --cpu-threads, a float32 trained
    cell gives the same bits whatever --jobs and the backend (here in-process vs two loky workers)."""
    from bench.run.backends import run_tasks
    from bench.run.execute import WorkerConfig
    from bench.run.planning import plan
    from tests.fake_weights import make_fake_cache, session_fake_root

    root = make_fake_cache(session_fake_root([]), pyiqa_files=[])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TORCH_HOME", str(root))
        tasks = plan("cross", ["paq2piq"], Options(data="demo", n_splits=1), preset="ci")
        got = {}
        for backend, jobs in (("sequential", 1), ("loky", 2)):
            out = tmp_path / backend
            summary = run_tasks(
                tasks,
                ResultStore(out),
                WorkerConfig(out=str(out), cpu_threads=1, cells_at_once=jobs),
                backend=backend,
                jobs=jobs,
                progress=False,
            )
            assert summary.done == len(tasks) == 2, summary.failures
            store = ResultStore(out)
            got[backend] = {r["key"]: (r["metrics"], store.load_predictions(r["key"])) for r in store.iter_results()}
    assert got["sequential"] == got["loky"]


def test_mpiqe_window_max_has_a_deterministic_twin_with_the_same_values_and_gradients():
    """MP-IQE's distortion windows (adaptive max pooling) would raise under --deterministic on CUDA
    (scripts/deterministic-ops); under the flag it takes a mask-based twin: same forward, same gradient routing
    (ties included: all to the first maximum), so --deterministic does not change what MP-IQE computes."""
    from methods.mpiqe.model import _window_max_deterministic

    g = torch.Generator().manual_seed(0)
    for H, W, w in ((14, 14, 4), (7, 9, 3), (4, 4, 4)):
        grid = torch.randint(0, 5, (2, 3, H, W), generator=g).float()  # few values: many ties
        grid = grid + torch.rand(grid.shape, generator=g) * (torch.rand(grid.shape, generator=g) < 0.5)
        a = grid.clone().requires_grad_(True)
        b = grid.clone().requires_grad_(True)
        ref = torch.nn.functional.adaptive_max_pool2d(a, w)
        twin = _window_max_deterministic(b, w)
        assert torch.equal(ref, twin)
        up = torch.randn(ref.shape, generator=g)
        ref.backward(up)
        twin.backward(up)
        assert torch.equal(a.grad, b.grad)
