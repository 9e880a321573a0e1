"""Table builders: results (and optionally the paper's numbers) -> ``model.Table``.

Each of the paper's tables is a ``Spec``: which results it takes, what its rows and
columns are, how rows group. ``build_table`` does the rest the same way for all of them:
median and spread per cell, best/second per column (within each row group), the paired
Wilcoxon test against each column's best, and the version guard's footnotes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reports import configs, names, provenance, stats
from reports.guard import guard
from reports.model import (
    NOT_SIGNIFICANT,
    TRAINED_ON_TEST,
    UNTESTED,
    Column,
    Row,
    RowGroup,
    Stat,
    Table,
)
from reports.published import Published
from reports.source import Result

METRIC_TITLES = {"plcc": "PLCC", "srcc": "SRCC", "plcc_logistic": "PLCC (logistic)", "krcc": "KRCC", "rmse": "RMSE"}
METRIC_ORDER = ("plcc", "plcc_logistic", "srcc", "krcc", "rmse")
PAIR_METRICS = ("plcc", "srcc")
RowKey = tuple  # (method, variant, fraction, configuration label); the label is '' when a row has one


def metric_rank(metric: str) -> int:
    base = metric.rpartition(":")[2]  # per-distortion metrics are 'DISTORTION:srcc'
    return METRIC_ORDER.index(base) if base in METRIC_ORDER else len(METRIC_ORDER)


def metric_title(metric: str) -> str:
    base = metric.rpartition(":")[2]
    return METRIC_TITLES.get(base, base.upper())


def _is_default(variant: str) -> bool:
    return variant in ("default", "full", "")


def _method_label(key: RowKey) -> str:
    method, variant = key[0], key[1]
    label = names.method_title(method)
    return label if _is_default(variant) else f"{label} [{variant}]"


def _ablation_label(key: RowKey) -> str:
    method, variant = key[0], key[1]
    if method == "mpiqe":
        return names.ABLATION_TITLES.get(variant, variant)
    return f"{names.method_title(method)}: {variant}"  # other methods' variants are their own


def _sensitivity_label(key: RowKey) -> str:
    method, variant = key[0], key[1]
    _, value = names.parse_sensitivity(variant)
    shown = f"{value:g}" if isinstance(value, float) else (value or variant)
    return shown if method == "mpiqe" else f"{names.method_title(method)}: {shown}"


def _dataset_heads(train: str, test: str, metric: str, marks: dict[str, str], multi: bool = True) -> tuple[str, ...]:
    def t(ds: str) -> str:
        return names.dataset_title(ds) + marks.get(ds, "")

    where = t(test) if train == test else f"{t(train)} → {t(test)}"
    return (where, metric_title(metric))


def _cross_heads(train: str, test: str, metric: str, marks: dict[str, str], multi: bool = False) -> tuple[str, ...]:
    tested = names.dataset_title(test) + marks.get(test, "")
    return (names.dataset_title(train) + marks.get(train, ""), f"{tested} {metric_title(metric)}" if multi else tested)


def _dataset_col_sort(col: tuple) -> tuple:
    train, test, metric = col
    return (names.dataset_sort_key(test), names.dataset_sort_key(train), metric_rank(metric), metric)


_PAPER_PAIRS = (("livec", "koniq10k"), ("koniq10k", "livec"), ("live", "csiq"), ("csiq", "live"))


def _cross_col_sort(col: tuple) -> tuple:
    train, test, metric = col
    if (train, test) in _PAPER_PAIRS:
        return (0, _PAPER_PAIRS.index((train, test)), (), (), metric_rank(metric))
    return (1, 0, names.dataset_sort_key(train), names.dataset_sort_key(test), metric_rank(metric))


def _row_sort(key: RowKey) -> tuple:
    method, variant, fraction = key[:3]
    return (names.method_sort_key(method), not _is_default(variant), variant, fraction or 0.0)


@dataclass
class Spec:
    id: str
    title: str
    caption: str
    protocol: str
    stub: tuple[str, ...]
    metrics: tuple[str, ...] = PAIR_METRICS
    published_table: int | None = None
    keep: Callable[[Result], bool] = lambda r: True
    keep_published: Callable[[Published], bool] = lambda p: True
    variant_of: Callable[[str], str] = lambda v: "default" if v in ("", "full") else v
    row_label: Callable[[RowKey], str] = _method_label
    row_sort: Callable[[RowKey], tuple] = _row_sort
    group_of: Callable[[RowKey], Any] = lambda k: None
    group_label: Callable[[Any], str | None] = lambda g: None
    heads: Callable[..., tuple[str, ...]] = _dataset_heads
    col_sort: Callable[[tuple], tuple] = _dataset_col_sort

    metrics_fixed: bool = False  # the paper's metrics for this table even under --metrics
    published_label: str = "paper"  # the label of published rows: 'Method (paper)'

    def row_key(self, method: str, variant: str, fraction: float | None) -> RowKey:
        """The row before configurations split it (see ``_config_keys``)."""
        return (method, self.variant_of(variant), fraction)


def _table2_dataset(name: str) -> bool:
    """LIVEC and KonIQ; on demo data the synthetic sets stand in for them, as for every table's datasets."""
    from reports.provenance import not_human_rated

    return name in names.CLIP_DATASETS or not_human_rated(name)


