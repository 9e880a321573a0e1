"""The engine runs what the recipe says (issue 20): every retrained baseline's ``paper`` recipe, resolved on a
tiny training set, is trained on a tiny stand-in network while the optimiser objects, the learning rate of every
group at every step, the steps, the samples, the batch shapes and the loss terms are recorded -- then compared
with the resolved ``Recipe``. A recipe value the engine ignores cannot pass. (The method's own network is
replaced by a tiny one of the same interface: the optimiser and schedule do not depend on it; crops are 32 px
and LIQE takes 3 steps per epoch instead of 200, both recipe values, so they are checked too.)"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from methods.base import RunContext
from methods.recipes import steps_per_epoch
from methods.retrained.recipe import step_cosine_factor
from tests.fake_weights import one_torch_thread  # noqa: F401 (autouse)

RETRAINED = [
    "clipiqa+",
    "clipiqa+-pyiqa",
    "dacnn",
    "dbcnn",
    "hyperiqa",
    "liqe",
    "metaiqa",
    "musiq",
    "paq2piq",
    "tres",
    "unique",
    "vit-biqa",
    "topiq",
    "maniqa",
    "qualiclip",
]
# LIQE: 3 steps per epoch instead of 200; CLIP-IQA+: 6 steps in blocks of 3 instead of 300,000 in blocks of 10,000
OVERRIDES = {"liqe": {"steps_per_epoch": 3}, "clipiqa+": {"iterations": 6, "steps_per_block": 3}}
FIXED_INPUT = {"maniqa"}  # its ViT-B/8 takes 224 crops only: the recipe refuses another size


def tiny_network(name: str):
    """A seeded conv 'backbone' + linear 'head' with the interface the method's loss uses: UNIQUE's 2-output
    ``fc`` (mean, std), TReS's (prediction, self-consistency) pair in training."""
    import torch
    from torch import nn

    from methods.retrained.engine import Trainable

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 2 if name == "unique" else 1)

        def forward(self, x):
            f = torch.relu(self.conv(x)).mean(dim=(2, 3))
            out = self.fc(f)
            if name == "tres" and self.training:
                return out[:, :1], (f - f.mean(0)).abs().mean()
            return out[:, 0]

    torch.manual_seed(0)
    net = Tiny()
    return Trainable(net, list(net.conv.parameters()), list(net.fc.parameters()))


@pytest.fixture(scope="module")
def tiny_train():
    from bench.data.datasets import load_dataset

    ds = load_dataset("demo-a")
    return ds.subset(ds.ids[:3])


def run_recorded(name, train, tmp_path, monkeypatch, **extra):
    """Train ``name``'s paper recipe on ``train`` with a tiny network; returns (method, Recipe, steps, batches)."""
    from methods.registry import get_method
    from methods.retrained import engine

    cls = get_method(name)
    p = cls.make_params("paper")
    small = {"crop_size": 32} if p.crop_size and name not in FIXED_INPUT else {}
    p = replace(p, **small, **{**OVERRIDES.get(name, {}), **extra})
    m = cls(p, RunContext(seed=0, workdir=tmp_path, image_cache=tmp_path / "images"))
    monkeypatch.setattr(cls, "build", lambda self: tiny_network(name))
    steps, batches = [], []
    real_make = engine.make_optimizer

    def make_recorded(kind, groups, momentum, weight_decay):
        opt = real_make(kind, groups, momentum, weight_decay)
        real_step = opt.step

        def step(*a, **k):
            steps.append(
                {
                    "opt": opt,
                    "fresh": len(opt.state) == 0,
                    "lrs": {g["name"]: g["lr"] for g in opt.param_groups},
                    "params": {g["name"]: {id(q) for q in g["params"]} for g in opt.param_groups},
                }
            )
            return real_step(*a, **k)

        opt.step = step
        return opt

    monkeypatch.setattr(engine, "make_optimizer", make_recorded)
    real_loss = m.loss_terms

    def loss_terms(net, x, y, y_std=None):
        batches.append(tuple(x.shape))
        return real_loss(net, x, y, y_std)

    m.loss_terms = loss_terms
    m.fit(train)
    return m, cls.recipe_for(p, train.dataset.name), steps, batches


def expected_steps(recipe, n_images: int) -> list[tuple]:
    """(optimiser number, phase, {group: lr}, batch size) of every step the recipe prescribes, written from the
    Recipe alone: a new optimiser at each phase's start, every epoch (``reset_every_epoch``) or on an lr change
    (``reset_optimizer``); the lr of the epoch, or of the step (``step_cosine``); the batches of a pass, the last
    incomplete one where ``drop_last`` is False (fixed steps per epoch cycle the passes)."""
    n = recipe.samples_per_epoch(n_images)
    out, opt, prev = [], 0, None
    for phase in recipe.phases:
        batch = min(phase.batch_size, n)
        passes = [batch] * (n // batch) + ([n % batch] if n % batch and not (recipe.drop_last and n > batch) else [])
        per = phase.steps_per_epoch or steps_per_epoch(n, phase.batch_size, recipe.drop_last)
        assert per == (phase.steps_per_epoch or len(passes))
        t = 0  # the step within the phase: a per-step cosine (MANIQA, CLIP-IQA+) sets the lr of every step
        for e in range(phase.epochs):
            lrs = {g: table[e] for g, table in phase.lr_table.items()}
            if e == 0 or phase.reset_every_epoch or (phase.reset_optimizer and lrs != prev):
                opt += 1
            prev = lrs
            for k in range(per):
                f = step_cosine_factor(t, phase.step_cosine_t_max) if phase.step_cosine_t_max else 1.0
                out.append((opt, phase, {g: phase.lr_at_step(g, e, t) * f for g in lrs}, passes[k % len(passes)]))
                t += 1
    return out


OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "adamw-fastai": "AdamW", "sgd": "SGD"}


