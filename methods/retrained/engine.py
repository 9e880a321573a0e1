"""The training engine of every baseline retrained per cell (pyiqa architectures, DACNN, CLIP-IQA+, ViT-BIQA).

API (a new baseline = one file under methods/retrained/ with one class):

    class Mine(TrainedRegressor):
        name = "mine"; version = "1"
        Params = recipe_dataclass("MineParams", epochs=..., lr=..., train_crops=25, ...)   # the paper preset
        sources = {"epochs": "owner/repo train.py --epochs", ...}   # where every value comes from
        def build(self) -> Trainable: ...              # the net, its 'backbone' and 'head' parameter lists
        # optional:
        @classmethod
        def resize_for(cls, params, dataset): ...      # resize before cropping on that dataset (default: resize_by_dataset)
        @classmethod
        def phases_for(cls, params): ...               # the optimiser phases and lr per group per epoch
        def loss_terms(self, net, x, y, y_std=None): ...   # the method's own loss: {term: tensor}, summed

``recipe_for(params, dataset) -> Recipe`` (methods/retrained/recipe.py) is the resolved recipe; ``recipe()``
(``bench methods NAME --recipe``) is its JSON, and ``fit`` runs exactly it:

* each training image gives ``train_crops`` random crops per epoch, each its own sample (``pool_train_crops``:
  one sample whose crop outputs are averaged), cut after the recipe's resize; flips per sample;
* phases in order; a phase trains only the groups in its ``lr_table`` (the rest is frozen), with the lr of each
  group set at the start of every epoch from the table (a fresh optimiser on a change when ``reset_optimizer``,
  at every epoch when ``reset_every_epoch``);
* every epoch is logged with ``context.log_epoch(epoch, lr=, lr_<group>=, seconds=, loss=, loss_<term>=,
  [val_srcc=])``; selection is the last epoch, or the best ``val_srcc`` one when ``context.select_on == 'val'``
  and a validation part is given; ``context.record('selected_epoch', k)`` either way;
* test: ``crops`` (n deterministic crops averaged) or ``full`` (the whole image after the test resize).

Targets: ``z`` (training scores standardised), ``unit`` (the dataset's score scale mapped to [0, 1], as
pyiqa's ``mos_normalize``) or ``score`` (as the dataset gives them, higher is better). torch is imported
inside functions only: method class modules import this file freely.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.core.records import ImageSet
from methods.base import Method
from methods.retrained import feature_cache as fc
from methods.retrained.data import (  # noqa: F401
    PatchDataset,
    apply_resize,
    epoch_batches,
    resized_size,
    target_scaling,
    training_records,
)
from methods.retrained.label_columns import load_label_map, save_label_map, to_dataset_scale
from methods.retrained.losses import fidelity_binary_loss, fidelity_loss, make_loss, plcc_loss, std_normal_cdf  # noqa: F401
from methods.retrained.recipe import (  # noqa: F401
    ORDER_EVERY_EPOCH,
    ORDER_ONCE,
    Recipe,
    RecipeParams,
    describe_test,
    recipe_dataclass,
    standard_phases,
    step_cosine_factor,
)
from methods.retrained.scoring import predict_images


def make_optimizer(kind: str, groups: list[dict], momentum: float, weight_decay: float):
    import torch

    groups = [g for g in groups if g["params"]]
    if kind == "adam":
        return torch.optim.Adam(groups, weight_decay=weight_decay)
    if kind == "adamw":
        return torch.optim.AdamW(groups, weight_decay=weight_decay)
    if kind == "adamw-fastai":  # fastai v1's default opt_func: Adam betas (0.9, 0.99), decoupled weight decay
        return torch.optim.AdamW(groups, betas=(0.9, 0.99), weight_decay=weight_decay)
    if kind == "sgd":
        return torch.optim.SGD(groups, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind!r}; choose from adam, adamw, adamw-fastai, sgd")


def default_forward(net, x):
    out = net(x)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out.reshape(len(x), -1).mean(dim=1)


def mean_pool(forward):
    def pool(net, crops):  # [B, k, 3, s, s] -> [B]: the mean output over an image's crops
        b, k = crops.shape[:2]
        return forward(net, crops.flatten(0, 1)).reshape(b, k).mean(1)

    return pool


@dataclass
class Trainable:
    """What a method hands the engine: the network, how to score crops, its parameter groups.

    A method whose trainable parameters all sit after a frozen image tower names it (``tower``, kept in eval mode by
    the engine in every path) and splits ``forward`` in two: ``features`` (net, x [B, 3, h, w]) -> [B, ...] (the
    tower) and ``from_features`` (net, f) -> [B] (the rest); ``forward`` must equal their composition. Whole-image
    recipes then train from features cached once per (image, flip) (``methods/retrained/feature_cache.py``)."""

    net: Any
    backbone: list  # 'backbone' group
    head: list  # 'head' group: everything else that trains
    forward: Callable = default_forward  # (net, x [B, 3, h, w]) -> [B]
    pool: Callable | None = None  # (net, crops [B, k, 3, h, w]) -> [B]; default: mean of forward
    tower: Any = None  # the frozen image tower (an nn.Module no phase trains), or None
    features: Callable | None = None  # (net, x [B, 3, h, w]) -> tower output [B, ...]
    from_features: Callable | None = None  # (net, tower output [B, ...]) -> [B]

    def __post_init__(self):
        if self.pool is None:
            self.pool = mean_pool(self.forward)


# --- the method base ---------------------------------------------------------------------------------
class TrainedRegressor(Method):
    """fit / predict / save / load / recipe for a method whose model is a ``Trainable`` (built by ``build``)."""

    simplifications: ClassVar[tuple[str, ...]] = ()  # where we differ from the official recipe; noted in results
    sources: ClassVar[dict[str, str]] = {}  # recipe value -> where it comes from
    source: ClassVar[str] = ""  # one-line summary (docs, bench methods)
    loss_left_out: ClassVar[str] = ""  # what of the method's own loss is not implemented, and why
    official_selection: ClassVar[str] = ""  # what the official script selected (best test epoch ...)
    has_backbone: ClassVar[bool] = True  # False: one trained group ('head'), e.g. prompts on frozen CLIP
    # the training order: reshuffled every epoch, or one random order drawn from the cell's seed and kept (MetaIQA)
    training_order: ClassVar[str] = ORDER_EVERY_EPOCH
    # the official training loader's drop_last (its source in ``sources['last batch']``); True drops an incomplete
    # last batch every epoch, False trains on it
    drop_last: ClassVar[bool] = True
    # the frozen image tower whose output a whole-image recipe may cache, and why it is deterministic ("" none)
    frozen_tower: ClassVar[str] = ""
    # dataset -> (label column the official code trains on, its source line); predictions are mapped back to the
    # dataset's score before any metric (methods/retrained/label_columns.py)
    label_columns: ClassVar[dict[str, tuple[str, str]]] = {}

    def __init__(self, params: Any = None, context=None):
        super().__init__(params, context)
        self.model: Trainable | None = None
        self.train_stats: dict = {}
        self.label_map: tuple[float, float] | None = None  # score = a * prediction + b (a label column)

    # --- the recipe (torch-free) ---
    resize_by_dataset: ClassVar[dict[str, dict]] = {}  # the official per-dataset resize before cropping

    @classmethod
    def resize_for(cls, params, dataset: str) -> dict | None:
        return cls.resize_by_dataset.get(dataset)

    @classmethod
    def test_resize_for(cls, params, dataset: str) -> dict | None:
        return cls.resize_for(params, dataset)

    @classmethod
    def crop_for(cls, params, dataset: str) -> int:
        return int(params.crop_size)

    @classmethod
    def phases_for(cls, params) -> list:
        return standard_phases(params, cls.has_backbone)

    @classmethod
    def pairs_for(cls, params, dataset: str) -> int:
        """>0: the method trains on this many image pairs per epoch (``training_data`` hands them out)."""
        return 0

    @classmethod
    def loss_spec(cls, params) -> dict:
        return {"name": params.loss, "terms": {params.loss: 1.0}, "left_out": cls.loss_left_out}

    @classmethod
    def recipe_for(cls, params, dataset: str) -> Recipe:
        resize = cls.resize_for(params, dataset) if params.resize == "official" else None
        test_resize = cls.test_resize_for(params, dataset) if params.resize == "official" else None
        if params.resize not in ("official", "none"):
            raise ValueError(f"{cls.name}: resize={params.resize!r}; choose official or none")
        recipe = Recipe(
            method=cls.name,
            dataset=dataset,
            resize=resize,
            crop_size=cls.crop_for(params, dataset),
            train_crops_per_image=params.train_crops,
            pool_train_crops=params.pool_train_crops,
            hflip=params.hflip,
            vflip=params.vflip,
            test=describe_test(params, test_resize),
            phases=cls.phases_for(params),
            loss=cls.loss_spec(params),
            target=params.target,
            official_selection=cls.official_selection,
            sources=dict(cls.sources),
            notes=list(cls.simplifications),
            max_steps=params.max_steps,
            order=cls.training_order,
            drop_last=cls.drop_last,
            pairs_per_epoch=cls.pairs_for(params, dataset),
            label_column=cls.label_columns.get(dataset, (None, ""))[0],
            hflip_prob=float(getattr(params, "hflip_prob", 0.5)),  # a Params field of the methods that set it
        )
        recipe.feature_cache = fc.describe(cls.frozen_tower, recipe)
        recipe.feature_variants = fc.variants_if_cached(cls.frozen_tower, recipe)
        return recipe

    @classmethod
    def recipe(cls, params, dataset: str, n_train_images: int) -> dict:
        return cls.recipe_for(params, dataset).as_dict(n_train_images)

    # --- the model ---
    def build(self) -> Trainable:
        raise NotImplementedError

    def _ensure_model(self) -> Trainable:
        if self.model is None:
            self.model = self.build()
        return self.model

    def loss_terms(self, net, x, y, y_std=None) -> dict:
        """The method's loss on one batch: x [B, k, 3, s, s], y [B] scaled targets, y_std [B] the ratings' std on
        the same scale (None where the dataset publishes none) -> {term: tensor}, summed by the engine."""
        return {self.params.loss: make_loss(self.params.loss)(self.model.pool(net, x).to(y.dtype), y)}

    # --- fit / predict ---
    def fit(self, train: ImageSet, val: ImageSet | None = None) -> None:
        import torch  # noqa: F401  (imported first, so that seed_everything seeds it)

        from bench.core.seeding import seed_everything

        seed_everything(self.context.seed)
        for s in self.simplifications:
            self.context.note(f"{self.name}: {s}")
        recipe = self.recipe_for(self.params, train.dataset.name)
        self._note_small_images(train, recipe)
        if recipe.label_column:  # the official code's label column (methods/retrained/label_columns.py)
            from methods.retrained.label_columns import use_label_column

            train, self.label_map = use_label_column(self, train, recipe.label_column)
        self.train_stats = run_training(self, self._ensure_model(), train, val, recipe)

    def training_data(self, train: ImageSet, recipe: Recipe):
        """The training samples: crops of single images (``PatchDataset``), in the recipe's order."""
        return PatchDataset(
            training_records(train.records, recipe.order, self.context.seed),
            recipe.crop_size,
            recipe.train_crops_per_image,
            recipe.resize,
            train=True,
            seed=self.context.seed,
            pool=recipe.pool_train_crops,
            cache=getattr(self.context, "image_cache", None),
        )

    def _note_small_images(self, train: ImageSet, recipe: Recipe) -> None:
        """Crops larger than a (resized) image are cut after a bicubic upscale: say so instead of doing it silently."""
        if not recipe.crop_size:
            return
        from bench.data.images import image_size

        small = 0
        for rec in train.records:
            w, h = resized_size(image_size(rec.path), recipe.resize)
            small += min(w, h) < recipe.crop_size
        if small:
            self.context.note(
                f"{self.name}: {small} of {len(train)} training images are smaller than the "
                f"{recipe.crop_size} crop after the recipe's resize ({recipe.resize}): they are "
                "upscaled (bicubic, aspect kept) before cropping"
            )

    def predict(self, images: ImageSet) -> np.ndarray:
        p = self.params
        if hasattr(p, "test_mode"):
            recipe = self.recipe_for(p, images.dataset.name)
            crop, test = recipe.crop_size, recipe.test
        else:  # Params without the recipe fields (zero-shot CLIP-IQA): n crops averaged
            crop, test = int(p.crop_size), {"mode": "crops", "n_crops": int(p.test_crops), "resize": None}
        return to_dataset_scale(predict_images(self._ensure_model(), images, crop, test, self.context), self.label_map)

    def save(self, path: Path) -> None:
        import torch

        torch.save(self._ensure_model().net.state_dict(), path)
        save_label_map(path, self.label_map)  # a label column's map back to the score travels with the weights

    def load(self, path: Path) -> None:
        from methods.checkpoints import load_tensors

        self._ensure_model().net.load_state_dict(load_tensors(path))
        self.label_map = load_label_map(path)


