"""Medians, spreads, best/second ranks and the paired Wilcoxon test over splits.

Ranks use the value as printed (3 decimals), so two methods that print the same
number are tied: both bold (or both underlined), and the next distinct value is second.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

SPREADS = ("iqr", "minmax", "std", "ci", "none")
AGGREGATES = ("median", "mean")
ALPHA = 0.05
DECIMALS = 3
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed: the same store always prints the same interval
LOWER_IS_BETTER = frozenset({"rmse", "kl", "js", "w1"})


def aggregate(values: Sequence[float], kind: str = "median") -> float | None:
    import numpy as np

    if not len(values):
        return None
    return float(np.mean(values)) if kind == "mean" else float(np.median(values))


def bootstrap_ci(values: Sequence[float], kind: str = "median", level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the median (or mean) over splits, seeded."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    if v.size == 1:
        return float(v[0]), float(v[0])
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    samples = v[rng.integers(0, v.size, size=(BOOTSTRAP_RESAMPLES, v.size))]
    stat = samples.mean(axis=1) if kind == "mean" else np.median(samples, axis=1)
    lo, hi = np.percentile(stat, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


def median(values: Sequence[float]) -> float | None:
    import numpy as np

    return float(np.median(values)) if len(values) else None


def spread_bounds(values: Sequence[float], kind: str, aggregate_kind: str = "median") -> tuple[float, float] | None:
    """(low, high) for error bars: quartiles (linear percentiles), extremes, mean ± std, or the bootstrap
    95 % interval of the aggregate; None for 'none' or no values."""
    import numpy as np

    if kind not in SPREADS:
        raise ValueError(f"unknown spread {kind!r}; choose from {SPREADS}")
    if kind == "none" or len(values) == 0:
        return None
    if kind == "iqr":
        lo, hi = np.percentile(values, [25, 75])
        return float(lo), float(hi)
    if kind == "std":
        m, sd = float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        return m - sd, m + sd
    if kind == "ci":
        return bootstrap_ci(values, aggregate_kind)
    return float(np.min(values)), float(np.max(values))


def spread(values: Sequence[float], kind: str, aggregate_kind: str = "median") -> float | None:
    """Width of the spread: interquartile range, max - min, the std (not 2 std) or the interval's width."""
    bounds = spread_bounds(values, kind, aggregate_kind)
    if bounds is None:
        return None
    return (bounds[1] - bounds[0]) / 2 if kind == "std" else bounds[1] - bounds[0]


def distinct_splits(values: Mapping) -> dict:
    """Pair keys ``(split set, index, hash, seed)`` -> value, keeping one split per distinct content
    (split set, hash, seed): two indices that drew the same images are one observation, not two
    (the lowest index stands for them)."""
    out: dict = {}
    for key in sorted(values, key=lambda k: (str(k[0]), k[1] if isinstance(k[1], int) else -1, repr(k))):
        split_set, _, split_hash, seed = key
        content = (split_set, split_hash, seed) if split_hash else key
        out.setdefault(content, values[key])
    return out


def shown(value: float) -> float:
    return round(value, DECIMALS)


def dense_ranks(values: Mapping[str, float | None], higher_is_better: bool = True) -> dict[str, int]:
    """{row: 1 or 2} for the best and second-best printed values."""
    distinct = sorted({shown(v) for v in values.values() if v is not None}, reverse=higher_is_better)
    top = distinct[:2]
    return {row: top.index(shown(v)) + 1 for row, v in values.items() if v is not None and shown(v) in top}


def paired_wilcoxon(best: Mapping, other: Mapping) -> tuple[int, float | None]:
    """(number of shared splits, two-sided p) of scipy's Wilcoxon signed-rank test.

    Identical values on every shared split give p = 1 (no difference to test);
    no shared split gives p = None (not tested).
    """
    shared = sorted(set(best) & set(other), key=repr)
    n = len(shared)
    if n == 0:
        return 0, None
    x = [best[k] for k in shared]
    y = [other[k] for k in shared]
    if all(a == b for a, b in zip(x, y)):
        return n, 1.0
    from scipy.stats import wilcoxon

    p = float(wilcoxon(x, y).pvalue)
    return n, (p if math.isfinite(p) else 1.0)
