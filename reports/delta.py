"""The *Measured vs published* table: our number minus the paper's for every method and column present in
both, and whether the paper's number lies inside our spread."""

from __future__ import annotations

from reports import names, stats
from reports.model import Column, Row, RowGroup, Stat, Table
from reports.table_specs import METRIC_TITLES, PAIR_METRICS


def build_delta(tables: list[Table]) -> Table | None:
    """Measured minus published, for every method/column present in both."""
    groups: list[RowGroup] = []
    seen: set[tuple] = set()
    for table in tables:
        published = {r.base: r for r in table.rows if r.published}
        group = RowGroup(f"{table.title} of the paper")
        for source_group, row in ((g, r) for g in table.groups for r in g.rows):
            theirs = published.get(row.base) if not row.published else None
            if theirs is None:
                continue
            for col in table.columns:
                ours, paper = row.cells.get(col.key), theirs.cells.get(col.key)
                if ours is None or paper is None or ours.value is None:
                    continue
                train, test, metric = col.key
                where = (
                    names.dataset_title(test)
                    if train == test
                    else f"{names.dataset_title(train)} → {names.dataset_title(test)}"
                )
                rk = (table.id, row.key, train, test)
                if (row.key, train, test, metric) in seen:
                    continue
                seen.add((row.key, train, test, metric))
                if not group.rows or group.rows[-1].key != rk:
                    context = f"{source_group.label}: " if source_group.label else ""
                    group.rows.append(
                        Row(
                            rk,
                            f"{context}{row.label} — {where}",
                            method=row.method,
                            variant=row.variant,
                            fraction=row.fraction,
                        )
                    )
                out = group.rows[-1]
                mine = Stat(
                    ours.value,
                    spread=ours.spread,
                    bounds=ours.bounds,
                    n=ours.n,
                    spread_kind=ours.spread_kind,
                    values=ours.values,
                    cells=ours.cells,  # the site links our number to the cells behind it
                )
                out.cells[(metric, "ours")] = mine
                out.cells[(metric, "paper")] = Stat(paper.value, kind="published", note=paper.note)
                out.cells[(metric, "delta")] = Stat(ours.value - paper.value, kind="delta")
                if ours.bounds is not None:  # the published number inside or outside our spread
                    lo, hi = ours.bounds
                    inside = stats.shown(lo) <= stats.shown(paper.value) <= stats.shown(hi)
                    out.cells[(metric, "verdict")] = Stat(None, kind="text", text="inside" if inside else "outside")
        if group.rows:
            groups.append(group)
    if not groups:
        return None
    metrics = [m for m in PAIR_METRICS if any((m, "ours") in r.cells for g in groups for r in g.rows)]
    verdicts = any(k[1] == "verdict" for g in groups for r in g.rows for k in r.cells)
    parts = (("ours", "measured"), ("paper", "paper"), ("delta", "Δ")) + (
        (("verdict", "paper in spread?"),) if verdicts else ()
    )
    columns = [Column((m, part), (METRIC_TITLES[m], title)) for m in metrics for part, title in parts]
    return Table(
        "delta",
        "Measured vs published",
        "Our medians minus the numbers the MP-IQE paper publishes, for every method and column present in both.",
        ("", "Method — dataset"),
        columns,
        groups,
        ranked=False,
    )
