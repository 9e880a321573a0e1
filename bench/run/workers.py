"""Cells that kill their worker process (out of memory, a crash in native code) are contained.

With the loky backend every cell runs in a worker process, ``--jobs 1`` included, so a cell that
dies cannot take the run with it. A worker marks the cell it runs by its scratch folder
``OUT/work/<key>.<pid>-<host>.<random>`` (``bench.run.execute.execute_task`` makes it first). When loky reports
a dead worker (``BrokenProcessPool``) it has killed the whole pool, so every cell in flight is lost;
the markers whose process is gone name them. Each of them runs once more alone, in a fresh
single-worker pool: one that dies there too is recorded as failed ("worker died"), the others
finish, and the run goes on with the remaining cells in parallel. On resume, cells whose last
failure was a worker death run last, so they cannot hold up the others.

Dask handles lost workers itself (it retries a task, then raises ``KilledWorker``): that still
stops the run with a clear message (``bench.run.backends.run_tasks``), as does a death under the threading and
sequential backends, where the cell runs in this process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from bench.run import claims
from bench.run.execute import host_tag, marker_prefix  # noqa: F401  (the marks execute_task makes; bench.run.workers.marker_prefix stays)

WORKER_DEATHS = (BrokenProcessPool,)  # loky's TerminatedWorkerError is one
DIED_HINT = "likely out of memory; try fewer --jobs or a smaller micro_batch"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_in_flight(work: Path, keys: set[str], wait_s: float = 5.0) -> list[str]:
    """Keys (of ``keys``) whose marker's process on this host is gone; their scratch is removed.

    loky reports a death before it kills the pool's other workers: wait up to ``wait_s`` for them."""
    markers = []
    try:
        entries = list(os.scandir(work))
    except OSError:
        return []
    tag = host_tag()
    for entry in entries:
        key, _, rest = entry.name.partition(".")
        pid, _, host = rest.partition(".")[0].partition("-")
        if key in keys and pid.isdigit() and host == tag:
            markers.append((key, int(pid), Path(entry.path)))
    deadline = time.monotonic() + wait_s
    while any(_alive(pid) for _, pid, _ in markers) and time.monotonic() < deadline:
        time.sleep(0.05)
    dead = [(key, path) for key, pid, path in markers if not _alive(pid)]
    for _, path in dead:
        shutil.rmtree(path, ignore_errors=True)
    claims.clear_dead(work, {key for key, _ in dead})  # their claims too: nobody computes them now
    return list(dict.fromkeys(key for key, _ in dead))


def exit_codes(exc: BaseException) -> str:
    """'SIGKILL(-9)' from loky's message, else the exception's type."""
    found = re.search(r"exit codes of the workers are \{([^}]*)\}", str(exc))
    return f"exit code {found.group(1)}" if found else type(exc).__name__


def died_record(task, cfg, exc: BaseException) -> dict:
    """The failure record of a cell that killed a fresh worker running it alone."""
    from bench.results.cells import SCHEMA
    from bench.run.execute import package_versions, utc_now

    record = task.cell.record_fields()
    why = (
        f"worker died ({exit_codes(exc)}) running this cell, and again when it ran alone in a fresh worker: {DIED_HINT}"
    )
    record.update(
        status="failed",
        schema=SCHEMA,
        worker_died=True,
        error=f"WorkerDied: {why}",
        traceback=f"{type(exc).__name__}: {exc}",
        host=socket.gethostname(),
        backend=cfg.backend,
        git_commit=cfg.git_commit,
        git_dirty=cfg.git_dirty,
        versions=package_versions(),
        notes=[],
        finished_at=utc_now(),
    )
    return record


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _in_one_worker(todo, cfg):
    """--jobs 1 on loky: one worker process (joblib would run n_jobs=1 in this process). A pool of its
    own: loky's shared reusable executor is joblib's too, and of another class."""
    from joblib.externals.loky import ProcessPoolExecutor

    from bench.run.execute import execute_task

    pool = ProcessPoolExecutor(max_workers=1)
    try:
        for task in todo:
            yield pool.submit(execute_task, task, cfg).result()
    finally:
        pool.shutdown(wait=False, kill_workers=True)


def results(todo, cfg, jobs: int, backend: str):
    """Results in the order they finish."""
    if backend == "loky" and jobs == 1:
        return _in_one_worker(todo, cfg)
    if backend in ("dask", "slurm"):
        return _on_dask(todo, cfg)
    from joblib import Parallel, delayed

    from bench.run.execute import execute_task

    return Parallel(return_as="generator_unordered")(delayed(execute_task)(t, cfg) for t in todo)


def _on_dask(todo, cfg):
    """Every cell a task of the current Dask client, results as they complete. Not through joblib: its Dask
    backend runs the calls in this process when the workers registered so far have one thread in all
    (one Slurm job started, a one-worker cluster), so the cells would silently not run on the cluster."""
    from dask.distributed import as_completed, get_client

    from bench.run.execute import execute_task

    client = get_client()
    futures = [client.submit(execute_task, t, cfg, pure=False, key=f"cell-{t.key}-{os.urandom(4).hex()}") for t in todo]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.cancel([f for f in futures if not f.done()])


def run_alone(task, cfg) -> dict:
    """The cell in a fresh pool of one worker; a death there is its failure record."""
    from joblib.externals.loky import ProcessPoolExecutor

    from bench.run.execute import execute_task

    pool = ProcessPoolExecutor(max_workers=1)
    try:
        return pool.submit(execute_task, task, cfg).result()
    except WORKER_DEATHS as exc:
        dead_in_flight(Path(cfg.out) / "work", {task.key})  # its scratch
        return {"status": "failed", "record": died_record(task, cfg, exc)}
    finally:
        pool.shutdown(wait=True)


def run_contained(todo, cfg, jobs: int, backend: str, deliver: Callable[[dict], None]) -> None:
    """Every task's result to ``deliver``, a dying worker's cells retried alone (see the module doc).
    Raises the death when its cells cannot be named (other backends, no marker)."""
    from bench.results.cells import label

    remaining = {t.key: t for t in todo}
    while remaining:
        try:
            for result in results(list(remaining.values()), cfg, jobs, backend):
                remaining.pop(result["record"]["key"], None)
                deliver(result)
            return
        except WORKER_DEATHS as exc:
            suspects = dead_in_flight(Path(cfg.out) / "work", set(remaining)) if backend == "loky" else []
            if not suspects:
                raise
            names = "; ".join(f"{k} {label(vars(remaining[k].cell))}" for k in suspects)
            _say(
                f"a worker process died ({exit_codes(exc)}) with {len(suspects)} cell(s) in flight: {names}. "
                "Running each alone in a fresh worker; the run goes on."
            )
            for key in suspects:
                deliver(run_alone(remaining.pop(key), cfg))


def died_last(todo: list, store) -> list:
    """Cells whose last failure was a worker death go to the end of the queue."""
    died = set()
    for key in store.failed_keys() & {t.key for t in todo}:
        try:
            if json.loads(store.failed_path(key).read_text(encoding="utf-8")).get("worker_died"):
                died.add(key)
        except (OSError, ValueError):
            continue
    return sorted(todo, key=lambda t: t.key in died) if died else todo
