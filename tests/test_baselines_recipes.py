"""Retrained baselines' recipes: resolved numbers pinned against the official training code, the engine's
schedule / phases / crop sampling on tiny data, each method's own loss against an independent write-out,
and the review bugs (CPU, offline, seconds)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from methods.base import RunContext
from tests.fake_weights import make_fake_cache, one_torch_thread, session_fake_root  # noqa: F401 (autouse)

ROOT = Path(__file__).resolve().parents[1]
LIVEC = 930  # LIVE Challenge: 1162 images x 0.8


def recipe(name: str, dataset: str = "livec", n: int = LIVEC, preset: str = "paper", **overrides) -> dict:
    from methods.registry import get_method

    cls = get_method(name)
    return cls.recipe(cls.make_params(preset, **overrides), dataset, n)


def lrs(r: dict, phase: str, group: str) -> list[float]:
    return next(s["lr_per_epoch"][group] for s in r["schedule"] if s["phase"] == phase)


# --- 1. resolved recipes on LIVEC (930 training images), pinned against their sources ---------------------
# method: (crops/image, crop, resize, batch, epochs, optimiser steps, samples seen, test mode, test crops)
# steps = sum over phases of epochs x batches per pass: samples // batch where the official loader drops the
# incomplete last batch (drop_last), ceil(samples / batch) where it keeps it; samples = the samples of those batches
PINNED = {
    # SSL92/hyperIQA train_test_IQA.py: --train_patch_num 25 --test_patch_num 25 --batch_size 96 --epochs 16;
    # data_loader.py DataLoader(shuffle=True), no drop_last: 243 batches per epoch, the last of 18 crops
    "hyperiqa": (25, 224, None, 96, 16, 16 * math.ceil(930 * 25 / 96), 16 * 930 * 25, "crops", 25),
    # isalirezag/TReS args.py --train_patch_num 50 --test_patch_num 50; run.sh --batch_size 53 --epochs 3; last kept
    "tres": (50, 224, None, 53, 3, 3 * math.ceil(930 * 50 / 53), 3 * 930 * 50, "crops", 50),
    # zwx8981/DBCNN-PyTorch DBCNN.py: 50 epochs fc + 50 epochs all, batch 8, RandomCrop 448 (livec), full test;
    # DataLoader(shuffle=True), no drop_last: 117 batches per epoch, the last of 2 images
    "dbcnn": (1, 448, None, 8, 100, 100 * math.ceil(930 / 8), 100 * 930, "full", 1),
    # zwx8981/UNIQUE Main.py: 3 epochs batch 128 (fc), then to epoch 12 at batch 32, batches of pairs from the
    # 40,000-pair list of data_clive.m (data_all.m: 4 x 10000); AdaptiveResize(512), crop 384
    "unique": (
        1,
        384,
        {"kind": "short_side", "size": 512, "only_if_larger": True},
        32,
        12,
        3 * math.ceil(40000 / 128) + 9 * math.ceil(40000 / 32),  # TrainModel.py DataLoader: no drop_last
        12 * 40000,
        "full",
        1,
    ),
    # zwx8981/LIQE train_liqe_single.py: 6 epochs x 200 steps, batch 32 images of 3 pooled patches, 15 test patches;
    # the loader (no drop_last) restarts per epoch: 6 passes of 30 batches (29 x 32 + 2) and 20 full batches
    "liqe": (
        3,
        224,
        {"kind": "short_side", "size": 768, "only_if_larger": True},
        32,
        6,
        1200,
        6 * (6 * 930 + 20 * 32),
        "crops",
        15,
    ),
    # zhuhancheng/MetaIQA MetaIQA_FineTune_WILDLIVE.py: 100 epochs, batch 50, Rescale(256, 256) + RandomCrop(224),
    # test Rescale(224, 224)
    "metaiqa": (
        1,
        224,
        {"kind": "fixed", "hw": [256, 256]},
        50,
        100,
        100 * math.ceil(930 / 50),  # 18 batches of 50 and one of 30: no drop_last
        100 * 930,
        "resize",
        1,
    ),
    # pyiqa options/train/CLIPIQA/train_CLIPIQA_koniq10k.yml: batch 8, 50 epochs, crop 384, full test
    "clipiqa+-pyiqa": (1, 384, None, 8, 50, 50 * (930 // 8), 50 * (930 // 8) * 8, "full", 1),
    # MUSIQ paper (lr / epochs / batch assumed): one 384 crop, full-image test
    "musiq": (1, 384, None, 16, 20, 20 * (930 // 16), 20 * (930 // 16) * 16, "full", 1),
    # baidut/PaQ-2-PiQ: fastai learn.fit(10) at bs=120 (released RoIPoolModel-fit.10.bs.120); 224 crops ours
    "paq2piq": (1, 224, None, 120, 10, 10 * (930 // 120), 10 * (930 // 120) * 120, "full", 1),
    # MP-IQE paper's schedule for ViT-BIQA (the paper states none for it): 8 crops per image, batch 64 (LIVEC)
    "vit-biqa": (8, 224, None, 64, 30, 30 * (930 * 8 // 64), 30 * (930 * 8 // 64) * 64, "crops", 8),
    # IceClear/CLIP-IQA clipiqa_coop_koniq.py: batch 64 x 2 GPUs of whole images, drop_last; 300,000 iterations
    # (mmcv's CosineRestart stops the run there), logged in 30 blocks of 10,000
    "clipiqa+": (1, "full image", None, 128, 30, 300_000, 300_000 * 128, "full", 1),
    # IQA-PyTorch options/train/TOPIQ/train_TOPIQ_res50_koniq.yml: total_epoch 200, batch 16, random_crop 384
    "topiq": (1, 384, None, 16, 200, 200 * (930 // 16), 200 * (930 // 16) * 16, "full", 1),
    # IIGROUP/MANIQA train_maniqa.py: n_epoch 300, batch 8, RandCrop 224, num_avg_val 1
    "maniqa": (1, 224, None, 8, 300, 300 * (930 // 8), 300 * (930 // 8) * 8, "crops", 1),
    # IQA-PyTorch options/train/QualiCLIP/train_QualiCLIP_koniq10k.yml: total_epoch 50, batch 8, random_crop 384
    "qualiclip": (1, 384, None, 8, 50, 50 * (930 // 8), 50 * (930 // 8) * 8, "full", 1),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_resolved_recipe_matches_the_pinned_table(name):
    from methods.recipes import RECIPE_KEYS

    r = recipe(name)
    assert set(RECIPE_KEYS) <= set(r)
    crops, crop, resize, batch, epochs, steps, seen, mode, n_test = PINNED[name]
    got = (
        r["train_crops_per_image"],
        r["crop_size"],
        r["resize"],
        r["batch_size"],
        r["epochs"],
        r["optimizer_steps"],
        r["samples_seen"],
        r["test"]["mode"],
        r["test"]["n_crops"],
    )
    assert got == PINNED[name]
    assert r["n_train_images"] == LIVEC and r["sources"], "every recipe names its sources"
    json.dumps(r)


def test_official_learning_rate_tables():
    # HyperIQA (HyerIQASolver.train): hyper network 2e-4 for 7 epochs, 2e-5 x3, 2e-6 x3, 2e-7 x3; ResNet 2e-5
    r = recipe("hyperiqa")
    assert lrs(r, "all", "head") == pytest.approx([2e-4] * 7 + [2e-5] * 3 + [2e-6] * 3 + [2e-7] * 3, rel=1e-9)
    assert lrs(r, "all", "backbone") == pytest.approx([2e-5] * 16)
    assert r["optimizer"][0]["reset_every_epoch"] and not r["optimizer"][0]["reset_on_lr_change"]
    # TReS (models.py class TReS, the solver: lr /= lrratio 10 after epochs droplr=1, 2, 3): the review bug had /2
    r = recipe("tres")
    assert lrs(r, "all", "head") == pytest.approx([2e-5, 2e-6, 2e-7], rel=1e-9)
    assert lrs(r, "all", "backbone") == lrs(r, "all", "head")
    assert r["flips"] == {"horizontal": True, "vertical": True}
    # DBCNN: SGD 1e-3 on the head (backbone frozen), then Adam 1e-5 on all; constant
    r = recipe("dbcnn")
    assert [(o["phase"], o["type"], o["frozen"]) for o in r["optimizer"]] == [
        ("head", "sgd", ["backbone"]),
        ("all", "adam", []),
    ]
    assert lrs(r, "head", "head") == [1e-3] * 50 and lrs(r, "all", "backbone") == [1e-5] * 50
    # UNIQUE: StepLR(3, 0.1) counted from stage 1: 1e-4 x3 (fc), then 1e-5, 1e-6, 1e-7 x3 each
    r = recipe("unique")
    assert lrs(r, "head", "head") == pytest.approx([1e-4] * 3)
    assert lrs(r, "all", "backbone") == pytest.approx([1e-5] * 3 + [1e-6] * 3 + [1e-7] * 3, rel=1e-9)
    assert [o["batch_size"] for o in r["optimizer"]] == [128, 32]
    # LIQE: CosineAnnealingLR(T_max=5) per epoch + one extra step at lr 0
    r = recipe("liqe")
    expected = [5e-6 * (1 + math.cos(math.pi * k / 5)) / 2 for k in (0, 1, 2, 3, 4, 6)]
    assert lrs(r, "all", "head") == pytest.approx(expected, rel=1e-9)
    # MetaIQA (MetaIQA_FineTune_WILDLIVE.py): one Adam at 1e-4 for ResNet and head; exp_lr_scheduler multiplies
    # the current lr by 0.8 ** (epoch // 10) at every epoch, so the decay compounds
    r = recipe("metaiqa")
    lr, expected = 1e-4, []
    for epoch in range(100):
        lr = lr * 0.8 ** (epoch // 10)
        expected.append(lr)
    assert lrs(r, "all", "head") == pytest.approx(expected, rel=1e-9) and lrs(r, "all", "backbone") == lrs(
        r, "all", "head"
    )
    assert lrs(r, "all", "head")[9:13] == pytest.approx([1e-4, 8e-5, 6.4e-5, 5.12e-5], rel=1e-9)
    # PaQ-2-PiQ: fastai v1 fit defaults: lr slice(3e-3) -> body 3e-4, head 3e-3, constant; AdamW wd 1e-2
    r = recipe("paq2piq")
    assert lrs(r, "all", "backbone") == [3e-4] * 10 and lrs(r, "all", "head") == [3e-3] * 10
    assert (r["optimizer"][0]["type"], r["optimizer"][0]["weight_decay"]) == ("adamw-fastai", 1e-2)
    assert r["flips"] == {"horizontal": False, "vertical": False}


@pytest.mark.parametrize(("name", "lr", "t_max", "epochs"), [("topiq", 3e-5, 50, 200), ("qualiclip", 2e-3, 50, 50)])
def test_pyiqa_cosine_is_torchs_stepped_once_per_epoch(name, lr, t_max, epochs):
    """pyiqa/train.py steps CosineAnnealingLR(T_max 50, eta_min 0) once per epoch; TOPIQ's 200 epochs run four
    half-periods (torch's cosine rises again past T_max: 3e-5 at epochs 1 and 101, 0 at 51 and 151), not a hold
    at 0 as our generic ``cosine`` scheduler would."""
    import torch

    r = recipe(name)
    opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=0)
    want = []
    for _ in range(epochs):
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    groups = {"topiq": ("backbone", "head"), "qualiclip": ("head",)}[name]
    for group in groups:
        assert lrs(r, "all", group) == pytest.approx(want, rel=1e-9, abs=1e-15)
    if name == "topiq":
        got = lrs(r, "all", "head")
        assert got[0] == got[100] == 3e-5 and got[50] == got[150] == 0
        assert r["optimizer"][0]["type"] == "adamw" and r["optimizer"][0]["weight_decay"] == 1e-5
    else:
        assert r["optimizer"][0]["frozen"] == ["backbone"]


def test_maniqa_recipe_follows_train_maniqa_py():
    """KonIQ-10k resized to 224x224 (the official dataset class), so the 224 crop is the whole image, train and
    test; other sets: one random 224 crop of the image as given; flips with probability 0.7; a per-step cosine."""
    r = recipe("maniqa", "koniq10k", 8058)
    assert r["resize"] == {"kind": "fixed", "hw": [224, 224]} and r["test"]["resize"] == r["resize"]
    assert (r["crop_size"], r["test"]) == (224, {"mode": "crops", "n_crops": 1, "resize": r["resize"]})
    assert r["optimizer_steps"] == 300 * (8058 // 8)  # the official 80 % of KonIQ: 8058 images, batch 8
    assert r["flips"] == {"horizontal": True, "vertical": False, "horizontal_probability": 0.7}
    assert r["schedule"][0]["step_cosine_t_max"] == 50 and lrs(r, "all", "backbone") == [1e-5] * 300
    assert recipe("maniqa", "kadid10k", 8100)["resize"] is None
    # the flip probability and the per-step cosine are MANIQA's alone: the other recipes show neither
    assert "horizontal_probability" not in recipe("hyperiqa")["flips"]
    assert "step_cosine_t_max" not in recipe("hyperiqa")["schedule"][0]
    with pytest.raises(ValueError, match="224"):
        recipe("maniqa", crop_size=384)


def test_flip_probability_is_the_recipes():
    """The engine flips a sample with the recipe's probability (MANIQA: 0.7); at 0.5 it draws exactly as before."""
    import torch

    from methods.retrained.feature_cache import flip_images as _flip

    x = torch.arange(2.0).view(1, 1, 1, 2).repeat(4000, 1, 1, 1)
    for p in (0.5, 0.7):
        flipped = (_flip(x, True, False, torch.Generator().manual_seed(3), hflip_prob=p)[:, 0, 0, 0] == 1).float()
        assert abs(float(flipped.mean()) - p) < 0.03, p
    old = torch.where(
        (torch.rand(4000, generator=torch.Generator().manual_seed(3)) < 0.5).view(-1, 1, 1, 1), x.flip(-1), x
    )
    assert torch.equal(_flip(x, True, False, torch.Generator().manual_seed(3)), old)


def test_vit_biqa_follows_mp_iqe_per_dataset():
    # MP-IQE paper: batch 32 for LIVE, CSIQ, BID, 64 elsewhere; 8 random 224 crops per image in training.
    # Review bug: ViT-BIQA trained 1 crop per image at batch 64 everywhere (8x fewer samples than MP-IQE)
    from methods.registry import get_method

    for dataset, n in (("live", 623), ("bid", 469), ("koniq10k", 8058)):
        v, mp = (
            recipe("vit-biqa", dataset, n),
            get_method("mpiqe").recipe(get_method("mpiqe").make_params("paper"), dataset, n),
        )
        assert (v["batch_size"], v["train_crops_per_image"]) == (mp["batch_size"], mp["train_crops_per_image"])
        assert v["optimizer_steps"] == mp["optimizer_steps"]
    assert recipe("vit-biqa", "live", 623, batch_size=16)["batch_size"] == 16


def test_resize_and_crop_per_dataset():
    # HyperIQA / TReS data_loader.py: KonIQ Resize((512, 384)) before cropping, train and test
    for name in ("hyperiqa", "tres"):
        r = recipe(name, "koniq10k", 8058)
        assert r["resize"] == {"kind": "fixed", "hw": [512, 384]} and r["test"]["resize"] == r["resize"]
    assert recipe("hyperiqa", "bid", 469)["resize"] == {"kind": "fixed", "hw": [512, 512]}
    assert recipe("hyperiqa", "livec")["resize"] is None
    # DBCNN: 432 on LIVE, 448 on LIVEC, whole image on CSIQ / TID2013 (no silent upscale of a 448 crop)
    assert [recipe("dbcnn", d, 500)["crop_size"] for d in ("live", "livec", "csiq", "tid2013", "kadid10k")] == [
        432,
        448,
        "full image",
        "full image",
        "full image",
    ]
    assert recipe("dbcnn", "koniq10k", 8058)["resize"] == {"kind": "fixed", "hw": [384, 512]}


def test_loss_and_target_of_each_recipe():
    want = {
        "tres": ("tres", "score"),
        "hyperiqa": ("l1", "score"),
        "dbcnn": ("mse", "score"),
        "unique": ("fidelity-thurstone", "score"),
        "liqe": ("fidelity-binary", "score"),
        "metaiqa": ("mse", "unit"),
        "clipiqa+-pyiqa": ("mse+plcc", "unit"),
        "clipiqa+": ("mse", "unit"),
        "paq2piq": ("mse", "score"),
        "topiq": ("mse+nin", "unit"),
        "maniqa": ("mse", "unit"),
        "qualiclip": ("mse+plcc", "unit"),
    }
    for name, (loss, target) in want.items():
        r = recipe(name)
        assert (r["loss"]["name"], r["target"]) == (loss, target), name
    assert set(recipe("tres")["loss"]["terms"]) == {
        "l1",
        "l1_flip",
        "consistency",
        "consistency_flip",
        "rank_consistency",
        "rank",
    }
    assert "scene and distortion" in recipe("liqe")["loss"]["left_out"]
    assert set(recipe("unique")["loss"]["terms"]) == {"fidelity", "std_hinge"}
    # issue 20: train_liqe_single.py selects on its validation set (the note said the best test epoch)
    liqe = recipe("liqe")["official_selection"]
    assert "validation SRCC" in liqe and "best test" not in liqe


# --- 2. the engine on tiny data ---------------------------------------------------------------------------
def tiny_class(**defaults):
    from methods.retrained.engine import TrainedRegressor, recipe_dataclass

    Params = recipe_dataclass(
        "TinyParams",
        **{"crop_size": 16, "batch_size": 4, "epochs": 3, "lr": 1e-2, "backbone_lr": 1e-3, "target": "z", **defaults},
    )

    class Tiny(TrainedRegressor):
        name = "tiny"
        calls: list = []

        def build(self):
            from tests.tiny_models import tiny_conv_trainable

            return tiny_conv_trainable()

        def loss_terms(self, net, x, y, y_std=None):
            self.calls.append(
                {
                    "n": len(x),
                    "x": x.detach().clone(),
                    "y": y.detach().clone(),
                    "backbone_grad": [q.requires_grad for q in self.model.backbone],
                    "epoch": len(self.context.history),
                }
            )
            return super().loss_terms(net, x, y, y_std)

    Tiny.Params = Params
    return Tiny


@pytest.fixture(scope="module")
def demo8():
    from bench.data.datasets import load_dataset

    ds = load_dataset("demo-a")
    return ds.subset(ds.ids[:8])


@pytest.fixture()
def lr_spy(monkeypatch):
    """Every optimiser step's learning rates per named group, with the epoch it happened in."""
    from methods.retrained import engine

    seen, real = [], engine.make_optimizer

    def spying(kind, groups, momentum, weight_decay):
        opt = real(kind, groups, momentum, weight_decay)
        step = opt.step

        def recorded(*a, **k):
            seen.append({g["name"]: g["lr"] for g in opt.param_groups})
            return step(*a, **k)

        opt.step = recorded
        return opt

    monkeypatch.setattr(engine, "make_optimizer", spying)
    return seen


def test_each_group_runs_at_the_scheduled_lr_every_epoch(demo8, lr_spy):
    cls = tiny_class(scheduler="step", step_epochs=1, gamma=0.5, head_epochs=2, head_lr=0.05, head_optimizer="sgd")
    m = cls(cls.make_params(), RunContext(seed=0))
    m.calls = []
    m.fit(demo8)
    r = cls.recipe_for(m.params, "demo-a")
    per_epoch = [lr_spy[i] for i in range(0, len(lr_spy), 2)]  # 8 images / batch 4: 2 steps per epoch
    assert len(lr_spy) == 2 * 5
    assert per_epoch == [{"head": 0.05}] * 2 + [{"backbone": 1e-3 * 0.5**e, "head": 1e-2 * 0.5**e} for e in range(3)]
    assert [lr_spy[i] == lr_spy[i + 1] for i in range(0, 10, 2)] == [True] * 5  # constant inside an epoch
    table = [lr for p in r.phases for lr in p.lr_table["head"]]
    assert [h["lr_head"] for h in m.context.history] == pytest.approx(table)
    assert [h["epoch"] for h in m.context.history] == [1, 2, 3, 4, 5] and m.context.facts["selected_epoch"] == 5


def test_head_phase_freezes_the_backbone(demo8):
    cls = tiny_class(head_epochs=2, epochs=1, head_lr=0.05)
    m = cls(cls.make_params(), RunContext(seed=0))
    m.calls = []
    model = m._ensure_model()
    bb0 = [q.detach().clone() for q in model.backbone]
    head0 = [q.detach().clone() for q in model.head]
    m.params.epochs = 0  # the head phase alone
    m.fit(demo8)
    assert all(np.array_equal(a.numpy(), b.detach().numpy()) for a, b in zip(bb0, model.backbone)), "backbone moved"
    assert any(not np.array_equal(a.numpy(), b.detach().numpy()) for a, b in zip(head0, model.head))
    assert all(not any(c["backbone_grad"]) for c in m.calls)
    m.calls = []
    m.params.epochs, m.params.head_epochs = 1, 0
    m.fit(demo8)
    assert all(all(c["backbone_grad"]) for c in m.calls)
    assert any(not np.array_equal(a.numpy(), b.detach().numpy()) for a, b in zip(bb0, model.backbone))
    assert all(q.requires_grad for q in model.backbone)  # flags restored after fit


def test_n_crops_per_image_per_epoch_are_n_samples(demo8):
    cls = tiny_class(train_crops=3, epochs=2, batch_size=6, hflip=False)
    m = cls(cls.make_params(), RunContext(seed=0))
    m.calls = []
    m.fit(demo8)
    per_epoch = [sum(c["n"] for c in m.calls if c["epoch"] == e) for e in (0, 1)]
    assert per_epoch == [24, 24]  # 8 images x 3 crops, batch 6 divides 24
    assert m.context.facts["samples_seen"] == 48 and m.context.facts["optimizer_steps"] == 8
    # each crop is its own sample: the 3 samples of one image are different windows with that image's target
    from methods.retrained.engine import PatchDataset

    data = PatchDataset(demo8.records, 16, 3, None, train=True, seed=0)
    assert len(data) == 24
    items = [data[i] for i in range(3)]
    assert {it["index"] for it in items} == {0} and len({it["score"] for it in items}) == 1
    assert not np.array_equal(items[0]["x"].numpy(), items[1]["x"].numpy())
    # pooled (LIQE): one sample of k crops per image
    pooled = PatchDataset(demo8.records, 16, 3, None, train=True, seed=0, pool=True)
    assert len(pooled) == 8 and pooled[0]["x"].shape == (3, 3, 16, 16)


def test_resize_before_cropping_and_full_image_test(demo8, tmp_path):
    from methods.retrained.engine import PatchDataset, apply_resize, resized_size

    assert resized_size((1024, 768), {"kind": "fixed", "hw": [512, 384]}) == (384, 512)  # (w, h)
    assert resized_size((1024, 768), {"kind": "short_side", "size": 512, "only_if_larger": True}) == (
        682,
        512,
    )  # torchvision truncates
    assert resized_size((500, 400), {"kind": "short_side", "size": 512, "only_if_larger": True}) == (500, 400)
    full = PatchDataset(demo8.records, 0, 1, {"kind": "fixed", "hw": [40, 60]}, train=False)
    assert full[0]["x"].shape == (1, 3, 40, 60)
    from PIL import Image

    assert apply_resize(Image.new("RGB", (256, 256)), None).size == (256, 256)


def test_val_selection_keeps_the_best_epoch(demo8):
    cls = tiny_class(epochs=3)
    m = cls(cls.make_params(), RunContext(seed=0, select_on="val"))
    m.calls = []
    m.fit(demo8.subset(demo8.ids[:5]), demo8.subset(demo8.ids[5:]))
    vals = [h["val_srcc"] for h in m.context.history]
    assert len(vals) == 3 and m.context.facts["selected_epoch"] == 1 + int(np.argmax(vals))


# --- 3. method-specific losses against independent write-outs ----------------------------------------------
def test_tres_ranking_terms_equal_torch_triplet_margin_loss():
    import torch

    from methods.retrained.tres import ranking_triplets

    torch.manual_seed(0)
    pred, y = torch.randn(7), torch.rand(7) * 100
    o = torch.argsort(y)
    t1 = torch.nn.TripletMarginLoss(margin=float(y[o[-1]] - y[o[1]]), p=1)
    t2 = torch.nn.TripletMarginLoss(margin=float(y[o[-2]] - y[o[0]]), p=1)
    u = lambda i: pred[i].reshape(1, 1)  # noqa: E731
    expected = t1(u(o[0]), u(o[1]), u(o[-1])) + t2(u(o[-1]), u(o[-2]), u(o[0]))
    assert float(ranking_triplets(pred, y)) == pytest.approx(float(expected), rel=1e-6)


def test_tres_total_loss_is_the_official_sum():
    import torch
    import torch.nn.functional as F

    from methods.retrained.tres import ranking_triplets, tres_loss_terms

    torch.manual_seed(1)
    w = torch.randn(3 * 4 * 4)

    def net(x):  # a stand-in with TReS's train-mode interface: (prediction [B, 1], self-consistency)
        f = x.flatten(1) @ w
        return f.view(-1, 1), (f - x.flip(3).flatten(1) @ w).abs().mean()

    x, y = torch.rand(5, 3, 4, 4), torch.rand(5) * 10
    terms = tres_loss_terms(net, x, y)
    p, c = net(x)
    p2, c2 = net(x.flip(3))
    t, t2 = ranking_triplets(p.view(-1), y), ranking_triplets(p2.view(-1), y)
    official = (
        F.l1_loss(p.squeeze(), y)
        + c
        + F.l1_loss(p2.squeeze(), y)
        + c2
        + 0.5 * ((t - t2).abs() + (t2 - t).abs())
        + 0.05 * (t + t2)
    )
    assert float(sum(terms.values())) == pytest.approx(float(official), rel=1e-6)


def _fidelity_by_loops(pred, g, p_of=lambda d: norm_cdf(d / math.sqrt(2))):
    out = []
    for i in range(len(pred)):
        for j in range(i + 1, len(pred)):
            p = p_of(pred[i] - pred[j])
            out.append(1 - math.sqrt(p * g(i, j) + 1e-8) - math.sqrt((1 - p) * (1 - g(i, j)) + 1e-8))
    return float(np.mean(out))


def norm_cdf(x):
    from scipy.stats import norm

    return float(norm.cdf(x))


def test_liqe_fidelity_loss_equals_loop_write_out():
    import torch

    from methods.retrained.engine import fidelity_binary_loss

    rng = np.random.default_rng(0)
    pred, y = rng.normal(size=6), rng.uniform(0, 5, 6)
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    order = lambda i, j: 0.5 * (np.sign(y[i] - y[j]) + 1)  # noqa: E731
    # LIQE MNL_Loss.loss_m4 as written: p = 0.5 * (1 + erf(preds / sqrt(2))), i.e. Phi(s_i - s_j)
    liqe = _fidelity_by_loops(pred, order, p_of=lambda d: 0.5 * (1 + math.erf(d / math.sqrt(2))))
    assert float(fidelity_binary_loss(t(pred), t(y))) == pytest.approx(liqe, rel=1e-9)
    # review bug: the quality term used Phi((s_i - s_j) / sqrt(2)), which is not loss_m4
    assert liqe != pytest.approx(_fidelity_by_loops(pred, order), rel=1e-3)


def test_unique_pair_loss_equals_the_official_training_step_written_out():
    """zwx8981/UNIQUE TrainModel.py with std_modeling, fidelity and std_loss (Main.py defaults), per pair:
    p = 0.5 (1 + erf((y1 - y2) / sqrt(2 (v1^2 + v2^2 + 1e-8)))), g = normcdf((m1 - m2) / (sqrt(s1^2 + s2^2) + eps))
    (GT_Gaussian.m), Fidelity_Loss(p, g) + MarginRankingLoss(margin 0.025)(v1, v2, sign(s1 - s2))."""
    import torch

    from methods.retrained.unique import pair_losses

    rng = np.random.default_rng(0)
    q, v = rng.normal(size=(5, 2)), rng.uniform(0.1, 2, (5, 2))
    m, s = rng.uniform(0, 100, (5, 2)), rng.uniform(5, 20, (5, 2))
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    fid, hinge = [], []
    for (q1, q2), (v1, v2), (m1, m2), (s1, s2) in zip(q, v, m, s):
        p = 0.5 * (1 + math.erf((q1 - q2) / math.sqrt(2 * (v1 * v1 + v2 * v2 + 1e-8))))
        g = norm_cdf((m1 - m2) / (math.sqrt(s1**2 + s2**2) + 1e-8))
        fid.append(1 - (math.sqrt(p * g + 1e-8) + math.sqrt((1 - p) * (1 - g) + 1e-8)))
        hinge.append(max(0.0, -np.sign(s1 - s2) * (v1 - v2) + 0.025))
    terms = pair_losses(t(q), t(v), t(m), t(s))
    assert float(terms["fidelity"]) == pytest.approx(np.mean(fid), rel=1e-9)
    assert float(terms["std_hinge"]) == pytest.approx(np.mean(hinge), rel=1e-9)
    # without the ratings' std: the binary order (yb) and no hinge
    binary = pair_losses(t(q), t(v), t(m), None)
    want = [
        1 - (math.sqrt(p * g + 1e-8) + math.sqrt((1 - p) * (1 - g) + 1e-8))
        for p, g in (
            (0.5 * (1 + math.erf((q1 - q2) / math.sqrt(2 * (v1 * v1 + v2 * v2 + 1e-8)))), float(m1 > m2))
            for (q1, q2), (v1, v2), (m1, m2) in zip(q, v, m)
        )
    ]
    assert set(binary) == {"fidelity"} and float(binary["fidelity"]) == pytest.approx(np.mean(want), rel=1e-9)


def test_unique_epoch_is_the_official_pair_list():
    """Review bug (issue 20): an epoch was one pass over the images in batches of 32 (282 steps on LIVEC); the
    official epoch is the pair list of data_all.m in batches of pairs (~12,000 steps on LIVEC)."""
    from methods.retrained.unique import official_pair_steps, sample_pairs

    for dataset, n, pairs in (("livec", LIVEC, 40_000), ("koniq10k", 8058, 90_000), ("kadid10k", 8100, 50_000)):
        r = recipe("unique", dataset, n)
        assert r["pairs_per_epoch"] == pairs
        assert r["optimizer_steps"] == pytest.approx(official_pair_steps(pairs), rel=0.05)
    assert recipe("unique", "spaq", 8000)["pairs_per_epoch"] == 10_000  # data_all.m's num_selection
    assert recipe("unique", "livec", 5)["pairs_per_epoch"] == 10  # all pairs of 5 images
    p = sample_pairs(930, 40_000, seed=3)
    assert len({tuple(x) for x in p}) == 40_000 and (p[:, 0] < p[:, 1]).all() and p.max() == 929
    assert (sample_pairs(930, 40_000, seed=3) == p).all() and not (sample_pairs(930, 40_000, seed=4) == p).all()
    with pytest.raises(ValueError, match="train_crops"):
        recipe("unique", train_crops=2)


def test_plcc_loss_equals_numpy():
    import torch

    from methods.retrained.engine import plcc_loss

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=9), rng.normal(size=9)
    assert float(plcc_loss(torch.tensor(a), torch.tensor(b))) == pytest.approx(
        (1 - np.corrcoef(a, b)[0, 1]) / 2, rel=1e-6
    )


