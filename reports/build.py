"""From a results store to a ``Report`` (pure: reads finished cells, recomputes nothing), and to files.

A report is the paper's tables (``table_specs.PAPER_SPECS``, one generic table per other protocol) followed
by the views (``VIEW_BUILDERS``: one function each; add a view by appending a function there) and the
figures (``reports.plots.PLOTS``).
"""

from __future__ import annotations

from pathlib import Path

from bench.core.errors import did_you_mean
from reports import configs, image_test, names, provenance, rank_stability, stats
from reports.delta import build_delta
from reports.errors import ReportError
from reports.model import NOT_SIGNIFICANT, SAME_IMAGES_NOT_SIGNIFICANT, UNTESTED, Report, Table
from reports.published import load_published
from reports.source import Result, filter_protocols, load_results
from reports.table_specs import METRIC_TITLES, PAPER_SPECS, generic_spec
from reports.tables import build_table

FORMATS = ("md", "latex", "csv", "png", "pdf", "html")
PLCC_KEYS = {"raw": "plcc", "logistic": "plcc_logistic"}
IMAGE_TESTS = image_test.TESTS  # williams, bootstrap, none
METRICS = tuple(METRIC_TITLES)  # srcc, plcc, plcc_logistic, krcc, rmse
SPREAD_TITLES = {
    "iqr": "interquartile range",
    "minmax": "max − min",
    "std": "± standard deviation",
    "ci": "bootstrap 95 % confidence interval of the {agg}",
}
DEFAULT_SPREAD = {"median": "iqr", "mean": "std"}


def check_choice(value: str, choices, what: str) -> str:
    if value not in choices:
        raise ReportError(did_you_mean(value, choices, what))
    return value


def _stat_notes(table: Table, spread: str, aggregate: str, image_test_kind: str = "williams") -> list[str]:
    rows = table.rows
    stats_in = [s for r in rows for s in r.cells.values()]
    notes = []
    measured = [s for s in stats_in if s.kind == "measured"]
    if measured:
        title = SPREAD_TITLES.get(spread, "").format(agg=aggregate)
        inner = f"{title}; n = splits" if spread != "none" else "bare values; n = splits in cells.csv"
        notes.append(f"{aggregate.capitalize()} over splits ({inner}). – : no result.")
        if any(s.rank for s in measured):
            grouped = " within each group" if len(table.groups) > 1 else ""
            notes.append(
                f"Best per column{grouped} in bold, second underlined (as printed, ties share a rank; "
                "a column with one row ranks nothing)."
            )
    paired = [s.n_paired for s in measured if s.n_paired]
    if any(NOT_SIGNIFICANT in s.mark for s in measured):
        span = f"{min(paired)}" if min(paired) == max(paired) else f"{min(paired)}–{max(paired)}"
        notes.append(
            f"{NOT_SIGNIFICANT} : not significantly different from the column's best (two-sided paired "
            f"Wilcoxon signed-rank test over the distinct splits both share, p ≥ {stats.ALPHA}; {span} pairs)."
            + (" Fewer than 6 pairs can never reach p < 0.05." if min(paired) < 6 else "")
        )
    elif paired:
        notes.append(f"Every difference to the column's best is significant (paired Wilcoxon, p < {stats.ALPHA}).")
    imaged = [s for s in measured if s.image_tested]
    if imaged:
        marked = sum(SAME_IMAGES_NOT_SIGNIFICANT in s.mark for s in imaged)
        how = {
            "williams": "Williams' t for two dependent correlations sharing the MOS (Steiger 1980), SRCC on ranks",
            "bootstrap": "paired bootstrap over the test images, 1,000 resamples",
        }[image_test_kind]
        where = f"(p < {stats.ALPHA}; {how}; SRCC and raw PLCC columns; per split p in cells.csv and the site)"
        notes.append(
            f"{SAME_IMAGES_NOT_SIGNIFICANT} : on the same test images, the difference to the column's best is "
            f"significant in at most half of the splits both share {where}; {marked} of {len(imaged)} tested "
            "number(s)."
            if marked
            else f"On the same test images, every tested difference to the column's best is significant in more than "
            f"half of the splits both share {where}."
        )
    if any(UNTESTED in s.mark for s in measured):
        notes.append(f"{UNTESTED} : shares no split with the column's best, not tested.")
    if any(r.published for r in rows):
        reproduced = any(s.note == "*" for s in stats_in)
        notes.append(
            f"(paper): as published in the MP-IQE paper's {table.title}, not measured here"
            + ("; * marks the numbers the paper says it reproduced." if reproduced else ".")
        )
    return notes


