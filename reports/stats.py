"""Medians, spreads, best/second ranks and the paired Wilcoxon test over splits.

Ranks use the value as printed (3 decimals), so two methods that print the same
number are tied: both bold (or both underlined), and the next distinct value is second.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

SPREADS = ("iqr", "minmax", "none")
ALPHA = 0.05
DECIMALS = 3


def median(values: Sequence[float]) -> float | None:
    import numpy as np

    return float(np.median(values)) if len(values) else None


def spread_bounds(values: Sequence[float], kind: str) -> tuple[float, float] | None:
    """(low, high) for error bars: quartiles (linear percentiles) or extremes; None for 'none' or no values."""
    import numpy as np

    if kind not in SPREADS:
        raise ValueError(f"unknown spread {kind!r}; choose from {SPREADS}")
    if kind == "none" or len(values) == 0:
        return None
    if kind == "iqr":
        lo, hi = np.percentile(values, [25, 75])
        return float(lo), float(hi)
    return float(np.min(values)), float(np.max(values))


def spread(values: Sequence[float], kind: str) -> float | None:
    """Width of the spread: interquartile range or max - min."""
    bounds = spread_bounds(values, kind)
    return None if bounds is None else bounds[1] - bounds[0]


def shown(value: float) -> float:
    return round(value, DECIMALS)


def dense_ranks(values: Mapping[str, float | None]) -> dict[str, int]:
    """{row: 1 or 2} for the best and second-best printed values; higher is better."""
    distinct = sorted({shown(v) for v in values.values() if v is not None}, reverse=True)
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
