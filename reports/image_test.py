"""Is a method's correlation with MOS different from the column's best on the *same* test images?

Two methods scored on one split are scored on the same images against the same MOS, so their correlations are
dependent: testing them as independent samples would be wrong. Per split both rows share (same split hash, so the
same images), this module tests H0: rho(MOS, best) = rho(MOS, other) with

- ``williams`` (default): Williams' t for two dependent correlations that share one variable (Williams 1959;
  Steiger 1980, eq. 7), df = n - 3. Closed form, so cheap on any store. It assumes (tri)variate normality; for SRCC
  it is applied to the ranks (Spearman's rho is Pearson's r of the ranks), where it is an approximation.
- ``bootstrap``: a paired bootstrap over the test images (the same resampled images for both methods; Efron &
  Tibshirani 1993), 1,000 resamples, seeded; p is the two-sided percentile-bootstrap p. No distributional
  assumption, exact for SRCC (ties in a resample get average ranks), about 100x slower.

SRCC and raw PLCC columns only (the logistic PLCC would need a fit per resample; KRCC and RMSE are not tested).
A table summarises the per-split results as "significant in k of n splits" (never as one combined p: the splits
of one dataset share images, so their tests are not independent and Fisher's or Stouffer's method would not hold).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

TESTS = ("williams", "bootstrap", "none")
TESTED_METRICS = ("srcc", "plcc")
ALPHA = 0.05
RESAMPLES = 1000
SEED = 0


def williams_t(r_best: float, r_other: float, r_between: float, n: int) -> tuple[float, float]:
    """(t, two-sided p) of Williams' test of r(MOS, best) = r(MOS, other); ``r_between`` = r(best, other)."""
    from scipy.special import stdtr  # Student's t CDF: a plain ufunc, far cheaper per call than scipy.stats.t

    det = 1 - r_best**2 - r_other**2 - r_between**2 + 2 * r_best * r_other * r_between
    mean = (r_best + r_other) / 2
    denominator = 2 * (n - 1) / (n - 3) * det + mean**2 * (1 - r_between) ** 3
    if denominator <= 0:  # identical predictions (r_between = 1, det = 0): nothing to test
        return 0.0, 1.0
    t = (r_best - r_other) * np.sqrt((n - 1) * (1 + r_between) / denominator)
    return float(t), float(2 * stdtr(n - 3, -abs(t)))


def resample_counts(n: int, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples, n): how often each image appears in each resample. The indices are drawn exactly as
    ``scipy.stats.bootstrap`` draws them (``rng.integers(0, n, (resamples, n))``), so the two can be compared."""
    idx = np.random.default_rng(seed).integers(0, n, (resamples, n))
    flat = (np.arange(resamples)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype(np.float64)


def weighted_ranks(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank) of each image in each resample where image i appears
    counts[b, i] times: ``scipy.stats.rankdata`` of the resampled values, without building them."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    new = np.r_[True, xs[1:] != xs[:-1]]
    group = np.empty(len(x), dtype=np.int64)
    group[order] = np.cumsum(new) - 1
    per_group = np.add.reduceat(counts[:, order], np.flatnonzero(new), axis=1)
    return (np.cumsum(per_group, axis=1) - per_group + (per_group + 1.0) / 2.0)[:, group]


def weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    total = w.sum(axis=1, keepdims=True)
    dx = x - (w * x).sum(axis=1, keepdims=True) / total
    dy = y - (w * y).sum(axis=1, keepdims=True) / total
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w * dx * dy).sum(axis=1) / np.sqrt((w * dx * dx).sum(axis=1) * (w * dy * dy).sum(axis=1))


def resampled(metric: str, mos: np.ndarray, pred: np.ndarray, counts: np.ndarray) -> np.ndarray:
    if metric == "srcc":
        return weighted_pearson(weighted_ranks(mos, counts), weighted_ranks(pred, counts), counts)
    return weighted_pearson(mos, pred, counts)


def bootstrap_differences(metric: str, mos, best, other, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """metric(MOS, best) - metric(MOS, other) on each resample of the images (the same images for both)."""
    mos, best, other = (np.asarray(a, dtype=np.float64) for a in (mos, best, other))
    counts = resample_counts(len(mos), resamples, seed)
    return resampled(metric, mos, best, counts) - resampled(metric, mos, other, counts)


def bootstrap_p(metric: str, mos, best, other, resamples: int = RESAMPLES, seed: int = SEED) -> float | None:
    """Two-sided percentile-bootstrap p of metric(best) - metric(other): twice the smaller share of resampled
    differences on either side of 0 (the largest level at which the percentile interval excludes 0). None when
    most resamples are degenerate (e.g. constant predictions)."""
    d = bootstrap_differences(metric, mos, best, other, resamples, seed)
    d = d[np.isfinite(d)]
    if d.size < resamples / 2:
        return None
    return float(min(1.0, 2.0 * min(np.mean(d <= 0), np.mean(d >= 0))))


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their mean rank (= ``scipy.stats.rankdata``, without its overhead per call)."""
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]


