"""A retrained baseline's recipe as data (torch-free): what ``bench methods NAME --recipe`` shows and what
the engine (``methods/retrained/engine.py``) runs.

``Recipe`` is resolved per dataset from a method's ``Params`` (the ``paper`` preset = the official training
code's numbers) by ``TrainedRegressor.recipe_for(params, dataset)``. Learning rates are resolved to one value
per parameter group per epoch (``Phase.lr_table``), so the schedule shown is the schedule run, and tests pin it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, make_dataclass
from typing import Any

from methods.recipes import RECIPE_KEYS, steps_per_epoch


@dataclass
class RecipeParams:
    """The knobs every retrained baseline has (``--param NAME.field=value``); defaults are per method."""

    epochs: int = 10  # epochs of the main phase (all trainable groups)
    batch_size: int = 16  # samples (crops) per optimiser step
    optimizer: str = "adam"  # adam | adamw | adamw-fastai (betas 0.9, 0.99) | sgd
    lr: float = 1e-4  # 'head' group: everything that is not the backbone
    backbone_lr: float | None = None  # None: same as lr
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    scheduler: str = "none"  # none | step | cosine | official (the method's own table)
    step_epochs: int = 0  # step: multiply by gamma every this many epochs
    gamma: float = 0.1
    cosine_t_max: int = 0  # cosine: period in epochs (0: the phase's epochs)
    warmup_epochs: int = 0  # cosine: linear warm-up epochs first
    reset_optimizer: bool = False  # a fresh optimiser whenever the lr changes (TReS, DACNN; HyperIQA: every epoch)
    loss: str = "mse"  # the method's own loss name (see the method's loss_terms)
    target: str = "z"  # z: standardised train scores | unit: dataset scale -> [0, 1] | score: as is
    crop_size: int = 224  # 0: the whole (resized) image
    resize: str = "official"  # official: resize per dataset as the method's code does | none
    train_crops: int = 1  # crops per training image per epoch, each its own sample
    pool_train_crops: bool = False  # True: an image's crops are one sample, their outputs averaged (LIQE)
    hflip: bool = True
    vflip: bool = False
    test_mode: str = "crops"  # crops (n averaged) | full (whole image after the test resize)
    test_crops: int = 1
    steps_per_epoch: int = 0  # >0: a fixed number of steps per epoch, cycling the data (LIQE)
    head_epochs: int = 0  # head-only phase first (DBCNN, UNIQUE)
    head_optimizer: str = "sgd"
    head_lr: float = 1e-3
    head_batch_size: int = 0  # 0: batch_size
    head_weight_decay: float | None = None  # None: weight_decay
    max_steps: int = 0  # >0: stop after this many optimiser steps in total (ci / demo presets)


def recipe_dataclass(name: str, extra: list[tuple[str, type, Any]] = (), **defaults: Any) -> type:
    """A Params dataclass with the recipe fields, this method's defaults, and its own extra fields."""
    spec = []
    for f in fields(RecipeParams):
        spec.append((f.name, f.type, field(default=defaults.pop(f.name, f.default))))
    for fname, ftype, fdefault in extra:
        spec.append((fname, ftype, field(default=defaults.pop(fname, fdefault))))
    if defaults:
        raise TypeError(f"{name}: unknown recipe fields {sorted(defaults)}")
    return make_dataclass(name, spec)


@dataclass
class Phase:
    name: str  # 'head' (head only) | 'all'
    epochs: int
    optimizer: str
    batch_size: int
    weight_decay: float
    momentum: float
    lr_table: dict[str, list[float]]  # group ('backbone' | 'head') -> lr per epoch; groups absent are frozen
    reset_optimizer: bool = False  # a fresh optimiser whenever the lr changes (TReS, DACNN)
    steps_per_epoch: int = 0  # >0: fixed steps per epoch
    reset_every_epoch: bool = False  # a fresh optimiser at the start of every epoch (HyperIQA's solver)
    # >0: step k of the phase (0-based) runs at the epoch's lr x step_cosine_factor(k, T): a CosineAnnealingLR
    # (eta_min 0) stepped after every optimiser step, periodic as torch's (MANIQA's train_epoch)
    step_cosine_t_max: int = 0
    # per-iteration cosine (mmcv CosineRestart, one period, by_epoch=False): before step t of the phase each group's
    # lr is min_lr + (lr0 - min_lr) (1 + cos(pi t / period)) / 2, lr0 its lr_table's first value; lr_table then
    # shows the lr at each epoch's first step. None: the lr is constant within an epoch
    step_cosine: dict | None = None  # {"period": P, "min_lr": m}

    def steps(self, n_samples: int, drop_last: bool = True) -> int:
        per = self.steps_per_epoch or steps_per_epoch(n_samples, self.batch_size, drop_last)
        return per * self.epochs

    def samples(self, n_samples: int, drop_last: bool = True) -> int:
        """Samples the phase trains on: per pass, every sample (the last batch kept) or the full batches."""
        batch = min(self.batch_size, n_samples)
        per_pass = steps_per_epoch(n_samples, batch, drop_last)
        seen_pass = n_samples if per_pass * batch > n_samples else per_pass * batch
        if not self.steps_per_epoch:
            return seen_pass * self.epochs
        full, rest = divmod(self.steps_per_epoch, per_pass)  # fixed steps cycle the data, from a new pass per epoch
        return (full * seen_pass + rest * batch) * self.epochs

    def lr_at_step(self, group: str, epoch: int, step: int) -> float:
        """The lr of ``group`` at the phase's step ``step`` (0-based) in epoch ``epoch``."""
        if not self.step_cosine:
            return self.lr_table[group][epoch]
        return cosine_lr(self.lr_table[group][0], self.step_cosine["min_lr"], step, self.step_cosine["period"])