def _runtime(results, **_):
    from reports.views import runtime_table

    table = runtime_table(results)
    return ([table] if table else []), []


def _per_distortion(results, runs=None, **options):
    from reports.table_specs import DISTRIBUTION_METRICS
    from reports.views import per_distortion_tables

    # per type, only the agreement metrics: the distribution distances are a cell's, from its whole test set
    kept = tuple(m for m in options["metrics"] if m not in DISTRIBUTION_METRICS)
    return per_distortion_tables(results, **{**options, "metrics": kept or ("plcc", "srcc")})


# Views after the paper's tables: f(results, runs=, metrics=, spread=, aggregate=, plcc_key=, data_kwargs=)
# -> (tables, report-wide notes).
def _eval(results, runs=None, **options):
    from reports.eval_table import eval_tables

    return eval_tables(results, **options)


def _efficiency(results, runs=None, **_):
    from reports.efficiency_view import efficiency_tables

    return efficiency_tables(runs)


VIEW_BUILDERS = {"distortion": _per_distortion, "runtime": _runtime, "eval": _eval, "efficiency": _efficiency}


def build_report(
    runs: str | Path = "runs",
    protocols: list[str] | None = None,
    *,
    with_published: bool = False,
    spread: str | None = None,
    plcc: str = "raw",
    aggregate: str = "median",
    metrics: list[str] | None = None,
    where: list[str] | None = None,
    presets: list[str] | None = None,
    views: list[str] | None = None,
    data_kwargs: dict | None = None,
    image_test: str = "williams",
) -> Report:
    check_choice(aggregate, stats.AGGREGATES, "aggregate")
    check_choice(image_test, IMAGE_TESTS, "same-images test")
    spread = spread or DEFAULT_SPREAD[aggregate]
    check_choice(spread, stats.SPREADS, "spread")
    check_choice(plcc, PLCC_KEYS, "PLCC flavour")
    for m in metrics or ():
        check_choice(m, METRICS, "metric")
    views = list(VIEW_BUILDERS) if views is None else views
    for v in views:
        check_choice(v, VIEW_BUILDERS, "view")
    results: list[Result] = load_results(runs)
    known = set(names.PROTOCOLS) | {r.protocol for r in results}
    for p in protocols or ():
        check_choice(p, known, "protocol")
    results = filter_protocols(results, protocols)
    results = configs.filter_results(results, where or (), presets)
    published = load_published() if with_published else None
    if published is not None and protocols:
        published = [p for p in published if p.protocol in protocols]
    if not results and not published:
        where_ = f" for protocol(s) {', '.join(protocols)}" if protocols else ""
        raise ReportError(
            f"no finished cells under {Path(runs) / 'cells'}{where_}. Run `python -m bench run ...` "
            "first, point --runs at its --out folder, or add --with-published to print the "
            "paper's numbers alone."
        )

    metric_choice = tuple(metrics) if metrics else None
    measured_protocols = {r.protocol for r in results}
    specs = list(PAPER_SPECS) + [generic_spec(p) for p in sorted(measured_protocols - set(names.PROTOCOLS) - {"eval"})]
    tables, notes = [], []
    for spec in specs:
        # The paper's numbers join the tables we measured; alone only when nothing at all was measured.
        table = build_table(
            spec,
            results,
            published,
            spread_kind=spread,
            plcc_key=PLCC_KEYS[plcc],
            published_alone=not results,
            aggregate=aggregate,
            metrics=metric_choice,
            image_test_kind=image_test,
        )
        if table is not None:
            table.notes = _stat_notes(table, spread, aggregate, image_test) + table.notes
            tables.append(table)
            ranks = rank_stability.rank_table(table, aggregate)
            if ranks is not None:
                tables.append(ranks)
    if with_published and results:
        delta = build_delta(tables)
        if delta is not None:
            delta.notes = [
                f"Δ = our {aggregate} − the paper's number. PLCC here is the {plcc} PLCC; the paper does "
                "not say which it reports. (n = splits behind our number.)"
                + (
                    " 'paper in spread?': whether the published number lies inside our "
                    f"{SPREAD_TITLES[spread].format(agg=aggregate)}."
                    if spread != "none"
                    else ""
                )
            ]
            tables.append(delta)
        else:
            notes.append(
                "--with-published: no measured row has a counterpart in the paper (same method, protocol "
                "and dataset), so no published number is shown"
                + (
                    " — the demo datasets are not in the paper."
                    if provenance.synthetic_in({d for r in results for d in (r.train, r.test)})
                    else "."
                )
            )
    view_options = {
        "metrics": metric_choice or ("plcc", "srcc"),
        "spread": spread,
        "aggregate": aggregate,
        "plcc_key": PLCC_KEYS[plcc],
        "data_kwargs": data_kwargs or {},
        "runs": runs,
    }
    for name in views:
        view_tables, view_notes = VIEW_BUILDERS[name](results, **view_options)
        for t in view_tables:
            tables.append(t)
            if t.ranked:
                t.notes = _stat_notes(t, spread, aggregate, image_test) + t.notes
                ranks = rank_stability.rank_table(t, aggregate)
                if ranks is not None:
                    tables.append(ranks)
        notes += view_notes
    unverified = sum(r.integrity == "unverified" for r in results)
    if unverified:
        notes.append(
            f"{unverified} of {len(results)} cell(s) were written before the store recorded integrity "
            "hashes: their numbers are not verified against edits (docs/RUNNING.md)"
        )
    partial = sum(r.integrity == "partial" for r in results)
    if partial:
        notes.append(
            f"{partial} of {len(results)} cell(s) are schema-2 records, whose integrity hashes cover their "
            "metrics and predictions but not their method, parameters, datasets or split: those fields are not "
            "verified against edits (rerun them with --rerun all to rewrite them fully hashed; docs/RUNNING.md)"
        )
    synthetic = provenance.synthetic_sentence({d for r in results for d in (r.train, r.test)})
    if synthetic:
        notes.insert(0, synthetic)
    return Report(
        tables=tables,
        source=str(runs),
        n_results=len(results),
        spread=spread,
        plcc=plcc,
        results=results,
        published=published or [],
        aggregate=aggregate,
        notes=notes,
        image_test=image_test,
    )


