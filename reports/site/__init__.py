"""``bench report --format html``: the report as a static site (Jinja2 templates, Plotly figures) that works from
``file://`` with no network: ``index.html`` (every table, sortable and filterable), a page per method, dataset
and cell, the runtime and efficiency views. Plotly's script is shipped once per site (``assets/plotly.min.js``,
from the plotly package); every page only references files inside the site folder.

The site is built in a temporary folder beside the target and moved into place, so a failed build never leaves
half a site behind."""

from __future__ import annotations

import os
import shutil
import uuid
from collections import defaultdict
from pathlib import Path

from reports import names, provenance
from reports.errors import ReportError
from reports.model import Report
from reports.site import figures, links, pages
from reports.site.table_view import table_view

ASSETS = Path(__file__).with_name("assets")
TEMPLATES = Path(__file__).with_name("templates")


def _env():
    try:
        import jinja2
    except ImportError:
        raise ReportError("--format html needs Jinja2 and plotly: pip install 'biqa-bench[html]'") from None
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every name (method, dataset, plug-in) is text, never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise ReportError("--format html needs Jinja2 and plotly: pip install 'biqa-bench[html]'") from None
    return get_plotlyjs()


def legend(report: Report) -> list[tuple[str, str]]:
    """(mark, meaning) for every mark the site's tables use: numbers' marks and notes, rows' version marks, the
    revision mark on column heads (other symbols in a view's own heads are explained by that table's notes)."""
    from reports.model import LEGEND, SAME_IMAGES_NOT_SIGNIFICANT

    used = set()
    for t in report.tables:
        for r in t.rows:
            used.update(r.marks)
            for s in r.cells.values():
                used.update(s.mark + s.note)
        used.update("§" for c in t.columns if any("§" in h for h in c.heads))
    meaning = dict(LEGEND)
    if report.image_test == "bootstrap":
        meaning[SAME_IMAGES_NOT_SIGNIFICANT] = meaning[SAME_IMAGES_NOT_SIGNIFICANT].replace(
            "Williams' t for dependent correlations", "paired bootstrap over the test images"
        )
    return [(m, text) for m, text in meaning.items() if m in used]


