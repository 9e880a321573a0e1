"""Figures (matplotlib, Agg): readable in black and white -- grey levels plus hatches for bars,
markers plus line styles for lines, printed numbers on the heatmap.

Every figure is drawn from the report's tables, so a plot never disagrees with a table.
"""

from __future__ import annotations

from pathlib import Path

from reports import names
from reports.errors import ReportError
from reports.model import Report, Row, Table
from reports.plot_style import LINESTYLES, MARKERS, synthetic_tag  # noqa: F401  (reports.plots.* stays)
from reports.plot_style import pyplot as _plt
from reports.plot_style import save as _save
from reports.source import Result, read_predictions

HATCHES = ("", "///", "\\\\\\", "xxx", "...", "ooo", "---", "+++", "|||", "***")
GREYS = ("0.15", "0.85", "0.55", "1.0", "0.35", "0.7", "0.95", "0.45", "0.25", "0.6")


def _table(report: Report, table_id: str) -> Table | None:
    """The report's table with this id, if it has measured rows (plots never show published numbers alone)."""
    return next((t for t in report.tables if t.id == table_id and _measured(t)), None)


def _measured(table: Table) -> list[Row]:
    return [r for r in table.rows if not r.published]


def _err(stat) -> tuple[float, float]:
    if stat.bounds is None:
        return 0.0, 0.0
    return max(stat.value - stat.bounds[0], 0.0), max(stat.bounds[1] - stat.value, 0.0)


def _bars(ax, groups: list[str], series: list[tuple[str, list]], published: dict | None = None) -> None:
    """Grouped bars: series = [(label, [Stat|None per group])]; published = {(series label, group): value}.

    Each bar says how many splits stand behind it (n=..., at its foot)."""
    n = max(len(series), 1)
    width = 0.8 / n
    values = [
        v
        for _, st in series
        for s in st
        if s and s.value is not None
        for v in ((s.bounds[0] if s.bounds else s.value),)
    ] + list((published or {}).values())
    # bars start at 0 (a zoomed axis exaggerates differences); negative correlations go below it
    low = min(0.0, max(-1.0, min(values + [1.0]) - 0.05))
    base = 0.0
    ax.set_ylim(low, 1.0)
    if low < 0:
        ax.axhline(0.0, color="black", linewidth=0.6)
    for i, (label, stats_) in enumerate(series):
        xs = [g + (i - (n - 1) / 2) * width for g in range(len(groups))]
        keep = [(x, s) for x, s in zip(xs, stats_) if s is not None and s.value is not None]
        if not keep:
            continue
        ax.bar(
            [x for x, _ in keep],
            [s.value - base for _, s in keep],
            width,
            bottom=base,
            label=label,
            color=GREYS[i % len(GREYS)],
            hatch=HATCHES[i % len(HATCHES)],
            edgecolor="black",
            linewidth=0.6,
            yerr=list(zip(*[_err(s) for _, s in keep])),
            capsize=2,
            error_kw={"linewidth": 0.8},
        )
        for x, s in keep:
            ax.text(
                x,
                low + 0.003,
                f"n={s.n}",
                ha="center",
                va="bottom",
                fontsize=6,
                rotation=90,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
            )
        for x, g in zip(xs, groups):
            if published and (label, g) in published:
                ax.plot([x], [published[(label, g)]], marker="x", color="black", markersize=6, linestyle="none")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.grid(axis="y", color="0.85", linewidth=0.5)
    ax.set_axisbelow(True)


def _legend_below(ax, n: int) -> None:
    ax.legend(fontsize=7, ncol=min(4, max(n, 1)), loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)


def _bar_figure(report: Report, table: Table, stem: Path, formats, title: str, published: bool) -> list[Path]:
    """SRCC bars per column of ``table`` (one series per measured row); ``published`` adds the paper's as x."""
    cols = [c for c in table.columns if c.key[2] == "srcc"]
    groups = [names.dataset_title(c.key[1]) for c in cols]
    series = [(r.label, [r.cells.get(c.key) for c in cols]) for r in _measured(table)]
    paper = {}
    for r in table.rows if published else ():
        if r.published:
            mine = r.label.removesuffix(" (paper)")
            paper.update(
                {(mine, names.dataset_title(c.key[1])): r.cells[c.key].value for c in cols if c.key in r.cells}
            )
    plt = _plt()
    fig, ax = plt.subplots(figsize=(min(14.0, max(4.0, 0.3 * len(groups) * len(series) + 1.5)), 3.4))
    _bars(ax, groups, series, paper)
    ax.set_ylabel(f"SRCC ({report.aggregate}; bars: {report.spread})")
    ax.set_title(title + ("  (x = published)" if paper else "") + synthetic_tag(c.key[1] for c in cols), fontsize=9)
    _legend_below(ax, len(series))
    return _save(fig, stem, formats)