def _is_clip_based(method: str) -> bool:
    return "clipiqa" in method or method == "mpiqe"


def _sensitivity_sort(key: RowKey) -> tuple:
    method, variant = key[0], key[1]
    param, value = names.parse_sensitivity(variant)
    return (names.method_sort_key(method), param, (0, value, "") if isinstance(value, float) else (1, 0, str(value)))


def _sensitivity_group(key: RowKey) -> tuple:
    param, _ = names.parse_sensitivity(key[1])
    order = list(names.SENSITIVITY_TITLES)
    return (order.index(param) if param in order else len(order), param)


PAPER_SPECS: tuple[Spec, ...] = (
    Spec(
        "table1",
        "Table 1",
        "Intra-dataset results: median PLCC and SRCC over random train/test splits of each dataset.",
        "intra",
        ("", "Method"),
        published_table=1,
    ),
    Spec(
        "table2",
        "Table 2",
        "CLIP-based methods on LIVEC and KonIQ (intra-dataset): median PLCC and SRCC.",
        "intra",
        ("", "Method"),
        published_table=2,
        keep=lambda r: _is_clip_based(r.method) and r.train == r.test and _table2_dataset(r.test),
    ),
    Spec(
        "table3",
        "Table 3",
        "Cross-dataset SRCC: trained on the first dataset, tested on the second.",
        "cross",
        ("Training", "Testing"),
        metrics=("srcc",),
        published_table=3,
        heads=_cross_heads,
        col_sort=_cross_col_sort,
    ),
    Spec(
        "table4",
        "Table 4",
        "Ablation study on each component: median PLCC and SRCC.",
        "ablation",
        ("", "Variant"),
        published_table=4,
        variant_of=names.canonical_ablation,
        row_label=_ablation_label,
        row_sort=lambda k: (names.method_sort_key(k[0]), names.ablation_sort_key(k[1])),
        # one group per method: variants compete only with their own method's
        group_of=lambda k: (k[0] != "mpiqe", names.method_sort_key(k[0])),
        group_label=lambda g: None if g[1][2] == "mpiqe" else f"{names.method_title(g[1][2])} variants",
    ),
    Spec(
        "table5",
        "Table 5",
        "Data-efficient learning: median PLCC and SRCC when training on a fraction of the data.",
        "efficiency",
        ("", "Method"),
        published_table=5,
        group_of=lambda k: k[2],
        group_label=lambda g: "training data: –" if g is None else f"training data: {g:.0%}",
    ),
    Spec(
        "table6",
        "Table 6",
        "Sensitivity: median PLCC and SRCC for each value of the swept parameter "
        "(for MP-IQE: (1) text prompt length, (2) visual prompt length).",
        "sensitivity",
        ("", "Setting"),
        published_table=6,
        variant_of=names.canonical_sensitivity,
        row_label=_sensitivity_label,
        row_sort=_sensitivity_sort,
        group_of=_sensitivity_group,
        group_label=lambda g: names.sensitivity_title(g[1]),
    ),
)


