"""One training loop for the retrained regressors (pyiqa architectures, ViT-BIQA).

A recipe is a set of dataclass fields (``RecipeParams``): optimiser, learning rates for the
backbone and the rest, epochs, batch, crop size, flips, loss, an optional head-only warm-up
phase (DBCNN trains its last layer before fine-tuning everything). Targets are the training
scores standardised to zero mean / unit variance (a monotone map: SRCC/KRCC are unchanged).
Test predictions average the model's output over ``test_crops`` deterministic crops.

``TrainedRegressor`` is the Method base of every baseline trained this way: subclasses only say how
to ``build`` their ``Trainable``. torch is imported inside the functions: method class modules
import this file freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, make_dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from bench.records import ImageSet
from methods.base import Method


@dataclass
class RecipeParams:
    epochs: int = 10
    batch_size: int = 16
    optimizer: str = "adam"          # adam | adamw | sgd
    lr: float = 1e-4                 # non-backbone parameters (head, hyper network, prompts...)
    backbone_lr: float | None = None # None: same as lr
    weight_decay: float = 0.0
    momentum: float = 0.9            # sgd only
    scheduler: str = "none"          # none | cosine | step
    step_epochs: int = 0             # step scheduler: decay every this many epochs
    gamma: float = 0.1
    loss: str = "mse"                # mse | l1 | plcc | mse+plcc | fidelity
    crop_size: int = 224
    hflip: bool = True
    test_crops: int = 1
    head_epochs: int = 0             # warm-up epochs that train only the head
    head_optimizer: str = "sgd"
    head_lr: float = 1e-3
    warmup_epochs: int = 0           # linear warm-up before the scheduler (cosine)
    target: str = "z"                # z: standardised scores; unit: min-max scaled to [0, 1] (bounded outputs)
    max_steps: int = 0               # >0: stop after this many optimiser steps in total (tests, demo)


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


# --- losses ------------------------------------------------------------------------------
def plcc_loss(pred, target):
    """(1 - Pearson) / 2, as pyiqa's PLCCLoss; batch-level."""
    import torch

    p = pred - pred.mean()
    t = target - target.mean()
    r = (p * t).sum() / torch.sqrt((p * p).sum() * (t * t).sum() + 1e-12)   # eps inside: finite grad at 0
    return (1 - r) / 2


def fidelity_loss(pred, target):
    """Pairwise fidelity loss (Tsai et al. 2007) under Thurstone's model, as UNIQUE and LIQE use:
    P(i better than j) = Phi((s_i - s_j) / sqrt(2)) for prediction and target alike."""
    import torch

    normal = torch.distributions.Normal(0.0, 1.0)
    i, j = torch.triu_indices(len(pred), len(pred), offset=1)
    if len(i) == 0:
        return (pred * 0).sum()
    p = normal.cdf((pred[i] - pred[j]) / np.sqrt(2.0))
    q = normal.cdf((target[i] - target[j]) / np.sqrt(2.0))
    eps = 1e-8
    return (1 - torch.sqrt(p * q + eps) - torch.sqrt((1 - p) * (1 - q) + eps)).mean()


def make_loss(name: str) -> Callable:
    import torch.nn.functional as F

    table = {
        "mse": F.mse_loss,
        "l1": F.l1_loss,
        "plcc": plcc_loss,
        "mse+plcc": lambda p, t: F.mse_loss(p, t) + plcc_loss(p, t),
        "fidelity": fidelity_loss,
    }
    if name not in table:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(table)}")
    return table[name]


def make_optimizer(kind: str, groups: list[dict], momentum: float, weight_decay: float):
    import torch

    groups = [g for g in groups if g["params"]]
    if kind == "adam":
        return torch.optim.Adam(groups, weight_decay=weight_decay)
    if kind == "adamw":
        return torch.optim.AdamW(groups, weight_decay=weight_decay)
    if kind == "sgd":
        return torch.optim.SGD(groups, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind!r}; choose from adam, adamw, sgd")


def _scheduler(opt, p: RecipeParams, epochs: int):
    import math

    import torch

    if p.scheduler == "cosine":
        warm = max(0, min(p.warmup_epochs, epochs - 1))

        def factor(e):   # per epoch: linear warm-up, then cosine to zero
            if e < warm:
                return (e + 1) / (warm + 1)
            return 0.5 * (1 + math.cos(math.pi * (e - warm) / max(1, epochs - warm)))

        return torch.optim.lr_scheduler.LambdaLR(opt, factor)
    if p.scheduler == "step" and p.step_epochs > 0:
        return torch.optim.lr_scheduler.StepLR(opt, step_size=p.step_epochs, gamma=p.gamma)
    return None


def default_forward(net, x):
    out = net(x)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out.reshape(len(x), -1).mean(dim=1)


@dataclass
class Trainable:
    """What a method hands the trainer: the network, how to score a batch of crops, parameter groups."""

    net: Any
    backbone: list                      # backbone parameters (backbone_lr)
    head: list                          # everything else that trains (lr; head-only warm-up)
    forward: Callable = default_forward


