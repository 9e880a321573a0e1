"""``bench results``: the finished cells as one tidy table (CSV and Parquet), and the failures."""

from __future__ import annotations

import json

COLUMNS = ("key", "protocol", "method", "variant", "params", "preset", "train", "test", "split_set", "split",
           "fraction", "seed", "srcc", "plcc", "plcc_logistic", "krcc", "rmse", "flags", "n_train", "n_test",
           "fit_s", "predict_s", "device", "versions", "git_commit", "method_version", "harness_version",
           "finished_at")


def add_parser(sub) -> None:
    p = sub.add_parser("results", help="export the results store as a table, list failures")
    rsub = p.add_subparsers(dest="results_command", metavar="ACTION")
    e = rsub.add_parser("export", help="write one tidy table: CSV and Parquet")
    e.add_argument("--out", default="runs", help="results folder (default runs/)")
    e.add_argument("--to", default=None, help="file stem or .csv/.parquet path (default OUT/results)")
    e.add_argument("--format", default="csv,parquet", help="csv, parquet or both (default)")
    e.set_defaults(func=export)
    f = rsub.add_parser("failures", help="list failed cells with their error")
    f.add_argument("--out", default="runs")
    f.add_argument("--traceback", action="store_true", help="print the full tracebacks")
    f.set_defaults(func=failures)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def tidy_rows(records) -> list[dict]:
    rows = []
    for r in records:
        m = r.get("metrics", {})
        rows.append({
            "key": r["key"], "protocol": r["protocol"], "method": r["method"], "variant": r.get("variant", "default"),
            "params": json.dumps(r.get("params", {}), sort_keys=True), "preset": r.get("preset"),
            "train": r["train_dataset"], "test": r["test_dataset"], "split_set": r.get("split_set"),
            "split": r["split_index"], "fraction": r.get("fraction"), "seed": r["seed"],
            "srcc": m.get("srcc"), "plcc": m.get("plcc"), "plcc_logistic": m.get("plcc_logistic"),
            "krcc": m.get("krcc"), "rmse": m.get("rmse"), "flags": ";".join(m.get("flags", [])),
            "n_train": r.get("n_train"), "n_test": r.get("n_test"), "fit_s": r.get("fit_s"),
            "predict_s": r.get("predict_s"), "device": r.get("device"),
            "versions": json.dumps(r.get("versions", {}), sort_keys=True), "git_commit": r.get("git_commit"),
            "method_version": r.get("method_version"), "harness_version": r.get("harness_version"),
            "finished_at": r.get("finished_at"),
        })
    return rows


def export(args) -> int:
    from pathlib import Path

    import pandas as pd

    from bench.errors import BenchError
    from bench.store import ResultStore

    store = ResultStore(args.out)
    if not (Path(args.out) / "cells").is_dir():
        raise BenchError(f"no results store at {args.out!r} (no cells/ folder); run `python -m bench run ... --out {args.out}` first.")
    formats = {f.strip() for f in args.format.split(",") if f.strip()}
    bad = formats - {"csv", "parquet"}
    if bad:
        raise BenchError(f"--format: unknown {sorted(bad)}; use csv, parquet or csv,parquet.")
    frame = pd.DataFrame(tidy_rows(store.iter_results()), columns=list(COLUMNS))
    frame = frame.sort_values(["protocol", "method", "variant", "train", "test", "fraction", "split", "seed"],
                              na_position="first", kind="stable")
    stem = Path(args.to) if args.to else Path(args.out) / "results"
    if stem.suffix in (".csv", ".parquet"):
        formats, stem = {stem.suffix[1:]}, stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    if "csv" in formats:
        frame.to_csv(stem.with_suffix(".csv"), index=False)
        written.append(stem.with_suffix(".csv"))
    if "parquet" in formats:
        try:
            frame.to_parquet(stem.with_suffix(".parquet"), index=False)
        except ImportError:
            raise BenchError("Parquet needs pyarrow: pip install 'biqa-bench[parquet]' (or use --format csv).") from None
        written.append(stem.with_suffix(".parquet"))
    print(f"{len(frame)} cells -> " + ", ".join(map(str, written)))
    return 0


def failures(args) -> int:
    from bench.cells import label
    from bench.store import ResultStore

    store = ResultStore(args.out)
    done = store.done_keys()
    n = 0
    for rec in store.iter_failures():
        if rec["key"] in done:
            continue
        n += 1
        print(f"{rec['key']}  {label(rec)}: {rec.get('error')}")
        if args.traceback:
            print(rec.get("traceback", ""))
    print(f"{n} failed cell(s) in {args.out}" + ("; rerun them with --rerun failed." if n else "."))
    return 1 if n else 0
