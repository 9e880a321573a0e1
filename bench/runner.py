"""Protocols -> cells -> results: planning, running (joblib: loky or Dask), resuming.

``plan()`` loads the datasets, makes (or reloads) the splits and crosses them with
methods, variants and seeds into ``Task``s. ``run_tasks()`` sends the tasks that are
not done yet through ``joblib.Parallel(return_as="generator_unordered")`` and writes
each result to the store the moment it arrives, so a killed run loses only the cells
in flight. ``execute_task()`` is what a worker runs: it never raises, a failing method
becomes a 'failed' result with its traceback.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench import __version__
from bench.cells import SCHEMA, Cell, Task
from bench.errors import BenchError, WeightsMissing, did_you_mean
from bench.metrics import DEFAULT_SETTINGS, MetricSettings, compute_metrics
from bench.seeding import derive_seed, seed_everything
from bench.numerics import cell_numerics, numerics_facts
from bench.threads import cell_threads, resolve_cpu_threads
from bench.store import ResultStore

RERUN_CHOICES = ("missing", "failed", "all")
BACKENDS = ("loky", "dask", "threading", "sequential", "slurm")     # slurm: bench/slurm.py (dask-jobqueue)
PRESETS = ("paper", "demo", "ci")
ROOT = Path(__file__).resolve().parents[1]


class RunError(BenchError):
    """A run cannot start as asked."""


# --- configuration ------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs besides the task (picklable, small)."""

    out: str
    data_kwargs: dict = field(default_factory=dict, hash=False)
    device: str = "auto"                 # 'auto' (one GPU per worker if any, else cpu), 'cpu', 'cuda:N'
    weights_dir: str | None = None
    cache_dir: str | None = None         # shared cache (features, zero-shot scores); default OUT/cache
    save_checkpoints: bool = False
    progress: bool = False               # bars inside training (only when one job runs in this terminal)
    num_workers: int | str = "auto"      # DataLoader workers per cell; 'auto': bench.pipeline.resolve_num_workers
    cells_at_once: int = 1               # --jobs: 'auto' workers share the cores among the cells in parallel
    image_cache: str | None = "auto"     # decoded-image cache folder; 'auto': bench.image_cache.default_root(); None: off
    cpu_threads: int | str = "auto"      # BLAS/OpenMP/torch threads per cell; 'auto': cores // cells_at_once (bench/threads.py)
    skip_if_done: bool = True            # another run finished the cell meanwhile: do not redo it
    git_commit: str = ""
    git_dirty: bool = False
    backend: str = "loky"


@dataclass
class RunSummary:
    total: int = 0            # cells in the plan
    already_done: int = 0     # done before this run (skipped)
    submitted: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0          # finished by a concurrent run while queued
    failures: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False


# --- planning --------------------------------------------------------------------------------
def _load_dataset(name: str, data_kwargs: dict):
    from bench.datasets import load_dataset
    from bench.errors import DatasetError

    try:
        return load_dataset(name, **data_kwargs)
    except DatasetError as exc:
        if "bench data check" in str(exc):
            raise
        raise type(exc)(f"{exc} Check the data with `python -m bench data check`.") from None


def _canonical_dataset(name: str) -> str:
    """The registry name of a dataset (aliases such as 'koniq' resolve); unknown names get suggestions."""
    from bench.datasets import get_spec

    return get_spec(name).name


def check_preset(preset: str | None, classes) -> None:
    """A preset no method of the run knows is a typo, not 'use the defaults'."""
    known = set(PRESETS).union(*(cls.presets for cls in classes))
    if preset is not None and preset not in known:
        raise RunError(did_you_mean(preset, known, "--preset"))


def resolve_params(cls, preset: str | None, overrides: dict, variant_overrides: dict) -> tuple[Any, str]:
    """defaults <- preset (when the method has it) <- --param <- variant. Returns (params, preset used)."""
    from bench.params import normalise_params

    used = preset if preset in cls.presets else "default"
    try:
        params = cls.make_params(None if used == "default" else used, **{**overrides, **variant_overrides})
        # types checked and numbers normalised (alpha=1 -> 1.0: one cell key), then the method's own
        # range checks (its constructor is cheap): a bad value fails here, once, before any cell
        params = cls.Params(**normalise_params(cls.Params, cls.params_dict(params), cls.name))
        cls(params)
    except (TypeError, ValueError) as exc:
        raise RunError(f"{exc}. Fix --param (--param {cls.name}.NAME=VALUE sets it for this method only), "
                       "or the protocol's variant.") from None
    return params, used