def williams_p(metric: str, mos, best, other) -> float | None:
    a = np.asarray([mos, best, other], dtype=np.float64)
    if metric == "srcc":
        a = np.stack([average_ranks(v) for v in a])
    a = a - a.mean(axis=1, keepdims=True)
    norms = np.sqrt((a * a).sum(axis=1))
    if not norms.all():
        return None  # a constant column: no correlation to compare
    r = (a @ a.T) / np.outer(norms, norms)
    return williams_t(float(r[0, 1]), float(r[0, 2]), float(r[1, 2]), a.shape[1])[1]


def _predictions(path: Path) -> dict:
    """{image id: (MOS, prediction)} of a cell's .preds.csv."""
    from reports.source import read_predictions

    ids, mos, pred = read_predictions(path, None, with_ids=True)
    return {i: (m, p) for i, m, p in zip(ids, mos, pred)}


def same_images_test(
    test: str, metric: str, best: Mapping, other: Mapping, results: Mapping, cache: dict | None = None
) -> dict:
    """{pair key: p} for every split both stats share whose predictions are stored and complete.
    ``best``/``other``: pair key -> cell key (``Stat.cells``); ``results``: cell key -> ``Result``; ``cache``:
    cell key -> its predictions, kept between calls (the best row's cells are compared with every other row)."""
    from reports.errors import ReportError

    cache = {} if cache is None else cache
    out = {}
    for split in sorted(set(best) & set(other), key=repr):
        cells = [results.get(best[split]), results.get(other[split])]
        if any(c is None or c.preds_path is None or not c.preds_path.is_file() for c in cells):
            continue
        try:
            for c in cells:
                if c.key not in cache:
                    cache[c.key] = _predictions(c.preds_path)
            a, b = cache[cells[0].key], cache[cells[1].key]
        except (ReportError, OSError):
            continue  # a damaged file is named by the views that draw it; here the split is just not tested
        if any(c.n_test and len(p) != c.n_test for c, p in zip(cells, (a, b))):
            continue  # truncated: a test on part of the images would look valid and be wrong
        shared = sorted(set(a) & set(b))
        if len(shared) < 5:
            continue
        mos = [a[i][0] for i in shared]
        p = (williams_p if test == "williams" else bootstrap_p)(
            metric, mos, [a[i][1] for i in shared], [b[i][1] for i in shared]
        )
        if p is not None:
            out[split] = p
    return out


def marker(test: str, plcc_key: str, results: list):
    """f(metric, best, other) that runs the test for a column of ``reports.tables`` and fills ``other``'s
    ``image_*`` fields (p per split, splits tested, significant) and adds the mark; None when the test is off."""
    from reports.model import SAME_IMAGES_NOT_SIGNIFICANT

    if test == "none":
        return None
    by_key = {r.key: r for r in results}
    stored = {"srcc": "srcc", "plcc": plcc_key}
    cache: dict = {}

    def run(metric: str, best, other) -> None:
        if stored.get(metric) not in TESTED_METRICS:
            return  # KRCC, RMSE, the logistic PLCC, per-distortion columns: not tested
        other.image_p = same_images_test(test, stored[metric], best.cells, other.cells, by_key, cache)
        other.image_tested = len(other.image_p)
        other.image_significant = sum(p < ALPHA for p in other.image_p.values())
        if other.image_tested and 2 * other.image_significant <= other.image_tested:
            other.mark += SAME_IMAGES_NOT_SIGNIFICANT

    return run
