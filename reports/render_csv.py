"""One tidy CSV row per printed number, with everything behind it (for spreadsheets and checks)."""

from __future__ import annotations

import csv
import io

from reports import provenance
from reports.model import Table

COLUMNS = (
    "table",
    "group",
    "row",
    "kind",
    "method",
    "variant",
    "config",
    "fraction",
    "train",
    "test",
    "metric",
    "part",
    "value",
    "spread",
    "spread_kind",
    "low",
    "high",
    "n",
    "rank",
    "mark",
    "n_paired",
    "p_value",
    "versus",
    "image_tested",
    "image_significant",
    "image_p_median",
    "note",
    "row_marks",
    "synthetic_data",
    "dropped",
    "dropped_of",
)


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def _median(values) -> float | None:
    vs = sorted(values)
    if not vs:
        return None
    mid = len(vs) // 2
    return vs[mid] if len(vs) % 2 else (vs[mid - 1] + vs[mid]) / 2


def rows_of(table: Table) -> list[dict]:
    out = []
    for group in table.groups:
        for row in group.rows:
            for col in table.columns:
                stat = row.cells.get(col.key)
                if stat is None:
                    continue
                if table.id == "delta":  # column = (metric, part); dataset(s) are in the row key
                    (metric, part), (train, test) = col.key, row.key[2:4]
                elif isinstance(col.key, tuple) and len(col.key) == 3:
                    (train, test, metric), part = col.key, ""
                else:  # a view's own columns (runtime: 'fit', 'device', ...)
                    train = test = metric = ""
                    part = str(col.key)
                measured = stat.kind == "measured"
                out.append(
                    {
                        "table": table.id,
                        "group": group.label or "",
                        "row": row.label,
                        "kind": stat.kind,
                        "method": row.method,
                        "variant": row.variant,
                        "config": row.config,
                        "fraction": _fmt(row.fraction),
                        "train": train,
                        "test": test,
                        "metric": metric,
                        "part": part,
                        "value": stat.text if stat.kind == "text" else _fmt(stat.value),
                        "spread": _fmt(stat.spread),
                        "spread_kind": stat.spread_kind if measured and stat.bounds else "",
                        "low": _fmt(stat.bounds[0]) if measured and stat.bounds else "",
                        "high": _fmt(stat.bounds[1]) if measured and stat.bounds else "",
                        "n": stat.n if measured else "",
                        "rank": _fmt(stat.rank),
                        "mark": stat.mark,
                        "n_paired": _fmt(stat.n_paired),
                        "p_value": _fmt(stat.p_value),
                        "versus": stat.versus or "",
                        "image_tested": stat.image_tested or "",
                        "image_significant": stat.image_significant if stat.image_tested else "",
                        "image_p_median": _fmt(_median(stat.image_p.values())),
                        "note": stat.note,
                        "row_marks": row.marks,
                        "synthetic_data": "yes" if any(provenance.not_human_rated(d) for d in (train, test)) else "",
                        "dropped": stat.dropped if measured else "",  # non-finite predictions left out
                        "dropped_of": stat.dropped_of if measured else "",
                    }
                )
    return out


def render_tables(tables: list[Table]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for table in tables:
        writer.writerows(rows_of(table))
    return buf.getvalue()