def test_nin_loss_equals_the_norm_in_norm_write_out():
    """pyiqa NiNLoss (norm_loss_with_normalization, p=1, q=2), written out in numpy: centre, divide by the
    L2 norm, L1 distance, / (2 * sqrt(n)); a batch of one falls back to L1."""
    import torch

    from methods.retrained.losses import make_loss, nin_loss

    rng = np.random.default_rng(4)
    a, b = rng.normal(size=7), rng.normal(size=7)
    ca, cb = a - a.mean(), b - b.mean()
    want = np.abs(ca / np.linalg.norm(ca) - cb / np.linalg.norm(cb)).sum() / (2 * np.sqrt(7))
    assert float(nin_loss(torch.tensor(a), torch.tensor(b))) == pytest.approx(want, rel=1e-9)
    assert float(make_loss("mse+nin")(torch.tensor(a), torch.tensor(b))) == pytest.approx(
        np.mean((a - b) ** 2) + want, rel=1e-9
    )
    assert float(nin_loss(torch.tensor([0.3]), torch.tensor([0.5]))) == pytest.approx(0.2)
    assert float(nin_loss(torch.tensor(a), torch.tensor(3 * a + 1))) == pytest.approx(0, abs=1e-7)  # affine-blind


# --- 4. review bugs -----------------------------------------------------------------------------------------
TEST_PYIQA_FILES = ["Metaiqa_prior.pth", "QualiCLIP.pth"]


