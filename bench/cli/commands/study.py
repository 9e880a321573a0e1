"""``bench study plan|run|report STUDY``: a whole paper or suite from one study file (docs/STUDIES.md).

python -m bench study plan mpiqe-paper                  # cells, steps, device-hours, what is missing
python -m bench study run mpiqe-paper --data demo       # every experiment into one results store
python -m bench study report mpiqe-paper --out report   # the study's tables, published numbers beside ours
"""

from __future__ import annotations

import argparse
import json
import sys


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_parser(sub) -> None:
    from bench.data.datasets import add_data_args
    from bench.run.slurm import add_slurm_args

    p = sub.add_parser(
        "study",
        help="plan, run and report a study file (a paper's tables, a suite)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="plan|run|report")
    for name, text in (
        ("plan", "cells, steps, device-hours and what is missing, per experiment; runs nothing"),
        ("run", "run every experiment into one results store (resumable)"),
        ("report", "the study's tables from its results store"),
    ):
        a = actions.add_parser(name, help=text, description=text)
        a.add_argument("study", help="a shipped study (" + ", ".join(_shipped()) + ") or the path of a study file")
        a.add_argument(
            "--out" if name != "report" else "--runs", default="runs", dest="runs", help="results store (default runs/)"
        )
        if name == "report":
            a.add_argument("--report-out", "-o", default="report", help="report folder (default report/)")
            a.add_argument(
                "--format",
                type=_csv,
                default=["md"],
                help="md,latex,csv,png,pdf,html (default md; html: a static site, docs/REPORTS.md)",
            )
            a.set_defaults(func=report)
            continue
        a.add_argument("--data", choices=["demo"], help="'demo': every experiment on the demo-a / demo-b sets")
        add_data_args(a)
        a.add_argument(
            "--preset",
            help="preset for every experiment (default: the study's, else demo with --data demo, else paper)",
        )
        a.add_argument("--splits", type=int, help="splits per experiment instead of the study's (e.g. 1 for a try)")
        a.add_argument("--only", type=_csv, help="only these experiments (comma-separated names)")
        a.add_argument("--weights-dir", help="folder holding pretrained weight files (offline)")
        a.add_argument("--json", action="store_true", help="print the plan (and the run's summary) as JSON")
        if name == "plan":
            a.set_defaults(func=plan)
            continue
        a.add_argument("--dry-run", action="store_true", help="print the plan; run nothing (= study plan)")
        a.add_argument(
            "--strict",
            action="store_true",
            help="a missing dataset or weight file, or a refusal, stops the study before anything runs "
            "(default: those cells are skipped, with the reason)",
        )
        a.add_argument("--jobs", type=int, default=1, help="cells run at once (default 1)")
        a.add_argument(
            "--backend",
            default="loky",
            help="loky (default), dask (--scheduler), slurm (--slurm-*), threading, sequential",
        )
        a.add_argument("--scheduler", help="dask: scheduler address or 'local'")
        add_slurm_args(a)
        a.add_argument("--device", default="auto", help="auto, cpu, cuda:N")
        a.add_argument("--cache-dir", help="cache shared by cells (default OUT/cache)")
        a.add_argument("--rerun", default="missing", choices=["missing", "failed", "all"])
        a.add_argument("--no-progress", action="store_true", help="no progress bar")
        a.set_defaults(func=run)


def _shipped() -> list[str]:
    from bench.study.spec import shipped_names

    return shipped_names()


def _plan(args):
    from bench.data.datasets import data_kwargs
    from bench.study.planner import plan_study
    from bench.study.spec import load_study

    study = load_study(args.study)
    return plan_study(
        study,
        data_kwargs=data_kwargs(args),
        data_flag=args.data,
        preset=args.preset,
        splits=args.splits,
        weights_dir=args.weights_dir,
        out=args.runs,
        only=args.only,
    )


def plan(args) -> int:
    sp = _plan(args)
    print(json.dumps(plan_json(sp), indent=1) if args.json else format_plan(sp))
    return 0


def plan_json(sp) -> dict:
    exps = []
    for ep in sp.experiments:
        t = ep.estimate.totals()
        exps.append(
            {
                "name": ep.exp.name,
                "table": ep.exp.table,
                "protocol": ep.exp.protocol,
                "methods": list(ep.exp.methods),
                "preset": ep.preset,
                **t,
                "planned": len({x.key for x in ep.tasks}),
                "done": ep.done,
                "datasets": ep.datasets,
                "missing_datasets": ep.missing_datasets,
                "weights": ep.weights,
                "missing_weights": [w["file"] for w in ep.missing_weights],
                "skipped": ep.skipped,
                "notes": ep.notes,
                "repeated": ep.repeated,
            }
        )
    return {
        "study": sp.study.name,
        "file": str(sp.study.path),
        "throughput": sp.rate,
        "experiments": exps,
        "total": sp.totals(),
    }


def _n(x) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:,.1f}"


