"""SRCC and PLCC of many groups at once (the per-distortion view: one group per cell and distortion type).

``compute_metrics`` per group costs two scipy calls each; a store of thousands of cells has tens of thousands
of groups. Here every group is computed in one vectorised pass over the concatenated predictions: ranks by
one lexsort (ties averaged, as ``scipy.stats.rankdata``), Pearson by per-group sums (``np.bincount``).
Same values as ``bench.core.metrics.compute_metrics`` within float rounding (``tests/test_reports_grouped.py``),
NaN where it gives NaN: fewer than ``MIN_SAMPLES`` images, constant predictions or constant scores.
"""

from __future__ import annotations

import numpy as np

VECTORISED = ("srcc", "plcc")


def group_ranks(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` within each group, ties given their average rank."""
    n = len(values)
    order = np.lexsort((values, group))
    g, v = group[order], values[order]
    new_run = np.ones(n, dtype=bool)
    new_run[1:] = (g[1:] != g[:-1]) | (v[1:] != v[:-1])
    new_group = np.ones(n, dtype=bool)
    new_group[1:] = g[1:] != g[:-1]
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], n)  # one past each run of ties
    run = np.cumsum(new_run) - 1
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = (starts[run] + ends[run] + 1) / 2.0 - group_start
    return ranks


def group_pearson(group: np.ndarray, x: np.ndarray, y: np.ndarray, n_groups: int) -> np.ndarray:
    """Pearson r per group (NaN for a group where x or y is constant)."""
    count = np.bincount(group, minlength=n_groups).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = x - (np.bincount(group, x, n_groups) / count)[group]
        dy = y - (np.bincount(group, y, n_groups) / count)[group]
        sxx = np.bincount(group, dx * dx, n_groups)
        syy = np.bincount(group, dy * dy, n_groups)
        r = np.bincount(group, dx * dy, n_groups) / np.sqrt(sxx * syy)
    r[(sxx == 0) | (syy == 0) | _constant(group, x, n_groups) | _constant(group, y, n_groups)] = np.nan
    return np.clip(r, -1.0, 1.0)


def _constant(group: np.ndarray, x: np.ndarray, n_groups: int) -> np.ndarray:
    """Groups whose values are all equal (a mean can differ from them by rounding: test it exactly)."""
    lo, hi = np.full(n_groups, np.inf), np.full(n_groups, -np.inf)
    np.minimum.at(lo, group, x)
    np.maximum.at(hi, group, x)
    return lo == hi


def grouped_srcc_plcc(group: np.ndarray, mos: np.ndarray, pred: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """{'srcc': [n_groups], 'plcc': [n_groups]}: NaN where ``compute_metrics`` gives NaN."""
    from bench.core.metrics import MIN_SAMPLES

    group = np.asarray(group, dtype=np.int64)
    mos, pred = np.asarray(mos, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    keep = np.isfinite(mos) & np.isfinite(pred)
    group, mos, pred = group[keep], mos[keep], pred[keep]
    out = {"srcc": np.full(n_groups, np.nan), "plcc": np.full(n_groups, np.nan)}
    if not len(group):
        return out
    srcc = group_pearson(group, group_ranks(group, pred), group_ranks(group, mos), n_groups)
    plcc = group_pearson(group, pred, mos, n_groups)
    few = np.bincount(group, minlength=n_groups) < MIN_SAMPLES
    srcc[few] = plcc[few] = np.nan
    out["srcc"], out["plcc"] = srcc, plcc
    return out