def plan(
    protocol: str,
    methods: list[str],
    options=None,
    preset: str | None = None,
    param_overrides: dict[str, dict] | None = None,
    data_kwargs: dict | None = None,
    weights_dir: str | None = None,
    metric_settings: MetricSettings = DEFAULT_SETTINGS,
    check_weights: bool = True,
    notes: list[str] | None = None,
) -> list[Task]:
    """Every cell of ``protocol`` x ``methods`` with the CLI's ``options`` (protocols.Options).
    ``notes`` (a list) receives what the methods' ``check_plan`` said about the training sets."""
    import protocols as protocol_registry
    from bench.splits import make_splits
    from methods import registry

    proto = protocol_registry.get(protocol)
    opts = options or protocol_registry.Options()
    param_overrides = param_overrides or {}
    data_kwargs = dict(data_kwargs or {})
    from bench.datasets import register_custom      # custom datasets (spec files) before names resolve

    register_custom(data_kwargs.get("data_root"), data_kwargs.get("dataset_specs"))
    if not methods:
        raise RunError("no method given: --method NAME[,NAME2]; `python -m bench methods` lists them.")
    # cell name -> (class, --method value, import target of a plug-in given by location)
    found = {}
    for m in dict.fromkeys(methods):
        cname, cls, target = registry.resolve(m)
        if cname in found and found[cname][1] != m:
            raise RunError(f"--method {found[cname][1]} and {m} are both named {cname!r}: one cell name each.")
        found[cname] = (cls, m, target)
    classes = {name: cls for name, (cls, _, _) in found.items()}
    check_preset(preset, classes.values())
    units = list(dict.fromkeys(replace(u, train=_canonical_dataset(u.train), test=_canonical_dataset(u.test))
                               for u in proto.units(opts)))
    if any(u.split_kind == "cross" and u.train == u.test for u in units):
        raise RunError("cross-dataset runs need two different datasets (an alias named the training set again).")
    n_splits, test_fraction = proto.n_splits_for(opts), proto.test_fraction_for(opts)
    proto.check_training_options(opts)
    training_options = opts.training_options()

    datasets: dict[str, Any] = {}

    def dataset(name):
        if name not in datasets:
            datasets[name] = _load_dataset(name, data_kwargs)
        return datasets[name]

    # Methods x variants: resolved once (params do not depend on the data).
    resolved = []
    for mname, cls in classes.items():
        for variant in proto.variants_for(mname, opts):
            params, used = resolve_params(cls, preset, param_overrides.get(found[mname][1], {}), variant.overrides)
            if check_weights:
                ok, why = cls.availability(params, Path(weights_dir) if weights_dir else None)
                if not ok:
                    raise WeightsMissing(f"method {mname!r} cannot run here: {why}. Put the files under --weights-dir.")
            resolved.append((mname, cls, variant.label, cls.params_dict(params), used))

    targets = {name: target for name, (_, _, target) in found.items() if target}
    if getattr(proto, "eval_only", False):       # one cell per (method, dataset): every image scored once
        from protocols.evaluation import eval_tasks

        return _with_import_paths(eval_tasks(proto, opts, units, resolved, dataset, metric_settings, targets), targets)
    tasks: list[Task] = []
    for unit in units:
        train_ds = dataset(unit.train)
        test_ds = dataset(unit.test)
        check_training_sets(resolved, train_ds.dataset, notes)
        kwargs = dict(protocol="efficiency" if unit.fractions else "intra", split_set=opts.split_set,
                      n_splits=n_splits, test_fraction=test_fraction, val_fraction=opts.val_fraction)
        if unit.fractions:
            kwargs["fractions"] = tuple(unit.fractions)
            kwargs["fraction_of"] = opts.fraction_of
        cross = unit.split_kind == "cross"
        if cross and opts.cross_train == "full":       # one run per seed on every image of A
            splits = [full_split(train_ds, opts.split_set)]
        else:
            splits = take_splits(make_splits(train_ds, **kwargs), opts.n_splits, opts.split_set, unit.train)
        for split in splits:
            test_ids = None if cross else tuple(split.test)
            split_hash = split.hash if not cross else derive_cross_hash(split)
            for seed in opts.seeds:
                for mname, cls, label, params, used in resolved:
                    cell = Cell(
                        protocol=proto.name, method=mname, method_version=str(cls.version), method_kind=cls.kind,
                        variant=label, params=params, preset=used,
                        train_dataset=unit.train, test_dataset=unit.test,
                        train_revision=train_ds.dataset.revision, test_revision=test_ds.dataset.revision,
                        split_set=split.split_set, split_index=split.index, split_hash=split_hash,
                        fraction=split.fraction, seed=seed, metric_settings=metric_settings.as_dict(),
                        harness_version=__version__, training_options=dict(training_options),
                    )
                    tasks.append(Task(cell, tuple(split.train), tuple(split.val), test_ids,
                                      method_target=targets.get(mname)))
    return _with_import_paths(tasks, targets)


