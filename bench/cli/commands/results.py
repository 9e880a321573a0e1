"""``bench results``: the finished cells as one tidy table (CSV and Parquet), and the failures."""

from __future__ import annotations

import json
from pathlib import Path

COLUMNS = (
    "key",
    "protocol",
    "method",
    "variant",
    "params",
    "preset",
    "train",
    "test",
    "test_ground_truth",
    "train_ground_truth",
    "split_set",
    "split",
    "fraction",
    "seed",
    "srcc",
    "plcc",
    "plcc_logistic",
    "krcc",
    "rmse",
    "kl",  # distribution distances (bench/core/distribution.py): empty unless the method predicted a distribution
    "js",
    "w1",
    "flags",
    "n_train",
    "n_test",
    "fit_s",
    "predict_s",
    "device",
    "versions",
    "git_commit",
    "method_version",
    "harness_version",
    "finished_at",
    "synthetic_data",
    "integrity",
)
# what a row is built from: a record without one of these was not written by `bench run`
EXPORT_FIELDS = {
    "key": str,
    "protocol": str,
    "method": str,
    "train_dataset": str,
    "test_dataset": str,
    "split_index": (int, type(None)),
    "seed": (int, type(None)),
    "metrics": dict,
    "params": dict,
}
EXPORT_FORMATS = ("csv", "parquet")


def add_parser(sub) -> None:
    p = sub.add_parser("results", help="export the results store as a table, list failures")
    rsub = p.add_subparsers(dest="results_command", metavar="ACTION")
    e = rsub.add_parser("export", help="write one tidy table: CSV and Parquet")
    # --runs, as in `bench report` / `bench figures`; --out (the --out of `bench run`) stays for old scripts
    e.add_argument(
        "--runs",
        "--out",
        dest="out",
        default="runs",
        metavar="DIR",
        help="results store (the --out of `bench run`; default: runs)",
    )
    e.add_argument(
        "--to",
        default=None,
        help="file stem (writes STEM.csv and/or STEM.parquet) or one .csv/.parquet path (default: DIR/results)",
    )
    e.add_argument(
        "--format",
        default=None,
        help="csv | parquet | csv,parquet (= both; the default unless --to names a .csv/.parquet file)",
    )
    e.set_defaults(func=export)
    f = rsub.add_parser("failures", help="list failed cells with their error")
    f.add_argument(
        "--runs",
        "--out",
        dest="out",
        default="runs",
        metavar="DIR",
        help="results store (the --out of `bench run`; default: runs)",
    )
    f.add_argument("--traceback", action="store_true", help="print the full tracebacks")
    f.set_defaults(func=failures)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def tidy_rows(records) -> list[dict]:
    from bench.core.integrity import status_of
    from bench.data.datasets.registry import DEMO_NAMES

    rows = []
    for r in records:
        m = r.get("metrics", {})
        rows.append(
            {
                "key": r["key"],
                "protocol": r["protocol"],
                "method": r["method"],
                "variant": r.get("variant", "default"),
                "params": json.dumps(r.get("params", {}), sort_keys=True),
                "preset": r.get("preset"),
                "train": r["train_dataset"],
                "test": r["test_dataset"],
                "test_ground_truth": r.get("test_ground_truth", ""),  # the metrics' ground truth (file, column)
                "train_ground_truth": r.get("train_ground_truth", ""),
                "split_set": r.get("split_set"),
                "split": r["split_index"],
                "fraction": r.get("fraction"),
                "seed": r["seed"],
                "srcc": m.get("srcc"),
                "plcc": m.get("plcc"),
                "plcc_logistic": m.get("plcc_logistic"),
                "krcc": m.get("krcc"),
                "rmse": m.get("rmse"),
                "kl": m.get("kl"),
                "js": m.get("js"),
                "w1": m.get("w1"),
                "flags": ";".join(m.get("flags", [])),
                "n_train": r.get("n_train"),
                "n_test": r.get("n_test"),
                "fit_s": r.get("fit_s"),
                "predict_s": r.get("predict_s"),
                "device": r.get("device"),
                "versions": json.dumps(r.get("versions", {}), sort_keys=True),
                "git_commit": r.get("git_commit"),
                "method_version": r.get("method_version"),
                "harness_version": r.get("harness_version"),
                "finished_at": r.get("finished_at"),
                # the demo sets' scores are a pseudo-MOS: say so in every row that uses them
                "synthetic_data": r["train_dataset"] in DEMO_NAMES or r["test_dataset"] in DEMO_NAMES,
                "integrity": status_of(r),  # 'verified'; 'partial' (schema 2); 'unverified' (schema 1): RUNNING.md
            }
        )
    return rows


