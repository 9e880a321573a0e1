"""Markdown tables (GitHub flavour) for READMEs.

Markdown has one header row, so the outer header level (datasets, or 'Training') is the
header and the inner levels (PLCC/SRCC, or 'Testing') follow as a bold first row -- the
way the paper's tables read. Underline is ``<ins>`` (GitHub strips ``<u>``).
"""

from __future__ import annotations

import re

from reports.model import MISSING, Stat, Table, delta_text, spread_text

_SPECIAL = re.compile(r"([\\`*_|\[\]]|<(?=[A-Za-z/!?]))")  # '<' only where it could open an HTML tag


def escape(text: str) -> str:
    """Markdown specials escaped; a line break (e.g. in a string --param value) shown as \\n, since a real one
    would end the table row."""
    text = _SPECIAL.sub(r"\\\1", text)
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")


def number(stat: Stat | None, ranked: bool = True) -> str:
    """The cell text: value (bold/underlined), significance mark, '(spread; n=N)'."""
    if stat is not None and stat.kind == "text":
        return escape(stat.text) or MISSING
    if stat is None or stat.value is None:
        return MISSING
    if stat.kind == "delta":
        return delta_text(stat.value)
    text = f"{stat.value:.3f}"
    if ranked and stat.rank == 1:
        text = f"**{text}**"
    elif ranked and stat.rank == 2:
        text = f"<ins>{text}</ins>"
    return text + stat.mark + stat.note + spread_text(stat)


def _spans(heads: list[tuple[str, ...]], level: int) -> list[str]:
    """Header texts of one level: shown on the first column of each run of equal parents."""
    out, previous = [], None
    for h in heads:
        key = h[: level + 1]
        out.append(escape(h[level]) if key != previous or level == len(h) - 1 else "")
        previous = key
    return out


def render_table(table: Table) -> str:
    heads = [c.heads for c in table.columns]
    width = len(table.columns) + 1
    lines = [f"**{escape(table.title)}.** {escape(table.caption)}", ""]
    lines.append("| " + " | ".join([escape(table.stub[0])] + _spans(heads, 0)) + " |")
    lines.append("|" + "---|" + "---:|" * (width - 1))
    for level in range(1, table.levels):
        cells = [escape(table.stub[level])] + _spans(heads, level)
        lines.append("| " + " | ".join(f"**{c}**" if c else "" for c in cells) + " |")
    for group in table.groups:
        if group.label:
            lines.append("| " + " | ".join([f"*{escape(group.label)}*"] + [""] * (width - 1)) + " |")
        for row in group.rows:
            label = escape(row.label) + row.marks
            cells = [number(row.cells.get(c.key), table.ranked) for c in table.columns]
            lines.append("| " + " | ".join([label] + cells) + " |")
    if table.notes:
        lines.append("")
        lines.extend(f"- {escape(n)}" for n in table.notes)
    return "\n".join(lines) + "\n"


def render_figures(figures: list[tuple[str, str]]) -> str:
    """Links to the plots written beside report.md (PNG preferred: GitHub shows it inline)."""
    if not figures:
        return ""
    lines = ["## Figures", ""]
    for path, caption in figures:
        lines += [f"![{escape(caption)}]({path})", "", f"*{escape(caption)}*", ""]
    return "\n".join(lines)


def render_report(tables: list[Table], header: str = "", figures: list[tuple[str, str]] = ()) -> str:
    parts = [header] if header else []
    parts.extend(render_table(t) for t in tables)
    if figures:
        parts.append(render_figures(list(figures)))
    return "\n".join(parts)