def _with_import_paths(tasks: list[Task], targets: dict[str, str]) -> list[Task]:
    """A module plug-in's import folder travels with its cells: a worker that started before the user's
    sys.path was set (a reused loky pool, a Dask worker started elsewhere) can still import it."""
    from methods.plugins import import_root

    roots = {name: import_root(target) for name, target in targets.items()}
    return [replace(t, method_path=roots[t.cell.method]) if roots.get(t.cell.method) else t for t in tasks]


def take_splits(splits, asked: int | None, split_set: str, dataset: str):
    """An imported split set has its own count (LIQE's: 10): --splits N takes its first N, and more
    than it has is an error, not a silent 'all of them'."""
    if asked is None or split_set == "default":
        return splits
    have = sorted({s.index for s in splits})
    if asked > len(have):
        raise RunError(f"--splits {asked}: split set {split_set!r} has {len(have)} split(s) for {dataset!r}; "
                       f"ask for at most {len(have)}, or use --split-set default for more.")
    keep = set(have[:asked])
    return [s for s in splits if s.index in keep]


def check_training_sets(resolved, train_info, notes: list[str] | None) -> None:
    """Each method's plan-time check (``Method.check_plan``) on this training set: errors stop the
    plan (so ``--dry-run`` shows them); notes are collected once each."""
    for mname, cls, label, params, _ in resolved:
        check = getattr(cls, "check_plan", None)
        if check is None:
            continue
        for note in check(cls.Params(**params), train_info) or []:
            line = f"{mname}[{label}]: {note}" if label != "default" else f"{mname}: {note}"
            if notes is not None and line not in notes:
                notes.append(line)


def full_split(ds, split_set: str):
    """--cross-train full: a single 'split' whose training part is every image of the dataset."""
    from bench.splits import Split

    ids = tuple(r.id for r in ds.records)
    return Split(ds.dataset.name, ds.dataset.revision, split_set, 0, 0, train=ids, test=(),
                 meta={"cross_train": "full"})


def derive_cross_hash(split) -> str:
    """Cross cells train on a split's training part only: the hash says so."""
    import hashlib

    return hashlib.sha256(f"cross:{split.hash}".encode()).hexdigest()[:16]


def unique_keys(tasks) -> list[str]:
    return list(dict.fromkeys(t.key for t in tasks))


def damaged_message(store: ResultStore, damaged: dict[str, str]) -> str:
    """All damaged result files of a plan in one message (not one per invocation)."""
    files = "; ".join(f"{store.cell_path(k)} ({why})" for k, why in sorted(damaged.items()))
    return f"{len(damaged)} result file(s) damaged, not counted as done (a run recomputes them): {files}"


def select(tasks: list[Task], store: ResultStore, rerun: str = "missing") -> list[Task]:
    """missing: not done (never run, failed, or killed); failed: only those with a failure record; all: every cell."""
    if rerun not in RERUN_CHOICES:
        raise RunError(did_you_mean(rerun, RERUN_CHOICES, "--rerun policy"))
    unique = list({t.key: t for t in tasks}.values())
    if rerun == "all":
        return unique
    done = store.done_keys()
    done -= set(store.damaged_keys(done & set(unique_keys(unique))))     # a damaged file is not a result
    if rerun == "missing":
        return [t for t in unique if t.key not in done]
    failed = store.failed_keys() - done
    return [t for t in unique if t.key in failed]


