"""Executing one cell in a worker: ``execute_task(task, cfg)`` -> a result dict, never an exception.

Owns: ``WorkerConfig`` (what a worker needs besides the task), the datasets a worker loads once, the package
versions and git state a record carries, the cell's scratch folder (its name marks the cell as in flight in
this process: bench/run/workers.py reads the marks), the method's ``RunContext``, fit / load / predict, the
metrics and the record. Knows nothing of backends: they call ``execute_task``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench import __version__
from bench.core.distribution import cell_distribution_metrics
from bench.core.errors import RunError
from bench.core.metrics import MetricSettings, compute_metrics
from bench.core.numerics import cell_numerics, numerics_facts
from bench.core.seeding import derive_seed, seed_everything
from bench.results.cells import SCHEMA, Task
from bench.results.store import ResultStore
from bench.run import claims
from bench.run.devices import resolve_device
from bench.run.planning import load_run_dataset
from bench.run.threads import cell_threads, resolve_cpu_threads

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs besides the task (picklable, small)."""

    out: str
    data_kwargs: dict = field(default_factory=dict, hash=False)
    device: str = "auto"  # 'auto' (one GPU per worker if any, else cpu), 'cpu', 'cuda:N'
    weights_dir: str | None = None
    cache_dir: str | None = None  # shared cache (features, zero-shot scores); default OUT/cache
    save_checkpoints: bool = False
    progress: bool = False  # bars inside training (only when one job runs in this terminal)
    num_workers: int | str = "auto"  # DataLoader workers per cell; 'auto': bench.data.pipeline.resolve_num_workers
    cells_at_once: int = 1  # --jobs: 'auto' workers share the cores among the cells in parallel
    image_cache: str | None = (
        "auto"  # decoded-image cache folder; 'auto': bench.data.image_cache.default_root(); None: off
    )
    cpu_threads: int | str = (
        "auto"  # BLAS/OpenMP/torch threads per cell; 'auto': cores // cells_at_once (bench/run/threads.py)
    )
    skip_if_done: bool = True  # another run finished the cell meanwhile: do not redo it
    # run_tasks stores results in the parent: the cell's claim is released there, after the store has it
    claim_released_by_parent: bool = False
    git_commit: str = ""
    git_dirty: bool = False
    backend: str = "loky"


_DATASETS: dict = {}  # per worker process: datasets are loaded once, not once per cell
_VERSIONS: dict | None = None


def _worker_dataset(name: str, revision: str, data_kwargs: dict):
    memo = (name, tuple(sorted((k, str(v)) for k, v in data_kwargs.items())))
    if memo not in _DATASETS:
        _DATASETS[memo] = load_run_dataset(name, data_kwargs)
    ds = _DATASETS[memo]
    if ds.dataset.revision != revision:
        raise RunError(
            f"dataset {name!r} changed since the cell was planned (revision {ds.dataset.revision} != {revision}); "
            "run the command again to plan against the data as it is now."
        )
    return ds


