"""From a results store to a ``Report`` (pure: reads finished cells, recomputes nothing), and to files."""

from __future__ import annotations

from pathlib import Path

from bench.errors import did_you_mean
from reports import names, stats
from reports.errors import ReportError
from reports.model import NOT_SIGNIFICANT, UNTESTED, Report, Table
from reports.published import load_published
from reports.source import Result, filter_protocols, load_results
from reports.tables import PAPER_SPECS, build_delta, build_table, generic_spec

FORMATS = ("md", "latex", "csv", "png", "pdf")
PLCC_KEYS = {"raw": "plcc", "logistic": "plcc_logistic"}
SPREAD_TITLES = {"iqr": "interquartile range", "minmax": "max − min"}


def check_choice(value: str, choices, what: str) -> str:
    if value not in choices:
        raise ReportError(did_you_mean(value, choices, what))
    return value


def _stat_notes(table: Table, spread: str) -> list[str]:
    rows = table.rows
    stats_in = [s for r in rows for s in r.cells.values()]
    notes = []
    measured = [s for s in stats_in if s.kind == "measured"]
    if measured:
        inner = f"{SPREAD_TITLES[spread]}; n = splits" if spread != "none" else "n = splits"
        notes.append(f"Median over splits ({inner}). – : no result.")
        grouped = " within each group" if len(table.groups) > 1 else ""
        notes.append(f"Best per column{grouped} in bold, second underlined (as printed, ties share a rank).")
    paired = [s.n_paired for s in measured if s.n_paired]
    if any(s.mark == NOT_SIGNIFICANT for s in measured):
        span = f"{min(paired)}" if min(paired) == max(paired) else f"{min(paired)}–{max(paired)}"
        notes.append(f"{NOT_SIGNIFICANT} : not significantly different from the column's best (two-sided paired "
                     f"Wilcoxon signed-rank test over the splits both share, p ≥ {stats.ALPHA}; {span} pairs)."
                     + (" Fewer than 6 pairs can never reach p < 0.05." if min(paired) < 6 else ""))
    elif paired:
        notes.append(f"Every difference to the column's best is significant (paired Wilcoxon, p < {stats.ALPHA}).")
    if any(s.mark == UNTESTED for s in measured):
        notes.append(f"{UNTESTED} : shares no split with the column's best, not tested.")
    if any(r.published for r in rows):
        reproduced = any(s.note == "*" for s in stats_in)
        notes.append(f"(paper): as published in the MP-IQE paper's {table.title}, not measured here"
                     + ("; * marks the numbers the paper says it reproduced." if reproduced else "."))
    return notes


def build_report(runs: str | Path = "runs", protocols: list[str] | None = None, *, with_published: bool = False,
                 spread: str = "iqr", plcc: str = "raw") -> Report:
    check_choice(spread, stats.SPREADS, "spread")
    check_choice(plcc, PLCC_KEYS, "PLCC flavour")
    results: list[Result] = load_results(runs)
    known = set(names.PROTOCOLS) | {r.protocol for r in results}
    for p in protocols or ():
        check_choice(p, known, "protocol")
    results = filter_protocols(results, protocols)
    published = load_published() if with_published else None
    if published is not None and protocols:
        published = [p for p in published if p.protocol in protocols]
    if not results and not published:
        where = f" for protocol(s) {', '.join(protocols)}" if protocols else ""
        raise ReportError(f"no finished cells under {Path(runs) / 'cells'}{where}. Run `python -m bench run ...` "
                          "first, point --runs at its --out folder, or add --with-published to print the "
                          "paper's numbers alone.")

    measured_protocols = {r.protocol for r in results}
    specs = list(PAPER_SPECS) + [generic_spec(p) for p in sorted(measured_protocols - set(names.PROTOCOLS))]
    tables = []
    for spec in specs:
        # The paper's numbers join the tables we measured; alone only when nothing at all was measured.
        table = build_table(spec, results, published, spread_kind=spread, plcc_key=PLCC_KEYS[plcc],
                            published_alone=not results)
        if table is not None:
            table.notes = _stat_notes(table, spread) + table.notes
            tables.append(table)
    if with_published and results:
        delta = build_delta(tables)
        if delta is not None:
            delta.notes = [f"Δ = our median − the paper's number. PLCC here is the {plcc} PLCC; the paper does not "
                           "say which it reports. (n = splits behind our median.)"]
            tables.append(delta)
    return Report(tables=tables, source=str(runs), n_results=len(results), spread=spread, plcc=plcc,
                  results=results, published=published or [])


def _header(report: Report) -> str:
    return (f"# biqa-bench report\n\nFrom {report.n_results} finished cell(s) in `{report.source}`; "
            f"spread: {report.spread}; PLCC: {report.plcc}.\n")


def write_report(report: Report, out: str | Path, formats=("md",), scatter: str | None = None) -> list[Path]:
    """Write the requested formats under ``out``; returns the files written."""
    from reports import render_csv, render_latex, render_md

    for f in formats:
        check_choice(f, FORMATS, "format")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def put(name: str, text: str) -> None:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)

    if "md" in formats:
        put("report.md", render_md.render_report(report.tables, _header(report)))
    if "latex" in formats:
        put("report.tex", render_latex.render_document(report.tables, "biqa-bench report"))
        for t in report.tables:
            put(f"tables/{t.id}.tex", render_latex.render_table(t))
    if "csv" in formats:
        put("cells.csv", render_csv.render_tables(report.tables))
    images = [f for f in formats if f in ("png", "pdf")]
    if images:
        from reports.plots import write_plots

        written += write_plots(report, out / "plots", images, scatter=scatter)
    return written