# --- the worker side -------------------------------------------------------------------------
_DATASETS: dict = {}      # per worker process: datasets are loaded once, not once per cell
_VERSIONS: dict | None = None
_DEVICE: str | None = None


def _worker_dataset(name: str, revision: str, data_kwargs: dict):
    memo = (name, tuple(sorted((k, str(v)) for k, v in data_kwargs.items())))
    if memo not in _DATASETS:
        _DATASETS[memo] = _load_dataset(name, data_kwargs)
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
        for dist in ("numpy", "scipy", "torch", "torchvision", "open_clip_torch", "pyiqa", "timm",
                     "scikit-image", "pillow", "joblib"):
            try:
                versions[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                pass
        _VERSIONS = versions
    return dict(_VERSIONS)


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
    if device.startswith("cuda") and backend not in ("dask", "slurm"):   # their workers may have GPUs this host lacks
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


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def execute_task(task: Task, cfg: WorkerConfig) -> dict:
    """Run one cell. Returns {'status': 'done'|'failed'|'skipped', 'record': {...}, 'predictions': [...]}.

    Never raises (except KeyboardInterrupt/SystemExit): a failure is a result.
    """
    from methods.base import RunContext
    from methods.registry import get_method

    cell = task.cell
    store = ResultStore(cfg.out)
    if cfg.skip_if_done and store.is_done(cell.key):
        return {"status": "skipped", "record": {"key": cell.key}}
    record = cell.record_fields()
    if task.method_target:
        record["method_source"] = task.method_target
    if os.environ.get("SLURM_JOB_ID"):           # --backend slurm: which job ran the cell (its logs are per job)
        record["slurm_job_id"] = os.environ["SLURM_JOB_ID"]
    record.update(status="running", schema=SCHEMA, started_at=_now(), host=socket.gethostname(), pid=os.getpid(),
                  backend=cfg.backend, git_commit=cfg.git_commit, git_dirty=cfg.git_dirty,
                  versions=package_versions(), notes=[])
    context = workdir = None
    cell_scope = contextlib.ExitStack()          # what the cell sets for itself (threads), undone when it ends
    try:
        # first: the scratch folder, named with this pid, marks the cell as in flight in this process, so
        # the parent can name the cell when the process dies (run_tasks)
        workdir = _make_workdir(Path(cfg.out) / "work", cell.key)
        _thread_lock_for_progress_bars()
        if task.method_path and task.method_path not in sys.path:
            sys.path.append(task.method_path)
        cls = get_method(task.method_target or cell.method)
        params = cls.Params(**cell.params)
        train_full = _worker_dataset(cell.train_dataset, cell.train_revision, cfg.data_kwargs)
        test_full = _worker_dataset(cell.test_dataset, cell.test_revision, cfg.data_kwargs)
        train = train_full.subset(task.train_ids)
        val = train_full.subset(task.val_ids) if task.val_ids else None
        test = test_full if task.test_ids is None else test_full.subset(task.test_ids)
        device = resolve_device(cfg.device)
        method_seed = derive_seed(cell.seed, cell.train_dataset, cell.test_dataset, cell.split_set,
                                  cell.split_index, cell.fraction)
        from bench import image_cache, pipeline

        images = image_cache.default_root() if cfg.image_cache == "auto" else cfg.image_cache
        context = RunContext(seed=method_seed, device=device, workdir=workdir,
                             cache_dir=Path(cfg.cache_dir) if cfg.cache_dir else store.cache_dir,
                             weights_dir=Path(cfg.weights_dir) if cfg.weights_dir else None,
                             progress=cfg.progress, save_checkpoint=cfg.save_checkpoints,
                             num_workers=pipeline.resolve_num_workers(cfg.num_workers, device, cfg.cells_at_once),
                             image_cache=Path(images) if images else None,
                             select_on=cell.training_options.get("select_on", "last"))
        pipeline.enter_cell(device=device, image_cache=context.image_cache)    # for CropDataset / make_loader
        record.update(device=device, method_seed=method_seed, trains=bool(cls.trains),
                      n_train=len(train) if cls.trains else 0, n_val=len(val) if val else 0, n_test=len(test))
        threads = resolve_cpu_threads(cfg.cpu_threads, cfg.cells_at_once)
        record["cpu_threads"] = threads
        cell_scope.enter_context(cell_threads(threads))
        numerics = (cell.training_options.get("precision", "auto"), cell.training_options.get("deterministic", False))
        cell_scope.enter_context(cell_numerics(*numerics))
        seed_everything(method_seed)
        method = cls(params, context)
        t0 = time.perf_counter()
        if task.checkpoint:                  # eval protocol: a trained cell's weights, nothing fitted here
            method.load(Path(task.checkpoint))
            record.update(checkpoint=task.checkpoint, n_train=0)
        elif cls.trains:
            method.fit(train, val)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        preds = np.asarray(method.predict(test), dtype=np.float64).ravel()
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
        record.update(metrics=compute_metrics(test.scores, preds, MetricSettings(**cell.metric_settings)),
                      fit_s=round(fit_s, 4), predict_s=round(predict_s, 4), notes=list(context.notes),
                      status="done", finished_at=_now())
        if context.history:
            record["history"] = list(context.history)
        used = context.facts.pop("device", device)      # a CPU-only method says where it really ran
        if used != device:
            record.update(device=used, device_requested=device)
        record.update({k: v for k, v in context.facts.items() if k not in record})
        record["numerics"] = numerics_facts(*numerics)
        return {"status": "done", "record": record,
                "predictions": list(zip(test.ids, test.scores.tolist(), preds.tolist()))}
    except Exception as exc:  # noqa: BLE001 -- a failing cell must not stop the others
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                      notes=list(context.notes) if context else [], finished_at=_now())
        return {"status": "failed", "record": record}
    finally:
        cell_scope.close()
        if context is not None:
            from bench import pipeline

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
    from bench.workers import marker_prefix

    work.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=marker_prefix(key), dir=work))


