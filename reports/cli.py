"""``python -m bench report``: tables (Markdown, LaTeX, CSV) and plots from a results store.

Torch-, pandas- and matplotlib-free at import time: ``bench --help`` imports this module.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
    p.add_argument(
        "--protocol",
        type=_csv_list,
        default=None,
        metavar="P[,P]",
        help="only these protocols (intra, cross, ablation, efficiency, sensitivity, eval, or any "
        "other protocol in the store)",
    )
    p.add_argument(
        "--format",
        type=_csv_list,
        default=["md"],
        metavar="F[,F]",
        help="any of md,latex,csv,png,pdf,html (default: md; html: a static site in OUT/site)",
    )
    p.add_argument("--out", default="report", help="output folder (default: report); '-' prints md/latex/csv to stdout")
    p.add_argument(
        "--with-published",
        action="store_true",
        help="add the paper's numbers as marked rows, and a measured-minus-published table",
    )
    p.add_argument(
        "--aggregate",
        default="median",
        help="median | mean over splits (default: median; the paper's text says median, its captions 'averages')",
    )
    p.add_argument(
        "--spread",
        default=None,
        help="iqr | minmax | std | ci (bootstrap 95%% interval) | none "
        "(bare values); default: iqr for the median, std for the mean",
    )
    p.add_argument("--plcc", default="raw", help="raw | logistic (4-parameter logistic fit first; default: raw)")
    p.add_argument(
        "--metrics",
        type=_csv_list,
        default=None,
        metavar="M[,M]",
        help="columns among srcc,plcc,plcc_logistic,krcc,rmse and the distribution distances kl,js,w1 (cells of "
        "methods that predict a distribution, on datasets with a per-image std; the eval table adds them to its "
        "SRCC/PLCC/KRCC) (default: the paper's: PLCC and SRCC; Table 3 SRCC only)",
    )
    p.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="METHOD.PARAM=VALUE",
        help="only cells of METHOD with this parameter value (repeatable; PARAM=VALUE: every method "
        "that has PARAM); also preset, cross_train, fraction_of",
    )
    p.add_argument("--preset", type=_csv_list, default=None, metavar="P[,P]", help="only cells of these presets")
    p.add_argument(
        "--views",
        type=_csv_list,
        default=None,
        metavar="V[,V]",
        help="views after the paper's tables: distortion (per distortion type, reads the datasets' "
        "labels), runtime, eval (the eval protocol's table), efficiency (`bench perf --methods --save`); "
        "default: all; 'none' for none",
    )
    p.add_argument(
        "--data-root",
        default=None,
        help="where the datasets are, for the per-distortion view's labels (default: $BENCH_DATA, "
        "else ./datasets; the demo sets need none)",
    )
    p.add_argument(
        "--scatter",
        default=None,
        metavar="CELL",
        help="cell for the predicted-vs-MOS plot: a key (prefix), METHOD:DATASET[:SPLIT], or "
        "'best' / METHOD[:DATASET]:best (highest SRCC)",
    )
    p.add_argument(
        "--image-test",
        default="williams",
        choices=("williams", "bootstrap", "none"),  # reports.image_test.TESTS (not imported: this module stays light)
        help="the per-split test against each column's best on the same test images (mark ◇): Williams' t for "
        "dependent correlations (default), a paired bootstrap over images (slower, no normality assumption), or none",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from reports.build import FORMATS, build_report, check_choice, write_report
    from reports.errors import ReportError

    for f in args.format:
        check_choice(f, FORMATS, "format")
    if args.out == "-" and {"png", "pdf", "html"} & set(args.format):
        raise ReportError("plots and the site cannot go to stdout: give --out DIR for png/pdf/html.")
    if args.out != "-":
        from reports.output import ensure_writable

        ensure_writable(Path(args.out))  # before the (possibly long) build, not after
    views = [] if args.views == ["none"] else args.views
    data_kwargs = {"data_root": args.data_root} if args.data_root else {}
    report = build_report(
        args.runs,
        args.protocol,
        with_published=args.with_published,
        spread=args.spread,
        plcc=args.plcc,
        aggregate=args.aggregate,
        metrics=args.metrics,
        where=args.where,
        presets=args.preset,
        views=views,
        data_kwargs=data_kwargs,
        image_test=args.image_test,
    )
    if not report.tables:
        print("nothing to report.", file=sys.stderr)
        return 0
    if args.out == "-":
        from reports import render_csv
        from reports.build import render_md, render_tex

        if "md" in args.format:
            print(render_md(report))
        if "latex" in args.format:
            print(render_tex(report))
        if "csv" in args.format:
            print(render_csv.render_tables(report.tables), end="")
        return 0
    written = write_report(report, args.out, args.format, scatter=args.scatter)
    print(f"{len(report.tables)} table(s) from {report.n_results} finished cell(s) in {args.runs}:")
    for path in written:
        print(f"  {path}")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