def _header(report: Report) -> str:
    lines = [
        (
            f"# biqa-bench report\n\nFrom {report.n_results} finished cell(s) in `{report.source}`; "
            f"{report.aggregate} over splits; spread: {report.spread}; PLCC: {report.plcc}.\n"
        )
    ]
    from reports.render_md import escape

    lines += [f"> **{escape(n)}**\n" if n.startswith("Synthetic data") else f"- {escape(n)}\n" for n in report.notes]
    return "\n".join(lines)


def render_md(report: Report) -> str:
    from reports import render_md as md

    return md.render_report(
        report.tables, _header(report), [(p, c) for p, c in report.figures if p.endswith(".png")] or report.figures
    )


def render_tex(report: Report) -> str:
    from reports import render_latex

    figures = [(p, c) for p, c in report.figures if p.endswith(".pdf")] or report.figures
    return render_latex.render_document(report.tables, "biqa-bench report", report.notes, figures)


def write_report(report: Report, out: str | Path, formats=("md",), scatter: str | None = None) -> list[Path]:
    """Write the requested formats under ``out``; returns the files written. Plots first (the documents
    link them); every file is written atomically, and an unwritable ``out`` fails before anything."""
    from reports import render_csv, render_latex
    from reports.output import ensure_writable, write_text

    for f in formats:
        check_choice(f, FORMATS, "format")
    out = Path(out)
    ensure_writable(out)
    written: list[Path] = []
    images = [f for f in formats if f in ("png", "pdf")]
    if images:
        from reports.plots import write_plots

        figures = write_plots(report, out / "plots", images, scatter=scatter)
        written += [path for path, _ in figures]
        report.figures = [(path.relative_to(out).as_posix(), caption) for path, caption in figures]
    from reports.figures import (
        found_figures,  # Grad-CAM / t-SNE written earlier by `bench figures`
    )

    report.figures = list(dict.fromkeys([*report.figures, *found_figures(out)]))
    if "md" in formats:
        written.append(write_text(out / "report.md", render_md(report)))
    if "latex" in formats:
        written.append(write_text(out / "report.tex", render_tex(report)))
        for t in report.tables:
            written.append(write_text(out / "tables" / f"{t.id}.tex", render_latex.render_table(t)))
    if "csv" in formats:
        written.append(write_text(out / "cells.csv", render_csv.render_tables(report.tables)))
    if "html" in formats:
        from reports.site import write_site

        written += write_site(report, out / "site")
    return written
