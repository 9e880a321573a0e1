"""CLIP-IQA+ at its authors' budget (issue 29): IceClear/CLIP-IQA configs/clipiqa/clipiqa_coop_koniq.py runs SGD
for 300,000 iterations (total_iters 500000, but mmcv's CosineRestart stops the run at its one 300,000 period) with
the lr set every iteration by the cosine to min_lr 1e-7, on KonIQ-10k's 1024x768 images. The earlier 50 passes
with the cosine per epoch stay available as ``schedule=compressed``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bench.core.records import DatasetInfo, ImageRecord, ImageSet
from methods.base import RunContext


def clipiqa_plus():
    from methods.registry import get_method

    return get_method("clipiqa+")


def mmcv_cosine_restart(t: int, base: float = 2e-3, min_lr: float = 1e-7, period: int = 300_000) -> float:
    """mmcv lr_updater.py CosineRestartLrUpdaterHook.get_lr with periods [period], restart_weights [1]."""
    if t >= period:
        raise ValueError(f"Current iteration {t} exceeds cumulative_periods [{period}]")  # as mmcv
    alpha = min(t / period, 1)
    return min_lr + 0.5 * (base - min_lr) * (math.cos(math.pi * alpha) + 1)


@pytest.mark.parametrize("dataset, n", [("koniq10k", 8058), ("livec", 930), ("kadid10k", 8100)])
def test_the_paper_preset_runs_the_authors_300000_steps(dataset, n):
    cls = clipiqa_plus()
    p = cls.make_params("paper")
    r = cls.recipe(p, dataset, n)
    assert r["optimizer_steps"] == 300_000 and r["batch_size"] == 128
    assert r["samples_seen"] == 300_000 * 128
    assert r["drop_last"] is True and r["feature_cache"] and not r["feature_cache"].startswith("not used")
    (phase,) = cls.recipe_for(p, dataset).phases
    assert phase.steps_per_epoch * phase.epochs == 300_000
    for t in (0, 1, 9_999, 10_000, 150_000, 299_999):
        e = t // phase.steps_per_epoch
        assert phase.lr_at_step("head", e, t) == pytest.approx(mmcv_cosine_restart(t), rel=1e-9)
    assert phase.lr_table["head"][1] == pytest.approx(mmcv_cosine_restart(10_000), rel=1e-9)


def test_the_compressed_schedule_is_a_named_variant():
    cls = clipiqa_plus()
    r = cls.recipe(cls.make_params("paper", schedule="compressed"), "livec", 930)
    assert r["epochs"] == 50 and r["optimizer_steps"] == 50 * (930 // 128)
    assert "lr_per_step" not in r["schedule"][0]
    with pytest.raises(ValueError, match="schedule='fast'"):
        cls.recipe(cls.make_params("paper", schedule="fast"), "livec", 930)


def test_iterations_must_fill_whole_blocks():
    cls = clipiqa_plus()
    with pytest.raises(ValueError, match="multiple of steps_per_block"):
        cls.recipe(cls.make_params("paper", iterations=25_000), "livec", 930)


def _info(root: Path) -> DatasetInfo:
    return DatasetInfo("koniq10k", "KonIQ-10k", root, "official", False, (1.0, 5.0), True, "rev")


def test_koniq_at_half_size_is_refused_at_plan_time_unless_asked(tmp_path):
    from methods.clipiqa_plus import ClipIQAPlusConfigError

    cls = clipiqa_plus()
    (tmp_path / "512x384").mkdir()
    with pytest.raises(ClipIQAPlusConfigError, match="1024x768.*allow_half_size=true"):
        cls.check_plan(cls.make_params("paper"), _info(tmp_path))
    assert cls.check_plan(cls.make_params("paper", allow_half_size=True), _info(tmp_path)) == []
    (tmp_path / "1024x768").mkdir()  # both copies: the loader takes 1024x768
    assert cls.check_plan(cls.make_params("paper"), _info(tmp_path)) == []


def test_koniq_at_half_size_is_refused_before_training(tmp_path):
    """Whatever the layout, fit looks at the images: 512x384 KonIQ images stop the cell before any step."""
    from PIL import Image

    from methods.clipiqa_plus import ClipIQAPlusConfigError

    recs = []
    for k in range(2):
        path = tmp_path / f"{k}.png"
        Image.fromarray(np.zeros((384, 512, 3), dtype=np.uint8)).save(path)
        recs.append(ImageRecord(id=path.name, path=path, score=float(k + 1), raw_score=float(k + 1)))
    cls = clipiqa_plus()
    m = cls(cls.make_params("paper"), RunContext(seed=0, workdir=tmp_path))
    m._ensure_model = lambda: pytest.fail("no model may be built for a refused cell")
    with pytest.raises(ClipIQAPlusConfigError, match="512x384"):
        m.fit(ImageSet(_info(tmp_path), recs))


def test_the_study_estimate_counts_tower_passes_and_cached_steps():
    """A cell trained from cached features costs its tower passes (training images x flips) at the inference
    rate plus a fixed cost per step, not 128 image passes per step at the training rate."""
    from bench.study.estimate import CACHED_STEP_SECONDS, DEFAULT_THROUGHPUT, cell_cost

    cls = clipiqa_plus()
    p = cls.make_params("paper")
    steps, samples, seconds = cell_cost(cls, p, "koniq10k", 8058, 2015, DEFAULT_THROUGHPUT)
    infer = DEFAULT_THROUGHPUT["infer_samples_per_s"]
    assert steps == 300_000 and samples == 300_000 * 128
    assert seconds == pytest.approx(8058 * 2 / infer + 300_000 * CACHED_STEP_SECONDS + 2015 / infer)
    compressed_steps, _, compressed_s = cell_cost(
        cls, cls.make_params("paper", schedule="compressed"), "koniq10k", 8058, 2015, DEFAULT_THROUGHPUT
    )  # the compressed variant trains from the cache too
    assert compressed_steps == 50 * (8058 // 128)
    assert compressed_s == pytest.approx(8058 * 2 / infer + compressed_steps * CACHED_STEP_SECONDS + 2015 / infer)
