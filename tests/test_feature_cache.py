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
    m = cls(params, RunContext(seed=3, workdir=tmp_path / tag, feature_cache=cache))
    m.fit(train_set)
    return m


def test_cached_and_uncached_cells_predict_the_same_in_float64(demo, float64, tmp_path):
    import torch

    train_set, test_set = demo
    cls, p = whole_image_clipiqa()
    init = cls(p, RunContext(seed=3))._ensure_model().net.prompts.ctx["quality"].detach().clone()
    cached = train(cls, p, train_set, tmp_path, True, "cached")
    plain = train(cls, p, train_set, tmp_path, False, "plain")
    assert cached.context.facts["feature_cache"]["used"] is True
    assert cached.context.facts["feature_cache"]["variants"] == 2  # none / horizontal flip
    assert plain.context.facts["feature_cache"] == {"used": False, "why": "turned off for this run"}
    ctx_cached = cached.model.net.prompts.ctx["quality"].detach()
    assert ctx_cached.dtype == torch.float64
    assert float((ctx_cached - init).norm()) > 1e-3, "training did not move the context: the test proves nothing"
    np.testing.assert_allclose(
        ctx_cached.numpy(), plain.model.net.prompts.ctx["quality"].detach().numpy(), rtol=0, atol=1e-9
    )
    for a, b in zip(cached.context.history, plain.context.history):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-9)
    np.testing.assert_allclose(cached.predict(test_set), plain.predict(test_set), rtol=0, atol=1e-6)


def test_the_tower_runs_once_per_image_and_flip(demo, tmp_path):
    """Cached: 2 tower passes per training image (as is, flipped), then none while training; uncached: one per
    sample of every step."""
    train_set, _ = demo
    cls, p = whole_image_clipiqa()
    seen = {}
    for cache in (True, False):
        m = cls(p, RunContext(seed=3, workdir=tmp_path / str(cache), feature_cache=cache))
        net = m._ensure_model().net
        real = net.image_features
        count = []
        net.image_features = lambda x, real=real, count=count: (count.append(len(x)), real(x))[1]
        m.fit(train_set)
        seen[cache] = sum(count)
    assert seen[True] == 2 * len(train_set)
    assert seen[False] == 8 * 2  # 8 steps of 2 images


def test_the_cache_is_not_used_where_it_would_change_the_cell(demo, tmp_path):
    """Random crops are not a finite set of inputs: the cell trains uncached, and says why."""
    train_set, _ = demo
    cls, p = whole_image_clipiqa(crop_size=64, test_mode="crops")
    m = train(cls, p, train_set, tmp_path, True, "crops")
    assert m.context.facts["feature_cache"]["used"] is False
    assert "crops" in m.context.facts["feature_cache"]["why"]
    r = cls.recipe(p, "demo-a", len(train_set))
    assert r["feature_cache"].startswith("not used (random 64 px crops")


def test_a_tower_left_in_train_mode_is_put_in_eval_mode(demo, tmp_path):
    """The engine keeps the declared tower in eval mode in both paths (BatchNorm running statistics), so its
    output depends on the image alone, as the authors' CustomCLIP.forward makes it."""
    train_set, _ = demo
    cls, p = whole_image_clipiqa()
    m = cls(p, RunContext(seed=3, workdir=tmp_path, feature_cache=False))
    tower = m._ensure_model().tower
    tower.train()
    modes = []
    real = m.model.net.image_features
    m.model.net.image_features = lambda x: (modes.append(tower.training), real(x))[1]
    m.fit(train_set)
    assert modes and not any(modes)
