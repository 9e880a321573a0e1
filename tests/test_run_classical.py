"""The native NSS + kernel-ridge baseline on real image files written to tmp_path."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from bench.core.records import DatasetInfo, ImageRecord, ImageSet
from methods.base import RunContext
from methods.classical import NSSRegressor, aggd_fit, ggd_fit, nss_features


def _photo(rng, size=96):
    """A smooth random 'scene': low-frequency noise with edges."""
    from scipy.ndimage import gaussian_filter

    base = gaussian_filter(rng.normal(0, 1, (size, size)), 6)
    base = (base - base.min()) / np.ptp(base)
    base[size // 3 : size // 2, :] += 0.3
    return np.clip(base * 220, 0, 255)


@pytest.fixture(scope="module")
def image_set(tmp_path_factory) -> ImageSet:
    """Noise of increasing strength on 6 contents; quality = minus the noise level."""
    root = tmp_path_factory.mktemp("nss")
    rng = np.random.default_rng(0)
    records = []
    for c in range(6):
        clean = _photo(rng)
        for level in range(6):
            img = np.clip(clean + rng.normal(0, 4 * level, clean.shape), 0, 255).astype(np.uint8)
            path = root / f"c{c}_l{level}.png"
            Image.fromarray(img).save(path)
            records.append(
                ImageRecord(id=path.name, path=path, score=5.0 - level, raw_score=5.0 - level, ref_id=f"c{c}")
            )
    info = DatasetInfo("toy", "Toy", root, "demo", True, (0, 5), True, "rev0")
    return ImageSet(info, records)


def test_ggd_fit_recovers_shape():
    for alpha in (0.8, 2.0):
        x = stats.gennorm.rvs(alpha, size=200_000, random_state=1)
        a, var = ggd_fit(x)
        assert a == pytest.approx(alpha, rel=0.05)
        assert var == pytest.approx(np.var(x), rel=0.01)


def test_aggd_fit_is_symmetric_on_symmetric_data():
    x = np.random.default_rng(2).normal(0, 1, 100_000)
    alpha, mean, lvar, rvar = aggd_fit(x)
    assert alpha == pytest.approx(2.0, rel=0.1)
    assert abs(mean) < 0.02 and lvar == pytest.approx(rvar, rel=0.05)


def test_feature_count_and_determinism(image_set):
    img = np.asarray(Image.open(image_set.records[0].path), dtype=np.float64)
    f = nss_features(img, 2, True)
    assert f.shape == (36,) and np.all(np.isfinite(f))
    assert nss_features(img, 3, False).shape == (6,)
    assert np.array_equal(f, nss_features(img, 2, True))


def test_noise_changes_the_mscn_shape(image_set):
    clean = np.asarray(Image.open(image_set.records[0].path), dtype=np.float64)
    noisy = np.asarray(Image.open(image_set.records[5].path), dtype=np.float64)
    # white noise pushes MSCN coefficients towards a Gaussian (shape ~2); clean images are peakier
    assert nss_features(noisy, 1, False)[0] > nss_features(clean, 1, False)[0]


def _split(image_set, test_contents=("c4", "c5")):
    train = ImageSet(image_set.dataset, [r for r in image_set if r.ref_id not in test_contents])
    test = ImageSet(image_set.dataset, [r for r in image_set if r.ref_id in test_contents])
    return train, test


@pytest.mark.parametrize("regressor", ["krr", "ridge"])
def test_fit_predict_ranks_unseen_contents(image_set, regressor, tmp_path):
    train, test = _split(image_set)
    method = NSSRegressor(NSSRegressor.make_params("ci", regressor=regressor), RunContext(cache_dir=tmp_path))
    method.fit(train)
    pred = method.predict(test)
    assert pred.shape == (len(test),)
    assert stats.spearmanr(pred, test.scores)[0] > 0.8


def test_feature_cache_is_used_and_gives_identical_predictions(image_set, tmp_path):
    from methods import classical

    train, test = _split(image_set)
    preds = []
    for _ in range(2):
        classical._MEMO.clear()  # the second pass must come from the disk cache
        m = NSSRegressor(NSSRegressor.make_params("ci"), RunContext(cache_dir=tmp_path))
        m.fit(train)
        preds.append(m.predict(test))
    assert len(list((tmp_path / "nss-svr").glob("*.npy"))) == len(image_set)
    assert np.array_equal(preds[0], preds[1])
    classical._MEMO.clear()
    uncached = NSSRegressor(NSSRegressor.make_params("ci"), RunContext(cache_dir=None))
    uncached.fit(train)
    assert np.allclose(uncached.predict(test), preds[0])


def test_save_load_roundtrip(image_set, tmp_path):
    train, test = _split(image_set)
    m = NSSRegressor(NSSRegressor.make_params("ci"), RunContext())
    m.fit(train)
    m.save(tmp_path / "state.npz")
    m2 = NSSRegressor(NSSRegressor.make_params("ci"), RunContext())
    m2.load(tmp_path / "state.npz")
    assert np.allclose(m2.predict(test), m.predict(test))


def test_bad_parameters_are_clear_errors():
    with pytest.raises(ValueError, match="regressor"):
        NSSRegressor(NSSRegressor.make_params(regressor="svm"))
    with pytest.raises(ValueError, match="n_scales"):
        NSSRegressor(NSSRegressor.make_params(n_scales=0))
    with pytest.raises(RuntimeError, match="before fit"):
        NSSRegressor().predict(ImageSet(DatasetInfo("x", "x", Path("."), "demo", False, (0, 1), True, "r"), []))
