"""KL, exact JS and Wasserstein-1 between Gaussian score distributions: closed forms, scipy, and the scale rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.spatial.distance import jensenshannon

from bench.core.distribution import (
    distribution_metrics,
    js_gaussian,
    kl_gaussian,
    to_common_scale,
    w1_gaussian,
)

CASES = [(3.0, 0.5, 3.4, 0.7), (2.0, 0.05, 4.0, 1.2), (1.5, 0.3, 1.5, 0.9), (4.2, 0.8, 1.2, 0.02), (3.0, 1.0, 3.0, 1.0)]


def _quad(f, m1, s1, m2, s2):
    lo, hi = min(m1 - 12 * s1, m2 - 12 * s2), max(m1 + 12 * s1, m2 + 12 * s2)
    return integrate.quad(f, lo, hi, points=sorted({m1, m2}), limit=500, epsabs=1e-13, epsrel=1e-12)[0]


@pytest.mark.parametrize("m1,s1,m2,s2", CASES)
def test_kl_closed_form_against_adaptive_quadrature(m1, s1, m2, s2):
    p, q = stats.norm(m1, s1), stats.norm(m2, s2)
    ref = _quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), m1, s1, m2, s2)
    assert float(kl_gaussian(m1, s1, m2, s2)) == pytest.approx(ref, rel=1e-7, abs=1e-10)


@pytest.mark.parametrize("m1,s1,m2,s2", CASES)
def test_exact_js_against_adaptive_quadrature_and_scipy(m1, s1, m2, s2):
    p, q = stats.norm(m1, s1), stats.norm(m2, s2)

    def integrand(x):
        a, b = p.pdf(x), q.pdf(x)
        m = 0.5 * (a + b)
        return 0.5 * ((a * math.log(a / m) if a > 0 else 0.0) + (b * math.log(b / m) if b > 0 else 0.0))

    ref = _quad(integrand, m1, s1, m2, s2)
    got = float(js_gaussian(m1, s1, m2, s2)[0])
    assert got == pytest.approx(ref, rel=1e-4, abs=1e-9)
    assert 0.0 <= got <= math.log(2.0)
    # scipy's discrete JS distance (sqrt of the divergence, natural log) on a fine grid of bin masses
    grid = np.linspace(min(m1 - 10 * s1, m2 - 10 * s2), max(m1 + 10 * s1, m2 + 10 * s2), 100_001)
    pm, qm = np.diff(p.cdf(grid)), np.diff(q.cdf(grid))
    assert got == pytest.approx(jensenshannon(pm, qm) ** 2, rel=2e-3, abs=1e-7)


def test_js_is_not_the_moment_matched_approximation():
    """DeQA-Score's 'JS' puts a Gaussian with the mixture's moments in place of the mixture: another number."""
    m1, s1, m2, s2 = 2.0, 0.3, 4.0, 0.3
    sm = math.sqrt(0.5 * (s1**2 + s2**2))
    approx = 0.5 * float(kl_gaussian(m1, s1, 3.0, sm)) + 0.5 * float(kl_gaussian(m2, s2, 3.0, sm))
    exact = float(js_gaussian(m1, s1, m2, s2)[0])
    assert exact < math.log(2.0) < approx  # the approximation even exceeds the divergence's bound here


@pytest.mark.parametrize("m1,s1,m2,s2", CASES)
def test_w1_closed_forms_and_scipy(m1, s1, m2, s2):
    got = float(w1_gaussian(m1, s1, m2, s2)[0])
    ref = _quad(lambda x: abs(stats.norm.cdf(x, m1, s1) - stats.norm.cdf(x, m2, s2)), m1, s1, m2, s2)
    assert got == pytest.approx(ref, rel=1e-4, abs=1e-7)
    grid = np.linspace(min(m1 - 10 * s1, m2 - 10 * s2), max(m1 + 10 * s1, m2 + 10 * s2), 50_001)
    mid = 0.5 * (grid[1:] + grid[:-1])
    sp = stats.wasserstein_distance(
        mid, mid, np.diff(stats.norm.cdf(grid, m1, s1)), np.diff(stats.norm.cdf(grid, m2, s2))
    )
    assert got == pytest.approx(sp, rel=1e-3, abs=1e-6)


def test_w1_closed_forms():
    assert float(w1_gaussian(2.0, 0.4, 3.5, 0.4)[0]) == pytest.approx(1.5, rel=1e-6)  # equal spread: |dmu|
    # equal means: |ds| E|Z| = |ds| sqrt(2 / pi)
    assert float(w1_gaussian(3.0, 0.2, 3.0, 0.9)[0]) == pytest.approx(0.7 * math.sqrt(2 / math.pi), rel=1e-5)


def test_vectorised_and_chunked_like_one_by_one():
    rng = np.random.default_rng(0)
    n = 1300  # more than one block
    a, b, c, d = rng.uniform(1, 5, n), rng.uniform(0.05, 1, n), rng.uniform(1, 5, n), rng.uniform(0.05, 1, n)
    js, w1 = js_gaussian(a, b, c, d), w1_gaussian(a, b, c, d)
    for i in (0, 700, n - 1):
        assert js[i] == pytest.approx(float(js_gaussian(a[i], b[i], c[i], d[i])[0]), rel=1e-12)
        assert w1[i] == pytest.approx(float(w1_gaussian(a[i], b[i], c[i], d[i])[0]), rel=1e-12)


def test_scales_map_onto_one_to_five():
    m, s = to_common_scale([0.0, 50.0, 100.0], [10.0, 10.0, 10.0], (0.0, 100.0))
    assert m.tolist() == [1.0, 3.0, 5.0] and s.tolist() == pytest.approx([0.4] * 3)
    # the same distributions on two scales: identical metrics
    hm, hs = np.array([20.0, 60.0, 80.0]), np.array([8.0, 12.0, 5.0])
    pm, ps = np.array([2.0, 3.0, 4.1]), np.array([0.5, 0.4, 0.3])
    one = distribution_metrics(hm, hs, (0.0, 100.0), pm, ps, (1.0, 5.0))
    two = distribution_metrics(hm / 100, hs / 100, (0.0, 1.0), pm * 2, ps * 2, (2.0, 10.0))
    for k in ("kl", "js", "w1"):
        assert one[k] == pytest.approx(two[k], rel=1e-9)
    assert one["n_dist"] == 3 and not one["dist_flags"]
    # identical distributions: zero distance
    same = distribution_metrics(hm, hs, (0.0, 100.0), hm / 25 + 1, hs / 25, (1.0, 5.0))
    assert same["kl"] == pytest.approx(0.0, abs=1e-12) and same["js"] == pytest.approx(0.0, abs=1e-9)
    assert same["w1"] == pytest.approx(0.0, abs=1e-9)


def test_kl_direction_is_human_to_predicted():
    out = distribution_metrics([3.0], [0.2], (1.0, 5.0), [3.0], [0.8], (1.0, 5.0))
    assert out["kl"] == pytest.approx(float(kl_gaussian(3.0, 0.2, 3.0, 0.8)))
    assert out["kl"] != pytest.approx(float(kl_gaussian(3.0, 0.8, 3.0, 0.2)))


def test_no_fixed_scale_fits_a_line_and_says_so():
    hm, hs = np.array([1.5, 2.5, 3.5, 4.5]), np.array([0.3, 0.4, 0.3, 0.2])
    latent_m, latent_s = (hm - 3.0) * 10.0, hs * 10.0  # the same Gaussians on a scale 10x wider, shifted
    out = distribution_metrics(hm, hs, (1.0, 5.0), latent_m, latent_s, None)
    assert "dist_scale_fitted" in out["dist_flags"]
    assert out["kl"] == pytest.approx(0.0, abs=1e-9) and out["w1"] == pytest.approx(0.0, abs=1e-7)


def test_images_without_a_density_are_left_out_and_counted():
    out = distribution_metrics(
        [2.0, 3.0, 4.0], [0.3, 0.0, np.nan], (1.0, 5.0), [2.0, 3.0, 4.0], [0.3, 0.3, 0.3], (1, 5)
    )
    assert out["n_dist"] == 1 and out["dist_flags"] == ["dist_skipped:2"] and out["kl"] == pytest.approx(0.0)
    none = distribution_metrics([2.0], [0.0], (1.0, 5.0), [2.0], [0.3], (1.0, 5.0))
    assert none["kl"] is None and none["js"] is None and none["w1"] is None and none["n_dist"] == 0