def plot_srcc_by_dataset(report: Report, stem: Path, formats) -> list[Path]:
    table = _table(report, "table1")
    if table is None:
        return []
    return _bar_figure(report, table, stem, formats, "Intra-dataset SRCC per dataset", published=True)


def plot_efficiency(report: Report, stem: Path, formats) -> list[Path]:
    table = _table(report, "table5")
    if table is None:
        return []
    datasets = sorted({c.key[1] for c in table.columns if c.key[2] == "srcc"}, key=names.dataset_sort_key)
    plt = _plt()
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.6 * len(datasets), 3.0), squeeze=False)
    methods = sorted({r.method for r in table.rows}, key=names.method_sort_key)
    for ax, ds in zip(axes[0], datasets):
        key = (ds, ds, "srcc")
        for i, method in enumerate(methods):
            for published in (False, True):
                pts = sorted(
                    (r.fraction, r.cells[key])
                    for r in table.rows
                    if r.method == method and r.published == published and key in r.cells and r.fraction is not None
                )
                if not pts:
                    continue
                xs, ss = [p[0] for p in pts], [p[1] for p in pts]
                label = names.method_title(method) + (" (paper)" if published else "")
                if published:
                    ax.plot(
                        xs,
                        [s.value for s in ss],
                        marker=MARKERS[i % len(MARKERS)],
                        markerfacecolor="white",
                        color="0.5",
                        linestyle=":",
                        label=label,
                    )
                else:
                    ax.errorbar(
                        xs,
                        [s.value for s in ss],
                        yerr=list(zip(*[_err(s) for s in ss])),
                        marker=MARKERS[i % len(MARKERS)],
                        linestyle=LINESTYLES[i % len(LINESTYLES)],
                        color="black",
                        capsize=2,
                        label=label,
                    )
        ax.set_title(names.dataset_title(ds) + synthetic_tag([ds]), fontsize=9)
        ax.set_xlabel("training fraction")
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
        ax.grid(color="0.85", linewidth=0.5)
    axes[0][0].set_ylabel(f"SRCC ({report.aggregate}; bars: {report.spread})")
    axes[0][-1].legend(fontsize=7)
    return _save(fig, stem, formats)


def plot_cross_heatmap(report: Report, stem: Path, formats) -> list[Path]:
    table = _table(report, "table3")
    if table is None:
        return []
    rows = _measured(table)
    trains = sorted({c.key[0] for c in table.columns}, key=names.dataset_sort_key)
    tests = sorted({c.key[1] for c in table.columns}, key=names.dataset_sort_key)
    plt = _plt()
    import numpy as np

    vmin = 0.0  # one fixed scale: panels and reports compare by eye (values below 0 show as 0's grey)
    fig, axes = plt.subplots(
        1, len(rows), figsize=(1.0 * len(tests) * len(rows) + 2.0, 0.75 * len(trains) + 1.4), squeeze=False
    )
    for ax, row in zip(axes[0], rows):
        grid = np.full((len(trains), len(tests)), np.nan)
        for (train, test, _), s in row.cells.items():
            grid[trains.index(train), tests.index(test)] = s.value
        image = ax.imshow(np.ma.masked_invalid(grid), cmap="Greys", vmin=vmin, vmax=1.0)
        for i, train in enumerate(trains):
            for j, test in enumerate(tests):
                s = row.cells.get((train, test, "srcc"))
                if s is None or s.value is None:  # hatched: no result (not a low one)
                    ax.add_patch(
                        plt.Rectangle(
                            (j - 0.5, i - 0.5), 1, 1, facecolor="white", edgecolor="0.6", hatch="///", linewidth=0
                        )
                    )
                    ax.text(
                        j,
                        i,
                        "–",
                        ha="center",
                        va="center",
                        fontsize=8,
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
                    )
                    continue
                dark = (s.value - vmin) / (1.0 - vmin) > 0.55
                ax.text(
                    j,
                    i,
                    f"{s.value:.3f}\nn={s.n}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark else "black",
                )
        ax.set_xticks(range(len(tests)), [names.dataset_title(t) for t in tests], rotation=30, ha="right", fontsize=7)
        ax.set_yticks(
            range(len(trains)), [names.dataset_title(t) for t in trains] if ax is axes[0][0] else [], fontsize=7
        )
        ax.set_xlabel("testing")
        ax.set_title(row.label, fontsize=8)
    axes[0][0].set_ylabel("training")
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8, label=f"SRCC ({report.aggregate}; fixed 0–1 scale)")
    tag = synthetic_tag(trains + tests)
    if tag:
        fig.suptitle(tag.strip(" []"), fontsize=8, y=1.02)
    return _save(fig, stem, formats)