def cosine_lr(lr: float, min_lr: float, step: int, period: int) -> float:
    """mmcv's CosineRestart within its one period: min_lr + (lr - min_lr) (1 + cos(pi step / period)) / 2."""
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(step, period) / period))


ORDER_EVERY_EPOCH, ORDER_ONCE = "shuffled every epoch", "one random order per cell"


@dataclass
class Recipe:
    method: str
    dataset: str
    resize: dict | None  # train/test resize before cropping: {"kind": "fixed", "hw": [h, w]} |
    # {"kind": "short_side", "size": s, "only_if_larger": bool} | None
    crop_size: int  # 0: the whole (resized) image
    train_crops_per_image: int
    pool_train_crops: bool
    hflip: bool
    vflip: bool
    test: dict  # {"mode": "crops"|"full"|"resize", "n_crops": N, "resize": ...}
    phases: list[Phase]
    loss: dict  # {"name", "terms": {term: weight}, "left_out": str}
    target: str
    selection: str = "last epoch (or the best val_srcc epoch with --val-fraction and select_on=val; never test)"
    official_selection: str = ""  # what the official script did (e.g. best test epoch), documented only
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    max_steps: int = 0
    order: str = "shuffled every epoch"  # | "one random order per cell" (drawn from the seed once: MetaIQA)
    drop_last: bool = True  # the training loader drops an incomplete last batch (the official loader's choice)
    feature_cache: str = ""  # what the cell trains from cached frozen features, or "" (feature_cache.py)
    feature_variants: int = 0  # >0: cached tower outputs per training image (its flip variants)
    pairs_per_epoch: int = 0  # >0: samples are image pairs, this many (at most all pairs) drawn once per
    # cell and visited every epoch (UNIQUE's data_all.m); batches count pairs
    label_column: str | None = None  # the dataset's label column the official code trains on (None: the score)
    hflip_prob: float = 0.5  # probability of a horizontal flip per sample (MANIQA's RandHorizontalFlip: 0.7)

    @property
    def shuffle(self) -> bool:
        """The loader reshuffles every epoch (else its order is fixed for the cell)."""
        return self.order == ORDER_EVERY_EPOCH

    @property
    def epochs(self) -> int:
        return sum(p.epochs for p in self.phases)

    def samples_per_epoch(self, n_images: int) -> int:
        if self.pairs_per_epoch:
            return min(self.pairs_per_epoch, n_images * (n_images - 1) // 2)
        return n_images if self.pool_train_crops else n_images * self.train_crops_per_image

    def as_dict(self, n_train_images: int) -> dict[str, Any]:
        """JSON for ``bench methods NAME --recipe --json``: at least ``methods.recipes.RECIPE_KEYS``."""
        n = self.samples_per_epoch(n_train_images)
        steps = [p.steps(n, self.drop_last) for p in self.phases]
        seen = [p.samples(n, self.drop_last) for p in self.phases]
        total_steps = sum(steps)
        if self.max_steps:
            total_steps = min(total_steps, self.max_steps)
        main = self.phases[-1]
        out = {
            "method": self.method,
            "dataset": self.dataset,
            "n_train_images": n_train_images,
            "train_crops_per_image": self.train_crops_per_image,
            "pool_train_crops": self.pool_train_crops,
            "crop_size": self.crop_size or "full image",
            "resize": self.resize,
            "flips": {
                "horizontal": self.hflip,
                "vertical": self.vflip,
                **({"horizontal_probability": self.hflip_prob} if self.hflip and self.hflip_prob != 0.5 else {}),
            },
            "batch_size": main.batch_size,
            "epochs": self.epochs,
            "optimizer_steps": total_steps,
            "samples_seen": sum(seen) if not self.max_steps else None,
            "test": self.test,
            "shuffle": self.shuffle,
            "order": self.order,
            "drop_last": self.drop_last,
            "feature_cache": self.feature_cache or None,
            **({"feature_cache_passes": n * self.feature_variants} if self.feature_variants else {}),
            **({"pairs_per_epoch": n, "sample": "image pair"} if self.pairs_per_epoch else {}),
            "optimizer": [
                {
                    "phase": p.name,
                    "type": p.optimizer,
                    "batch_size": p.batch_size,
                    "weight_decay": p.weight_decay,
                    **({"momentum": p.momentum} if p.optimizer == "sgd" else {}),
                    "groups": {g: lrs[0] for g, lrs in p.lr_table.items()},
                    "frozen": sorted({"backbone", "head"} - set(p.lr_table)),
                    "reset_on_lr_change": p.reset_optimizer,
                    "reset_every_epoch": p.reset_every_epoch,
                }
                for p in self.phases
            ],
            "schedule": [
                {
                    "phase": p.name,
                    "epochs": p.epochs,
                    "lr_per_epoch": p.lr_table,
                    **({"steps_per_epoch": p.steps_per_epoch} if p.steps_per_epoch else {}),
                    **({"step_cosine_t_max": p.step_cosine_t_max} if p.step_cosine_t_max else {}),
                    **({"lr_per_step": {"policy": "cosine", **p.step_cosine}} if p.step_cosine else {}),
                }
                for p in self.phases
            ],
            "loss": self.loss,
            "target": self.target,
            **({"label_column": self.label_column} if self.label_column else {}),
            "selection": self.selection,
            "official_selection": self.official_selection,
            "sources": self.sources,
            "notes": self.notes,
        }
        if self.max_steps:
            out["samples_seen"] = total_steps * min(main.batch_size, n)
            out["notes"] = out["notes"] + [
                f"max_steps={self.max_steps}: stops after {total_steps} steps (smoke preset)"
            ]
        missing = [k for k in RECIPE_KEYS if k not in out]
        assert not missing, missing
        return out


# --- schedules: one lr per epoch ------------------------------------------------------------
def schedule_table(p, base: dict[str, float], epochs: int) -> dict[str, list[float]]:
    """``base`` (group -> initial lr) resolved per epoch by ``p.scheduler`` (step | cosine | none)."""
    out = {}
    for group, lr in base.items():
        lrs = []
        for e in range(epochs):
            if p.scheduler == "step" and p.step_epochs > 0:
                f = p.gamma ** (e // p.step_epochs)
            elif p.scheduler == "cosine":
                warm = max(0, min(p.warmup_epochs, epochs - 1))
                t_max = (p.cosine_t_max or epochs) - warm
                if e < warm:
                    f = (e + 1) / (warm + 1)
                else:
                    f = 0.5 * (1 + math.cos(math.pi * min(e - warm, t_max) / max(1, t_max)))
            elif p.scheduler in ("none", "step"):
                f = 1.0
            else:
                raise ValueError(
                    f"unknown scheduler {p.scheduler!r}; choose none, step, cosine"
                    " (official: only for methods that define their own table)"
                )
            lrs.append(float(f"{lr * f:.12g}"))  # no float noise in the shown table
        out[group] = lrs
    return out


def torch_cosine_lrs(lr: float, t_max: int, epochs: int, eta_min: float = 0.0) -> list[float]:
    """torch's CosineAnnealingLR(T_max, eta_min) stepped once per epoch: epoch e (0-based) runs at
    eta_min + (lr - eta_min) * (1 + cos(pi * e / T_max)) / 2 -- periodic beyond T_max, as torch computes it (the
    ``cosine`` scheduler above holds at the minimum instead). pyiqa's trainer steps it once per epoch."""
    return [float(f"{eta_min + (lr - eta_min) * (1 + math.cos(math.pi * e / t_max)) / 2:.12g}") for e in range(epochs)]


def step_cosine_factor(step: int, t_max: int) -> float:
    """The lr factor at optimiser step ``step`` of a CosineAnnealingLR(T_max, eta_min=0) stepped per step."""
    return (1 + math.cos(math.pi * step / t_max)) / 2


def standard_phases(p, has_backbone: bool = True) -> list[Phase]:
    """An optional head-only phase (``head_epochs``), then all groups with ``p.scheduler``."""
    phases = []
    if p.head_epochs > 0:
        phases.append(
            Phase(
                "head",
                p.head_epochs,
                p.head_optimizer,
                p.head_batch_size or p.batch_size,
                p.weight_decay if p.head_weight_decay is None else p.head_weight_decay,
                p.momentum,
                {"head": [p.head_lr] * p.head_epochs},
            )
        )
    base = {"head": p.lr}
    if has_backbone:
        base = {"backbone": p.backbone_lr if p.backbone_lr is not None else p.lr, "head": p.lr}
    phases.append(
        Phase(
            "all",
            p.epochs,
            p.optimizer,
            p.batch_size,
            p.weight_decay,
            p.momentum,
            schedule_table(p, base, p.epochs),
            p.reset_optimizer,
            p.steps_per_epoch,
        )
    )
    return phases


def short_side(size: int, only_if_larger: bool = True) -> dict:
    return {"kind": "short_side", "size": size, "only_if_larger": only_if_larger}


def fixed(h: int, w: int) -> dict:
    return {"kind": "fixed", "hw": [h, w]}


def describe_test(p, resize: dict | None) -> dict:
    if p.test_mode not in ("crops", "full", "resize"):
        raise ValueError(f"unknown test_mode {p.test_mode!r}; choose crops, full or resize")
    return {"mode": p.test_mode, "n_crops": p.test_crops if p.test_mode == "crops" else 1, "resize": resize}


def recipe_json(recipe: Recipe, n_train_images: int) -> dict:
    return recipe.as_dict(n_train_images)


def params_summary(p) -> dict:
    return asdict(p)
