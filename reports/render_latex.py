"""LaTeX tables (booktabs) for papers; ``render_document`` wraps them into a file pdflatex compiles.

Needs only booktabs and graphicx. Wide tables shrink to the line width, never grow.
"""

from __future__ import annotations

import unicodedata

from reports.model import RowGroup, Stat, Table, delta_text, spread_text

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
_SYMBOLS = {
    "≈": r"$\approx$",
    "◇": r"$\diamond$",
    "°": r"$^{\circ}$",
    "†": r"\dag{}",
    "‡": r"\ddag{}",
    "§": r"\S{}",
    "–": "--",
    "—": "---",
    "→": r"$\rightarrow$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "−": "$-$",
    "±": r"$\pm$",
    "¶": r"\P{}",
    "×": r"$\times$",
    "Δ": r"$\Delta$",
    "…": r"\ldots{}",
    "’": "'",
    "“": "``",
    "”": "''",
}
_MARKS = {
    "≈": r"$^{\approx}$",
    "◇": r"$^{\diamond}$",
    "°": r"$^{\circ}$",
    "†": r"\textsuperscript{\dag}",
    "‡": r"\textsuperscript{\ddag}",
    "§": r"\textsuperscript{\S}",
    "*": r"$^{\ast}$",
    "¶": r"\textsuperscript{\P}",
    "‖": r"$^{\Vert}$",
}


def escape(text: str) -> str:
    """Plain text -> LaTeX that pdflatex accepts: specials escaped, symbols as commands, ASCII only."""
    out = []
    for ch in text:
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ch in _SYMBOLS:
            out.append(_SYMBOLS[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:  # drop accents, then anything pdflatex would choke on
            out.append(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode() or "?")
    return "".join(out)


def marks(text: str) -> str:
    return "".join(_MARKS.get(ch, escape(ch)) for ch in text)


def number(stat: Stat | None, ranked: bool = True) -> str:
    if stat is not None and stat.kind == "text":
        return escape(stat.text) or "--"
    if stat is None or stat.value is None:
        return "--"  # en dash
    if stat.kind == "delta":
        return f"${delta_text(stat.value)}$"
    text = f"{stat.value:.3f}"
    if ranked and stat.rank == 1:
        text = rf"\textbf{{{text}}}"
    elif ranked and stat.rank == 2:
        text = rf"\underline{{{text}}}"
    text += marks(stat.mark + stat.note)
    extra = spread_text(stat).strip()
    if extra:
        text += rf" {{\scriptsize {escape(extra)}}}"
    return text


def _header_rows(table: Table) -> list[str]:
    heads = [c.heads for c in table.columns]
    rows = []
    for level in range(table.levels):
        cells, rules, start = [escape(table.stub[level])], [], 0
        while start < len(heads):
            end = start
            if level < table.levels - 1:
                while end + 1 < len(heads) and heads[end + 1][: level + 1] == heads[start][: level + 1]:
                    end += 1
            span = end - start + 1
            text = escape(heads[start][level])
            cells.append(text if span == 1 else rf"\multicolumn{{{span}}}{{c}}{{{text}}}")
            if span > 1:
                rules.append(rf"\cmidrule(lr){{{start + 2}-{end + 2}}}")
            start = end + 1
        rows.append(" & ".join(cells) + r" \\")
        if rules:
            rows.append(" ".join(rules))
    return rows


MAX_ROWS = 30  # rows per float: longer tables continue in a second float instead of running off the page


def _chunks(table: Table) -> list[list[RowGroup]]:
    chunks: list[list[RowGroup]] = [[]]
    used = 0
    for group in table.groups:
        rows = list(group.rows)
        label = group.label
        while rows:
            room = MAX_ROWS - used - (1 if label else 0)
            if room <= 0 and chunks[-1]:
                chunks.append([])
                used = 0
                continue
            take, rows = rows[: max(room, 1)], rows[max(room, 1) :]
            chunks[-1].append(RowGroup(label, take))
            used += len(take) + (1 if label else 0)
            label = f"{group.label} (continued)" if group.label else None
    return chunks


def _render_part(table: Table, groups: list[RowGroup], part: int, last: bool) -> str:
    n = len(table.columns) + 1
    # LaTeX numbers floats itself: name the paper's table so a partial report still says which one it is
    paper = f" [{table.title} of the paper]" if table.id.startswith("table") and table.title.startswith("Table") else ""
    caption = escape(table.caption + paper) + (" (continued)" if part else "")
    label = f"tab:{table.id}" + (f"-{part + 1}" if part else "")
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        rf"\caption{{{caption}}}",
        rf"\label{{{label}}}",
        r"\sbox0{%",
        rf"\begin{{tabular}}{{l{'c' * (n - 1)}}}",
        r"\toprule",
    ]
    lines += _header_rows(table)
    lines.append(r"\midrule")
    for i, group in enumerate(groups):
        if i and group.label:
            lines.append(r"\midrule")
        if group.label:
            lines.append(rf"\multicolumn{{{n}}}{{l}}{{\emph{{{escape(group.label)}}}}} \\")
        for row in group.rows:
            cells = [escape(row.label) + marks(row.marks)]
            cells += [number(row.cells.get(c.key), table.ranked) for c in table.columns]
            lines.append(" & ".join(cells) + r" \\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}}",
        # shrink to the line width when wider, never enlarge
        r"\ifdim\wd0>\linewidth\resizebox{\linewidth}{!}{\usebox0}\else\usebox0\fi",
    ]
    if table.notes and last:
        lines.append(r"\par\smallskip{\footnotesize\raggedright")
        lines += [escape(note) + r"\par" for note in table.notes]
        lines.append("}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def render_table(table: Table) -> str:
    """One float per up to MAX_ROWS rows; the notes go under the last."""
    chunks = _chunks(table)
    return "".join(_render_part(table, groups, i, i == len(chunks) - 1) for i, groups in enumerate(chunks))


PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[T1]{fontenc}
\usepackage{lmodern}
\usepackage{booktabs}
\usepackage{graphicx}
\setlength{\textwidth}{6.5in}\setlength{\oddsidemargin}{0in}\setlength{\evensidemargin}{0in}
\begin{document}
"""


def render_figure(path: str, caption: str, label: str) -> str:
    return (
        "\n".join(
            [
                r"\begin{figure}[htbp]",
                r"\centering",
                rf"\includegraphics[width=\linewidth,height=0.4\textheight,keepaspectratio]{{{path}}}",
                rf"\caption{{{escape(caption)}}}",
                rf"\label{{fig:{label}}}",
                r"\end{figure}",
            ]
        )
        + "\n"
    )


def render_document(
    tables: list[Table], title: str = "", notes: list[str] = (), figures: list[tuple[str, str]] = ()
) -> str:
    """The whole report; ``figures`` = (path relative to report.tex, caption), included after the tables."""
    body = [PREAMBLE]
    if title:
        body.append(rf"\section*{{{escape(title)}}}" + "\n")
    body += [
        (r"\noindent\textbf{" + escape(n) + "}" if n.startswith("Synthetic data") else escape(n)) + "\n\n"
        for n in notes
    ]
    body += [render_table(t) for t in tables]
    if figures:
        body.append(r"\clearpage" + "\n")
        body += [render_figure(path, caption, path.rsplit("/", 1)[-1].rsplit(".", 1)[0]) for path, caption in figures]
    body.append(r"\end{document}" + "\n")
    return "\n".join(body)