def plot_ablation(report: Report, stem: Path, formats) -> list[Path]:
    table = _table(report, "table4")
    if table is None:
        return []
    return _bar_figure(report, table, stem, formats, "Ablation", published=False)


def plot_sensitivity(report: Report, stem: Path, formats) -> list[Path]:
    table = _table(report, "table6")
    if table is None:
        return []
    datasets = sorted({c.key[1] for c in table.columns if c.key[2] == "srcc"}, key=names.dataset_sort_key)
    groups = [g for g in table.groups if any(not r.published for r in g.rows)]
    plt = _plt()
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.0), squeeze=False)
    for ax, group in zip(axes[0], groups):
        ax.set_xscale("log", base=2)  # before the ticks: setting the scale resets them
        ticks: set[float] = set()
        for i, ds in enumerate(datasets):
            pts = []
            for r in group.rows:
                _, value = names.parse_sensitivity(r.variant)
                s = r.cells.get((ds, ds, "srcc"))
                if not r.published and isinstance(value, float) and s is not None:
                    pts.append((value, s))
            pts.sort(key=lambda p: p[0])
            if pts:
                ax.errorbar(
                    [p[0] for p in pts],
                    [p[1].value for p in pts],
                    yerr=list(zip(*[_err(p[1]) for p in pts])),
                    marker=MARKERS[i % len(MARKERS)],
                    linestyle=LINESTYLES[i % len(LINESTYLES)],
                    color="black",
                    capsize=2,
                    label=names.dataset_title(ds),
                )
                ticks.update(p[0] for p in pts)
        ax.set_xticks(sorted(ticks))
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.set_title((group.label or "") + synthetic_tag(datasets), fontsize=8)
        param = names.parse_sensitivity(next(r.variant for r in group.rows))[0]
        ax.set_xlabel("prompt length" if param in names.SENSITIVITY_TITLES else param)
        ax.grid(color="0.85", linewidth=0.5)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel(f"SRCC ({report.aggregate}; bars: {report.spread})")
    return _save(fig, stem, formats)


def _negated(text: str) -> tuple:
    """Sorts ISO timestamps newest first."""
    return tuple(-ord(ch) for ch in text)


def _complete(r: Result) -> bool:
    try:
        read_predictions(r.preds_path, r.n_test)
    except ReportError:
        return False
    return True


def pick_cell(results: list[Result], selector: str | None) -> Result:
    """A cell for the scatter plot: a key (or key prefix), 'METHOD:DATASET[:SPLIT]', 'best' or
    'METHOD[:DATASET]:best' (highest SRCC), or None for the first one with complete predictions
    (intra first, MP-IQE, split 0)."""
    order = {p: i for i, p in enumerate(names.PROTOCOLS)}

    def has_preds(r: Result) -> bool:
        return bool(r.preds_path and r.preds_path.is_file())

    def preference(r: Result) -> tuple:  # with predictions, intra, MP-IQE, split 0, best SRCC, newest
        srcc = r.metric("srcc")
        return (
            not has_preds(r),
            order.get(r.protocol, 9),
            r.method != "mpiqe",
            r.split_index if r.split_index is not None else 0,
            names.dataset_sort_key(r.test),
            -srcc if srcc is not None else 2.0,
            _negated(r.finished_at),
            r.key,
        )

    def by_srcc(r: Result) -> tuple:
        srcc = r.metric("srcc")
        return (-srcc if srcc is not None else 2.0,) + preference(r)

    ranked = sorted(results, key=preference)
    if selector is None:
        found = next((r for r in ranked if has_preds(r) and _complete(r)), None)
        if found is None:
            raise ReportError("no cell has a complete predictions file (.preds.csv) for the scatter plot.")
        return found
    parts = selector.split(":")
    best = parts[-1] == "best"
    if best:
        parts = parts[:-1]
    if not best:
        by_key = [r for r in ranked if r.key.startswith(selector)]
        if by_key:
            return by_key[0]
    method, dataset, split = (parts + ["", "", ""])[:3]
    hits = [
        r
        for r in ranked
        if (not method or r.method == method)
        and (not dataset or r.test == dataset)
        and (not split or str(r.split_index) == split)
    ]
    if best:
        hits = sorted((r for r in hits if has_preds(r)), key=by_srcc)
    if not hits:
        raise ReportError(
            f"no cell matches --scatter {selector!r}: give a cell key (prefix), "
            "METHOD:TEST_DATASET[:SPLIT_INDEX] (e.g. mpiqe:live:0), or 'best' / METHOD[:DATASET]:best "
            "for the highest SRCC."
        )
    return hits[0]