def format_plan(sp) -> str:
    from bench.study.estimate import CACHED_STEP_SECONDS

    lines = [
        f"study {sp.study.name}: {sp.study.title} ({sp.study.path})",
        (
            f"throughput: {sp.rate['train_samples_per_s']:.1f} training / {sp.rate['infer_samples_per_s']:.1f} "
            f"inference samples/s per device (224x224) -- {sp.rate['source']}"
        ),
        "",
    ]
    head = (
        f"{'experiment':14s} {'table':8s} {'protocol':12s} {'cells':>7s} {'done':>6s} {'to do':>7s} "
        f"{'steps':>12s} {'samples':>14s} {'device-h':>9s}"
    )
    lines += [head, "-" * len(head)]
    for ep in sp.experiments:
        t = ep.estimate.totals()
        lines.append(
            f"{ep.exp.name:14s} {ep.exp.table[:8]:8s} {ep.exp.protocol:12s} {t['cells']:>7,} {ep.done:>6,} "
            f"{t['cells'] - ep.done:>7,} {_n(t['optimizer_steps']):>12s} {_n(t['samples']):>14s} "
            f"{t['device_hours']:>9.1f}"
        )
        lines.append(f"  methods: {', '.join(dict.fromkeys(ep.exp.methods))} (preset {ep.preset})")
        if ep.repeated:
            lines.append(f"  note: the study file's {ep.repeated}: each cell is planned and counted once")
        missing = [f"{n}" for n in ep.missing_datasets]
        lines.append(f"  datasets: {', '.join(ep.datasets)}" + (f"; MISSING: {', '.join(missing)}" if missing else ""))
        mw = ep.missing_weights
        lines.append(
            f"  weight files: {len(ep.weights)}"
            + ("; MISSING: " + ", ".join(f"{w['file']} ({', '.join(w['methods'])})" for w in mw) if mw else "")
        )
        if t["cells_without_estimate"]:
            lines.append(f"  {t['cells_without_estimate']} cell(s) without a cost estimate (dataset size unknown)")
        refused = [s for s in ep.skipped if s.startswith("refused")]
        lines += [f"  {s}" for s in refused]
    t = sp.totals()
    lines += [
        "-" * len(head),
        (
            f"{'total (unique)':14s} {'':8s} {'':12s} {t['cells']:>7,} {t['done']:>6,} {t['cells'] - t['done']:>7,} "
            f"{_n(t['optimizer_steps']):>12s} {_n(t['samples']):>14s} {t['device_hours']:>9.1f}"
        ),
    ]
    all_missing_data = sorted({n for ep in sp.experiments for n in ep.missing_datasets})
    all_missing_w = sorted({w["file"] for ep in sp.experiments for w in ep.missing_weights})
    if all_missing_data:
        first = next(ep.missing_datasets[n] for ep in sp.experiments for n in ep.missing_datasets)
        lines.append(
            f"missing datasets ({len(all_missing_data)}): {', '.join(all_missing_data)} "
            f"(e.g. {first} `python -m bench data list` shows where they are looked for)"
        )
    if all_missing_w:
        lines.append(
            f"missing weight files ({len(all_missing_w)}): {', '.join(all_missing_w)}; fetch them with "
            f"`python -m bench weights fetch --study {sp.study.name}` (on a machine with internet; "
            "--to DIR makes a folder for an offline one, then --weights-dir DIR)"
        )
    lines.append(
        "device-hours: training samples + test crops over the throughput above, scaled by crop area; "
        "cells trained from cached frozen features: tower passes over the inference throughput + "
        f"{CACHED_STEP_SECONDS * 1000:g} ms per step (assumed); CPU-only methods count none."
    )
    return "\n".join(lines)


