"""A ``model.Table`` as the data its HTML template needs: merged header cells, sortable columns, and every
number with its link to the cells behind it (an anchor on its method's page, listing them)."""

from __future__ import annotations

from reports.model import MISSING, Stat, Table, delta_text, spread_text
from reports.site import links


def _sort_value(stat: Stat | None) -> str:
    if stat is None:
        return ""
    if stat.kind == "text":
        try:
            return repr(float(stat.text))
        except ValueError:
            return stat.text
    return "" if stat.value is None else repr(round(stat.value, 6))


NUMBER = {"text": MISSING, "sort": "", "rank": None, "mark": "", "note": "", "spread": "", "title": "", "href": ""}


def _number(stat: Stat | None, ranked: bool) -> dict:
    return {**NUMBER, **_number_parts(stat, ranked)}


def _number_parts(stat: Stat | None, ranked: bool) -> dict:
    if stat is None or (stat.kind != "text" and stat.value is None):
        return {"text": MISSING, "sort": ""}
    if stat.kind == "text":
        return {"text": stat.text or MISSING, "sort": _sort_value(stat)}
    out = {"sort": _sort_value(stat), "mark": stat.mark, "note": stat.note}
    if stat.kind == "delta":
        out["text"] = delta_text(stat.value)
    else:
        out["text"] = f"{stat.value:.3f}"
        out["rank"] = stat.rank if ranked else None
        out["spread"] = spread_text(stat).strip()
    if stat.kind == "published":
        out["title"] = "published number, not measured here"
    elif stat.n_paired is not None:
        out["title"] = f"vs {stat.versus}: Wilcoxon over {stat.n_paired} split(s), p = " + (
            f"{stat.p_value:.3g}" if stat.p_value is not None else "n/a"
        )
    if stat.image_tested:
        out["title"] = (out.get("title", "") + "; " if out.get("title") else "") + (
            f"same test images: significant in {stat.image_significant} of {stat.image_tested} split(s)"
        )
    return out


def _header(table: Table, root: str, datasets: set[str]) -> list[list[dict]]:
    heads = [c.heads for c in table.columns]
    rows = []
    for level in range(table.levels):
        cells = [{"text": table.stub[level], "colspan": 1, "stub": True, "col": None, "href": ""}]
        start = 0
        while start < len(heads):
            end = start
            if level < table.levels - 1:
                while end + 1 < len(heads) and heads[end + 1][: level + 1] == heads[start][: level + 1]:
                    end += 1
            cell = {"text": heads[start][level], "colspan": end - start + 1, "stub": False, "col": None, "href": ""}
            if level == table.levels - 1:
                cell["col"] = start + 1  # sortable: the column's index in each row (0 = the row label)
            key = table.columns[start].key
            if level == 0 and isinstance(key, tuple) and len(key) == 3 and key[1] in datasets:
                cell["href"] = root + links.dataset_page(key[1])
            cells.append(cell)
            start = end + 1
        rows.append(cells)
    return rows


def table_view(table: Table, root: str, datasets: set[str], numbers: dict | None = None) -> dict:
    """The template's view of ``table``. ``numbers`` (method -> list) collects, per linked number, the cells
    behind it for the method pages; ``root`` is the way from the page to the site's root ('' or '../')."""
    groups = []
    for gi, group in enumerate(table.groups):
        rows = []
        for ri, row in enumerate(group.rows):
            cells = []
            for ci, col in enumerate(table.columns):
                stat = row.cells.get(col.key)
                cell = _number(stat, table.ranked)
                if stat is not None and stat.cells and row.method:
                    anchor = links.number_anchor(table.id, gi, ri, ci)
                    cell["href"] = f"{root}{links.method_page(row.method)}#{anchor}"
                    if numbers is not None:
                        numbers[row.method].append(
                            {
                                "anchor": anchor,
                                "table": table.title,
                                "table_href": f"{links.table_anchor(table.id)}",
                                "row": row.label,
                                "column": " · ".join(col.heads),
                                "text": cell["text"],
                                "stat": stat,
                            }
                        )
                elif table.derived_from and stat is not None:
                    cell["href"] = f"{root}index.html#{links.table_anchor(table.derived_from)}"
                cells.append(cell)
            rows.append(
                {
                    "label": row.label,
                    "marks": row.marks,
                    "href": root + links.method_page(row.method) if row.method and not row.published else None,
                    "published": row.published,
                    "cells": cells,
                }
            )
        groups.append({"label": group.label, "rows": rows})
    return {
        "anchor": links.table_anchor(table.id),
        "title": table.title,
        "caption": table.caption,
        "notes": table.notes,
        "header": _header(table, root, datasets),
        "groups": groups,
        "width": len(table.columns) + 1,
    }