def package_versions() -> dict:
    global _VERSIONS
    if _VERSIONS is None:
        from importlib import metadata

        versions = {"python": platform.python_version(), "biqa-bench": __version__}
        for dist in (
            "numpy",
            "scipy",
            "torch",
            "torchvision",
            "open_clip_torch",
            "pyiqa",
            "timm",
            "scikit-image",
            "pillow",
            "joblib",
        ):
            try:
                versions[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                pass
        _VERSIONS = versions
    return dict(_VERSIONS)


def git_state(root: Path = ROOT) -> tuple[str, bool]:
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        return "", False
    return commit, dirty


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def host_tag() -> str:
    """Short and dot-free: a marker names the machine whose pid it holds (a store may be shared)."""
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def marker_prefix(key: str) -> str:
    """``<key>.<pid>-<host>.``: the start of the scratch folder's name of a cell in flight in this process."""
    return f"{key}.{os.getpid()}-{host_tag()}."


def execute_task(task: Task, cfg: WorkerConfig) -> dict:
    """Run one cell. Returns {'status': 'done'|'failed'|'skipped', 'record': {...}, 'predictions': [...]}.

    Never raises (except KeyboardInterrupt/SystemExit): a failure is a result. 'claimed': another run on the store
    is computing it (``record['holder']`` says who); the result of a cell computed here carries its ``claim``.
    """
    cell = task.cell
    store = ResultStore(cfg.out)
    if cfg.skip_if_done and store.is_done(cell.key):
        return {"status": "skipped", "record": {"key": cell.key}}
    # claimed before computing: a second run on this store defers the cell instead of repeating it (claims.py)
    try:
        claim = claims.try_claim(Path(cfg.out) / "work", cell.key)
    except OSError:  # the store's work folder cannot be written: the cell's own scratch folder will say so
        claim = None
    if isinstance(claim, claims.Holder):
        return {"status": "claimed", "record": {"key": cell.key, "holder": claim.describe()}}
    if claim is not None and cfg.skip_if_done and store.is_done(cell.key):  # its last holder finished it
        claim.release()
        return {"status": "skipped", "record": {"key": cell.key}}
    try:
        result = _compute(task, cfg, store)
    except BaseException:  # Ctrl-C, SystemExit: nothing to store, the cell is free again
        if claim is not None:
            claim.release()
        raise
    if claim is not None and cfg.claim_released_by_parent:
        result["claim"] = claim.hand_off()  # released by the parent once the result is stored
    elif claim is not None:  # a direct caller: nothing of this run stores it after us
        claim.release()
    return result


def _compute(task: Task, cfg: WorkerConfig, store: ResultStore) -> dict:
    """The cell's fit, predict and metrics under its claim; a failure is a result."""
    from methods.base import RunContext
    from methods.registry import get_method

    cell = task.cell
    record = cell.record_fields()
    if task.method_target:
        record["method_source"] = task.method_target
    if os.environ.get("SLURM_JOB_ID"):  # --backend slurm: which job ran the cell (its logs are per job)
        record["slurm_job_id"] = os.environ["SLURM_JOB_ID"]
    record.update(
        status="running",
        schema=SCHEMA,
        started_at=utc_now(),
        host=socket.gethostname(),
        pid=os.getpid(),
        backend=cfg.backend,
        git_commit=cfg.git_commit,
        git_dirty=cfg.git_dirty,
        versions=package_versions(),
        notes=[],
    )
    context = workdir = None
    cell_scope = contextlib.ExitStack()  # what the cell sets for itself (threads), undone when it ends
    try:
        # first: the scratch folder, named with this pid, marks the cell as in flight in this process, so
        # the parent can name the cell when the process dies (bench/run/workers.py)
        workdir = _make_workdir(Path(cfg.out) / "work", cell.key)
        _thread_lock_for_progress_bars()
        if task.method_path and task.method_path not in sys.path:
            sys.path.append(task.method_path)
        cls = get_method(task.method_target or cell.method)
        params = cls.Params(**cell.params)
        train_full = _worker_dataset(cell.train_dataset, cell.train_revision, cfg.data_kwargs)
        test_full = _worker_dataset(cell.test_dataset, cell.test_revision, cfg.data_kwargs)
        # the ground truth the metrics are against (and the one trained on): reports name it, never mix two
        record.update(
            train_ground_truth=train_full.dataset.ground_truth,
            test_ground_truth=test_full.dataset.ground_truth,
            test_ground_truth_vs_paper=test_full.dataset.paper_note,  # '' where it is the paper baselines' own
        )
        train = train_full.subset(task.train_ids)
        val = train_full.subset(task.val_ids) if task.val_ids else None
        test = test_full if task.test_ids is None else test_full.subset(task.test_ids)
        device = resolve_device(cfg.device)
        method_seed = derive_seed(
            cell.seed, cell.train_dataset, cell.test_dataset, cell.split_set, cell.split_index, cell.fraction
        )
        from bench.data import image_cache, pipeline

        images = image_cache.default_root() if cfg.image_cache == "auto" else cfg.image_cache
        context = RunContext(
            seed=method_seed,
            device=device,
            workdir=workdir,
            cache_dir=Path(cfg.cache_dir) if cfg.cache_dir else store.cache_dir,
            weights_dir=Path(cfg.weights_dir) if cfg.weights_dir else None,
            progress=cfg.progress,
            save_checkpoint=cfg.save_checkpoints,
            num_workers=pipeline.resolve_num_workers(cfg.num_workers, device, cfg.cells_at_once),
            image_cache=Path(images) if images else None,
            select_on=cell.training_options.get("select_on", "last"),
        )
        pipeline.enter_cell(device=device, image_cache=context.image_cache)  # for CropDataset / make_loader
        record.update(
            device=device,
            method_seed=method_seed,
            trains=bool(cls.trains),
            n_train=len(train) if cls.trains else 0,
            n_val=len(val) if val else 0,
            n_test=len(test),
        )
        threads = resolve_cpu_threads(cfg.cpu_threads, cfg.cells_at_once)
        record["cpu_threads"] = threads
        cell_scope.enter_context(cell_threads(threads))
        numerics = (cell.training_options.get("precision", "auto"), cell.training_options.get("deterministic", False))
        cell_scope.enter_context(cell_numerics(*numerics))
        cell_scope.enter_context(image_cache.cell_decoder(cell.training_options.get("image_decoder", "pil")))
        seed_everything(method_seed)
        method = cls(params, context)
        t0 = time.perf_counter()
        if task.checkpoint:  # eval protocol: a trained cell's weights, nothing fitted here
            method.load(Path(task.checkpoint))
            record.update(checkpoint=task.checkpoint, n_train=0)
        elif cls.trains:
            method.fit(train, val)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        prediction = method.predict(test)  # scores, or a ScoreDistribution (acts as its means)
        preds = np.asarray(prediction, dtype=np.float64).ravel()
        predict_s = time.perf_counter() - t0
        if preds.shape[0] != len(test):
            raise RuntimeError(f"{cell.method}.predict returned {preds.shape[0]} scores for {len(test)} images")
        if cfg.save_checkpoints and cls.trains and not task.checkpoint:
            ckpt = Path(cfg.out) / "checkpoints" / cell.key[:2] / cell.key
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            try:
                method.save(ckpt)
                record["checkpoint"] = str(ckpt)
            except NotImplementedError as exc:
                context.note(f"no checkpoint saved: {exc}")
        metrics = compute_metrics(test.scores, preds, MetricSettings(**cell.metric_settings))
        distribution = cell_distribution_metrics(test, prediction)  # {} unless both sides are distributions
        metrics["flags"] = list(metrics.get("flags", [])) + distribution.pop("dist_flags", [])
        metrics.update(distribution)
        record.update(
            metrics=metrics,
            fit_s=round(fit_s, 4),
            predict_s=round(predict_s, 4),
            notes=list(context.notes),
            status="done",
            finished_at=utc_now(),
        )
        if context.history:
            record["history"] = list(context.history)
        used = context.facts.pop("device", device)  # a CPU-only method says where it really ran
        if used != device:
            record.update(device=used, device_requested=device)
        record.update({k: v for k, v in context.facts.items() if k not in record})
        record["numerics"] = numerics_facts(*numerics)
        return {
            "status": "done",
            "record": record,
            "predictions": list(zip(test.ids, test.scores.tolist(), preds.tolist())),
        }
    except Exception as exc:  # noqa: BLE001 -- a failing cell must not stop the others
        record.update(
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            notes=list(context.notes) if context else [],
            finished_at=utc_now(),
        )
        return {"status": "failed", "record": record}
    finally:
        cell_scope.close()
        if context is not None:
            from bench.data import pipeline

            pipeline.exit_cell()
        if workdir is not None:
            _clean_workdir(workdir)


def _thread_lock_for_progress_bars() -> None:
    """In a worker process, tqdm's bars get a thread lock instead of its default multiprocessing RLock: that
    one is a named semaphore, which nothing releases when the pool ends its workers, so Python warned of a
    'leaked semaphore' at the end of every loky run. A worker's bars are its own; a thread lock is enough."""
    import multiprocessing
    import threading

    if multiprocessing.current_process().name == "MainProcess":
        return
    from tqdm import tqdm

    if not hasattr(tqdm, "_lock"):
        tqdm.set_lock(threading.RLock())


def _make_workdir(work: Path, key: str) -> Path:
    """A scratch folder of this attempt only (``<key>.<pid>-<host>.<random>``): a second run computing the same
    cell at the same time gets its own, so neither deletes the other's files."""
    work.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=marker_prefix(key), dir=work))


def _clean_workdir(workdir: Path) -> None:
    import shutil

    try:
        workdir.rmdir()  # the usual case: the method left nothing (one syscall)
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)
