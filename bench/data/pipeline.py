"""Data-loading settings of the cell in flight (torch-free): workers, device, decoded-image cache.

The runner calls ``enter_cell(device=..., image_cache=...)`` before a method's fit/predict and
``exit_cell()`` after, so that every trainer's ``CropDataset`` and ``make_loader`` pick up the cache
and the CUDA loader settings without the trainer passing them on.

``--num-workers auto`` (the default of ``bench run``) resolves per cell with ``resolve_num_workers``:
on CUDA, the CPU cores this cell may use (the cores of this process's affinity mask and cgroup quota,
divided by the cells run at once, ``--jobs``), at most 8, at least 1; on CPU, 0 -- the model's own
threads already use those cores, and worker start-up would cost more than the decoding it hides.
"""

from __future__ import annotations

import math
import os

MAX_AUTO_WORKERS = 8

_CELLS: list[dict] = []  # stack: the innermost cell's settings win


def available_cores() -> int:
    """CPU cores this process may use: its affinity mask, capped by a cgroup v2 CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def parse_auto_count(text: str, flag: str, minimum: int, what: str) -> int | str:
    """argparse type of a count option: 'auto' or an integer >= ``minimum``."""
    import argparse

    if str(text).strip().lower() == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number of {what} >= {minimum}, got {text!r}") from None
    if n < minimum:
        raise argparse.ArgumentTypeError(f"{flag} must be >= {minimum} or 'auto', got {n}")
    return n


def parse_num_workers(text: str) -> int | str:
    """argparse type of --num-workers: 'auto' or an integer >= 0."""
    return parse_auto_count(text, "--num-workers", 0, "workers")


def resolve_num_workers(
    requested: int | str | None, device: str = "cpu", cells_at_once: int = 1, cores: int | None = None
) -> int:
    """DataLoader workers for one cell: an explicit number as given; 'auto' as documented above."""
    if requested is None:
        requested = "auto"
    if requested != "auto":
        n = int(requested)
        if n < 0:
            raise ValueError(f"num_workers must be >= 0 or 'auto', got {n}")
        return n
    if not str(device).startswith("cuda"):
        return 0
    per_cell = (cores or available_cores()) // max(1, int(cells_at_once))
    return max(1, min(MAX_AUTO_WORKERS, per_cell))


def enter_cell(device: str | None = None, image_cache: str | os.PathLike | None = None) -> None:
    """Settings for the cell about to run (image_cache: a cache folder, or None for no cache)."""
    _CELLS.append(
        {"device": str(device) if device else None, "image_cache": os.fspath(image_cache) if image_cache else None}
    )


def exit_cell() -> None:
    if _CELLS:
        _CELLS.pop()


def current() -> dict | None:
    """The settings of the cell in flight in this process, or None outside a run."""
    return _CELLS[-1] if _CELLS else None


def cell_device() -> str | None:
    cell = current()
    return cell["device"] if cell else None