@pytest.fixture(scope="module")
def fake_root():
    return make_fake_cache(session_fake_root(TEST_PYIQA_FILES), pyiqa_files=TEST_PYIQA_FILES)


@pytest.mark.parametrize("name", ["metaiqa", "clipiqa+-pyiqa", "qualiclip"])
def test_bounded_heads_train_on_unit_targets(name, fake_root, monkeypatch, demo8):
    """MetaIQA's sigmoid head and CLIP-IQA+'s / QualiCLIP's P(good) are trained on MOS scaled to [0, 1] (pyiqa's
    mos_normalize), not on standardised scores."""
    from methods.registry import get_method

    monkeypatch.setenv("TORCH_HOME", str(fake_root))
    cls = get_method(name)
    m = cls(cls.make_params("ci"), RunContext(seed=0))
    targets = []
    real = cls.loss_terms

    def spy(self, net, x, y, y_std=None):
        targets.append(y.detach().clone())
        return real(self, net, x, y, y_std)

    monkeypatch.setattr(cls, "loss_terms", spy)
    m.fit(demo8)
    y = np.concatenate([t.numpy() for t in targets])
    lo, hi = demo8.dataset.raw_scale
    assert targets and np.all((y >= 0) & (y <= 1))
    expected = (np.array(sorted(demo8.scores)) - lo) / (hi - lo)
    assert np.abs(y[:, None] - expected[None, :]).min(axis=1).max() < 1e-5  # each target is a scaled MOS