def run(args) -> int:
    from bench.core.errors import BenchError, RunError
    from bench.results.store import ResultStore
    from bench.run import slurm
    from bench.run.backends import check_backend, run_tasks
    from bench.run.devices import check_device
    from bench.run.execute import WorkerConfig, git_state

    if args.jobs < 1:
        raise RunError(f"--jobs must be at least 1, got {args.jobs}.")
    check_backend(args.backend, args.scheduler)
    slurm_options = slurm.options_from_args(args)
    if slurm_options:
        slurm.check(slurm_options)
    check_device(args.device, args.backend)
    sp = _plan(args)
    skipped = [(ep.exp.name, s) for ep in sp.experiments for s in ep.skipped]
    if args.dry_run:
        print(json.dumps(plan_json(sp), indent=1) if args.json else format_plan(sp))
        return 0
    if args.strict and skipped:
        raise BenchError(
            f"study {sp.study.name} (--strict): {len(skipped)} part(s) cannot run here, nothing was run: "
            + "; ".join(f"{e}: {s}" for e, s in skipped[:6])
            + (" ..." if len(skipped) > 6 else "")
            + ". Fix them, or drop --strict to skip those cells."
        )
    tasks = list({t.key: t for ep in sp.experiments for t in ep.tasks}.values())
    store = ResultStore(args.runs)
    commit, dirty = git_state()
    from bench.data.datasets import data_kwargs

    cfg = WorkerConfig(
        out=str(args.runs),
        data_kwargs=data_kwargs(args),
        device=args.device,
        weights_dir=args.weights_dir,
        cache_dir=args.cache_dir,
        git_commit=commit,
        git_dirty=dirty,
    )
    summary = None
    if tasks:  # one run, one progress bar over the whole study; --json keeps stdout for the JSON
        import contextlib

        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
            summary = run_tasks(
                tasks,
                store,
                cfg,
                jobs=args.jobs,
                backend=args.backend,
                scheduler=args.scheduler,
                rerun=args.rerun,
                progress=False if args.no_progress else None,
                backend_options=slurm_options,
            )
    per = experiment_summaries(sp, store)
    if args.json:
        print(
            json.dumps(
                {"study": sp.study.name, "experiments": per, "seconds": summary.seconds if summary else 0.0}, indent=1
            )
        )
    else:
        print(
            f"study {sp.study.name}: {len(tasks)} cell(s) planned in {store.root}"
            + (
                f"; {summary.done} finished now, {summary.already_done} already done, {summary.failed} failed, "
                f"{summary.seconds:.1f} s"
                if summary
                else ""
            )
        )
        for s in per:
            print(
                f"  {s['name']:14s} {s['done']:>5}/{s['planned']:<5} done, {s['failed']} failed"
                + (f", {len(s['skipped'])} part(s) skipped" if s["skipped"] else "")
            )
            for why in s["skipped"]:
                print(f"      skipped: {why}")
        print(f"then: python -m bench study report {args.study} --runs {args.runs}")
    if summary and summary.interrupted:
        print("interrupted: finished cells are kept; run the same command again to resume.", file=sys.stderr)
        return 130
    return 1 if summary and summary.failed else 0


def experiment_summaries(sp, store) -> list[dict]:
    done, failed = store.done_keys(), store.failed_keys()
    out = []
    for ep in sp.experiments:
        keys = {t.key for t in ep.tasks}
        out.append(
            {
                "name": ep.exp.name,
                "table": ep.exp.table,
                "planned": len(keys),
                "done": len(keys & done),
                "failed": len((keys & failed) - done),
                "skipped": ep.skipped,
            }
        )
    return out


def report(args) -> int:
    from bench.study.spec import load_study
    from reports.build import build_report, write_report

    study = load_study(args.study)
    rep = build_report(args.runs, study.protocols, with_published=study.with_published)
    written = write_report(rep, args.report_out, args.format)
    titles = {t.title for t in rep.tables}
    shown = [t for t in study.tables if t in titles]
    absent = [t for t in study.tables if t not in titles]
    print(
        f"study {study.name}: {len(shown)} of {len(study.tables)} table(s) from {rep.n_results} finished cell(s) "
        f"in {args.runs}: {', '.join(shown) or 'none'}"
        + (f"; no results yet for {', '.join(absent)}" if absent else "")
    )
    for path in written:
        print(f"  {path}")
    return 0