def plot_scatter(result: Result, stem: Path, formats) -> list[Path]:
    """Prediction vs MOS of one cell, with the fitted 4-parameter logistic (the mapping PLCC* uses)."""
    import numpy as np

    from bench.core.metrics import fit_logistic4, logistic4

    mos, pred = read_predictions(result.preds_path, result.n_test)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    ax.scatter(mos, pred, s=10, facecolors="none", edgecolors="black", linewidths=0.6, label="test images")
    beta = fit_logistic4(np.asarray(pred, float), np.asarray(mos, float)) if len(mos) >= 4 else None
    if beta is not None:  # the logistic maps prediction -> MOS: draw it as MOS(prediction)
        xs = np.linspace(min(pred), max(pred), 200)
        ax.plot(logistic4(xs, *beta), xs, color="black", linewidth=1.0, linestyle="--", label="logistic fit")
        ax.legend(fontsize=6, loc="best", frameon=False)
    srcc, plcc = result.metric("srcc"), result.metric("plcc")
    stats_ = ", ".join(f"{k} {v:.3f}" for k, v in (("SRCC", srcc), ("PLCC", plcc)) if v is not None)
    where = (
        names.dataset_title(result.test)
        if result.train == result.test
        else f"{names.dataset_title(result.train)} → {names.dataset_title(result.test)}"
    )
    ax.set_title(
        f"{names.method_title(result.method)} on {where}, split {result.split_index}\n{stats_}, n={len(mos)}"
        + synthetic_tag([result.train, result.test]).replace(" [", "\n["),
        fontsize=8,
    )
    ax.set_xlabel("MOS (as stored: higher is better)")
    ax.set_ylabel("prediction")
    ax.grid(color="0.85", linewidth=0.5)
    return _save(fig, stem, formats)


def _curves(report: Report, stem: Path, formats) -> list[Path]:
    from reports.plot_curves import plot_training_curves

    return plot_training_curves(report, stem, formats)


PLOTS = {
    "srcc_by_dataset": plot_srcc_by_dataset,
    "efficiency_curves": plot_efficiency,
    "cross_heatmap": plot_cross_heatmap,
    "ablation_bars": plot_ablation,
    "sensitivity_lines": plot_sensitivity,
    "training_curves": _curves,
}
CAPTIONS = {
    "srcc_by_dataset": "Table 1 (intra-dataset): SRCC per dataset and method; error bars: the spread; n = splits.",
    "efficiency_curves": "Table 5 (data-efficient learning): SRCC against the training fraction.",
    "cross_heatmap": "Table 3 (cross-dataset): SRCC per training (rows) and testing (columns) dataset; hatched: "
    "no result.",
    "ablation_bars": "Table 4 (ablation): SRCC per variant.",
    "sensitivity_lines": "Table 6 (sensitivity): SRCC against the prompt length.",
    "training_curves": "Training curves: loss terms per epoch (median over cells) and validation SRCC where recorded.",
    "scatter": "Predictions against MOS of one cell, with the fitted 4-parameter logistic.",
}


def _caption(report: Report, name: str, extra: str = "") -> str:
    datasets = {d for r in report.results for d in (r.train, r.test)}
    tag = synthetic_tag(datasets)
    return CAPTIONS[name] + extra + (" Synthetic data, not human-rated." if tag else "")


def write_plots(report: Report, out: Path, formats, scatter: str | None = None) -> list[tuple[Path, str]]:
    """Every plot that has data: [(path, caption)] (one entry per format)."""
    written = []
    for name, plot in PLOTS.items():
        written += [(p, _caption(report, name)) for p in plot(report, out / name, formats)]
    if report.results and (scatter is not None or any(r.preds_path and r.preds_path.is_file() for r in report.results)):
        try:
            cell = pick_cell(report.results, scatter)
        except ReportError as exc:
            if scatter is not None:
                raise
            report.notes.append(f"No scatter plot: {exc}")
            return written
        extra = f" Cell {cell.key} ({cell.method}, {cell.test}, split {cell.split_index})."
        written += [(p, _caption(report, "scatter", extra)) for p in plot_scatter(cell, out / "scatter", formats)]
    return written