def checked_records(store) -> list[dict]:
    """Every finished cell, each a record `bench run` wrote that passes its integrity hashes; else one
    BenchError naming the file (a junk or edited record is never a row of the table)."""
    from bench.core.errors import BenchError

    records, problems = [], []
    for key in sorted(store.done_keys()):
        path = store.cell_path(key)
        try:
            r = store.load(key)
        except FileNotFoundError:  # removed by a concurrent --rerun all
            continue
        if not isinstance(r, dict):
            problems.append(f"{path} is not a cell record (a JSON {type(r).__name__})")
            continue
        if r.get("status", "done") != "done":
            continue
        wrong = [k for k, kind in EXPORT_FIELDS.items() if not isinstance(r.get(k), kind) or k not in r]
        if wrong:
            problems.append(f"{path} lacks field(s) {wrong} (or holds the wrong type): not written by `bench run`")
            continue
        tampered = store.tampered(r, path)
        if tampered:
            problems.append(tampered)
            continue
        records.append(r)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise BenchError(
            f"{len(problems)} result file(s) cannot be exported{more}: "
            + " | ".join(problems[:3])
            + ". Delete each such .json (and its .preds.csv) and run the same `bench run` command "
            "again to recompute it; nothing was written."
        )
    return records


def _export_plan(to: str | None, out: str, fmt: str | None) -> tuple[Path, list[str]]:
    """(file stem, formats) from --to and --format, or a BenchError saying what to type instead."""
    from bench.core.errors import BenchError

    formats = None
    if fmt is not None:
        names_ = [f.strip().lower() for f in fmt.split(",") if f.strip()]
        names_ = [n for f in names_ for n in (EXPORT_FORMATS if f == "both" else (f,))]
        bad = sorted(set(names_) - set(EXPORT_FORMATS))
        if bad or not names_:
            raise BenchError(f"--format {fmt!r}: use csv, parquet or csv,parquet (both).")
        formats = [f for f in EXPORT_FORMATS if f in names_]
    stem = Path(to) if to else Path(out) / "results"
    if stem.suffix:
        kind = stem.suffix[1:].lower()
        if kind not in EXPORT_FORMATS:
            raise BenchError(
                f"--to {to!r}: the table is written as .csv or .parquet; give a stem without a "
                f"suffix (e.g. --to {stem.with_suffix('')}) or a .csv/.parquet file name."
            )
        if formats is not None and formats != [kind]:
            raise BenchError(
                f"--to {to!r} is a .{kind} file but --format asks for {','.join(formats)}: "
                "drop one of the two, or give --to a stem without a suffix."
            )
        return stem.with_suffix(""), [kind]
    return stem, formats or list(EXPORT_FORMATS)


def export(args) -> int:
    import pandas as pd

    from bench.core.errors import BenchError
    from bench.results.store import ResultStore
    from reports.output import atomic_path, ensure_writable

    if not (Path(args.out) / "cells").is_dir():
        raise BenchError(
            f"no results store at {args.out!r} (no cells/ folder); run `python -m bench run ... --out {args.out}` first."
        )
    stem, formats = _export_plan(args.to, args.out, args.format)
    if "parquet" in formats:
        try:
            import pyarrow  # noqa: F401  -- checked before anything is written
        except ImportError:
            raise BenchError(
                "Parquet needs pyarrow: pip install 'biqa-bench[parquet]' (or use --format csv)."
            ) from None
    ensure_writable(stem.parent, "--to")  # before reading the store: a bad --to fails at once
    store = ResultStore(args.out)
    frame = pd.DataFrame(tidy_rows(checked_records(store)), columns=list(COLUMNS))
    frame = frame.sort_values(
        ["protocol", "method", "variant", "train", "test", "fraction", "split", "seed"],
        na_position="first",
        kind="stable",
    )
    written = []
    for kind in formats:
        path = stem.parent / f"{stem.name}.{kind}"
        with atomic_path(path, "--to") as tmp:  # a temp file beside it, then os.replace: never half a file
            if kind == "csv":
                frame.to_csv(tmp, index=False)
            else:
                frame.to_parquet(tmp, index=False)
        written.append(path)
    print(f"{len(frame)} cells -> " + ", ".join(map(str, written)))
    return 0


def failures(args) -> int:
    from pathlib import Path

    from bench.core.errors import BenchError
    from bench.results.cells import label
    from bench.results.store import ResultStore

    store = ResultStore(args.out)
    if not Path(args.out).is_dir():  # "0 failed" would read as "all is well" for a mistyped --out
        raise BenchError(f"no results store at {args.out!r} (no such folder); pass the run's --out as --runs.")
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