@pytest.mark.parametrize("name", RETRAINED)
def test_engine_runs_the_resolved_recipe(name, tiny_train, tmp_path, monkeypatch):
    m, recipe, steps, batches = run_recorded(name, tiny_train, tmp_path, monkeypatch)
    n = len(tiny_train)
    shown = recipe.as_dict(n)
    want = expected_steps(recipe, n)
    # steps and samples: as the recipe (and `bench methods --recipe`) says, and as the cell records
    assert len(steps) == len(want) == shown["optimizer_steps"] == m.context.facts["optimizer_steps"]
    assert sum(b[0] for b in batches) == shown["samples_seen"] == m.context.facts["samples_seen"]
    # one optimiser object per expected run of steps, with fresh moments at its first step
    ids = [id(s["opt"]) for s in steps]
    assert [ids[i] != ids[i - 1] for i in range(1, len(ids))] == [
        want[i][0] != want[i - 1][0] for i in range(1, len(want))
    ]
    assert len(set(ids)) == want[-1][0]
    stateful = [phase.optimizer != "sgd" or phase.momentum for _, phase, _, _ in want]  # plain SGD keeps no state
    assert [s["fresh"] or not st for s, st in zip(steps, stateful)] == [
        i == 0 or want[i][0] != want[i - 1][0] or not stateful[i] for i in range(len(want))
    ]
    groups = {"backbone": {id(q) for q in m.model.backbone}, "head": {id(q) for q in m.model.head}}
    for s, (_, phase, lrs, _) in zip(steps, want):
        assert s["lrs"] == pytest.approx(lrs, rel=1e-12), (name, phase.name)
        assert s["params"] == {g: groups[g] for g in lrs}, "a group outside the lr table trained, or one is missing"
        opt = s["opt"]
        assert type(opt).__name__ == OPTIMIZERS[phase.optimizer]
        assert all(g["weight_decay"] == phase.weight_decay for g in opt.param_groups)
        if phase.optimizer == "sgd":
            assert all(g["momentum"] == phase.momentum for g in opt.param_groups)
        if phase.optimizer == "adamw-fastai":
            assert all(g["betas"] == (0.9, 0.99) for g in opt.param_groups)
    # batch shapes: samples per batch, crops (or images of a pair) per sample, crop size
    k = 2 if recipe.pairs_per_epoch else (recipe.train_crops_per_image if recipe.pool_train_crops else 1)
    side = recipe.crop_size or 256  # demo images are 256 x 256; crop 0 = the whole image
    assert [b[1:] for b in batches] == [(k, 3, side, side)] * len(batches)
    assert [b[0] for b in batches] == [size for *_, size in want]
    # the loss terms logged every epoch are the recipe's, and the loss is their sum
    for row in m.context.history:
        terms = {key[5:]: v for key, v in row.items() if key.startswith("loss_")}
        assert set(terms) == set(recipe.loss["terms"]), name
        assert row["loss"] == pytest.approx(sum(terms.values()), rel=1e-6, abs=1e-9)
    assert len(m.context.history) == recipe.epochs
    if any(phase.step_cosine_t_max for phase in recipe.phases):
        assert_torch_cosine_per_step(recipe, steps)


def assert_torch_cosine_per_step(recipe, steps):
    """MANIQA (IIGROUP/MANIQA train_epoch): CosineAnnealingLR(T_max 50, eta_min 0).step() after every optimiser
    step: each step's lr is what torch's own scheduler gives, periodic past T_max (300 steps here)."""
    import torch

    (phase,) = recipe.phases
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=phase.lr_table["head"][0])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=phase.step_cosine_t_max, eta_min=0)
    want = []
    for _ in steps:
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    got = [s["lrs"]["head"] for s in steps]
    assert len(got) > 2 * phase.step_cosine_t_max and got == pytest.approx(want, rel=1e-9, abs=1e-15)
    assert got == [s["lrs"]["backbone"] for s in steps]
    t = phase.step_cosine_t_max
    assert min(got[: 2 * t]) == pytest.approx(0, abs=1e-15) and got[2 * t] == pytest.approx(got[0])


