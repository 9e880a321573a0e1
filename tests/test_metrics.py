import math

import numpy as np
import pytest
from scipy import stats

from bench.core.metrics import MetricSettings, compute_metrics, fit_logistic4, logistic4


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    mos = rng.uniform(1, 5, 200)
    pred = np.tanh(mos - 3) + rng.normal(0, 0.2, 200)  # monotone but non-linear
    return mos, pred


def test_correlations_match_scipy(pair):
    mos, pred = pair
    m = compute_metrics(mos, pred)
    assert m["srcc"] == pytest.approx(stats.spearmanr(pred, mos)[0], abs=1e-12)
    assert m["krcc"] == pytest.approx(stats.kendalltau(pred, mos)[0], abs=1e-12)
    assert m["plcc"] == pytest.approx(stats.pearsonr(pred, mos)[0], abs=1e-12)
    assert m["flags"] == [] and m["n"] == 200


def test_logistic_plcc_and_rmse_use_the_fitted_mapping(pair):
    mos, pred = pair
    m = compute_metrics(mos, pred)
    beta = fit_logistic4(pred, mos)
    mapped = logistic4(pred, *beta)
    assert m["plcc_logistic"] == pytest.approx(stats.pearsonr(mapped, mos)[0], abs=1e-9)
    assert m["plcc_logistic"] > m["plcc"]  # the logistic straightens the tanh
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((mapped - mos) ** 2)), abs=1e-9)


def test_logistic_recovers_known_parameters():
    x = np.linspace(-3, 3, 100)
    y = logistic4(x, 5.0, 1.0, 0.5, 0.8)
    beta = fit_logistic4(x, y)
    assert np.allclose(logistic4(x, *beta), y, atol=1e-6)


def test_raw_settings():
    mos = np.arange(10.0)
    pred = mos * 2 + 1
    m = compute_metrics(mos, pred, MetricSettings(logistic="none", rmse_on="raw"))
    assert m["plcc_logistic"] is None
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((pred - mos) ** 2)))
    with pytest.raises(ValueError, match="logistic"):
        MetricSettings(logistic="cubic")


def test_negative_correlation_is_reported_as_is():
    mos = np.arange(20.0)
    assert compute_metrics(mos, -mos)["srcc"] == pytest.approx(-1.0)


def test_constant_predictions_are_flagged_not_a_crash():
    m = compute_metrics(np.arange(10.0), np.full(10, 3.0))
    assert "constant_predictions" in m["flags"]
    assert math.isnan(m["srcc"]) and math.isnan(m["plcc"]) and math.isnan(m["krcc"])
    assert m["rmse"] == pytest.approx(np.std(np.arange(10.0)))


def test_nan_predictions_are_dropped_and_flagged():
    mos = np.arange(10.0)
    pred = mos.copy()
    pred[[2, 5]] = np.nan
    m = compute_metrics(mos, pred)
    assert m["flags"] == ["non_finite_predictions:2"] and m["n"] == 8
    assert m["srcc"] == pytest.approx(1.0)
    all_nan = compute_metrics(mos, np.full(10, np.nan))
    assert "too_few_samples:0" in all_nan["flags"] and math.isnan(all_nan["srcc"])


def test_wrong_length_is_an_error():
    with pytest.raises(ValueError, match="one score per image"):
        compute_metrics(np.arange(5.0), np.arange(4.0))
