"""Running a plan's cells: ``run_tasks`` sends the cells still to run through a backend and stores each
result the moment it arrives, so a killed run loses only the cells in flight.

Owns: the backends (joblib ``parallel_config``: loky, threading, sequential; a Dask client, local or remote;
Slurm through bench/run/slurm.py), the order cells are sent in (``interleave``), the run's ``RunSummary``. Each
cell is ``bench.run.execute.execute_task`` in a worker; a worker that dies is contained by bench/run/workers.py.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from bench.core.errors import BenchError, RunError, did_you_mean
from bench.results.cells import Task
from bench.results.store import ResultStore
from bench.run import claims
from bench.run.execute import WorkerConfig
from bench.run.planning import damaged_message, select, unique_keys

BACKENDS = ("loky", "dask", "threading", "sequential", "slurm")  # slurm: bench/run/slurm.py (dask-jobqueue)


@dataclass
class RunSummary:
    total: int = 0  # cells in the plan
    already_done: int = 0  # done before this run (skipped)
    submitted: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0  # finished by a concurrent run while queued
    claimed: list = field(default_factory=list)  # tasks another run on the store was computing (waited for)
    failures: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False


def check_backend(backend: str, scheduler: str | None) -> None:
    """Before planning: a typo here should not cost the minutes that loading the data takes."""
    if backend not in BACKENDS:
        raise RunError(did_you_mean(backend, BACKENDS, "backend"))
    if backend == "dask":
        if not scheduler:
            raise RunError("--backend dask needs --scheduler ADDRESS (e.g. tcp://head:8786), or --scheduler local.")
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            raise RunError("--backend dask needs dask.distributed: pip install 'biqa-bench[dask]'.") from None
    elif scheduler:
        raise RunError(f"--scheduler is for --backend dask (the backend is {backend!r}).")


def _backend_context(backend: str, jobs: int, scheduler: str | None, backend_options: dict | None = None):
    """joblib.parallel_config for the backend (and the Dask client it needs)."""
    import contextlib

    from joblib import parallel_config

    check_backend(backend, scheduler)
    stack = contextlib.ExitStack()
    if backend == "dask":
        from dask.distributed import Client, LocalCluster

        if scheduler == "local":
            cluster = stack.enter_context(
                LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None)
            )
            scheduler = cluster.scheduler_address
        try:
            stack.enter_context(Client(scheduler, timeout="20s"))
        except (OSError, TimeoutError) as exc:
            raise RunError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start it, or check the address."
            ) from None
        stack.enter_context(parallel_config(backend="dask", n_jobs=-1))
    elif backend == "slurm":  # --jobs Slurm jobs of dask-jobqueue workers
        from bench.run.slurm import slurm_client

        stack.enter_context(slurm_client(backend_options or {}, jobs))
        stack.enter_context(parallel_config(backend="dask", n_jobs=-1))
    elif backend == "sequential":
        stack.enter_context(parallel_config(backend="sequential", n_jobs=1))
    else:
        stack.enter_context(parallel_config(backend=backend, n_jobs=jobs))
    return stack


def interleave(tasks: list[Task]) -> list[Task]:
    """Round-robin over training datasets: cells running side by side then read different images, so
    per-image caches (features, zero-shot scores) fill in parallel instead of being computed twice."""
    rank: dict[str, int] = {}
    keyed = []
    for order, task in enumerate(tasks):
        name = task.cell.train_dataset
        keyed.append((rank.get(name, 0), order, task))
        rank[name] = rank.get(name, 0) + 1
    return [t for _, _, t in sorted(keyed, key=lambda k: (k[0], k[1]))]


def run_tasks(
    tasks: list[Task],
    store: ResultStore,
    cfg: WorkerConfig,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    rerun: str = "missing",
    progress: bool | None = None,
    on_result: Callable[[dict], None] | None = None,
    backend_options: dict | None = None,
) -> RunSummary:
    """Run what ``rerun`` selects; write every result as it arrives. Ctrl-C keeps what finished.
    ``backend_options``: --backend slurm's options (bench.run.slurm.options_from_args)."""
    from tqdm.auto import tqdm

    from bench.run.workers import died_last, run_contained

    if jobs < 1:
        raise RunError(f"--jobs must be at least 1, got {jobs}.")
    store.ensure_writable()
    claims.sweep(store.root / "work")  # claims a killed run left behind
    start = time.perf_counter()
    summary = RunSummary(total=len({t.key for t in tasks}))
    damaged = store.damaged_keys(store.done_keys() & set(unique_keys(tasks)))
    if damaged:
        print(f"warning: {damaged_message(store, damaged)}", file=sys.stderr)
    todo = died_last(interleave(select(tasks, store, rerun)), store)
    summary.submitted = len(todo)
    jobs = min(jobs, max(len(todo), 1))  # a worker without a cell only takes memory (bench/run/jobs.py)
    summary.already_done = len((store.done_keys() & {t.key for t in tasks}) - {t.key for t in todo})
    if not todo:
        summary.seconds = time.perf_counter() - start
        return summary
    show = sys.stderr.isatty() if progress is None else progress
    cfg = replace(
        cfg,
        backend=backend,
        skip_if_done=(rerun != "all"),
        claim_released_by_parent=True,  # _store_result releases each cell's claim once stored
        cells_at_once=jobs,
        progress=show and jobs == 1 and backend in ("loky", "sequential"),
    )
    backend_context = _backend_context(backend, jobs, scheduler, backend_options)  # its errors are the user's
    try:
        with backend_context:
            with tqdm(total=len(todo), desc="cells", unit="cell", disable=not show) as bar:

                def deliver(result: dict) -> None:
                    _store_result(store, result, summary)
                    if on_result:
                        on_result(result)
                    if result["status"] != "claimed":  # counted when it is waited for or run here
                        bar.update(1)

                run_contained(todo, cfg, jobs, backend, deliver)  # a dead worker's cells: bench/run/workers.py
                _run_deferred(todo, store, summary, lambda tasks: run_contained(tasks, cfg, jobs, backend, deliver))
    except KeyboardInterrupt:
        summary.interrupted = True
    except (BenchError, OSError) as exc:
        raise RunError(f"the run stopped: {exc}. {_kept(summary, store)}") from None
    except Exception as exc:  # noqa: BLE001 -- execute_task never raises: this is the machinery (a worker died)
        why = str(exc).strip().split("\n\n")[0].replace("\n", " ")
        raise RunError(
            f"the run stopped: a worker process died or the cluster was lost ({type(exc).__name__}: "
            f"{why}). Out of memory? Try fewer --jobs. {_kept(summary, store)}"
        ) from None
    claims.sweep(store.root / "work")
    try:
        (store.root / "work").rmdir()  # scratch of cells: gone when no cell is in flight
    except OSError:
        pass
    summary.seconds = time.perf_counter() - start
    return summary