def test_hyperiqa_gets_a_new_adam_every_epoch(tiny_train, tmp_path, monkeypatch):
    """SSL92/hyperIQA HyerIQASolver.train re-creates torch.optim.Adam at the end of every epoch. Review bug
    (issue 20): the engine re-created it only when the lrs changed (epochs 1-7, 8-10, 11-13, 14-16: 4 objects),
    so Adam's moments carried over."""
    _, recipe, steps, _ = run_recorded("hyperiqa", tiny_train, tmp_path, monkeypatch)
    assert recipe.epochs == 16
    opts = list(dict.fromkeys(id(s["opt"]) for s in steps))
    assert len(opts) == 16
    firsts = [i for i in range(len(steps)) if i == 0 or steps[i]["opt"] is not steps[i - 1]["opt"]]
    assert len(firsts) == 16 and all(steps[i]["fresh"] for i in firsts)


def test_metaiqa_trains_in_one_random_order_per_cell(tiny_train, tmp_path, monkeypatch):
    """MetaIQA_FineTune_WILDLIVE.py: train_test_split writes the training images in a random order, which the
    unshuffled loader (shuffle=False) reads every epoch. Review bug (issue 29): the engine kept the split's sorted
    order, so on synthetic datasets a batch was mostly one reference image."""
    from bench.data import images
    from methods.registry import get_method
    from methods.retrained.engine import ORDER_ONCE, training_records

    cls = get_method("metaiqa")
    assert cls.recipe_for(cls.make_params("paper"), "livec").order == ORDER_ONCE
    records = list(range(40))
    first = training_records(records, ORDER_ONCE, seed=0)
    assert sorted(first) == records and first != records  # a permutation, not the given order
    assert training_records(records, ORDER_ONCE, seed=0) == first  # drawn from the seed: the same in every epoch
    assert training_records(records, ORDER_ONCE, seed=1) != first  # and another one per seed
    loaders, data = [], []
    real, real_data = images.make_loader, cls.training_data

    def loader(dataset, *a, **k):
        loaders.append(k.get("shuffle"))
        return real(dataset, *a, **k)

    def training_data(self, train, recipe):
        data.append(real_data(self, train, recipe))
        return data[-1]

    monkeypatch.setattr(images, "make_loader", loader)
    monkeypatch.setattr(cls, "training_data", training_data)
    run_recorded("metaiqa", tiny_train, tmp_path, monkeypatch)
    assert loaders and loaders[0] is False
    want = training_records(tiny_train.records, ORDER_ONCE, seed=0)
    assert [r.id for r in data[0].records] == [r.id for r in want]


@pytest.mark.parametrize(
    "name, drop_last",
    [("dbcnn", False), ("hyperiqa", False), ("metaiqa", False), ("unique", False), ("clipiqa+-pyiqa", True)],
)
def test_the_last_batch_is_kept_where_the_official_loader_keeps_it(name, drop_last, tiny_train, tmp_path, monkeypatch):
    """DBCNN, HyperIQA, MetaIQA and UNIQUE train on the incomplete last batch (their DataLoaders have no
    drop_last); pyiqa's training loader drops it. Review bug (issue 29): the engine dropped it for every method."""
    from methods.registry import get_method

    cls = get_method(name)
    recipe = cls.recipe_for(cls.make_params("paper"), "livec")
    assert recipe.drop_last is drop_last and "last batch" in recipe.sources
    extra = {"batch_size": 2, "head_batch_size": 2, "epochs": 1}
    if recipe.phases[0].name == "head":
        extra["head_epochs"] = 1
    if name == "unique":
        extra["pairs_per_epoch"] = 3
    if name == "hyperiqa":
        extra["train_crops"] = 1
    _, recipe, steps, batches = run_recorded(name, tiny_train, tmp_path, monkeypatch, **extra)
    per_epoch = [2] if drop_last else [2, 1]  # 3 samples in batches of 2
    assert [b[0] for b in batches] == per_epoch * recipe.epochs
    assert len(steps) == recipe.as_dict(len(tiny_train))["optimizer_steps"]


def test_unique_pairs_are_the_recipes_and_each_image_gets_its_own_crop(tiny_train):
    """A UNIQUE sample is a pair of distinct training images, with independent crops per pair and epoch."""
    from methods.retrained.data import PatchDataset
    from methods.retrained.unique import PairDataset, sample_pairs

    images = PatchDataset(tiny_train.records, 32, 1, None, train=True, seed=0)
    pairs = PairDataset(images, sample_pairs(len(tiny_train), 3, seed=0))
    assert len(pairs) == 3 and sorted(map(tuple, pairs.pairs)) == [(0, 1), (0, 2), (1, 2)]
    a, b = pairs[(0, 0)], pairs[(0, 1)]
    assert a["x"].shape == (2, 3, 32, 32) and a["index"].tolist() == list(pairs.pairs[0])
    assert np.allclose(a["score"].numpy(), [tiny_train.records[i].score for i in pairs.pairs[0]])
    shared = set(pairs.pairs[0]) & set(pairs.pairs[1])  # an image in two pairs: two different crops
    (img,) = shared
    xa, xb = (p["x"][list(q).index(img)] for p, q in ((a, pairs.pairs[0]), (b, pairs.pairs[1])))
    assert not np.array_equal(xa.numpy(), xb.numpy())
    assert not np.array_equal(pairs[(1, 0)]["x"].numpy(), a["x"].numpy())  # new crops next epoch