def _clean_workdir(workdir: Path) -> None:
    import shutil

    try:
        workdir.rmdir()                 # the usual case: the method left nothing (one syscall)
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)


# --- the parent side -------------------------------------------------------------------------
def git_state(root: Path = ROOT) -> tuple[str, bool]:
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return "", False
    return commit, dirty


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
            cluster = stack.enter_context(LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            scheduler = cluster.scheduler_address
        try:
            stack.enter_context(Client(scheduler, timeout="20s"))
        except (OSError, TimeoutError) as exc:
            raise RunError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start it, or check the address.") from None
        stack.enter_context(parallel_config(backend="dask", n_jobs=-1))
    elif backend == "slurm":                 # --jobs Slurm jobs of dask-jobqueue workers
        from bench.slurm import slurm_client

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
    ``backend_options``: --backend slurm's options (bench.slurm.options_from_args)."""
    from tqdm.auto import tqdm

    from bench.workers import died_last, run_contained

    if jobs < 1:
        raise RunError(f"--jobs must be at least 1, got {jobs}.")
    store.ensure_writable()
    start = time.perf_counter()
    summary = RunSummary(total=len({t.key for t in tasks}))
    damaged = store.damaged_keys(store.done_keys() & set(unique_keys(tasks)))
    if damaged:
        print(f"warning: {damaged_message(store, damaged)}", file=sys.stderr)
    todo = died_last(interleave(select(tasks, store, rerun)), store)
    summary.submitted = len(todo)
    summary.already_done = len((store.done_keys() & {t.key for t in tasks}) - {t.key for t in todo})
    if not todo:
        summary.seconds = time.perf_counter() - start
        return summary
    show = sys.stderr.isatty() if progress is None else progress
    cfg = replace(cfg, backend=backend, skip_if_done=(rerun != "all"), cells_at_once=jobs,
                  progress=show and jobs == 1 and backend in ("loky", "sequential"))
    backend_context = _backend_context(backend, jobs, scheduler, backend_options)   # its errors are the user's
    try:
        with backend_context:
            with tqdm(total=len(todo), desc="cells", unit="cell", disable=not show) as bar:
                def deliver(result: dict) -> None:
                    _store_result(store, result, summary)
                    if on_result:
                        on_result(result)
                    bar.update(1)

                run_contained(todo, cfg, jobs, backend, deliver)     # a dead worker's cells: bench/workers.py
    except KeyboardInterrupt:
        summary.interrupted = True
    except (BenchError, OSError) as exc:
        raise RunError(f"the run stopped: {exc}. {_kept(summary, store)}") from None
    except Exception as exc:  # noqa: BLE001 -- execute_task never raises: this is the machinery (a worker died)
        why = str(exc).strip().split("\n\n")[0].replace("\n", " ")
        raise RunError(f"the run stopped: a worker process died or the cluster was lost ({type(exc).__name__}: "
                       f"{why}). Out of memory? Try fewer --jobs. {_kept(summary, store)}") from None
    try:
        (store.root / "work").rmdir()     # scratch of cells: gone when no cell is in flight
    except OSError:
        pass
    summary.seconds = time.perf_counter() - start
    return summary


def _kept(summary: RunSummary, store: ResultStore) -> str:
    return (f"The {summary.done} cell(s) that finished are kept in {store.root}; run the same command again "
            "to resume (only the missing cells run).")


def _store_result(store: ResultStore, result: dict, summary: RunSummary) -> None:
    status = result["status"]
    if status == "done":
        store.write_done(result["record"], result["predictions"])
        summary.done += 1
    elif status == "failed":
        store.write_failed(result["record"])
        summary.failed += 1
        summary.failures.append(result["record"])
    else:
        summary.skipped += 1


# --- the table at the end ---------------------------------------------------------------------
TABLE_KEYS = ("protocol", "method", "variant", "train_dataset", "test_dataset", "fraction")


def median_table(tasks: list[Task], store: ResultStore) -> list[dict]:
    """One row per (protocol, method, variant, train, test, fraction): medians over its done cells."""
    groups: dict[tuple, dict] = {}
    for task in {t.key: t for t in tasks}.values():
        c = task.cell
        g = groups.setdefault(tuple(getattr(c, k) for k in TABLE_KEYS), {"cells": 0, "records": []})
        g["cells"] += 1
        if store.is_done(task.key):
            g["records"].append(store.load(task.key))
    rows = []
    for key, g in groups.items():
        row = dict(zip(TABLE_KEYS, key))
        row.update(done=len(g["records"]), cells=g["cells"])
        for metric in ("srcc", "plcc", "plcc_logistic", "krcc", "rmse"):
            vals = [r["metrics"].get(metric) for r in g["records"]]
            vals = [v for v in vals if v is not None]
            row[metric] = float(np.median(vals)) if vals else None
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Aligned text; the variant and fraction columns only when some row has one."""
    fmt = lambda v: "-" if v is None else f"{v:.4f}"
    columns = [("protocol", lambda r: r["protocol"]), ("method", lambda r: r["method"])]
    if any(r["variant"] != "default" for r in rows):
        columns.append(("variant", lambda r: r["variant"]))
    columns += [("train", lambda r: r["train_dataset"]), ("test", lambda r: r["test_dataset"])]
    if any(r["fraction"] is not None for r in rows):
        columns.append(("frac", lambda r: "-" if r["fraction"] is None else f"{r['fraction']:g}"))
    columns.append(("done", lambda r: f"{r['done']}/{r['cells']}"))
    columns += [(title, lambda r, m=metric: fmt(r[m])) for title, metric in
                (("SRCC", "srcc"), ("PLCC", "plcc"), ("PLCC*", "plcc_logistic"), ("KRCC", "krcc"), ("RMSE", "rmse"))]
    lines = [[title for title, _ in columns]] + [[cell(r) for _, cell in columns] for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    out = ["  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    from bench.datasets.registry import DEMO_NAMES

    synthetic = sorted({r[k] for r in rows for k in ("train_dataset", "test_dataset")} & set(DEMO_NAMES))
    tail = (f"\nSYNTHETIC DATA: {', '.join(synthetic)} {'is' if len(synthetic) == 1 else 'are'} synthetic and not "
            "human-rated (pseudo-MOS); these numbers test the pipeline, not quality prediction.") if synthetic else ""
    over = ("median over seeds; every image scored once" if rows and all(r["protocol"] == "eval" for r in rows)
            else "median over splits")          # eval has no splits (protocols/evaluation.py)
    return "\n".join(out) + f"\n({over}; PLCC* after the VQEG 4-parameter logistic)" + tail
