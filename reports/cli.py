"""``python -m bench report``: tables (Markdown, LaTeX, CSV) and plots from a results store.

Torch-, pandas- and matplotlib-free at import time: ``bench --help`` imports this module.
"""

from __future__ import annotations

import argparse
import sys


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report",
        help="the paper's tables (md/latex/csv) and plots from a results store",
        description="Build the paper's Tables 1-6 from finished cells: medians over splits with their spread and "
                    "split counts, best bold / second underlined, paired Wilcoxon marks, version-guard footnotes; "
                    "optionally the paper's own numbers beside ours. Reads only the results store; offline.",
    )
    p.add_argument("--runs", default="runs", help="results store (the --out of `bench run`; default: runs)")
    p.add_argument("--protocol", type=_csv_list, default=None, metavar="P[,P]",
                   help="only these protocols (intra, cross, ablation, efficiency, sensitivity)")
    p.add_argument("--format", type=_csv_list, default=["md"], metavar="F[,F]",
                   help="any of md,latex,csv,png,pdf (default: md)")
    p.add_argument("--out", default="report",
                   help="output folder (default: report); '-' prints md/latex/csv to stdout")
    p.add_argument("--with-published", action="store_true",
                   help="add the paper's numbers as marked rows, and a measured-minus-published table")
    p.add_argument("--spread", default="iqr", help="iqr | minmax | none (default: iqr)")
    p.add_argument("--plcc", default="raw", help="raw | logistic (4-parameter logistic fit first; default: raw)")
    p.add_argument("--scatter", default=None, metavar="CELL",
                   help="cell for the predicted-vs-MOS plot: a key (prefix) or METHOD:DATASET[:SPLIT]")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from reports.build import FORMATS, build_report, check_choice, write_report
    from reports.errors import ReportError

    for f in args.format:
        check_choice(f, FORMATS, "format")
    report = build_report(args.runs, args.protocol, with_published=args.with_published,
                          spread=args.spread, plcc=args.plcc)
    if not report.tables:
        print("nothing to report.", file=sys.stderr)
        return 0
    if args.out == "-":
        from reports import render_csv, render_latex, render_md

        if {"png", "pdf"} & set(args.format):
            raise ReportError("plots cannot go to stdout: give --out DIR for png/pdf.")
        if "md" in args.format:
            print(render_md.render_report(report.tables))
        if "latex" in args.format:
            print(render_latex.render_document(report.tables))
        if "csv" in args.format:
            print(render_csv.render_tables(report.tables), end="")
        return 0
    written = write_report(report, args.out, args.format, scatter=args.scatter)
    print(f"{len(report.tables)} table(s) from {report.n_results} finished cell(s) in {args.runs}:")
    for path in written:
        print(f"  {path}")
    return 0