def generic_spec(protocol: str) -> Spec:
    """A table for a protocol the paper has no table for: rows method[variant], columns dataset x metric."""
    return Spec(
        f"protocol-{protocol}",
        f"Protocol {protocol}",
        f"Protocol '{protocol}': median PLCC and SRCC.",
        protocol,
        ("", "Method"),
    )


def _config_keys(results: list[Result], spec: Spec) -> dict[str, RowKey]:
    """{result key: row key}. Cells that would share a row but differ in any configuration field
    (a parameter, the preset, a protocol option) get one row per configuration, labelled by what differs."""
    by_row: dict[RowKey, set] = defaultdict(set)
    for r in results:
        by_row[spec.row_key(r.method, r.variant, r.fraction)].add(r.config)
    labels = {rk: configs.config_labels(cs) for rk, cs in by_row.items()}
    return {
        r.key: spec.row_key(r.method, r.variant, r.fraction)
        + (labels[spec.row_key(r.method, r.variant, r.fraction)][r.config],)
        for r in results
    }


def _latest_per_split(results: list[Result], row_of: dict[str, RowKey]) -> tuple[list[Result], int]:
    """One result per (row, column, split): the newest. Returns (kept, number superseded)."""
    latest: dict[tuple, Result] = {}
    superseded = 0
    for r in results:
        k = (row_of[r.key], r.train, r.test, r.pair_key)
        if k in latest:
            superseded += 1
            if r.finished_at > latest[k].finished_at:
                latest[k] = r
        else:
            latest[k] = r
    return list(latest.values()), superseded


def _repeated_splits(results: list[Result]) -> int:
    """How many (dataset pair, split set, seed) splits repeat another's contents under another index."""
    seen: dict[tuple, set] = defaultdict(set)
    for r in results:
        if r.split_hash:
            seen[(r.train, r.test, r.split_set, r.fraction, r.seed, r.split_hash)].add(r.split_index)
    return sum(len(indices) - 1 for indices in seen.values())


def _remade_splits(results: list[Result], row_of: dict[str, RowKey]) -> int:
    """How many (row, column, split set, index, seed) places hold results on more than one split: the split
    was remade (another test fraction, another split-drawing version) and the old results are still stored."""
    hashes: dict[tuple, set] = defaultdict(set)
    for r in results:
        if r.split_hash:
            hashes[(row_of[r.key], r.train, r.test, r.split_set, r.split_index, r.seed)].add(r.split_hash)
    return sum(len(h) > 1 for h in hashes.values())


def measured_stat(values: dict, spread_kind: str, aggregate: str = "median") -> Stat:
    vs = list(values.values())
    return Stat(
        value=stats.aggregate(vs, aggregate),
        spread=stats.spread(vs, spread_kind, aggregate),
        bounds=stats.spread_bounds(vs, spread_kind, aggregate),
        n=len(vs),
        values=dict(values),
        spread_kind=spread_kind,
    )


