"""Compatibility: the runner is now the run floor, ``bench/run/``. This module re-exports its public names, so that
``from bench.runner import plan, run_tasks, WorkerConfig, Task`` keeps working; new code imports from the module
that owns each name:

    bench/run/planning.py   ``plan()``: datasets, splits, methods, variants and seeds -> ``Task``s; ``select()``
    bench/run/execute.py    ``execute_task()``: one cell in a worker -> a result (never raises); ``WorkerConfig``
    bench/run/devices.py    the device of a cell: GPUs counted without torch, one GPU claimed per worker
    bench/run/backends.py   ``run_tasks()``: joblib (loky / threading / sequential), Dask, Slurm; stores each result
    bench/run/workers.py    cells that kill their worker process: named, retried alone once, then a failure record
    bench/run/summary.py    the medians table printed at the end
"""

from __future__ import annotations

from bench.core.errors import RunError
from bench.results.cells import Cell, Task
from bench.run.backends import BACKENDS, RunSummary, check_backend, interleave, run_tasks
from bench.run.devices import check_device, claim_gpu, resolve_device, visible_gpus
from bench.run.execute import ROOT, WorkerConfig, execute_task, git_state, package_versions, utc_now
from bench.run.planning import (
    PRESETS,
    RERUN_CHOICES,
    check_preset,
    check_training_sets,
    damaged_message,
    derive_cross_hash,
    eval_tasks,
    full_split,
    load_run_dataset,
    plan,
    resolve_params,
    select,
    take_splits,
    unique_keys,
)
from bench.run.summary import TABLE_KEYS, format_table, median_table

__all__ = [
    "BACKENDS",
    "PRESETS",
    "RERUN_CHOICES",
    "ROOT",
    "TABLE_KEYS",
    "Cell",
    "RunError",
    "RunSummary",
    "Task",
    "WorkerConfig",
    "check_backend",
    "check_device",
    "check_preset",
    "check_training_sets",
    "claim_gpu",
    "damaged_message",
    "derive_cross_hash",
    "eval_tasks",
    "execute_task",
    "format_table",
    "full_split",
    "git_state",
    "interleave",
    "load_run_dataset",
    "median_table",
    "package_versions",
    "plan",
    "resolve_device",
    "resolve_params",
    "run_tasks",
    "select",
    "take_splits",
    "unique_keys",
    "utc_now",
    "visible_gpus",
]