def _kept(summary: RunSummary, store: ResultStore) -> str:
    return (
        f"The {summary.done} cell(s) that finished are kept in {store.root}; run the same command again "
        "to resume (only the missing cells run)."
    )


def _store_result(store: ResultStore, result: dict, summary: RunSummary) -> None:
    status = result["status"]
    try:
        if status == "done":
            store.write_done(result["record"], result["predictions"])
            summary.done += 1
        elif status == "failed":
            store.write_failed(result["record"])
            summary.failed += 1
            summary.failures.append(result["record"])
        elif status == "claimed":  # another run is computing it: waited for after the other cells
            summary.claimed.append(result["record"])
        else:
            summary.skipped += 1
    finally:
        if result.get("claim"):  # stored (or failed to be): the cell is free for another run
            claims.release_file(**result["claim"])


def _run_deferred(todo: list[Task], store: ResultStore, summary: RunSummary, run) -> None:
    """The cells another run on this store was computing: wait for it; those it did not finish run here."""
    while summary.claimed:
        keys = list(dict.fromkeys(r["key"] for r in summary.claimed))
        summary.claimed = []

        def waiting(held: list[str], holder) -> None:
            who = holder.describe() if holder else "another run"
            print(f"waiting for {len(held)} cell(s) that {who} is computing on this store...", file=sys.stderr)

        done, here = claims.wait_for(store.root / "work", keys, store.is_done, on_wait=waiting)
        summary.skipped += len(done)
        run([t for t in todo if t.key in set(here)])
