"""Table builders: results (and optionally the paper's numbers) -> ``model.Table``.

Each of the paper's tables is a ``Spec`` (``reports.table_specs``): which results it takes, what its rows and
columns are, how rows group. ``build_table`` does the rest the same way for all of them:
median and spread per cell, best/second per column (within each row group), the paired
Wilcoxon test against each column's best, and the version guard's footnotes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from reports import configs, image_test, names, provenance, stats
from reports.guard import guard
from reports.model import (
    DROPPED,
    DROPPED_RANK_LIMIT,
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
from reports.table_specs import RowKey, Spec


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


def measured_stat(values: dict, spread_kind: str, aggregate: str = "median", cells: dict | None = None) -> Stat:
    vs = list(values.values())
    return Stat(
        cells=dict(cells or {}),
        value=stats.aggregate(vs, aggregate),
        spread=stats.spread(vs, spread_kind, aggregate),
        bounds=stats.spread_bounds(vs, spread_kind, aggregate),
        n=len(vs),
        values=dict(values),
        spread_kind=spread_kind,
    )


def _rank_and_test(group: RowGroup, columns: list[Column], same_images=None) -> None:
    """Best/second per column and the paired Wilcoxon test against the best, over distinct splits.
    A column with a single measured row ranks nothing (one row is not 'the best')."""
    measured = [r for r in group.rows if not r.published]
    for col in columns:
        present = {
            id(r): r.cells[col.key]
            for r in measured
            if r.cells.get(col.key)
            and r.cells[col.key].value is not None
            and r.cells[col.key].dropped_max_share <= DROPPED_RANK_LIMIT  # metrics of a subset: not ranked
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
            if same_images is not None:
                same_images(col.key[2], best, s)


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
    image_test_kind: str = "williams",
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
    cell_keys: dict[RowKey, dict[tuple, dict]] = defaultdict(lambda: defaultdict(dict))
    seen_on_train: dict[RowKey, set] = defaultdict(set)
    row_results: dict[RowKey, list[Result]] = defaultdict(list)
    col_keys: set[tuple] = set()
    dropped: dict[RowKey, dict[tuple, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
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
            cell_keys[rk][(r.train, r.test, m)][r.pair_key] = r.key
            dropped[rk][(r.train, r.test, m)].append((r.n_dropped, _tested(r)))
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
                row.cells[col.key] = measured_stat(values[rk][col.key], spread_kind, aggregate, cell_keys[rk][col.key])
                if col.key in seen_on_train[rk]:
                    row.cells[col.key].note = TRAINED_ON_TEST
                _mark_dropped(row.cells[col.key], dropped[rk][col.key])
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
        _rank_and_test(group, columns, image_test.marker(image_test_kind, plcc_key, kept))
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
    dropped_note = _dropped_note(rows, columns)
    if dropped_note:
        notes.append(dropped_note)
    if undefined:
        notes.append(
            f"{undefined} metric value(s) were undefined (e.g. constant predictions) and are left out of the medians."
        )
    if kept:
        notes.append(provenance.footer(kept, lambda r: _full_label(spec, row_of[r.key])))
    return Table(spec.id, spec.title, spec.caption, spec.stub, columns, groups, notes)


def _tested(r: Result) -> int:
    """Test images of a result: its n_test, else the metrics' n (finite predictions) plus the dropped ones."""
    if r.n_test:
        return r.n_test
    n = r.metrics.get("n")
    return (int(n) if isinstance(n, (int, float)) else 0) + r.n_dropped


def _mark_dropped(stat: Stat, per_split: list[tuple[int, int]]) -> None:
    """Sum the dropped predictions of a printed number's splits into it; mark it when there are any."""
    stat.dropped = sum(d for d, _ in per_split)
    stat.dropped_of = sum(n for _, n in per_split)
    stat.dropped_max_share = max((d / n if n else (1.0 if d else 0.0)) for d, n in per_split) if per_split else 0.0
    if stat.dropped:
        stat.note += DROPPED


def _dropped_note(rows: list[Row], columns: list[Column]) -> str | None:
    """What DROPPED means in this table, with the counts of every marked row and dataset, and which are not ranked."""
    counts: dict[tuple[str, str], Stat] = {}
    for row in rows:
        for col in columns:
            s = row.cells.get(col.key)
            if s is not None and s.kind == "measured" and s.dropped:
                where = f"{names.dataset_title(col.key[0])} -> {names.dataset_title(col.key[1])}"
                if col.key[0] == col.key[1]:
                    where = names.dataset_title(col.key[1])
                counts.setdefault((row.label, where), s)
    if not counts:
        return None
    listed = "; ".join(
        f"{label} on {where}: {s.dropped} of {s.dropped_of} test predictions over {s.n} split(s)"
        + (" (not ranked)" if s.dropped_max_share > DROPPED_RANK_LIMIT else "")
        for (label, where), s in counts.items()
    )
    return (
        f"{DROPPED} : non-finite predictions (NaN/inf) were left out of the metrics: {listed}. A number with a split "
        f"that lost more than {DROPPED_RANK_LIMIT:.0%} of its test predictions is not ranked (its metrics describe a "
        "subset of the images the other rows were scored on)."
    )


def _full_label(spec: Spec, rk: RowKey) -> str:
    label = spec.row_label(rk)
    return f"{label} ({rk[3]})" if len(rk) > 3 and rk[3] else label
