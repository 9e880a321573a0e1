"""``bench run``: expand a protocol into cells, run what is missing, print the medians."""

from __future__ import annotations

import argparse
import json
import sys

EPILOG = """examples:
  python -m bench run --protocol cross --method mpiqe --data demo
  python -m bench run --protocol intra --method nss-svr,mpiqe --data-root /data/iqa --jobs 4
  python -m bench run --protocol cross --method mpiqe --train livec --test koniq10k
  python -m bench run --protocol intra --method mpiqe --backend dask --scheduler tcp://head:8786
  python -m bench run --protocol intra --method mpiqe --backend slurm --jobs 8 --slurm-partition gpu --out /shared/runs
A run resumes by itself: the same command again runs only the cells that are missing."""


def _csv(text: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:  # an empty list would silently mean "the protocol's defaults"
        raise argparse.ArgumentTypeError(f"expected one or more names separated by commas; got {text!r}")
    return values


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in _csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, e.g. 0.2,0.4; got {text!r}") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in _csv(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, e.g. 0,1,2; got {text!r}") from None


def _data_args():
    from bench.data.datasets import add_data_args, data_kwargs

    return add_data_args, data_kwargs


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a protocol (resumable, parallel)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--protocol", required=True, help="intra, cross, efficiency, ablation, sensitivity, eval")
    p.add_argument(
        "--method",
        required=True,
        type=_csv,
        help="method name(s), comma-separated; also my_pkg.module:Class or path/file.py:Class",
    )
    p.add_argument("--data", choices=["demo"], help="'demo': run on the bundled synthetic demo-a / demo-b sets")
    add_data_args, _ = _data_args()
    add_data_args(p)
    p.add_argument("--datasets", type=_csv, help="datasets instead of the protocol's defaults (comma-separated)")
    p.add_argument("--train", type=_csv, help="cross: training dataset(s)")
    p.add_argument("--test", type=_csv, help="cross: test dataset(s)")
    p.add_argument("--splits", type=int, help="number of splits (default: the protocol's, 10)")
    p.add_argument(
        "--split-set",
        default="default",
        help="'default' (ours, seeded), 'liqe', 'pyiqa', 'official' (the dataset's own train/test split)",
    )
    p.add_argument("--test-fraction", type=float, help="share of each dataset held out for testing (default 0.2)")
    p.add_argument("--fractions", type=_floats, help="efficiency: training shares, e.g. 0.2,0.4,0.6")
    p.add_argument("--seeds", type=_ints, default=(0,), help="seeds, comma-separated (default 0)")
    p.add_argument("--variants", type=_csv, help="ablation/sensitivity: only these variants")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="hold this share of each dataset out of training as a validation part (default 0)",
    )
    p.add_argument(
        "--select-on",
        default="last",
        choices=["last", "val"],
        help="last (default): keep the last epoch; val: the epoch with the best validation SRCC "
        "(needs --val-fraction; test data is never used)",
    )
    p.add_argument(
        "--cross-train",
        default="split",
        choices=["split", "full"],
        help="cross: train on the training part of each of A's splits (split, default) or once per "
        "seed on all of A (full); docs/RUNNING.md, Table 3",
    )
    p.add_argument(
        "--fraction-of",
        default="dataset",
        choices=["dataset", "train"],
        help="efficiency: --fractions are shares of the whole dataset (default) or of the split's "
        "training part; docs/RUNNING.md, Table 5",
    )
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "float64"],
        help="auto (default): each method's own precision (float32; bf16 autocast on CUDA where the "
        "method uses it); float64: every torch tensor of the cell in float64, the same numbers on "
        "any CPU to ~1e-9 at ~2x the CPU time (what the CI regression uses; docs/RUNNING.md)",
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="torch deterministic algorithms, cuDNN deterministic and not benchmarking, "
        "CUBLAS_WORKSPACE_CONFIG: bit-identical reruns on one GPU, slower; a kernel without a "
        "deterministic version then raises (docs/RUNNING.md, Reproducibility)",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="eval: score with a trained cell's weights (OUT/checkpoints/<k2>/<key>, saved by "
        "--save-checkpoints) instead of zero-shot (repeatable)",
    )
    p.add_argument("--preset", help="paper | demo | ci (default: demo with --data demo, else paper)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="[METHOD.]NAME=VALUE",
        help="override a method parameter (repeatable); VALUE is JSON or a plain string",
    )
    p.add_argument("--jobs", type=int, default=1, help="cells run at once (default 1)")
    p.add_argument(
        "--backend",
        default="loky",
        help="loky (default, local processes), dask (--scheduler), slurm (Slurm jobs through "
        "dask-jobqueue: --slurm-*), or threading / sequential (in this process)",
    )
    p.add_argument("--scheduler", help="dask: scheduler address (tcp://host:8786) or 'local'")
    from bench.run.slurm import add_slurm_args

    add_slurm_args(p)
    p.add_argument("--device", default="auto", help="auto (one GPU per worker when CUDA exists, else cpu), cpu, cuda:N")
    from bench.data.pipeline import parse_num_workers

    p.add_argument(
        "--num-workers",
        type=parse_num_workers,
        default="auto",
        help="data-loading workers per cell: auto (default; on CUDA the cores per cell given --jobs, "
        "at most 8; on CPU 0) or a number",
    )
    from bench.run.threads import parse_cpu_threads

    p.add_argument(
        "--cpu-threads",
        type=parse_cpu_threads,
        default="auto",
        help="BLAS/OpenMP/torch threads per cell: auto (default; the cores divided by --jobs) or N; "
        "a fixed N gives the same numbers whatever --jobs and the backend (recorded per cell)",
    )
    p.add_argument(
        "--no-image-cache",
        action="store_true",
        help="decode every image every epoch instead of using the decoded-image cache "
        "($BENCH_IMAGE_CACHE, default $BENCH_CACHE/images; docs/PERFORMANCE.md)",
    )
    p.add_argument("--weights-dir", help="folder holding pretrained weight files (offline)")
    p.add_argument("--out", default="runs", help="results folder (default runs/)")
    p.add_argument("--cache-dir", help="cache shared by cells (features, zero-shot scores; default OUT/cache)")
    p.add_argument(
        "--rerun",
        default="missing",
        choices=["missing", "failed", "all"],
        help="missing (default): cells not done; failed: cells that failed; all: everything again",
    )
    p.add_argument(
        "--save-checkpoints", action="store_true", help="keep each trained cell's weights under OUT/checkpoints"
    )
    p.add_argument("--dry-run", action="store_true", help="list the cells and how many are done; run nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def parse_params(items: list[str], methods: tuple[str, ...]) -> dict[str, dict]:
    from bench.core.errors import RunError

    out: dict[str, dict] = {m: {} for m in methods}
    alias = _plugin_names(methods) if any("." in i.partition("=")[0] for i in items) else {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise RunError(f"--param {item!r}: expected NAME=VALUE or METHOD.NAME=VALUE, e.g. --param epochs=3")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        method, dot, pname = name.rpartition(".")
        method = alias.get(method, method)  # a plug-in by its name as well as by its location
        targets = [method] if dot else list(methods)
        for m in targets:
            if m not in out:
                raise RunError(f"--param {item!r} names method {m!r}, which is not in --method {','.join(methods)}")
            out[m][pname] = parsed
    return out


def _plugin_names(methods: tuple[str, ...]) -> dict[str, str]:
    """name -> --method value, for plug-ins given by location (path/file.py:Class names 'my-method')."""
    from bench.core.errors import BenchError
    from methods import registry

    out = {}
    for m in methods:
        if ":" in m and not m.startswith(registry.PYIQA_PREFIX):
            try:
                out[registry.resolve(m)[0]] = m
            except BenchError:  # reported by the planner, with the same message
                pass
    return out


def run(args) -> int:
    import protocols
    from bench.core.errors import RunError
    from bench.results.store import ResultStore, StoreError, ensure_writable_dir
    from bench.run.backends import check_backend, run_tasks
    from bench.run.devices import check_device
    from bench.run.execute import WorkerConfig, git_state
    from bench.run.jobs import bounded_jobs
    from bench.run.planning import plan, select
    from bench.run.summary import format_table, median_table

    _, data_kwargs = _data_args()
    kwargs = data_kwargs(args)
    preset = args.preset or ("demo" if args.data == "demo" else "paper")
    opts = protocols.Options(
        data=args.data,
        datasets=args.datasets,
        train=args.train,
        test=args.test,
        n_splits=args.splits,
        fractions=args.fractions,
        test_fraction=args.test_fraction,
        seeds=args.seeds,
        split_set=args.split_set,
        variants=args.variants,
        checkpoints=tuple(args.checkpoint) or None,
        val_fraction=args.val_fraction,
        select_on=args.select_on,
        cross_train=args.cross_train,
        fraction_of=args.fraction_of,
        precision=args.precision,
        deterministic=args.deterministic,
    )
    # What can be checked without the data is checked first: loading and splitting can take minutes.
    if args.jobs < 1:
        raise RunError(f"--jobs must be at least 1, got {args.jobs}.")
    check_backend(args.backend, args.scheduler)
    from bench.run import slurm

    slurm_options = slurm.options_from_args(args)
    if slurm_options:
        slurm.check(slurm_options)
    check_device(args.device, args.backend)
    _check_demo_data_flags(args)
    store = ResultStore(args.out)
    unwritable = None
    try:
        store.ensure_writable(create=not args.dry_run)  # --dry-run creates nothing
        if args.cache_dir and not args.dry_run:
            ensure_writable_dir(args.cache_dir, "--cache-dir")
    except StoreError as exc:
        if not args.dry_run:
            raise
        unwritable = str(exc)
    plan_notes: list[str] = []
    tasks = plan(
        args.protocol,
        list(args.method),
        opts,
        preset=preset,
        param_overrides=parse_params(args.param, args.method),
        data_kwargs=kwargs,
        weights_dir=args.weights_dir,
        notes=plan_notes,
    )
    for note in plan_notes:
        print(f"note: {note}", file=sys.stderr)
    if args.dry_run:
        return _dry_run(tasks, store, args.rerun, unwritable)
    jobs, job_notes = bounded_jobs(
        args.jobs, len(select(tasks, store, args.rerun)), args.backend, args.scheduler, args.device
    )
    for note in job_notes:
        print(f"note: {note}", file=sys.stderr)
    commit, dirty = git_state()
    cfg = WorkerConfig(
        out=str(args.out),
        data_kwargs=kwargs,
        device=args.device,
        weights_dir=args.weights_dir,
        cache_dir=args.cache_dir,
        save_checkpoints=args.save_checkpoints,
        num_workers=args.num_workers,
        cpu_threads=args.cpu_threads,
        image_cache=None if args.no_image_cache else "auto",
        git_commit=commit,
        git_dirty=dirty,
    )
    summary = run_tasks(
        tasks,
        store,
        cfg,
        jobs=jobs,
        backend=args.backend,
        scheduler=args.scheduler,
        rerun=args.rerun,
        progress=False if args.no_progress else None,
        backend_options=slurm_options,
    )
    if summary.submitted == 0:
        if args.rerun == "failed":
            print(f"nothing to rerun: none of the {summary.total} cells has a failure record in {store.root}.")
        else:
            print(
                f"nothing to do: all {summary.total} cells of this run are done in {store.root} "
                f"(--rerun all runs them again)."
            )
    print(format_table(median_table(tasks, store)))
    print(_summary_line(summary, store))
    _print_method_notes(tasks, store)
    if summary.interrupted:
        print(
            f"interrupted: the {summary.done} cell(s) that finished are kept in {store.root}. "
            "Run the same command again to resume: only the missing cells run.",
            file=sys.stderr,
        )
        return 130
    if summary.failed:
        _print_failures(summary.failures, store)
        return 1
    return 0


def _check_demo_data_flags(args) -> None:
    """--data demo runs on the generated demo sets only: a data flag beside it would be ignored."""
    from bench.core.errors import RunError

    if args.data != "demo":
        return
    given = [
        flag
        for flag, value in (
            ("--data-root", args.data_root),
            ("--dataset-dir", args.dataset_dir),
            ("--labels", args.labels),
            ("--ground-truth", getattr(args, "ground_truth", None)),
        )
        if value
    ]
    if given:
        raise RunError(
            f"--data demo uses the generated demo sets only, so {', '.join(given)} would be ignored: "
            "drop --data demo to run on real data, or drop " + ", ".join(given) + "."
        )


def _print_method_notes(tasks, store, shown: int = 8) -> None:
    """The notes the methods recorded in this run's done cells (e.g. a loss switched off), each once,
    with the number of cells that carry it."""
    counts: dict[str, int] = {}
    for task in {t.key: t for t in tasks}.values():
        if not store.is_done(task.key):
            continue
        try:
            record = store.load(task.key)
        except Exception:  # noqa: BLE001 -- a damaged record is reported elsewhere; notes are a courtesy
            continue
        for note in record.get("notes") or []:
            counts[note] = counts.get(note, 0) + 1
    if not counts:
        return
    print(f"notes recorded by the methods ({len(counts)}):")
    for note, n in list(counts.items())[:shown]:
        print(f"  {note}  ({n} cell{'s' if n != 1 else ''})")
    if len(counts) > shown:
        print(f"  ... and {len(counts) - shown} more (python -m bench results export has them per cell)")


def _summary_line(summary, store) -> str:
    parts = [f"{summary.done} cell(s) finished"]
    for n, what in (
        (summary.already_done, "already done"),
        (summary.failed, "failed"),
        (summary.skipped, "finished by another run"),
    ):
        if n:
            parts.append(f"{n} {what}")
    return f"{', '.join(parts)}; {summary.seconds:.1f} s; results in {store.root}"


def _print_failures(failures: list[dict], store, shown: int = 3) -> None:
    """Grouped by error: a bad parameter fails every cell the same way, one line says so."""
    from bench.results.cells import label

    by_error: dict[str, list[dict]] = {}
    for rec in failures:
        by_error.setdefault(rec.get("error", "?"), []).append(rec)
    print(
        f"{len(failures)} cell(s) FAILED (tracebacks: python -m bench results failures --runs {store.root} "
        "--traceback):",
        file=sys.stderr,
    )
    for error, recs in by_error.items():
        print(f"  {error}", file=sys.stderr)
        for rec in recs[:shown]:
            print(f"    {rec['key']}  {label(rec)}", file=sys.stderr)
        if len(recs) > shown:
            print(f"    ... and {len(recs) - shown} more cell(s) with this error", file=sys.stderr)
    print("fix the cause, then run the same command again (or --rerun failed for those cells only).", file=sys.stderr)


def _dry_run(tasks, store, rerun: str, unwritable: str | None = None) -> int:
    from bench.run.planning import damaged_message, select

    done, failed = store.done_keys(), store.failed_keys()
    unique = list({t.key: t for t in tasks}.values())
    damaged = store.damaged_keys(done & {t.key for t in unique})
    done -= set(damaged)
    for t in unique:
        state = "done" if t.key in done else "damaged" if t.key in damaged else "failed" if t.key in failed else "todo"
        print(f"{t.key}  {state:7s}  {t.cell.label()}")
    n_done = sum(t.key in done for t in unique)
    n_failed = sum(t.key in failed and t.key not in done for t in unique)
    n_new = len(unique) - n_done - n_failed
    print(
        f"{len(unique)} cells: {n_done} done, {n_failed} failed, {n_new} not run yet (results in {store.root}); "
        f"without --dry-run, {len(select(tasks, store, rerun))} would run (--rerun {rerun})."
    )
    if damaged:
        print(f"warning: {damaged_message(store, damaged)}", file=sys.stderr)
    if unwritable:
        print(f"warning: {unwritable}", file=sys.stderr)
    return 0