def _rank_and_test(group: RowGroup, columns: list[Column]) -> None:
    """Best/second per column and the paired Wilcoxon test against the best, over distinct splits.
    A column with a single measured row ranks nothing (one row is not 'the best')."""
    measured = [r for r in group.rows if not r.published]
    for col in columns:
        present = {
            id(r): r.cells[col.key] for r in measured if r.cells.get(col.key) and r.cells[col.key].value is not None
        }
        if len(present) < 2:
            continue
        higher = col.key[2].rpartition(":")[2] not in stats.LOWER_IS_BETTER
        for rid, rank in stats.dense_ranks({rid: s.value for rid, s in present.items()}, higher).items():
            present[rid].rank = rank
        sign = 1 if higher else -1
        best_row = max((r for r in measured if id(r) in present), key=lambda r: sign * r.cells[col.key].value)
        best = best_row.cells[col.key]
        best_distinct = stats.distinct_splits(best.values)
        for r in measured:
            s = present.get(id(r))
            if s is None or r is best_row:
                continue
            s.n_paired, s.p_value = stats.paired_wilcoxon(best_distinct, stats.distinct_splits(s.values))
            s.versus = best_row.label
            if s.p_value is None:
                s.mark = UNTESTED
            elif s.p_value >= stats.ALPHA:
                s.mark = NOT_SIGNIFICANT


def _distinct_note(rows: list[Row], columns: list[Column]) -> str | None:
    """'Paired tests over distinct splits: demo-a 7 of 10 ...' when repeated splits were collapsed."""
    per: dict[str, tuple[int, int]] = {}
    for col in columns:
        for row in rows:
            s = row.cells.get(col.key)
            if s is None or s.kind != "measured" or not s.values:
                continue
            where = col.heads[0] if len(col.heads) > 1 else names.dataset_title(col.key[1])
            total, distinct = len(s.values), len(stats.distinct_splits(s.values))
            old = per.get(where, (0, 0))
            per[where] = (max(old[0], total), max(old[1], distinct))
    collapsed = {w: v for w, v in per.items() if v[1] < v[0]}
    if not collapsed:
        return None
    listed = ", ".join(f"{w} {d} of {t}" for w, (t, d) in collapsed.items())
    return (
        f"The paired tests count splits holding identical images once (distinct splits per column: {listed}); "
        "the medians count every split."
    )


