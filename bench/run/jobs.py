"""How many cells a run starts at once: --jobs bounded by the cells to run, the cores and the GPUs.

``--jobs 10000`` on a 2-cell plan started over 150 worker processes. Now:
- never more workers than cells to run (``--jobs 64`` on 2 cells starts 2);
- on this machine (loky, threading, dask with ``--scheduler local``): above the CPU cores -- or, for a CUDA
  run, above the visible GPUs -- a warning says what sharing costs; above ``OVERSUBSCRIBE`` x the cores (and
  the GPUs) the run is refused: every worker process holds its own copy of the method and the data, so
  that many only fills memory, and with each cell on one thread it is not faster.
A remote Dask scheduler or --backend slurm runs cells on other machines: only the cell count bounds them.
"""

from __future__ import annotations

OVERSUBSCRIBE = 4
LOCAL_BACKENDS = ("loky", "threading", "sequential")


def bounded_jobs(jobs: int, n_cells: int, backend: str, scheduler: str | None, device: str) -> tuple[int, list[str]]:
    """(the jobs to use, warnings to print); a RunError when ``jobs`` is beyond any use on this machine."""
    from bench.core.errors import RunError
    from bench.data.pipeline import available_cores
    from bench.run.devices import visible_gpus

    notes = []
    if jobs > max(n_cells, 1):
        notes.append(
            f"--jobs {jobs} capped at {max(n_cells, 1)}: the run has {n_cells} cell(s) to compute, and a "
            "worker without a cell would only take memory."
        )
        jobs = max(n_cells, 1)
    local = backend in LOCAL_BACKENDS or (backend == "dask" and scheduler == "local")
    if not local or jobs == 1:
        return jobs, notes
    cores = available_cores()
    gpus = visible_gpus() if device in ("auto", "cuda") or device.startswith("cuda:") else 0
    limit = max(OVERSUBSCRIBE * cores, gpus)
    if jobs > limit:
        raise RunError(
            f"--jobs {jobs} would start {jobs} worker processes on {cores} CPU core(s)"
            f"{f' and {gpus} GPU(s)' if gpus else ''}: each holds its own model and data, so that many only "
            f"fills memory and is no faster. Use at most --jobs {limit} (the cores, or the GPUs for a "
            "CUDA run, are the useful number), or --backend dask/slurm to spread cells over machines."
        )
    if gpus and device != "cpu" and jobs > gpus:
        notes.append(
            f"--jobs {jobs} is more than the {gpus} visible GPU(s): {jobs - gpus} cell(s) share a GPU at any "
            "time (its memory is split; out-of-memory errors are possible). --jobs "
            f"{gpus} gives each cell a GPU."
        )
    elif jobs > cores:
        notes.append(
            f"--jobs {jobs} is more than the {cores} CPU core(s) this process may use: cells share cores "
            "(one thread each; the same numbers, not faster) and each worker holds its own memory. "
            f"--jobs {cores} is the useful maximum here."
        )
    return jobs, notes