def write_site(report: Report, folder: Path) -> list[Path]:
    """Write the site into ``folder`` (replaced as a whole); returns [folder / 'index.html']."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        _build(report, tmp)
        old = None
        if folder.exists():
            old = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.old")
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        from reports.output import explain

        raise explain(exc, folder, "--out") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [folder / "index.html"]


def _build(report: Report, out: Path) -> None:
    env = _env()
    for sub in ("assets", "methods", "datasets", "cells"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    (out / "assets" / "plotly.min.js").write_text(_plotly_js(), encoding="utf-8")
    for name in ("site.js", "site.css"):
        shutil.copyfile(ASSETS / name, out / "assets" / name)
    marks = dict(legend(report))
    env.globals["mark_titles"] = marks
    results = report.results
    datasets = {d for r in results for d in (r.train, r.test)}
    synthetic = provenance.synthetic_sentence(datasets)
    common = {
        "synthetic": synthetic,
        "harness": ", ".join(sorted({r.harness_version for r in results})),
        "source": report.source,
        "plots": False,
    }

    def write(path: str, template: str, root: str, **context) -> None:
        html = env.get_template(template).render(root=root, **{**common, **context})
        (out / path).write_text(html, encoding="utf-8")

    numbers: dict[str, list] = defaultdict(list)
    index_tables = [table_view(t, "", datasets, numbers) for t in report.tables]
    write(
        "index.html",
        "index.html.j2",
        "",
        title="biqa-bench results",
        tables=index_tables,
        notes=[n for n in report.notes if n != synthetic],
        legend=list(marks.items()),
        n_results=report.n_results,
        aggregate=report.aggregate,
        spread=report.spread,
        plcc=report.plcc,
    )
    by_method: dict[str, list] = defaultdict(list)
    for r in results:
        by_method[r.method].append(r)
    methods = sorted(set(by_method) | set(numbers), key=names.method_sort_key)
    from reports.plot_curves import curve_panels

    panels = curve_panels(report)
    for m in methods:
        curves = [
            {
                "id": f"curves-{i}",
                "fig": figures.median_curves(panel, f"{protocol}, trained on {names.dataset_title(train)}"),
                "caption": f"Median over {panel['n']} cell(s) per epoch" + (f" ({config})" if config else "") + ".",
            }
            for i, ((protocol, method, config, train), panel) in enumerate(panels.items())
            if method == m
        ]
        write(
            links.method_page(m),
            "method.html.j2",
            "../",
            plots=bool(curves),
            curves=curves,
            **pages.method_context(m, by_method.get(m, []), numbers.get(m, [])),
        )
    write(
        "methods.html",
        "list.html.j2",
        "",
        title="Methods",
        items=[
            {
                "href": links.method_page(m),
                "label": names.method_title(m),
                "detail": f"{len(by_method.get(m, []))} cell(s)",
            }
            for m in methods
        ],
    )
    for d in sorted(datasets, key=names.dataset_sort_key):
        own = f"distortion-{d}"  # its per-distortion table and that table's rank stability
        tables = [table_view(t, "../", datasets) for t in report.tables if own in (t.id, t.derived_from)]
        tested = defaultdict(int)
        for r in results:
            if d in (r.train, r.test):
                tested[r.method] += 1
        write(
            links.dataset_page(d),
            "dataset.html.j2",
            "../",
            title=f"Dataset {names.dataset_title(d)}",
            facts=pages.dataset_facts(d, results),
            splits=pages.split_rows(d, results),
            tables=tables,
            methods=[
                {"href": links.method_page(m), "label": names.method_title(m), "cells": n}
                for m, n in sorted(tested.items(), key=lambda kv: names.method_sort_key(kv[0]))
            ],
        )
    write(
        "datasets.html",
        "list.html.j2",
        "",
        title="Datasets",
        items=[
            {
                "href": links.dataset_page(d),
                "label": names.dataset_title(d),
                "detail": "synthetic, not human-rated" if provenance.not_human_rated(d) else "",
            }
            for d in sorted(datasets, key=names.dataset_sort_key)
        ],
    )
    for r in results:
        context = pages.cell_context(r)
        if context["preds_href"]:
            shutil.copyfile(r.preds_path, out / links.preds_file(r.key))
        write(
            links.cell_page(r.key),
            "cell.html.j2",
            "../",
            plots=bool(context["scatter"] or context["curves"]),
            **context,
        )
    _views(report, write, datasets)


def _views(report: Report, write, datasets: set[str]) -> None:
    runtime = [t for t in report.tables if t.id == "runtime"]
    figs = []
    for t in runtime:
        labels, hours = [], []
        for row in t.rows:
            cpu, gpu = (row.cells.get(k) for k in ("cpu_h", "gpu_h"))
            total = sum(float(s.text) for s in (cpu, gpu) if s is not None and s.text not in ("", "–"))
            labels.append(f"{row.label} · {row.key[0]}")
            hours.append(total)
        figs.append(
            {
                "id": "runtime-hours",
                "fig": figures.bars(labels, hours, "Compute per method and protocol", "CPU + GPU hours"),
                "caption": "CPU- plus GPU-hours (fit + predict) per method and protocol, from the runtime table.",
            }
        )
    write(
        "runtime.html",
        "view.html.j2",
        "",
        title="Runtime",
        plots=bool(figs),
        figures=figs,
        tables=[table_view(t, "", datasets) for t in runtime],
        intro=["Seconds per cell as the workers measured them; every finished cell counts, superseded ones too."]
        if runtime
        else ["No cell in this store recorded its run time."],
    )
    eff = [t for t in report.tables if t.id.startswith("efficiency-") or t.id == "table5"]
    write(
        "efficiency.html",
        "view.html.j2",
        "",
        title="Efficiency",
        plots=False,
        figures=[],
        tables=[table_view(t, "", datasets) for t in eff],
        intro=[]
        if eff
        else [
            "No efficiency records: `python -m bench perf --methods ... --save RUNS` writes them "
            "(parameters, GFLOPs, latency, memory); the efficiency protocol fills Table 5."
        ],
    )