def build_table(
    spec: Spec,
    results: list[Result],
    published: list[Published] | None,
    *,
    spread_kind: str = "iqr",
    plcc_key: str = "plcc",
    published_alone: bool = False,
    aggregate: str = "median",
    metrics: tuple[str, ...] | None = None,
) -> Table | None:
    """The table, or None when it has nothing to show.

    The paper's numbers join the columns we measured; with ``published_alone`` (nothing measured at all)
    a table of published numbers only is shown in full."""
    metrics = spec.metrics if (metrics is None or spec.metrics_fixed) else tuple(metrics)
    source = {"plcc": plcc_key}
    chosen = [r for r in results if r.protocol == spec.protocol and spec.keep(r)]
    row_of = _config_keys(chosen, spec)
    kept, superseded = _latest_per_split(chosen, row_of)

    values: dict[RowKey, dict[tuple, dict]] = defaultdict(lambda: defaultdict(dict))
    seen_on_train: dict[RowKey, set] = defaultdict(set)
    row_results: dict[RowKey, list[Result]] = defaultdict(list)
    col_keys: set[tuple] = set()
    undefined = 0
    for r in kept:
        rk = row_of[r.key]
        row_results[rk].append(r)
        for m in metrics:
            v = r.metric(source.get(m, m))
            if v is None:
                if source.get(m, m) in r.metrics:  # stored as null: undefined, not absent
                    undefined += 1
                    col_keys.add((r.train, r.test, m))
                continue
            col_keys.add((r.train, r.test, m))
            values[rk][(r.train, r.test, m)][r.pair_key] = v
            if r.trained_on_test:
                seen_on_train[rk].add((r.train, r.test, m))

    pubs = [
        p
        for p in (published or ())
        if p.table == spec.published_table
        and p.protocol == spec.protocol
        and p.metric in metrics
        and spec.keep_published(p)
    ]
    if kept:
        pubs = [p for p in pubs if (p.train, p.test, p.metric) in col_keys]
    elif published_alone and pubs:
        col_keys = {(p.train, p.test, p.metric) for p in pubs}
    else:
        return None

    row_marks, dataset_marks, guard_notes = guard(row_results, lambda k: _full_label(spec, k), names.dataset_title)
    multi = len({c[2] for c in col_keys}) > 1
    columns = [Column(c, spec.heads(*c, dataset_marks, multi)) for c in sorted(col_keys, key=spec.col_sort)]

    rows: list[Row] = []
    for rk in row_results:
        row = Row(
            rk,
            _full_label(spec, rk),
            marks=row_marks.get(rk, ""),
            method=rk[0],
            variant=rk[1],
            fraction=rk[2],
            config=rk[3],
            base=rk[:3],
        )
        for col in columns:
            if values[rk].get(col.key):
                row.cells[col.key] = measured_stat(values[rk][col.key], spread_kind, aggregate)
                if col.key in seen_on_train[rk]:
                    row.cells[col.key].note = TRAINED_ON_TEST
        rows.append(row)
    pub_rows: dict[RowKey, Row] = {}
    for p in pubs:
        rk = spec.row_key(p.method, p.variant, p.fraction)
        row = pub_rows.setdefault(
            rk,
            Row(
                ("paper",) + rk + ("",),
                spec.row_label(rk) + f" ({spec.published_label})",
                published=True,
                method=rk[0],
                variant=rk[1],
                fraction=rk[2],
                base=rk,
            ),
        )
        row.cells[(p.train, p.test, p.metric)] = Stat(p.value, kind="published", note="*" if p.reproduced else "")
    rows.extend(pub_rows.values())

    grouped: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[spec.group_of(row.base)].append(row)

    def group_sort(g: Any) -> tuple:
        return (g is None, g if g is not None else 0)

    groups = []
    for g in sorted(grouped, key=group_sort):
        members = sorted(grouped[g], key=lambda r: (spec.row_sort(r.base), r.published, r.config))
        group = RowGroup(spec.group_label(g), members)
        _rank_and_test(group, columns)
        groups.append(group)

    notes = list(guard_notes)
    split_rows = sorted({rk[:3] for rk in row_results if rk[3]})
    if split_rows:
        listed = "; ".join(spec.row_label(rk) for rk in split_rows)
        notes.append(
            f"Cells of different configurations are never pooled: one row per configuration "
            f"(labelled by what differs) for {listed}. Choose one with --where METHOD.PARAM=VALUE "
            "or --preset P."
        )
    if any(seen_on_train.values()):
        notes.append(
            f"{TRAINED_ON_TEST} : a zero-shot checkpoint tested on a dataset it was trained on "
            "(not a zero-shot result)."
        )
    distinct = _distinct_note([r for r in rows if not r.published], columns)
    if distinct:
        notes.append(distinct)
    repeated = _repeated_splits(kept)
    if repeated:
        notes.append(
            f"{repeated} split(s) hold exactly the same images as another split "
            "(same split hash; typical of datasets with few reference images); each counts as run."
        )
    remade = _remade_splits(kept, row_of)
    if remade:
        notes.append(
            f"{remade} split index(es) hold results on different splits (another split hash under the "
            "same index: the splits were remade); each counts. Rerun into a fresh --out to compare "
            "like with like."
        )
    if superseded:
        notes.append(
            f"{superseded} older result(s) of the same configuration, column and split were superseded "
            "by newer ones (a rerun under a new cell key); only the newest counts."
        )
    if undefined:
        notes.append(
            f"{undefined} metric value(s) were undefined (e.g. constant predictions) and are left out of the medians."
        )
    if kept:
        notes.append(provenance.footer(kept, lambda r: _full_label(spec, row_of[r.key])))
    return Table(spec.id, spec.title, spec.caption, spec.stub, columns, groups, notes)


def _full_label(spec: Spec, rk: RowKey) -> str:
    label = spec.row_label(rk)
    return f"{label} ({rk[3]})" if len(rk) > 3 and rk[3] else label
