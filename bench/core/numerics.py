"""The cell's numerics: ``--precision`` and ``--deterministic``, and what a cell records to trace a difference.

Why two options (docs/RUNNING.md, "Reproducibility"):

* ``--precision float64`` runs every torch tensor of the cell in float64 (``torch.set_default_dtype``; the
  methods cast their inputs to the default dtype and autocast is off). Float32 training amplifies last-bit
  differences between CPU kernel paths (AVX-512 vs AVX2 vs scalar summation orders, oneDNN vs native
  convolutions) into visibly different scores after a few hundred steps; in float64 the same differences
  start ~1e9 times smaller and stay far below any metric's printed digits. The CI regression uses it so that
  one golden file holds on every CPU (tests/test_run_regression.py). It costs about 2x CPU time.
* ``--deterministic`` is for GPU runs: ``torch.use_deterministic_algorithms(True)``, cuDNN deterministic and
  not benchmarking, ``CUBLAS_WORKSPACE_CONFIG=:4096:8``. A kernel with no deterministic implementation then
  raises instead of silently varying (torch's list: e.g. ``index_add_``/``scatter_add_`` on CUDA, adaptive
  pooling backward, ``grid_sample`` backward).

Both are run options of the cell (``Cell.training_options``): recorded, and hashed into the key only when
not default, so cells run with the defaults keep their keys. torch is imported only when an option asks for
it or the method already imported it: a torch-free method's worker stays torch-free.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys

PRECISIONS = ("auto", "float64")  # auto: each method's own (float32; bf16 autocast on CUDA where it says)
CUBLAS_WORKSPACE = ":4096:8"  # what cuBLAS needs for deterministic results (CUDA docs)
KERNEL_ENV = (
    "ATEN_CPU_CAPABILITY",
    "ONEDNN_MAX_CPU_ISA",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "OPENBLAS_CORETYPE",
    "NPY_DISABLE_CPU_FEATURES",
    "CUBLAS_WORKSPACE_CONFIG",
)


def check_precision(value: str) -> str:
    if value not in PRECISIONS:
        from bench.core.errors import BenchError, did_you_mean

        raise BenchError(did_you_mean(value, PRECISIONS, "--precision"))
    return value


@contextlib.contextmanager
def cell_numerics(precision: str = "auto", deterministic: bool = False):
    """The cell's default dtype and determinism flags while it runs, then as before (the worker is reused)."""
    if precision == "auto" and not deterministic:
        yield
        return
    import torch

    saved_dtype = torch.get_default_dtype()
    saved_flags = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
    )
    saved_env = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        if deterministic:
            # read when the cuBLAS handle is made: set before the cell's first CUDA call; a value the user set wins
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        if precision == "float64":
            torch.set_default_dtype(torch.float64)
        yield
    finally:
        torch.set_default_dtype(saved_dtype)
        torch.use_deterministic_algorithms(saved_flags[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved_flags[1:]
        if saved_env is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved_env


def compute_dtype():
    """The dtype a method computes in: the cell's default dtype (float64 under ``--precision float64``)."""
    import torch

    return torch.get_default_dtype()


def numerics_facts(precision: str = "auto", deterministic: bool = False) -> dict:
    """What decides a cell's last digits, recorded in every cell (``record["numerics"]``): the options, the CPU,
    the kernel-path settings, the BLAS libraries numpy loaded, and (when the cell used torch) torch's CPU
    capability, oneDNN, threads, CUDA / cuDNN and the GPU. Collected after the cell, so torch is not imported
    for a method that did not use it."""
    facts = {
        "precision": precision,
        "deterministic": bool(deterministic),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "env": {k: os.environ[k] for k in KERNEL_ENV if k in os.environ},
    }
    try:
        from threadpoolctl import threadpool_info

        facts["blas"] = sorted(
            {
                f"{i.get('internal_api')}:{i.get('architecture') or '?'}"
                for i in threadpool_info()
                if i.get("user_api") == "blas"
            }
        )
    except Exception:  # noqa: BLE001 -- facts are best effort, never a reason to fail a cell
        pass
    torch = sys.modules.get("torch")
    if torch is None:
        return facts
    facts.update(
        torch=torch.__version__,
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        mkldnn=bool(torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled),
        torch_threads=torch.get_num_threads(),
        deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
    )
    if torch.cuda.is_available():
        facts.update(
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            cudnn_deterministic=torch.backends.cudnn.deterministic,
            cudnn_benchmark=torch.backends.cudnn.benchmark,
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
            gpu=torch.cuda.get_device_name(),
        )
    return facts


_CPU: str | None = None


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; elsewhere platform.processor())."""
    global _CPU
    if _CPU is None:
        _CPU = platform.processor() or ""
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("model name"):
                        _CPU = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
    return _CPU