def test_metaiqa_prior_with_missing_or_unexpected_keys_is_an_error(fake_root, tmp_path, monkeypatch):
    import shutil

    import torch

    from bench.core.errors import BenchError
    from methods.registry import get_method

    home = tmp_path / "torch-home"
    shutil.copytree(fake_root / "hub" / "checkpoints", home / "hub" / "checkpoints") if (
        fake_root / "hub" / "checkpoints"
    ).is_dir() else None
    (home / "hub" / "pyiqa").mkdir(parents=True)
    state = torch.load(fake_root / "hub" / "pyiqa" / "Metaiqa_prior.pth", map_location="cpu", weights_only=False)
    state = dict(state.get("params", state))
    state.pop("head.fc3.weight")
    state["bogus.weight"] = torch.zeros(1)
    torch.save(state, home / "hub" / "pyiqa" / "Metaiqa_prior.pth")
    monkeypatch.setenv("TORCH_HOME", str(home))
    cls = get_method("metaiqa")
    with pytest.raises(BenchError, match=r"missing \['head.fc3.weight'\].*unexpected \['bogus.weight'\]"):
        cls(cls.make_params("ci"), RunContext(seed=0))._ensure_model()


def test_metaiqa_prior_loads_exactly(fake_root, monkeypatch):
    import torch

    from methods.registry import get_method

    monkeypatch.setenv("TORCH_HOME", str(fake_root))
    cls = get_method("metaiqa")
    net = cls(cls.make_params("ci"), RunContext(seed=0))._ensure_model().net
    state = torch.load(fake_root / "hub" / "pyiqa" / "Metaiqa_prior.pth", map_location="cpu", weights_only=False)
    for key in ("head.fc3.weight", "resnet_layer.layer4.1.conv2.weight"):
        np.testing.assert_array_equal(net.state_dict()[key].numpy(), state[key].numpy())


