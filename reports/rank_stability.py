"""How stable is a table's ranking? Rank intervals and a pairwise win-probability matrix from a paired bootstrap.

For each row group of a ranked table, on its SRCC columns (or the first metric it has): the splits that every row
shares are drawn with replacement within each column (paired: one draw for all rows), and, when the table spans
several columns (datasets, distortion types), the columns are drawn with replacement too. A row's score in a
resample is the mean over the drawn columns of its median (or mean) over the drawn splits. Over the resamples:
a row's rank interval (2.5 and 97.5 % of its ranks, 1 = best), the probability it ranks first, and for every pair
the probability that one row scores above the other (ties count half) -- the statistics MTEB and Chatbot Arena
report for their leaderboards. Hall & Miller (2009) show why such intervals are wide (and conservative) for rows
whose scores nearly tie: read an interval [1, 3] as "could be first or third", not as a precise rank.
"""

from __future__ import annotations

import numpy as np

from reports import stats
from reports.model import DROPPED_RANK_LIMIT, Column, Row, RowGroup, Stat, Table

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95


def bootstrap_scores(units: list[np.ndarray], aggregate: str = "median", resamples: int = RESAMPLES, seed: int = SEED):
    """``units``: one (rows, splits) array per column, splits shared by all rows. Returns (observed (rows,),
    bootstrap (rows, resamples)) scores: the mean over columns of the aggregate over splits. A column drawn twice
    in one resample counts twice with the same split draw."""
    rng = np.random.default_rng(seed)
    agg = np.mean if aggregate == "mean" else np.median
    observed = np.mean([agg(u, axis=1) for u in units], axis=0)
    per_unit = np.stack([agg(u[:, rng.integers(0, u.shape[1], (resamples, u.shape[1]))], axis=2) for u in units])
    if len(units) == 1:
        return observed, per_unit[0]
    pick = rng.integers(0, len(units), (resamples, len(units)))  # the columns drawn in each resample
    return observed, per_unit[pick, :, np.arange(resamples)[:, None]].mean(axis=1).T