def _set_trainable(model: Trainable, groups: set[str]) -> None:
    for name, params in (("backbone", model.backbone), ("head", model.head)):
        for q in params:
            q.requires_grad_(name in groups)


def run_training(
    method: TrainedRegressor, model: Trainable, train: ImageSet, val: ImageSet | None, recipe: Recipe
) -> dict:
    """Train ``model`` on ``train`` with ``recipe`` (see the module docstring). Returns facts of the run."""
    import copy

    import torch
    from scipy.stats import spearmanr
    from tqdm import tqdm

    from bench.data.images import make_loader

    context, p = method.context, method.params
    device = context.device
    net = model.net.to(device)
    offset, scale = target_scaling(recipe.target, train)
    data = method.training_data(train, recipe)
    gen = torch.Generator().manual_seed(int(context.seed))
    features = fc.cached_features(
        method, model, data, recipe, TrainedRegressor.loss_terms
    )  # None: every step runs the whole network
    flags = [(q, q.requires_grad) for q in list(model.backbone) + list(model.head)]
    steps, samples, epoch_no = 0, 0, 0
    best = (-np.inf, None, None)  # (val_srcc, epoch, state)
    select_val = val is not None and len(val) > 1 and context.select_on == "val"
    done = False
    if features is not None:
        method.model = fc.cached_view(model, features)  # the loss pools features through from_features
    try:
        for phase in recipe.phases:
            _set_trainable(model, set(phase.lr_table))
            batch = min(phase.batch_size, len(data))
            loader = make_loader(
                data if features is None else fc.IndexSamples(data),
                batch_size=batch,
                shuffle=recipe.shuffle,
                num_workers=context.num_workers if features is None else 0,
                seed=context.seed + epoch_no,
                drop_last=recipe.drop_last and len(data) > batch,
                device=device,
            )
            if features is not None:
                loader = fc.IndexBatches(loader, data.records)
            groups = {"backbone": model.backbone, "head": model.head}
            opt, current, phase_steps = None, None, 0
            for e in tqdm(range(phase.epochs), desc=f"train ({phase.name})", disable=not context.progress, leave=False):
                lrs = {g: table[e] for g, table in phase.lr_table.items()}
                if opt is None or phase.reset_every_epoch or (phase.reset_optimizer and lrs != current):
                    opt = make_optimizer(
                        phase.optimizer,
                        [{"params": list(groups[g]), "lr": lr, "name": g} for g, lr in lrs.items()],
                        phase.momentum,
                        phase.weight_decay,
                    )
                for g in opt.param_groups:
                    g["lr"] = lrs[g["name"]]
                current = lrs
                net.train()
                if model.tower is not None:  # the frozen tower runs in eval mode, cached or not (feature_cache.py)
                    model.tower.eval()
                epoch_no += 1
                start, totals, n_batches = time.perf_counter(), {}, 0
                # crops of pass k of epoch e (fixed steps per epoch cycle the data): seeded by e + 10**6 k
                passes = lambda k, e=epoch_no - 1: data.set_epoch(e + 1_000_000 * k)
                for item in epoch_batches(loader, phase.steps_per_epoch, passes):
                    if phase.step_cosine:  # the lr of every step (mmcv CosineRestart by iteration)
                        for g in opt.param_groups:
                            g["lr"] = phase.lr_at_step(g["name"], e, phase_steps)
                    elif phase.step_cosine_t_max:  # torch's CosineAnnealingLR stepped per step (MANIQA)
                        f = step_cosine_factor(phase_steps, phase.step_cosine_t_max)
                        for g in opt.param_groups:
                            g["lr"] = lrs[g["name"]] * f
                    x = fc.batch_input(item, recipe, gen, device, features)
                    y = ((item["score"].to(torch.get_default_dtype()) - offset) / scale).to(device)
                    std = item["std"].to(torch.get_default_dtype()) / scale
                    terms = method.loss_terms(net, x, y, None if torch.isnan(std).any() else std.to(device))
                    loss = sum(terms.values())
                    if not torch.isfinite(loss):
                        raise FloatingPointError(
                            f"{method.name}: loss became {loss.item()} at step {steps}: lower the learning rate"
                        )
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    steps, samples, n_batches, phase_steps = steps + 1, samples + len(x), n_batches + 1, phase_steps + 1
                    totals["loss"] = totals.get("loss", 0.0) + float(loss.detach())
                    for k, v in terms.items():
                        totals[f"loss_{k}"] = totals.get(f"loss_{k}", 0.0) + float(v.detach())
                    if p.max_steps and steps >= p.max_steps:
                        done = True
                        break
                row = {
                    "lr": lrs.get("head", next(iter(lrs.values()))),
                    **{f"lr_{g}": v for g, v in lrs.items()},
                    "seconds": time.perf_counter() - start,
                    "phase": phase.name,
                    **{k: v / max(1, n_batches) for k, v in totals.items()},
                }
                if val is not None and len(val) > 1:
                    val_pred = predict_images(model, val, recipe.crop_size, recipe.test, context)
                    row["val_srcc"] = float(spearmanr(val.scores, val_pred)[0])
                    if select_val and row["val_srcc"] > best[0]:
                        best = (row["val_srcc"], epoch_no, copy.deepcopy(net.state_dict()))
                context.log_epoch(epoch_no, **row)
                if done:
                    break
            if done:
                break
    finally:
        method.model = model
    for q, flag in flags:
        q.requires_grad_(flag)
    selected = epoch_no
    if select_val and best[2] is not None:
        net.load_state_dict(best[2])
        selected = best[1]
    context.record("selected_epoch", selected)
    context.record("optimizer_steps", steps)
    context.record("samples_seen", samples)
    return {"steps": steps, "samples": samples, "offset": offset, "scale": scale, "selected_epoch": selected}