def test_dbcnn_small_images_are_resized_explicitly_with_a_note(demo8):
    """Demo images are 256 px: a 448 crop needs an upscale, which the cell now says (it was silent)."""
    from methods.registry import get_method

    cls = get_method("dbcnn")
    m = cls(cls.make_params("paper"), RunContext(seed=0))
    m._note_small_images(demo8, cls.recipe_for(m.params, "demo-a"))
    assert any("8 of 8 training images are smaller than the 448 crop" in n for n in m.context.notes)
    big = cls(cls.make_params("paper", crop_size=64), RunContext(seed=0))
    big._note_small_images(demo8, cls.recipe_for(big.params, "demo-a"))
    assert not big.context.notes


def test_zero_shot_presets_keep_liqe_at_its_224_minimum():
    from methods.registry import get_method

    for preset in ("demo", "ci"):
        cls = get_method("pyiqa:liqe")
        m = cls(cls.make_params(preset))
        assert min(m._target_size(768, 1024)) >= 224 and min(m._target_size(500, 500)) >= 224
        other = get_method("pyiqa:brisque")
        assert max(other(other.make_params(preset))._target_size(768, 1024)) == other.make_params(preset).max_side


# --- 5. the command -----------------------------------------------------------------------------------------
def bench(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_recipe_command_json_and_text(tmp_path):
    out = bench("methods", "hyperiqa", "--recipe", "--dataset", "koniq10k", "--json", "--data-root", str(tmp_path))
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["n_train_images"] == round(10073 * 0.8) and "published size 10073" in r["n_train_images_source"]
    assert r["resize"] == {"kind": "fixed", "hw": [512, 384]} and r["train_crops_per_image"] == 25
    out = bench("methods", "tres", "--recipe", "--dataset", "demo-a", "--preset", "ci")
    assert out.returncode == 0, out.stderr
    assert "from the data" in out.stdout and "crop(s) per image per epoch" in out.stdout and "sources" in out.stdout
    for name in ("mpiqe", "visual-only", "vit-biqa", "clipiqa+"):
        out = bench("methods", name, "--recipe", "--json")
        assert out.returncode == 0, (name, out.stderr)
        assert json.loads(out.stdout)["method"] == name


def test_recipe_command_clear_errors():
    out = bench("methods", "niqe", "--recipe")
    assert out.returncode == 2 and "no training recipe" in out.stderr
    out = bench("methods", "--recipe")
    assert out.returncode == 2 and "needs a method name" in out.stderr
    out = bench("methods", "tres", "--recipe", "--preset", "nope")
    assert out.returncode == 2 and "no preset" in out.stderr


def test_fixed_steps_per_epoch_cycle_with_new_crops(demo8):
    """LIQE-style epochs of a fixed number of steps: the data is cycled, every pass with new random crops."""
    cls = tiny_class(epochs=1, batch_size=4, steps_per_epoch=5, hflip=False)
    m = cls(cls.make_params(), RunContext(seed=0))
    m.calls = []
    m.fit(demo8)
    assert len(m.calls) == 5 and m.context.facts["optimizer_steps"] == 5  # 8 images / 4: 2 steps a pass
    first, third = {}, {}
    for c, store in ((m.calls[0], first), (m.calls[1], first), (m.calls[2], third), (m.calls[3], third)):
        for x, y in zip(c["x"], c["y"]):
            store[round(float(y), 6)] = x
    common = set(first) & set(third)
    assert common and all(not np.array_equal(first[k].numpy(), third[k].numpy()) for k in common)


# --- issue 29: each official loader's last batch, UNIQUE's two forwards ---------------------------------------
def test_every_recipe_says_where_its_last_batch_rule_comes_from():
    from bench.cli.commands.recipe_doc import retrained_methods

    keep = {"dbcnn", "hyperiqa", "tres", "dacnn", "liqe", "metaiqa", "unique"}  # official DataLoaders: no drop_last
    for cls in retrained_methods():
        r = cls.recipe(cls.make_params("paper"), "livec", LIVEC)
        assert "last batch" in r["sources"], cls.name
        assert r["drop_last"] is (cls.name not in keep), cls.name


def test_unique_runs_the_two_images_of_its_pairs_through_the_network_separately():
    """zwx8981/UNIQUE TrainModel.py: ``self.model(x1)`` then ``self.model(x2)``: in training mode each forward's
    BatchNorm normalises with the statistics of B images. Review bug (issue 29): one forward over all 2B images."""
    import torch
    from torch import nn

    from methods.registry import get_method
    from methods.retrained.unique import mean_and_std, pair_losses

    class WithBatchNorm(nn.Module):  # the interface UNIQUE's loss uses: a 2-output fc, forward returns the mean
        def __init__(self):
            super().__init__()
            self.conv, self.bn, self.fc = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))[:, 0]

    torch.manual_seed(0)
    net = WithBatchNorm().train()
    cls = get_method("unique")
    m = cls(cls.make_params("ci"), RunContext(seed=0))
    x = torch.rand(4, 2, 3, 16, 16)
    x[:, 1] *= 3.0  # the second images differ in statistics from the first: a joint batch norm mixes them
    y, y_std = torch.rand(4, 2), torch.rand(4, 2) + 0.1
    got = m.loss_terms(net, x, y, y_std)
    (m1, s1), (m2, s2) = mean_and_std(net, x[:, 0]), mean_and_std(net, x[:, 1])
    want = pair_losses(torch.stack([m1, m2], 1), torch.stack([s1, s2], 1), y, y_std, m.params.std_margin)
    joint_mean, joint_std = mean_and_std(net, x.flatten(0, 1))
    joint = pair_losses(joint_mean.view(4, 2), joint_std.view(4, 2), y, y_std, m.params.std_margin)
    for term in want:
        assert float(got[term].detach()) == pytest.approx(float(want[term].detach()), rel=1e-6)
    assert float(joint["fidelity"].detach()) != pytest.approx(
        float(want["fidelity"].detach()), rel=1e-3
    )  # the test can tell
