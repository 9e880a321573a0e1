"""Training from cached frozen features: a phase whose trainable parameters all sit after a frozen, deterministic
image tower, with a finite set of augmentations, computes the tower's output once per (image, augmentation).

When it applies (``cache_blocker`` returns ""):

* the method's ``Trainable`` names its ``tower`` (an nn.Module that no phase trains) and splits its forward into
  ``features(net, x)`` (the tower's part, images [B, 3, H, W] -> [B, ...]) and ``from_features(net, f)`` (the rest);
* the tower runs in eval mode in every path (the engine sets it: BatchNorm uses running statistics, dropout is off),
  so its output depends on the input alone -- the method class states it in ``frozen_tower`` with its source;
* every training sample is one whole image (``crop_size`` 0 after a fixed resize, one crop, no image pairs), so
  its only randomness is the flips: at most 4 variants per image (none, h, v, hv);
* the loss is the engine's default (``loss_terms`` through ``Trainable.pool``).

The training loop is the uncached one with the same draws: batches come from the same seeded sampler over the
same number of samples (``bench.data.images.make_loader``: shuffle per pass, the last batch as the recipe says), flips
from the same generator (``flip_draws``), so a cached and an uncached cell see the same samples in the same order
and differ only by floating-point rounding of batched tower passes (tests/test_feature_cache.py: 1e-6 in float64).
"""

from __future__ import annotations

import time
from dataclasses import replace

FLIP_COMBOS = ((False, False), (True, False), (False, True), (True, True))  # (h, v) -> variant index h + 2 v


def variant_count(hflip: bool, vflip: bool) -> int:
    return (2 if hflip else 1) * (2 if vflip else 1)


def variant_index(h, v, hflip: bool, vflip: bool):
    """Index of the (h, v) flip variant in a cache of ``variant_count(hflip, vflip)`` variants per image."""
    idx = h.long() * 0  # a tensor even without flips
    if hflip:
        idx = idx + h.long()
    if vflip:
        idx = idx + (2 if hflip else 1) * v.long()
    return idx


def flip_draws(b: int, hflip: bool, vflip: bool, gen, hflip_prob: float = 0.5):
    """The flips of ``b`` samples, drawn from ``gen`` (horizontal first): (h, v) boolean [b] or None each."""
    import torch

    h = torch.rand(b, generator=gen) < hflip_prob if hflip else None  # the same draws for any probability
    v = torch.rand(b, generator=gen) < 0.5 if vflip else None
    return h, v


def feature_batch(features, index, hflip: bool, vflip: bool, gen, hflip_prob: float = 0.5):
    """[B, 1, ...] cached tower outputs of the samples ``index`` in the flips drawn for them (``flip_draws``, the
    same draws the uncached path makes)."""
    import torch

    h, v = flip_draws(len(index), hflip, vflip, gen, hflip_prob)
    zero = torch.zeros(len(index), dtype=torch.bool)
    variant = variant_index(h if h is not None else zero, v if v is not None else zero, hflip, vflip)
    index = torch.as_tensor(index).long()
    return features[index.to(features.device), variant.to(features.device)].unsqueeze(1)


def describe(frozen_tower: str, recipe) -> str:
    """The recipe's ``feature_cache`` line: what is cached and why it is exact, or "" (no frozen tower)."""
    if not frozen_tower:
        return ""
    why = recipe_blocker(recipe)
    if why:
        return f"not used ({why}): {frozen_tower}"
    n = variant_count(recipe.hflip, recipe.vflip)
    return (
        f"{frozen_tower}: its output is computed once per training image and flip variant ({n} per image) and "
        "every step trains from those; the same samples, flips and order as without the cache"
    )


def variants_if_cached(frozen_tower: str, recipe) -> int:
    """Tower outputs cached per training image (0: the recipe trains without the cache)."""
    if not frozen_tower or recipe_blocker(recipe):
        return 0
    return variant_count(recipe.hflip, recipe.vflip)


def recipe_blocker(recipe) -> str:
    """Why ``recipe`` cannot train from cached features ("" when it can, as far as the recipe says)."""
    if recipe.crop_size:
        return f"random {recipe.crop_size} px crops (not a finite set of inputs)"
    if recipe.pairs_per_epoch:
        return "image pairs"
    if recipe.train_crops_per_image != 1:
        return f"{recipe.train_crops_per_image} crops per image"
    return ""


def cache_blocker(method, model, recipe, default_loss) -> str:
    """Why this cell cannot train from cached features; "" when it can. ``default_loss``: the engine's own
    ``loss_terms`` (the cache feeds the loss through ``Trainable.pool``, which a method's own loss may bypass)."""
    if model.tower is None or model.features is None or model.from_features is None:
        return "the method declares no frozen image tower"
    why = recipe_blocker(recipe)
    if why:
        return why
    if getattr(type(method), "loss_terms", None) is not default_loss or "loss_terms" in vars(method):
        return "the method's own loss_terms (the cache feeds the default loss through Trainable.pool)"
    trainable = {id(q) for q in list(model.backbone) + list(model.head)}
    if any(id(q) in trainable for q in model.tower.parameters()):
        return "a phase trains parameters of the tower"
    return ""


