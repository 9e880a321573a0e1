"""MP-IQE training as issue 10 asks: both batch readings, per-term history, labels at plan time,
validation selection, score scales, bf16 numerics, window pooling (tiny open_clip config, CPU)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

import torch.nn.functional as F  # noqa: E402

from bench.data.device_input import to_unit  # noqa: E402
from bench.data.images import CropDataset  # noqa: E402
from methods.base import RunContext  # noqa: E402
from methods.mpiqe import MPIQE, MissingLabels, VisualOnly  # noqa: E402
from methods.mpiqe import train as T  # noqa: E402
from methods.mpiqe.data import CropSamples, training_samples  # noqa: E402
from tests.demo_images import random_subset as _subset  # noqa: E402 (demo_small: tests/conftest.py)

CPU = torch.device("cpu")


# --- both readings of the batch -------------------------------------------------------------
@pytest.mark.parametrize(
    "dataset,n,crop_steps,image_steps",
    [
        ("livec", 930, (930 * 8) // 64 * 30, math.ceil(930 / 64) * 30),  # 3480 vs 450
        ("koniq10k", 8058, (8058 * 8) // 64 * 30, math.ceil(8058 / 64) * 30),  # 30210 vs 3780
        ("live", 623, (623 * 8) // 32 * 30, math.ceil(623 / 32) * 30),  # batch 32 on LIVE
    ],
)
def test_recipe_counts_steps_and_samples_under_both_readings(dataset, n, crop_steps, image_steps):
    r = MPIQE.recipe(MPIQE.make_params("paper"), dataset, n)
    assert r["batch_unit"] == "crop" and r["optimizer_steps"] == crop_steps
    assert r["readings"]["crop"]["optimizer_steps"] == crop_steps
    assert r["readings"]["image"]["optimizer_steps"] == image_steps
    assert r["readings"]["image"]["samples_seen"] == n * 30  # images
    assert r["readings"]["crop"]["samples_seen"] == crop_steps * r["batch_size"]  # crops
    image = MPIQE.recipe(MPIQE.make_params("paper", batch_unit="image"), dataset, n)
    assert image["optimizer_steps"] == image_steps and image["samples_seen"] == n * 30
    from methods.recipes import RECIPE_KEYS

    assert set(RECIPE_KEYS) <= set(r)
    assert "DEIQT" in r["sources"]["batch_unit"]
    assert VisualOnly.recipe(VisualOnly.make_params("paper"), dataset, n)["optimizer_steps"] == crop_steps


@pytest.mark.parametrize("unit", ["crop", "image"])
def test_a_fit_takes_the_steps_its_recipe_says(demo_small, unit):
    train = _subset(demo_small, 7)
    params = MPIQE.make_params("ci", epochs=2, batch_unit=unit, batch_size=4)
    ctx = RunContext(seed=0)
    MPIQE(params, ctx).fit(train)
    recipe = MPIQE.recipe(params, train.dataset.name, len(train))
    # crop: 14 crops -> 3 batches of 4 (last dropped); image: 7 images -> 2 batches (last kept)
    assert ctx.facts["optimizer_steps"] == recipe["optimizer_steps"] == (6 if unit == "crop" else 4)
    assert [row["epoch"] for row in ctx.history] == [1, 2]


def test_crop_samples_are_the_image_readings_crops_one_per_item(demo_small):
    recs = demo_small.records[:3]
    per_image = CropDataset(recs, n_crops=4, crop_size=64, train=True, seed=5)
    per_crop = CropSamples(recs, n_crops=4, crop_size=64, seed=5)
    assert len(per_crop) == 12
    for epoch in (0, 3):
        per_image.set_epoch(epoch)
        per_crop.set_epoch(epoch)
        for i in range(3):
            crops = per_image[i]["crops"]
            for j in range(4):
                item = per_crop[i * 4 + j]
                assert item["crops"].shape == (1, 3, 64, 64) and item["index"] == i
                assert torch.equal(item["crops"][0], crops[j])


# --- per-term losses in the history ---------------------------------------------------------
@pytest.mark.parametrize("unit", ["crop", "image"])
def test_history_terms_equal_the_terms_written_out_for_one_batch(demo_small, unit):
    train = _subset(demo_small, 4)
    m = MPIQE(MPIQE.make_params("ci", epochs=1, warmup_epochs=0, batch_unit=unit, batch_size=64))
    m.build()
    before = {k: v.detach().clone() for k, v in m.model.trainable_state().items()}
    weights = T.LossWeights(scene=1.0, dist=1.0, score=0.5, beta=0.1)
    lo, span = T.score_map("unit", train.scores, train.dataset.raw_scale)
    data = training_samples(train.records, unit, 2, 64, seed=0)
    rows = []
    T.fit(
        m.model,
        data,
        epochs=1,
        warmup_epochs=0,
        lr=1e-3,
        min_lr=0.0,
        weight_decay=0.0,
        batch_size=64,
        weights=weights,
        score_map=(lo, span),
        device=CPU,
        amp="off",
        on_epoch=lambda e, row: rows.append(row),
    )
    assert len(rows) == 1  # one batch: the whole training set

    m.model.load_state_dict(before, strict=False)  # the model as the step saw it
    m.model.train()
    data.set_epoch(0)
    items = [data[i] for i in range(len(data))]
    crops = to_unit(torch.stack([it["crops"] for it in items]))  # [samples, k, 3, s, s] uint8 -> [0, 1]
    k = crops.shape[1]
    mos = (torch.tensor([it["score"] for it in items], dtype=torch.float64) - lo) / span
    with torch.no_grad():
        out = m.model(crops.flatten(0, 1))
    score = out["score"].view(-1, k).mean(1)  # crop: k = 1, each crop its own sample
    l_score = F.smooth_l1_loss(score, mos.float(), beta=0.1)
    scene = torch.stack([it["scene"] for it in items]).repeat_interleave(k, 0)
    l_scene = -(scene * F.log_softmax(out["scene_logits"], -1)).sum(-1).mean()
    dist = torch.tensor([it["distortion"] for it in items]).repeat_interleave(k, 0)
    l_dist = F.cross_entropy(out["dist_logits"], dist)
    row = rows[0]
    assert row["loss_score"] == pytest.approx(float(l_score), rel=1e-4)
    assert row["loss_scene"] == pytest.approx(float(l_scene), rel=1e-4)
    assert row["loss_dist"] == pytest.approx(float(l_dist), rel=1e-4)
    assert row["loss"] == pytest.approx(float(l_scene + l_dist + 0.5 * l_score), rel=1e-4)
    assert row["lr"] == pytest.approx(1e-3) and row["seconds"] > 0


def test_cell_history_has_the_contract_names_and_the_losses_in_force(demo_small):
    ctx = RunContext(seed=0)
    MPIQE(MPIQE.make_params("ci", epochs=2, use_distortion_prompts=False), ctx).fit(_subset(demo_small, 4))
    assert [set(r) for r in ctx.history] == [
        {"epoch", "lr", "seconds", "loss", "loss_score", "loss_scene", "loss_dist"}
    ] * 2
    assert all(r["loss_dist"] is None and r["loss_scene"] > 0 for r in ctx.history)  # the term is off
    eff = ctx.facts["effective_losses"]
    assert eff["dist"] == 0.0 and eff["scene"] == 1.0 and eff["score"] == 0.5 and eff["batch_unit"] == "crop"
    assert ctx.facts["selected_epoch"] == 2


# --- labels -----------------------------------------------------------------------------------
def test_paper_preset_refuses_unlabelled_data_at_plan_time(tmp_path):
    from bench.data.datasets.fixtures import write_fixture
    from bench.run.planning import plan
    from protocols import Options

    root = write_fixture(tmp_path / "data", "livec", layout="pyiqa", labels=False)
    write_fixture(root, "koniq10k", layout="pyiqa", labels=False)
    opts = Options(train=("livec",), test=("koniq10k",), n_splits=1)
    kwargs = dict(preset="paper", data_kwargs={"data_root": str(root)})
    with pytest.raises(MissingLabels) as err:
        plan("cross", ["mpiqe"], opts, param_overrides={"mpiqe": {"pretrained": "none"}}, **kwargs)
    msg = str(err.value)
    assert "clive_{train,val,test}_clip.txt" in msg and "--labels" in msg
    assert "--param mpiqe.allow_missing_labels=true" in msg  # method-scoped: visual-only has no such param
    notes: list[str] = []
    tasks = plan(
        "cross",
        ["mpiqe", "visual-only"],
        opts,
        notes=notes,
        param_overrides={
            "mpiqe": {"pretrained": "none", "allow_missing_labels": True},
            "visual-only": {"pretrained": "none"},
        },
        **kwargs,
    )
    assert len(tasks) == 2 and len(notes) == 1 and "L_scene and L_dist off" in notes[0]
    # an ablation without the scene branch needs only the distortion labels
    info = dataclasses.replace(_info(root, "livec"), has_distortion_labels=True)
    assert MPIQE.check_plan(MPIQE.make_params("paper", use_scene_prompts=False), info) == []
    with pytest.raises(MissingLabels, match="scene"):
        MPIQE.check_plan(MPIQE.make_params("paper"), info)


def test_lambda1_zero_needs_no_distortion_labels_at_plan_or_fit_time(demo_small):
    """lambda1 = 0 switches L_dist off by choice: no distortion labels needed, no 'labels missing' note."""
    base = _subset(demo_small, 4)
    info = dataclasses.replace(base.dataset, has_distortion_labels=False)
    unlabelled = type(base)(info, [dataclasses.replace(r, distortion_class=None) for r in base.records])
    params = MPIQE.make_params("ci", epochs=1, lambda1=0.0, allow_missing_labels=False)
    assert MPIQE.check_plan(params, info) == []
    ctx = RunContext(seed=0)
    MPIQE(params, ctx).fit(unlabelled)
    assert ctx.facts["effective_losses"]["dist"] == 0.0 and ctx.facts["effective_losses"]["scene"] == 1.0
    assert not any("distortion" in n for n in ctx.notes), ctx.notes
    assert all(r["loss_dist"] is None and r["loss_scene"] is not None for r in ctx.history)
    strict = MPIQE.make_params("ci", epochs=1, allow_missing_labels=False)  # lambda1 = 1: refused
    with pytest.raises(MissingLabels, match="mpiqe.allow_missing_labels=true"):
        MPIQE.check_plan(strict, info)
    with pytest.raises(MissingLabels):
        MPIQE(strict, RunContext(seed=0)).fit(unlabelled)
    allowed = MPIQE.make_params("ci", epochs=1)  # allowed: off, and said so
    ctx = RunContext(seed=0)
    MPIQE(allowed, ctx).fit(unlabelled)
    assert ctx.facts["effective_losses"]["dist"] == 0.0 and any("L_dist) off" in n for n in ctx.notes)
    assert all(r["loss_dist"] is None for r in ctx.history)


def _info(root, name):
    from bench.data.datasets import load_dataset

    return load_dataset(name, data_root=root).dataset


def test_dry_run_shows_the_missing_labels_error(tmp_path, capsys):
    from bench.cli import main
    from bench.data.datasets.fixtures import write_fixture

    root = write_fixture(tmp_path / "data", "livec", layout="pyiqa", labels=False)
    write_fixture(root, "koniq10k", layout="pyiqa", labels=False)
    code = main(
        [
            "run",
            "--protocol",
            "cross",
            "--train",
            "livec",
            "--test",
            "koniq10k",
            "--method",
            "mpiqe",
            "--data-root",
            str(root),
            "--param",
            "pretrained=none",
            "--dry-run",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2 and "--labels" in capsys.readouterr().err


# --- validation selection and score scales -----------------------------------------------------
def test_select_on_val_keeps_the_best_validation_epoch(demo_small):
    train, val = _subset(demo_small, 6, seed=0), _subset(demo_small, 5, seed=3)
    ctx = RunContext(seed=0, select_on="val")
    m = MPIQE(MPIQE.make_params("ci", epochs=3, warmup_epochs=0, lr=2e-2), ctx)
    m.fit(train, val)
    srcc = [r["val_srcc"] for r in ctx.history]
    assert all(s is None or -1 <= s <= 1 for s in srcc)
    best = int(np.nanargmax([-2 if s is None else s for s in srcc])) + 1
    assert ctx.facts["selected_epoch"] == best
    from scipy.stats import spearmanr

    pred = m.predict(val)
    if srcc[best - 1] is not None:  # the kept model is that epoch's model
        assert spearmanr(val.scores, pred)[0] == pytest.approx(srcc[best - 1], abs=1e-9)
    with pytest.raises(Exception, match="--val-fraction"):
        MPIQE(MPIQE.make_params("ci", epochs=1), RunContext(select_on="val")).fit(train)


@pytest.mark.parametrize("scale,expect", [("unit", None), ("raw", (0.0, 1.0)), ("0-100", (1.0, 0.04))])
def test_score_scales_and_predictions_on_the_score_scale(demo_small, scale, expect):
    train = _subset(demo_small, 4)
    lo, span = T.score_map(scale, train.scores, train.dataset.raw_scale)  # demo raw_scale (1, 5)
    if expect is None:
        assert (lo, span) == pytest.approx((train.scores.min(), np.ptp(train.scores)))
    else:
        assert (lo, span) == pytest.approx(expect)
    m = MPIQE(MPIQE.make_params("ci", epochs=1, score_scale=scale))
    m.fit(train)
    assert np.allclose(m.predict(train), m._predict_raw(train) * span + lo)


# --- bf16 numerics ---------------------------------------------------------------------------
def _tiny(**over):
    from methods.clip_backbone import TINY_BACKBONE, create_clip
    from methods.mpiqe.model import ModelConfig, MPIQEModel

    torch.manual_seed(0)
    clip, info = create_clip(TINY_BACKBONE, "none")
    cfg = ModelConfig(**{"decoder_heads": 4, "head_hidden": 16, "window": 2, **over})
    return MPIQEModel(clip, open_clip.get_tokenizer(TINY_BACKBONE), cfg, info.mean, info.std)


def test_bf16_alignment_logits_agree_with_fp32_and_stay_fp32():
    """Stated tolerance: alignment logits within 1.0 (= 0.01 in cosine at T = 0.01), score within 1e-2.
    The remaining difference is the bf16 ViT blocks; projection, similarities, logits and head are fp32."""
    model = _tiny(window=2)
    model.eval()
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
    for key in ("scene_logits", "dist_logits", "score"):
        assert out[key].dtype == torch.float32, key
    assert (out["scene_logits"] - ref["scene_logits"]).abs().max() < 1.0
    assert (out["dist_logits"] - ref["dist_logits"]).abs().max() < 1.0
    assert (out["score"] - ref["score"]).abs().max() < 1e-2


def test_micro_batched_and_one_pass_gradients_agree_under_bf16():
    """Stated tolerance under CPU bf16 autocast: relative gradient difference <= 1e-2 per tensor."""
    batch = {
        "crops": torch.rand(4, 2, 3, 64, 64, generator=torch.Generator().manual_seed(2)),
        "target": torch.tensor([0.1, 0.4, 0.6, 0.9]),
        "scene": torch.tensor([[1.0] + [0] * 8, [0.0] * 9, [0.5, 0.5] + [0] * 7, [0] * 8 + [1.0]]),
        "distortion": torch.tensor([1, -1, 4, 10]),
    }
    grads = []
    for micro in (4, 1):
        model = _tiny()
        model.train()
        opt = T.make_optimizer(model, lr=0.0, weight_decay=0.0)
        T.train_step(model, opt, batch, T.LossWeights(), CPU, micro_images=micro, autocast=T.autocast_for(CPU, "bf16"))
        grads.append({k: p.grad.clone() for k, p in model.trainable_parameters().items()})
    for k in grads[0]:
        rel = (grads[0][k] - grads[1][k]).norm() / grads[0][k].norm().clamp_min(1e-12)
        assert rel <= 1e-2, (k, float(rel))


@pytest.mark.parametrize("pool", ["before", "after"])
def test_fp32_islands_are_exactly_fp32_math_on_the_bf16_vit_output(pool):
    """Under bf16 autocast only the ViT blocks and decoder layers may round: projection, similarities,
    window softmax, logits and head give exactly what fp32 math gives on the bf16 ViT output and decoder
    output. (A bf16 projection moves the scene logits by ~0.2, a bf16 head the score by ~1e-3: the
    looser tolerance test above would not see either.) The text pass is fp32 under autocast too."""
    from methods.mpiqe.model import _cos, _window_max

    model = _tiny(window=2, window_pool=pool)
    model.eval()
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    seen = {}
    model.visual.register_forward_hook(lambda mod, args, out: seen.__setitem__("vit", out))
    model.decoder.layers[-1].register_forward_hook(lambda mod, args, out: seen.__setitem__("q", out))
    with torch.no_grad():
        text = model.text_features()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x, text)
            text_bf16 = model.text_features()
        cls, patches = seen["vit"]
        assert cls.dtype == torch.bfloat16  # the blocks did run in bf16
        for name in text:
            assert text_bf16[name].dtype == torch.float32
            assert torch.allclose(text_bf16[name], text[name], atol=1e-6, rtol=0)
        gh, gw = model.visual.grid
        vit = model.visual.visual  # CLIP's ln_post + proj, applied here in fp32

        def project(tokens):
            return vit.ln_post(tokens.float()) @ vit.proj

        cls_p, patch_p = project(cls), project(patches)
        scene = _cos(cls_p, text["scene"]) / model.cfg.temperature
        win = _window_max(patch_p, gh, gw, 2) if pool == "after" else project(_window_max(patches, gh, gw, 2))
        sim = _cos(win, text["distortion"])
        dist = (torch.softmax(sim / model.cfg.window_temperature, dim=1) * sim).sum(1) / model.cfg.temperature
        score = model.decoder.head(seen["q"].float().mean(1)).squeeze(-1)
    assert torch.allclose(out["scene_logits"], scene, atol=1e-4, rtol=0)
    assert torch.allclose(out["dist_logits"], dist, atol=1e-4, rtol=0)
    assert torch.allclose(out["score"], score, atol=1e-6, rtol=0)


# --- window pooling --------------------------------------------------------------------------
def test_window_pooling_after_the_projection_follows_its_write_out():
    model = _tiny(window=2, window_pool="after", window_temperature=0.05, temperature=0.02)
    model.eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        out = model(x)
        before = _tiny(window=2, window_pool="before", window_temperature=0.05, temperature=0.02)
        before.eval()
        assert not torch.allclose(before(x)["dist_logits"], out["dist_logits"])
        text = model.text_features()["distortion"]
        _, patches = model.visual((x - model.mean) / model.std)
        proj = model.visual.project(patches)  # [B, 16, D] in the joint space
        grid = proj.transpose(1, 2).reshape(2, proj.shape[-1], 4, 4)
        for b in range(2):
            wins = torch.stack([grid[b, :, r : r + 2, c : c + 2].amax(dim=(1, 2)) for r in (0, 2) for c in (0, 2)])
            sims = F.cosine_similarity(wins[:, None], text[None], dim=-1)  # [4, C]
            agg = (torch.softmax(sims / 0.05, dim=0) * sims).sum(0)
            assert torch.allclose(out["dist_logits"][b], agg / 0.02, atol=1e-3)


def test_bad_training_values_are_refused():
    from methods.mpiqe import MPIQEConfigError

    for over in (
        {"batch_unit": "crops"},
        {"score_scale": "percent"},
        {"window_pool": "middle"},
        {"batch_size": 0},
        {"lambda1": -1.0},
        {"lambda2": -0.5},
        {"smooth_l1_beta": -0.1},
    ):
        with pytest.raises(MPIQEConfigError, match=next(iter(over))):
            MPIQE(MPIQE.make_params("ci", **over))


def test_bench_methods_recipe_shows_both_readings(capsys):
    import json

    from bench.cli import main

    assert main(["methods", "mpiqe", "--recipe", "--dataset", "koniq10k", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["n_train_images"] == 8058  # published size x 0.8 (data absent here)
    assert r["optimizer_steps"] == 30210 and r["readings"]["image"]["optimizer_steps"] == 3780
    assert main(["methods", "mpiqe", "--recipe", "--dataset", "livec"]) == 0
    text = capsys.readouterr().out
    assert "3480 optimiser steps" in text and "450 optimiser steps" in text
