"""The statistics behind the marks: Williams' t on a hand-computed case, the paired bootstrap over images against
scipy.stats.bootstrap, rank intervals and win probabilities against exact enumeration, and the marks of a
report against an independent recomputation from the stored predictions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from reports import image_test, rank_stability


def test_williams_t_hand_computed():
    # r(MOS, best) = 0.5, r(MOS, other) = 0.3, r(best, other) = 0.4, n = 20 (Steiger 1980, eq. 7):
    # |R| = 1 - .25 - .09 - .16 + 2(.5)(.3)(.4) = 0.62; mean r = 0.4; (1 - .4)^3 = 0.216
    # denominator = 2 (19/17) 0.62 + 0.16 * 0.216 = 1.3858824 + 0.03456 = 1.4204424
    # t = 0.2 * sqrt(19 * 1.4 / 1.4204424) = 0.2 * sqrt(18.726600) = 0.2 * 4.3274242 = 0.8654848
    t, p = image_test.williams_t(0.5, 0.3, 0.4, 20)
    assert t == pytest.approx(0.8654848, abs=1e-6)
    assert p == pytest.approx(2 * sps.t.sf(0.8654848, 17), abs=1e-6)  # df = n - 3
    assert image_test.williams_t(0.3, 0.5, 0.4, 20)[0] == pytest.approx(-t)  # antisymmetric
    assert image_test.williams_t(0.6, 0.6, 0.9, 50) == (0.0, 1.0)
    assert image_test.williams_t(0.7, 0.7, 1.0, 50) == (0.0, 1.0)  # identical predictions: nothing to test


def test_williams_p_uses_ranks_for_srcc():
    rng = np.random.default_rng(0)
    mos = rng.normal(size=60)
    a, b = mos + rng.normal(0, 0.3, 60), mos + rng.normal(0, 1.0, 60)
    rank = [sps.rankdata(v) for v in (mos, a, b)]
    r = np.corrcoef(rank)
    assert r[0, 1] == pytest.approx(sps.spearmanr(mos, a).statistic)
    assert image_test.williams_p("srcc", mos, a, b) == pytest.approx(
        image_test.williams_t(r[0, 1], r[0, 2], r[1, 2], 60)[1]
    )
    assert image_test.williams_p("plcc", mos, a, b) < 0.05  # a clearly better predictor is found so
    assert image_test.williams_p("plcc", mos, a, a) == 1.0
    assert image_test.williams_p("plcc", mos, a, np.full(60, 2.0)) is None  # a constant prediction: no r


def test_resampled_ranks_match_scipy_rankdata():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 6, 25).astype(float)  # many ties, and a resample duplicates images
    counts = image_test.resample_counts(25, 50, seed=4)
    idx = np.random.default_rng(4).integers(0, 25, (50, 25))
    for b in range(50):
        ranks = image_test.weighted_ranks(x, counts)[b]
        # the rank of an image in the resample = scipy's rank of any of its copies
        np.testing.assert_allclose(ranks[idx[b]], sps.rankdata(x[idx[b]]))


def test_paired_bootstrap_matches_scipy_bootstrap():
    """Same resampled images (scipy draws rng.integers(0, n, (B, n)) too), so the same percentile interval."""
    rng = np.random.default_rng(2)
    mos = rng.normal(size=30).round(1)
    a = mos + rng.normal(0, 0.5, 30)
    b = (mos + rng.normal(0, 0.8, 30)).round(1)
    for metric, fn in (("srcc", sps.spearmanr), ("plcc", sps.pearsonr)):
        d = image_test.bootstrap_differences(metric, mos, a, b, resamples=400, seed=7)
        ref = sps.bootstrap(
            (mos, a, b),
            lambda m, x, y, fn=fn: fn(m, x).statistic - fn(m, y).statistic,
            paired=True,
            vectorized=False,
            n_resamples=400,
            method="percentile",
            rng=np.random.default_rng(7),
        )
        np.testing.assert_allclose(ref.bootstrap_distribution, d, atol=1e-12)
        lo, hi = ref.confidence_interval
        p = image_test.bootstrap_p(metric, mos, a, b, resamples=400, seed=7)
        assert (p < 0.05) == (lo > 0 or hi < 0)


def test_rank_stability_against_exact_enumeration():
    # one column, three splits: A = (0.9, 0.8, 0.7), B = 0.85 on each. B's median is 0.85 in every resample; A beats it
    # when at least two of the three drawn splits are 0.9's: 3 (1/3)^2 (2/3) + (1/3)^3 = 7/27 of the 27 draws.
    a, b = [0.9, 0.8, 0.7], [0.85] * 3
    exact = np.mean([np.median([a[i] for i in d]) > 0.85 for d in itertools.product(range(3), repeat=3)])
    assert exact == pytest.approx(7 / 27)
    observed, boot = rank_stability.bootstrap_scores([np.array([a, b])], resamples=20000)
    assert observed.tolist() == [0.8, 0.85]
    wins = rank_stability.win_probabilities(boot)
    assert wins[0, 1] == pytest.approx(7 / 27, abs=0.015) and wins[1, 0] == pytest.approx(20 / 27, abs=0.015)
    assert math.isnan(wins[0, 0])
    lo, hi = rank_stability.rank_interval(rank_stability.ranks(boot))
    assert lo.tolist() == [1, 1] and hi.tolist() == [2, 2]
    assert rank_stability.ranks(observed).tolist() == [2, 1]


def test_rank_stability_over_columns_enumerated():
    # two columns of two splits each: a resample draws 2 columns (4 ordered pairs) and, per column, 2 splits
    # (4 draws): 4 * 4 * 4 = 64 equally likely resamples; a column drawn twice reuses its split draw.
    units = [np.array([[0.9, 0.5], [0.7, 0.7]]), np.array([[0.6, 0.6], [0.65, 0.55]])]
    wins = []
    for cols in itertools.product(range(2), repeat=2):
        for d0 in itertools.product(range(2), repeat=2):
            for d1 in itertools.product(range(2), repeat=2):
                draws = (d0, d1)
                s = [np.mean([np.median(units[c][r, list(draws[c])]) for c in cols]) for r in range(2)]
                wins.append((s[0] > s[1]) + 0.5 * (s[0] == s[1]))
    _, boot = rank_stability.bootstrap_scores(units, resamples=40000, seed=3)
    assert rank_stability.win_probabilities(boot)[0, 1] == pytest.approx(np.mean(wins), abs=0.01)


def test_lower_is_better_ranks():
    scores = np.array([[0.1, 0.2], [0.3, 0.1]])
    assert rank_stability.ranks(scores, higher_is_better=False).tolist() == [[1, 2], [2, 1]]