def compute_features(method, model, data, recipe, device, batch_size: int = 16):
    """The tower's output of every training image in every flip variant: a tensor [n_images, variants, ...] on
    ``device`` in the default dtype, computed with the tower in eval mode and without gradients."""
    import torch

    from bench.data.images import make_loader

    hflip, vflip = recipe.hflip, recipe.vflip
    combos = [c for c in FLIP_COMBOS if (hflip or not c[0]) and (vflip or not c[1])]
    model.tower.eval()
    loader = make_loader(
        data, batch_size=batch_size, num_workers=method.context.num_workers, device=device, shuffle=False
    )
    out = None
    with torch.no_grad():
        for item in loader:
            x = item["x"].to(device, dtype=torch.get_default_dtype()).flatten(0, 1)  # [b, 3, H, W]
            idx = torch.as_tensor(item["index"]).long()
            for k, (h, v) in enumerate(combos):
                xa = x.flip(-1) if h else x
                xa = xa.flip(-2) if v else xa
                f = model.features(model.net, xa)
                if out is None:
                    out = torch.empty((len(data), len(combos), *f.shape[1:]), dtype=f.dtype, device=device)
                out[idx.to(device), k] = f
    return out


class IndexBatches:
    """Batches of sample indices in the order ``loader`` (over ``IndexSamples``) would load them, without loading:
    {"index", "score", "std"} tensors per batch, as the image loader's batches minus the pixels."""

    def __init__(self, loader, records):
        import torch

        self.loader = loader
        self.scores = torch.tensor([float(r.score) for r in records], dtype=torch.float64)
        self.stds = torch.tensor(
            [float(r.std) if r.std is not None and r.std > 0 else float("nan") for r in records], dtype=torch.float64
        )

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        import torch

        for batch in self.loader.batch_sampler:  # the sampler's (epoch, i) pairs, batched as the DataLoader would
            index = torch.tensor([i[1] if isinstance(i, tuple) else i for i in batch], dtype=torch.long)
            yield {"index": index, "score": self.scores[index], "std": self.stds[index]}


class IndexSamples:
    """A dataset of sample indices with their targets, as long as the image dataset: ``make_loader`` draws the same
    seeded order over it as over the images (the order depends on the length and the seed only)."""

    def __init__(self, data):
        self.records, self.epoch = data.records, 0
        self.n = len(data)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i) -> dict:
        epoch, i = i if isinstance(i, tuple) else (self.epoch, i)
        rec = self.records[i]
        std = float(rec.std) if rec.std is not None and rec.std > 0 else float("nan")
        return {"index": i, "score": float(rec.score), "std": std}

    __getitem__.epoch_in_index = True


def cached_view(model, features):
    """A Trainable whose samples are rows of ``features`` [n, variants, ...] picked by (index, variant): the engine
    hands the loss a [B, 1, ...] batch of features, ``pool`` maps it through ``from_features``."""

    def forward(net, f):
        return model.from_features(net, f)

    def pool(net, f):  # [B, 1, ...] -> [B], as the engine's mean over an image's crops (here one)
        return forward(net, f.flatten(0, 1)).reshape(len(f), -1).mean(1)

    return replace(model, forward=forward, pool=pool)


def batch_input(item, recipe, gen, device, features):
    """The batch the loss sees: the images flipped as drawn (uint8 already [0, 1] on the device: on CUDA
    make_loader sent x pinned and non-blocking, so the flips run there), or the cached tower outputs of the same
    draws (``features``: [n_images, variants, ...])."""
    import torch

    if features is not None:
        return feature_batch(features, item["index"], recipe.hflip, recipe.vflip, gen, recipe.hflip_prob)
    x = item["x"].to(device, dtype=torch.get_default_dtype(), non_blocking=True)
    return flip_images(
        x, recipe.hflip, recipe.vflip, gen, per_crop=bool(recipe.pairs_per_epoch), hflip_prob=recipe.hflip_prob
    )


def cached_features(method, model, data, recipe, default_loss):
    """The tower's outputs for every (training image, flip) when this cell may train from them (feature_cache.py),
    else None; a cell with a declared tower says which in its facts (``feature_cache``)."""
    if model.tower is None:
        return None
    model.tower.eval()
    why = (
        cache_blocker(method, model, recipe, default_loss)
        if method.context.feature_cache
        else "turned off for this run"
    )
    if why:
        method.context.record("feature_cache", {"used": False, "why": why})
        return None
    start = time.perf_counter()
    features = compute_features(method, model, data, recipe, method.context.device)
    method.context.record(
        "feature_cache",
        {
            "used": True,
            "images": len(data),
            "variants": int(features.shape[1]),
            "seconds": round(time.perf_counter() - start, 3),
        },
    )
    return features


def flip_images(x, hflip: bool, vflip: bool, gen, per_crop: bool = False, hflip_prob: float = 0.5):
    """Random horizontal / vertical flips, one draw per sample (the same for all crops of a pooled sample);
    ``per_crop``: one draw per crop (the two images of a pair are transformed independently). The draws are
    ``flip_draws``'s, so a cached cell flips the same samples; a horizontal flip with probability ``hflip_prob``
    (MANIQA's 0.7; 0.5 draws exactly as before)."""
    if per_crop:
        return flip_images(x.flatten(0, 1), hflip, vflip, gen, hflip_prob=hflip_prob).view_as(x)
    import torch

    b = len(x)
    h, v = flip_draws(b, hflip, vflip, gen, hflip_prob)
    if h is not None:
        x = torch.where(h.view(b, *([1] * (x.dim() - 1))).to(x.device), x.flip(-1), x)
    if v is not None:
        x = torch.where(v.view(b, *([1] * (x.dim() - 1))).to(x.device), x.flip(-2), x)
    return x
