"""The per-distortion view's vectorised SRCC/PLCC (reports/grouped_metrics.py) against bench.core.metrics, group
by group: ties, constant predictions or scores, groups below MIN_SAMPLES, non-finite values."""

from __future__ import annotations

import math

import numpy as np

from bench.core.metrics import MetricSettings, compute_metrics
from reports.grouped_metrics import group_ranks, grouped_srcc_plcc


def test_group_ranks_are_scipy_average_ranks_per_group():
    from scipy.stats import rankdata

    rng = np.random.default_rng(0)
    group = rng.integers(0, 7, 300)
    values = rng.integers(0, 12, 300).astype(float)  # many ties
    ranks = group_ranks(group, values)
    for g in range(7):
        np.testing.assert_array_equal(ranks[group == g], rankdata(values[group == g]))


def test_grouped_srcc_plcc_equal_compute_metrics_within_rounding():
    rng = np.random.default_rng(1)
    parts, n_groups = [], 40
    for g in range(n_groups):
        n = int(rng.integers(1, 30))
        mos = rng.normal(size=n)
        pred = mos + rng.normal(size=n)
        if g % 7 == 0:
            pred[:] = 0.1  # constant predictions
        if g % 11 == 0:
            mos[:] = 3.0  # constant scores
        if g % 5 == 0:
            pred = np.round(pred, 1)  # ties
        if g % 13 == 0 and n > 3:
            pred[0] = np.nan  # a non-finite prediction
        parts.append((np.full(n, g), mos, pred))
    group, mos, pred = (np.concatenate(x) for x in zip(*parts))
    got = grouped_srcc_plcc(group, mos, pred, n_groups + 2)  # two empty groups at the end
    settings = MetricSettings(logistic="none", rmse_on="raw")
    checked = 0
    for g, (_, m, p) in enumerate(parts):
        want = compute_metrics(m, p, settings)
        for name in ("srcc", "plcc"):
            if math.isnan(want[name]):
                assert math.isnan(got[name][g]), (g, name)
            else:
                assert abs(got[name][g] - want[name]) <= 1e-12, (g, name, got[name][g], want[name])
                checked += 1
    assert checked > 40 and np.isnan(got["srcc"][-2:]).all()
