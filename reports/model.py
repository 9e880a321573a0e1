"""What a table is, independent of how it is printed (Markdown, LaTeX, CSV)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# marks printed after a number
NOT_SIGNIFICANT = "≈"  # not significantly different from the column's best (Wilcoxon, p >= 0.05)
UNTESTED = "°"  # no split shared with the column's best
MISSING = "–"  # en dash: no result for this cell
TRAINED_ON_TEST = "¶"  # a zero-shot checkpoint tested on (part of) a dataset it was trained on
SAME_IMAGES_NOT_SIGNIFICANT = "◇"  # on the same test images, not significantly different from the best in most splits

# What every mark means, for legends (HTML) and tooltips; the tables' notes say the same with their counts.
LEGEND = {
    NOT_SIGNIFICANT: "not significantly different from the column's best over splits (paired Wilcoxon, p ≥ 0.05)",
    SAME_IMAGES_NOT_SIGNIFICANT: "on the same test images, the difference to the column's best is significant "
    "(Williams' t for dependent correlations, p < 0.05) in at most half of the splits tested",
    UNTESTED: "shares no split with the column's best: not tested",
    TRAINED_ON_TEST: "a zero-shot checkpoint tested on a dataset it was trained on",
    "*": "the paper says it reproduced this number",
    "†": "another method version than the table's most common one",
    "‡": "another harness version than the table's most common one",
    "§": "cells of this dataset come from more than one dataset revision",
    "‖": "some test predictions were non-finite (NaN/inf) and left out of the metrics; above 1 % of a split: not ranked",
}
DROPPED = "‖"  # some test predictions were non-finite (NaN/inf) and left out of the metrics
# a cell any of whose splits lost more than this share of its test predictions is not ranked: its metrics describe
# a subset of the images the other rows were scored on (1 %: one image of a 100-image test set)
DROPPED_RANK_LIMIT = 0.01


@dataclass
class Stat:
    """One printed number and everything behind it."""

    value: float | None  # median (or mean) over splits, the paper's number, or a delta
    kind: str = "measured"  # 'measured' | 'published' | 'delta' | 'text'
    spread: float | None = None  # width of the spread (IQR, max - min, interval) or the std
    spread_kind: str = "iqr"  # reports.stats.SPREADS
    bounds: tuple[float, float] | None = None
    n: int = 0  # splits behind the median
    values: dict[Any, float] = field(default_factory=dict)  # pair key -> value, for the Wilcoxon test
    rank: int | None = None  # 1 = best (bold), 2 = second (underlined)
    mark: str = ""  # NOT_SIGNIFICANT, UNTESTED or ''
    n_paired: int | None = None
    p_value: float | None = None
    versus: str | None = None  # the row label of the column's best it was tested against
    note: str = ""  # '*' where the paper marks a reproduced number; TRAINED_ON_TEST
    text: str = ""  # kind 'text': printed as is (verdicts, runtimes, devices)
    cells: dict[Any, str] = field(default_factory=dict)  # pair key (or index) -> key of the cell behind the number
    image_p: dict[Any, float] = field(default_factory=dict)  # pair key -> p of the same-images test vs the best
    image_tested: int = 0  # splits where the same-images test ran
    image_significant: int = 0  # ... and found p < 0.05
    dropped: int = 0  # test predictions left out as non-finite, summed over the splits (marked DROPPED)
    dropped_of: int = 0  # test images of those splits
    dropped_max_share: float = 0.0  # the largest share of one split: above DROPPED_RANK_LIMIT, not ranked


@dataclass
class Column:
    key: tuple  # (train, test, metric)
    heads: tuple[str, ...]  # header texts, outermost first; equal neighbours merge


@dataclass
class Row:
    key: tuple  # (method, variant, fraction[, ...]) ; ('paper', ...) for published
    label: str
    published: bool = False
    cells: dict[tuple, Stat] = field(default_factory=dict)
    marks: str = ""  # version-guard footnote symbols
    method: str = ""
    variant: str = ""
    fraction: float | None = None
    config: str = ""  # what sets this row's configuration apart ('' when one per row)
    base: tuple = ()  # (method, variant, fraction): the row before configurations split it


@dataclass
class RowGroup:
    label: str | None
    rows: list[Row] = field(default_factory=list)


@dataclass
class Table:
    id: str  # 'table1'..'table6', 'delta', 'protocol-<name>'
    title: str  # 'Table 1'
    caption: str
    stub: tuple[str, ...]  # header texts above the row labels, one per header level
    columns: list[Column]
    groups: list[RowGroup]
    notes: list[str] = field(default_factory=list)  # footnotes, printed under the table
    ranked: bool = True
    derived_from: str | None = None  # the id of the table this one summarises (rank stability)

    @property
    def rows(self) -> list[Row]:
        return [r for g in self.groups for r in g.rows]

    @property
    def levels(self) -> int:
        return len(self.stub)


@dataclass
class Report:
    tables: list[Table]
    source: str  # where the results came from
    n_results: int
    spread: str
    plcc: str
    results: list = field(default_factory=list)  # reports.source.Result, for the plots
    published: list = field(default_factory=list)  # reports.published.Published rows used
    aggregate: str = "median"
    notes: list = field(default_factory=list)  # report-wide notes (synthetic data, skipped views)
    figures: list = field(default_factory=list)  # (path relative to the report folder, caption), once written
    image_test: str = "williams"  # the same-images test behind the mark ◇ (reports.image_test)


def spread_text(stat: Stat) -> str:
    """What follows a measured number: ' (0.094; n=10)', ' ± 0.031 (n=10)', ' (0.51–0.57; n=10)', or ''
    (--spread none prints bare values; cells.csv still has n)."""
    if stat.spread_kind == "none" or stat.kind != "measured":
        return ""
    if stat.spread is None:
        return f" (n={stat.n})"
    if stat.spread_kind == "std":
        return f" ± {stat.spread:.3f} (n={stat.n})"
    if stat.spread_kind == "ci" and stat.bounds is not None:
        return f" ({stat.bounds[0]:.3f}–{stat.bounds[1]:.3f}; n={stat.n})"
    return f" ({stat.spread:.3f}; n={stat.n})"


def delta_text(value: float) -> str:
    """'+0.012', '-0.004', and '0.000' when it rounds to nothing (never '-0.000')."""
    return "0.000" if round(value, 3) == 0 else f"{value:+.3f}"
