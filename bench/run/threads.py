"""CPU threads of the cell in flight: one policy for BLAS, OpenMP and torch (torch-free at import).

The number of threads a reduction is split over changes its summation order, so the same cell can differ
in the last digits between ``--jobs 1`` and ``--jobs 2`` when each picks its own thread count. The runner
runs every cell inside ``cell_threads(n)``: BLAS and OpenMP pools (threadpoolctl) and torch's intra-op
pool all get ``n`` threads, and the cell records ``cpu_threads``. ``--cpu-threads N`` gives the same ``n``
whatever ``--jobs`` and the backend, hence the same numbers on one machine; ``auto`` (the default) is the
cores of this process divided by the cells run at once (speed first), capped by ``OMP_NUM_THREADS`` when set. A method may still set its own
count inside (MP-IQE's ``cpu_threads`` parameter, nss-svr's one BLAS thread).
"""

from __future__ import annotations

import contextlib
import os
import sys

from bench.data.pipeline import available_cores, parse_auto_count

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")  # read by libraries loaded later


def parse_cpu_threads(text: str) -> int | str:
    """argparse type of --cpu-threads: 'auto' or an integer from 1 to OVERSUBSCRIBE x the cores (bench.run.jobs's
    bound for --jobs: beyond it, threads only wait for each other)."""
    import argparse

    from bench.run.jobs import OVERSUBSCRIBE

    n = parse_auto_count(text, "--cpu-threads", 1, "threads")
    cores = available_cores()
    if n != "auto" and n > OVERSUBSCRIBE * cores:
        raise argparse.ArgumentTypeError(
            f"--cpu-threads {n} is more than {OVERSUBSCRIBE}x the {cores} core(s) this process may use: give at most "
            f"{OVERSUBSCRIBE * cores}, or 'auto' (each worker then counts its own cores, e.g. on cluster nodes)"
        )
    return n


def resolve_cpu_threads(requested: int | str | None, cells_at_once: int = 1, cores: int | None = None) -> int:
    """N as given; 'auto': the cores divided by the cells run at once, capped by an OMP_NUM_THREADS the user
    set (a machine's or job script's own limit wins)."""
    if requested not in (None, "auto"):
        return max(1, int(requested))
    n = max(1, (cores or available_cores()) // max(1, int(cells_at_once)))
    try:
        return max(1, min(n, int(os.environ["OMP_NUM_THREADS"])))
    except (KeyError, ValueError):
        return n


@contextlib.contextmanager
def cell_threads(n: int):
    """BLAS, OpenMP and torch's intra-op pool on ``n`` threads while the cell runs, then as before.

    torch is not imported for this (a torch-free method's worker stays torch-free): if the method imports it
    during the cell, it starts with OMP_NUM_THREADS=n; if it was imported before, its pool is set directly."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    saved_env = {k: os.environ.get(k) for k in THREAD_ENV}
    with threadpool_limits(limits=n):
        for k in THREAD_ENV:
            os.environ[k] = str(n)
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield n
        finally:
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            if torch is not None:
                torch.set_num_threads(before)
