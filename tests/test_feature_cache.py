"""Training from cached frozen features (methods/retrained/feature_cache.py, issue 29): a CLIP-IQA+ cell whose
image tower is frozen and in eval mode, with whole images and flips, trains from the tower's outputs computed once
per (image, flip) -- and predicts what the same cell predicts without the cache."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from methods.base import RunContext
from tests.fake_weights import one_torch_thread  # noqa: F401 (autouse)


@pytest.fixture(scope="module")
def demo():
    from bench.datasets import load_dataset

    ds = load_dataset("demo-a")
    return ds.subset(ds.ids[:5]), ds.subset(ds.ids[5:8])


@pytest.fixture()
def float64():
    import torch

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def whole_image_clipiqa(**over):
    """clipiqa+ on the tiny RN tower, whole images (as the paper preset), the authors' per-step cosine on 8 steps."""
    from methods.registry import get_method

    cls = get_method("clipiqa+")
    p = cls.make_params("ci")
    return cls, replace(
        p,
        **{
            "crop_size": 0,
            "test_mode": "full",
            "max_steps": 0,
            "schedule": "authors",
            "iterations": 8,
            "steps_per_block": 4,
            "batch_size": 2,
            "lr": 0.5,  # large, so that 8 steps move the context visibly
            **over,
        },
    )


def train(cls, params, train_set, tmp_path, cache: bool, tag: str):
    """Fit one cell; returns (method, tower passes per call of the tower, the tower's training flag per call)."""
    from bench.core.seeding import seed_everything

    m = cls(params, RunContext(seed=3, workdir=tmp_path / tag, feature_cache=cache))
    seed_everything(3)  # the model is built before fit (to watch its tower): the same initial context in both cells
    net = m._ensure_model().net
    tower, real, calls = m.model.tower, net.image_features, []
    tower.train()  # left in training mode: the engine must put the declared tower in eval mode, cached or not
    net.image_features = lambda x: (calls.append((len(x), tower.training)), real(x))[1]
    m.fit(train_set)
    net.image_features = real
    return m, calls


def test_cached_and_uncached_cells_predict_the_same_in_float64(demo, float64, tmp_path):
    """The same cell with and without the cache: the same context vectors, losses and test predictions; the
    tower runs twice per training image (as is, flipped) with the cache and once per sample of every step
    without, always in eval mode (BatchNorm running statistics, as the authors' CustomCLIP.forward)."""
    import torch

    from bench.core.seeding import seed_everything

    train_set, test_set = demo
    cls, p = whole_image_clipiqa()
    seed_everything(3)
    init = cls(p, RunContext(seed=3))._ensure_model().net.prompts.ctx["quality"].detach().clone()
    cached, cached_calls = train(cls, p, train_set, tmp_path, True, "cached")
    plain, plain_calls = train(cls, p, train_set, tmp_path, False, "plain")
    assert cached.context.facts["feature_cache"]["used"] is True
    assert cached.context.facts["feature_cache"]["variants"] == 2  # none / horizontal flip
    assert plain.context.facts["feature_cache"] == {"used": False, "why": "turned off for this run"}
    assert sum(n for n, _ in cached_calls) == 2 * len(train_set)
    assert sum(n for n, _ in plain_calls) == 8 * 2  # 8 steps of 2 images
    assert not any(mode for _, mode in cached_calls + plain_calls)
    ctx_cached = cached.model.net.prompts.ctx["quality"].detach()
    assert ctx_cached.dtype == torch.float64
    assert float((ctx_cached - init).norm()) > 1e-3, "training did not move the context: the test proves nothing"
    np.testing.assert_allclose(
        ctx_cached.numpy(), plain.model.net.prompts.ctx["quality"].detach().numpy(), rtol=0, atol=1e-9
    )
    for a, b in zip(cached.context.history, plain.context.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-9)
    np.testing.assert_allclose(cached.predict(test_set), plain.predict(test_set), rtol=0, atol=1e-6)


def test_the_cache_is_not_used_where_it_would_change_the_cell(demo, tmp_path):
    """Random crops are not a finite set of inputs, image pairs and a method's own loss bypass the pooled
    forward: the cell trains uncached and says why."""
    from methods.retrained.engine import TrainedRegressor
    from methods.retrained.feature_cache import cache_blocker

    train_set, _ = demo
    cls, p = whole_image_clipiqa(crop_size=64, test_mode="crops")
    assert cls.recipe(p, "demo-a", len(train_set))["feature_cache"].startswith("not used (random 64 px crops")
    m = cls(p, RunContext(seed=3, workdir=tmp_path))
    model = m._ensure_model()
    recipe = cls.recipe_for(p, "demo-a")
    assert "crops" in cache_blocker(m, model, recipe, TrainedRegressor.loss_terms)
    cls, p = whole_image_clipiqa()
    m = cls(p, RunContext(seed=3, workdir=tmp_path))
    model, recipe = m._ensure_model(), cls.recipe_for(p, "demo-a")
    assert cache_blocker(m, model, recipe, TrainedRegressor.loss_terms) == ""
    m.loss_terms = lambda net, x, y, y_std=None: {}
    assert "loss_terms" in cache_blocker(m, model, recipe, TrainedRegressor.loss_terms)


@pytest.mark.parametrize("hflip, vflip", [(False, False), (True, False), (False, True), (True, True)])
def test_each_flip_draw_picks_the_variant_computed_for_it(hflip, vflip):
    """The cache's variant k is the image flipped as FLIP_COMBOS (filtered by the recipe) says; a draw (h, v) of
    ``flip_draws`` must select exactly that variant, for every flip setting (no flips: the one variant)."""
    import torch

    from methods.retrained.feature_cache import FLIP_COMBOS, feature_batch, flip_draws, variant_count

    combos = [c for c in FLIP_COMBOS if (hflip or not c[0]) and (vflip or not c[1])]
    assert len(combos) == variant_count(hflip, vflip)
    features = torch.tensor([[[10.0 * i + k] for k in range(len(combos))] for i in range(6)])  # [6, variants, 1]
    index = torch.tensor([5, 0, 3, 3, 1, 2, 4, 0])
    got = feature_batch(features, index, hflip, vflip, torch.Generator().manual_seed(7))
    h, v = flip_draws(len(index), hflip, vflip, torch.Generator().manual_seed(7))
    for row, i, j in zip(got[:, 0, 0].tolist(), index.tolist(), range(len(index))):
        drawn = (bool(h[j]) if h is not None else False, bool(v[j]) if v is not None else False)
        assert row == 10.0 * i + combos.index(drawn)
