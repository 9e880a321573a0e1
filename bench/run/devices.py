"""Which device a cell runs on: GPUs counted without torch, one GPU claimed per worker process, and the
--device value checked once at start-up. Used by the execution of a cell (``resolve_device``) and by the CLI.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

import numpy as np

from bench.core.errors import RunError

_DEVICE: str | None = None  # per worker process: the device 'auto' resolved to (its claimed GPU)


def visible_gpus() -> int:
    """CUDA devices visible to this process, counted without importing torch."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return len([d for d in env.split(",") if d.strip() and d.strip() != "-1"])
    try:
        return len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0


def claim_gpu(n_gpus: int, claims_dir: Path | None = None) -> int:
    """Give this worker process the GPU with the fewest live workers on it (one GPU per worker)."""
    claims = claims_dir or Path(tempfile.gettempdir()) / f"biqa-bench-gpu-claims-{os.getuid()}"
    claims.mkdir(parents=True, exist_ok=True)
    with open(claims / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        load = [0] * n_gpus
        for entry in claims.iterdir():
            if not entry.name.startswith("gpu"):
                continue
            gpu, _, pid = entry.name[3:].partition(".")
            alive = True
            try:
                os.kill(int(pid), 0)
            except (ProcessLookupError, ValueError):
                alive = False
            except PermissionError:
                pass
            if not alive:
                entry.unlink(missing_ok=True)
            elif gpu.isdigit() and int(gpu) < n_gpus:
                load[int(gpu)] += 1
        gpu = int(np.argmin(load))
        (claims / f"gpu{gpu}.{os.getpid()}").touch()
    return gpu


def check_device(device: str, backend: str = "loky") -> None:
    """At start-up: a device typo or a GPU that is not there fails once, not in every cell."""
    import re

    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", device):
        raise RunError(f"--device {device!r}: expected auto, cpu, cuda or cuda:N (e.g. cuda:0), or mps.")
    if device.startswith("cuda") and backend not in ("dask", "slurm"):  # their workers may have GPUs this host lacks
        n, index = visible_gpus(), int(device.partition(":")[2] or 0)
        if n == 0:
            raise RunError(f"--device {device}: no CUDA device is visible here; use --device cpu (or auto).")
        if index >= n:
            raise RunError(f"--device {device}: only {n} CUDA device(s) visible here (cuda:0..cuda:{n - 1}).")


def resolve_device(requested: str) -> str:
    global _DEVICE
    if requested != "auto":
        return requested
    if _DEVICE is None:
        n = visible_gpus()
        _DEVICE = f"cuda:{claim_gpu(n)}" if n else "cpu"
    return _DEVICE