def ranks(scores: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Competition ranks per column of (rows, resamples) or (rows,): 1 + how many rows score strictly better."""
    s = scores if higher_is_better else -scores
    return 1 + (s[None, ...] > s[:, None, ...]).sum(axis=1)


def win_probabilities(scores: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """[i, j] = P(row i scores better than row j) over the resamples, ties counting half; NaN on the diagonal."""
    s = scores if higher_is_better else -scores
    wins = (s[:, None, :] > s[None, :, :]).mean(axis=2) + 0.5 * (s[:, None, :] == s[None, :, :]).mean(axis=2)
    np.fill_diagonal(wins, np.nan)
    return wins


def rank_interval(boot_ranks: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    lo = np.quantile(boot_ranks, (1 - level) / 2, axis=1, method="inverted_cdf")
    hi = np.quantile(boot_ranks, (1 + level) / 2, axis=1, method="inverted_cdf")
    return lo.astype(int), hi.astype(int)


def _ranking_metric(table: Table) -> str | None:
    metrics = [c.key[2] for c in table.columns if isinstance(c.key, tuple) and len(c.key) == 3]
    bases = [m.rpartition(":")[2] for m in metrics]
    return "srcc" if "srcc" in bases else (bases[0] if bases else None)


def choose(rows: list[Row], columns: list[Column], metric: str) -> tuple[list[Row], list[Column], dict]:
    """The rows and columns to rank on: every chosen row has every chosen column, each with >= 2 splits shared by
    all chosen rows. Dropping, one at a time, the column the fewest rows have, the step with the most
    (rows x columns) numbers wins (ties: more rows). Also returns {(row index, column key): distinct splits}."""
    cols = [c for c in columns if c.key[2].rpartition(":")[2] == metric]
    distinct = {
        (i, c.key): stats.distinct_splits(r.cells[c.key].values)
        for i, r in enumerate(rows)
        for c in cols
        if r.cells.get(c.key) is not None and r.cells[c.key].value is not None and r.cells[c.key].values
    }
    best: tuple = (0, 0, [], [])
    while cols:
        kept = [i for i in range(len(rows)) if all((i, c.key) in distinct for c in cols)]
        if len(kept) >= 2 and all(len(set.intersection(*(set(distinct[i, c.key]) for i in kept))) >= 2 for c in cols):
            best = max(best, (len(kept) * len(cols), len(kept), kept, list(cols)), key=lambda b: b[:2])
        cols.remove(min(cols, key=lambda c: sum((i, c.key) in distinct for i in range(len(rows)))))
    return [rows[i] for i in best[2]], best[3], {k: v for k, v in distinct.items() if k[0] in best[2]}


def units_of(
    rows: list[Row], cols: list[Column], distinct: dict, index: list[int]
) -> tuple[list[np.ndarray], list[int]]:
    """One (rows, shared splits) array per column; ``index``: each row's index in ``distinct``'s keys."""
    units, counts = [], []
    for c in cols:
        per_row = [distinct[i, c.key] for i in index]
        shared = sorted(set.intersection(*(set(d) for d in per_row)), key=repr)
        units.append(np.array([[d[k] for k in shared] for d in per_row], dtype=np.float64))
        counts.append(len(shared))
    return units, counts


def _lost_predictions(row: Row) -> bool:
    """A row some of whose numbers are not ranked: more than DROPPED_RANK_LIMIT of a split's predictions dropped."""
    return any(s.dropped_max_share > DROPPED_RANK_LIMIT for s in row.cells.values())


def rank_table(table: Table, aggregate: str = "median") -> Table | None:
    """'<title>: rank stability', one row group per group of ``table`` that can be bootstrapped; None if none."""
    metric = _ranking_metric(table)
    if metric is None or not table.ranked:
        return None
    higher = metric not in stats.LOWER_IS_BETTER
    groups, notes, width, several = [], [], 0, False
    for group in table.groups:
        rows = [r for r in group.rows if not r.published and not _lost_predictions(r)]
        unranked = [r.label for r in group.rows if not r.published and _lost_predictions(r)]
        complete, cols, distinct = choose(rows, table.columns, metric)
        if not cols:
            continue
        several = several or len(cols) > 1
        units, counts = units_of(complete, cols, distinct, [rows.index(r) for r in complete])
        titles = [" ".join(c.heads[:-1]) or c.heads[0] for c in cols]
        observed, boot = bootstrap_scores(units, aggregate)
        point = ranks(observed, higher)
        boot_ranks = ranks(boot, higher)
        lo, hi = rank_interval(boot_ranks)
        first = (boot_ranks == 1).mean(axis=1)
        wins = win_probabilities(boot, higher)
        width = max(width, len(complete))
        out = []
        for i, row in enumerate(complete):
            cells = {
                ("rank",): Stat(None, kind="text", text=str(int(point[i]))),
                ("interval",): Stat(None, kind="text", text=f"{lo[i]}–{hi[i]}"),
                ("first",): Stat(None, kind="text", text=f"{first[i]:.2f}"),
            }
            for j in range(len(complete)):
                cells[("beats", j)] = Stat(None, kind="text", text="–" if i == j else f"{wins[i, j]:.2f}")
            out.append(Row(row.key, row.label, method=row.method, variant=row.variant, config=row.config, cells=cells))
        groups.append(RowGroup(group.label, out))
        where = ", ".join(f"{t} ({n})" for t, n in zip(titles, counts))
        notes.append(
            (f"{group.label}: " if group.label else "")
            + f"{metric.upper()} over {len(units)} column(s) with their shared splits: {where}"
            + (
                "; left out (not ≥ 2 shared splits in every column): "
                + ", ".join(r.label for r in rows if r not in complete)
                if len(rows) > len(complete)
                else ""
            )
            + (
                f"; not ranked (more than {DROPPED_RANK_LIMIT:.0%} of a split's predictions dropped): "
                + ", ".join(unranked)
                if unranked
                else ""
            )
            + "."
        )
    if not groups:
        return None
    columns = [
        Column(("rank",), ("rank",)),
        Column(("interval",), ("95 % rank interval",)),
        Column(("first",), ("P(first)",)),
    ]
    only = groups[0].rows if len(groups) == 1 else None
    columns += [
        Column(("beats", j), (f"P(beats {only[j].label})" if only else f"P(beats #{j + 1})",)) for j in range(width)
    ]
    notes.insert(
        0,
        f"Paired bootstrap over splits ({RESAMPLES} resamples, seed {SEED}): within each column the splits all rows "
        "share are drawn with replacement (one draw for every row), and the columns too when there are several; a "
        f"row's score is the mean over columns of its {aggregate} over the drawn splits. rank: from all splits; "
        "95 % rank interval: 2.5-97.5 % of the bootstrap ranks (1 = best); P(first): share of resamples ranking it "
        "first; P(beats #k): share where it scores above the k-th row of its group (ties count half).",
    )
    return Table(
        f"ranks-{table.id}",
        f"{table.title}: rank stability",
        f"How stable the ranking of {table.title} is across splits" + (" and columns." if several else "."),
        ("Method",),
        columns,
        groups,
        notes,
        ranked=False,
        derived_from=table.id,
    )