def fit_regressor(model: Trainable, train: ImageSet, p: RecipeParams, context) -> dict:
    """Train ``model`` on ``train`` with recipe ``p``. Returns {'steps', 'mean', 'std'} (target scaling)."""
    import torch
    from tqdm import tqdm

    from bench.images import CropDataset, make_loader

    device = context.device
    net = model.net.to(device)
    scores = train.scores
    if p.target == "unit":
        mean, std = float(scores.min()), float(np.ptp(scores) or 1.0)
    elif p.target == "z":
        mean, std = float(scores.mean()), float(scores.std() or 1.0)
    else:
        raise ValueError(f"unknown target scaling {p.target!r}; choose z or unit")
    loss_fn = make_loss(p.loss)
    data = CropDataset(train.records, n_crops=1, crop_size=p.crop_size, train=True, seed=context.seed)
    batch = min(p.batch_size, len(data))
    loader = make_loader(data, batch_size=batch, shuffle=True, num_workers=context.num_workers,
                         seed=context.seed, drop_last=len(data) > batch)
    gen = torch.Generator().manual_seed(int(context.seed))
    steps = 0
    phases = []
    if p.head_epochs > 0:
        phases.append(("head", p.head_epochs, p.head_optimizer, [{"params": model.head, "lr": p.head_lr}]))
    main_groups = [{"params": model.backbone, "lr": p.backbone_lr if p.backbone_lr is not None else p.lr},
                   {"params": model.head, "lr": p.lr}]
    phases.append(("all", p.epochs, p.optimizer, main_groups))
    epoch_counter = 0
    original_flags = [(q, q.requires_grad) for q in list(model.backbone) + list(model.head)]
    for phase, epochs, opt_kind, groups in phases:
        trainable = {id(q) for g in groups for q in g["params"]}
        for q in list(model.backbone) + list(model.head):
            q.requires_grad_(id(q) in trainable)
        opt = make_optimizer(opt_kind, groups, p.momentum, p.weight_decay)
        sched = _scheduler(opt, p, epochs)
        for _ in tqdm(range(epochs), desc=f"train ({phase})", disable=not context.progress, leave=False):
            net.train()
            data.set_epoch(epoch_counter)
            epoch_counter += 1
            for item in loader:
                x = item["crops"][:, 0].to(device)
                if p.hflip:
                    flip = torch.rand(len(x), generator=gen) < 0.5
                    x = torch.where(flip.view(-1, 1, 1, 1).to(device), x.flip(-1), x)
                y = ((item["score"].float() - mean) / std).to(device)
                loss = loss_fn(model.forward(net, x).float(), y)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at step {steps}: lower the learning rate")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps += 1
                if p.max_steps and steps >= p.max_steps:
                    break
            if sched is not None:
                sched.step()
            if p.max_steps and steps >= p.max_steps:
                break
        if p.max_steps and steps >= p.max_steps:
            break
    for q, flag in original_flags:
        q.requires_grad_(flag)
    return {"steps": steps, "mean": mean, "std": std}


def predict_regressor(model: Trainable, images: ImageSet, p: RecipeParams, context, batch_size: int = 16) -> np.ndarray:
    """Mean model output over ``test_crops`` deterministic crops per image."""
    import torch
    from tqdm import tqdm

    from bench.images import CropDataset, make_loader

    net = model.net.to(context.device).eval()
    data = CropDataset(images.records, n_crops=max(1, p.test_crops), crop_size=p.crop_size, train=False,
                       seed=context.seed)
    loader = make_loader(data, batch_size=max(1, batch_size // max(1, p.test_crops)), num_workers=context.num_workers)
    out = []
    with torch.no_grad():
        for item in tqdm(loader, desc="predict", disable=not context.progress, leave=False):
            crops = item["crops"]
            b, n = crops.shape[:2]
            y = model.forward(net, crops.flatten(0, 1).to(context.device)).float().reshape(b, n).mean(1)
            out.append(y.cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


class TrainedRegressor(Method):
    """fit / predict / save / load for a method whose model is a ``Trainable`` (built lazily by ``build``)."""

    simplifications: ClassVar[tuple[str, ...]] = ()   # where we differ from the paper; noted in every result

    def __init__(self, params: Any = None, context=None):
        super().__init__(params, context)
        self.model: Trainable | None = None
        self.train_stats: dict = {}

    def build(self) -> Trainable:
        raise NotImplementedError

    def _ensure_model(self) -> Trainable:
        if self.model is None:
            self.model = self.build()
        return self.model

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> None:
        from bench.seeding import seed_everything

        import torch  # noqa: F401  (imported first, so that seed_everything seeds it)

        seed_everything(self.context.seed)
        for s in self.simplifications:
            self.context.note(f"{self.name}: {s}")
        self.train_stats = fit_regressor(self._ensure_model(), train, self.params, self.context)

    def predict(self, images: ImageSet) -> np.ndarray:
        return predict_regressor(self._ensure_model(), images, self.params, self.context)

    def save(self, path: Path) -> None:
        import torch

        torch.save(self._ensure_model().net.state_dict(), path)

    def load(self, path: Path) -> None:
        import torch

        self._ensure_model().net.load_state_dict(torch.load(path, map_location="cpu"))
