"""Images as the retrained baselines see them: the recipe's resize, crops per image per epoch, target scaling.
torch-free at import time (``PatchDataset`` is a plain map-style dataset for torch's DataLoader).

With the run's decoded-image cache (``bench.data.image_cache``; ``RunContext.image_cache``), an item cuts its crops
from the image's cached uint8 pixels after the recipe's resize, decoded once for every epoch, cell and run;
without it, from a fresh decode. The resize is the same code either way (``bench.data.resize.apply_resize``
with bilinear steps), so the crops are identical.
"""

from __future__ import annotations

import os

import numpy as np

from bench.core.records import ImageSet
from methods.retrained.recipe import ORDER_ONCE


def resize_steps(spec: dict | None) -> tuple[tuple, ...]:
    """The recipe's resize as ``bench.data.image_cache`` steps: fixed (h, w) (torchvision Resize((h, w))), or the short
    side to s (torchvision Resize(s): the long side truncated; ``only_if_larger``: images with a side below s are left
    alone, as the AdaptiveResize of UNIQUE / LIQE). Bilinear, as torchvision's default for PIL images."""
    if not spec:
        return ()
    if spec["kind"] == "fixed":
        th, tw = spec["hw"]
        return (("fixed", int(tw), int(th), "bilinear"),)
    if spec["kind"] == "short_side":
        return (("max" if spec.get("only_if_larger") else "short", int(spec["size"]), "bilinear"),)
    raise ValueError(f"unknown resize {spec!r}")


def apply_resize(img, spec: dict | None):
    """The recipe's resize (``resize_steps``) of a PIL image; the image itself when nothing changes."""
    from bench.data.resize import apply_resize

    return apply_resize(img, resize_steps(spec))


def resized_size(size_wh: tuple[int, int], spec: dict | None) -> tuple[int, int]:
    from bench.data.resize import target_size

    return target_size(*size_wh, resize_steps(spec))


class PatchDataset:
    # a map-style dataset for torch's DataLoader (no torch base class: this module imports without torch)
    """Crops of resized images. train: ``n_crops`` samples per image per epoch (``pool``: one sample of
    n_crops), random crops seeded by (seed, epoch, sample); test: n deterministic crops per image, or the
    whole image (crop_size 0). Item: {"x": uint8 [k, 3, s, s], "score", "index" (image)}; ``make_loader``
    converts x to [0, 1] on the device (``bench.data.device_input``; the whole image divides by 255, as it always did:
    ``unit_exact``).
    ``cache``: an ``ImageCache`` or its folder (the cell's ``RunContext.image_cache``), or None: decode every time.
    ``ds[(epoch, i)]`` is item i of that epoch, as ``make_loader``'s sampler asks: persistent loader workers
    never see ``set_epoch``, so the epoch travels with the index (the same crops for any number of workers)."""

    def __init__(
        self,
        records,
        crop_size: int,
        n_crops: int,
        resize: dict | None,
        train: bool,
        seed: int = 0,
        pool: bool = False,
        cache=None,
    ):
        from bench.data.image_cache import ImageCache

        self.records = list(getattr(records, "records", records))
        self.crop_size, self.n_crops, self.resize, self.train = crop_size, max(1, n_crops), resize, train
        self.seed, self.pool, self.epoch = seed, pool or not train, 0
        self.steps = resize_steps(resize)
        self.cache = ImageCache(cache) if isinstance(cache, (str, os.PathLike)) else cache
        self.unit_exact = not crop_size  # x / 255 (the crops: x * float(1/255)); see bench.data.device_input

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records) * (1 if self.pool else self.n_crops)

    def pixels(self, image: int):
        """Image ``image`` after the resize: cached uint8 HxWx3 (with the step up to the crop size that
        ``crops_chw_uint8`` would take, so it is cached too), or a fresh PIL decode."""
        from bench.data.images import open_rgb

        path = self.records[image].path
        if self.cache is not None:
            up = (("min", int(self.crop_size)),) if self.crop_size else ()
            return self.cache.pixels(path, self.steps + up, decode=open_rgb)
        return apply_resize(open_rgb(path), self.resize)

    def __getitem__(self, i) -> dict:
        import torch

        from bench.data.images import crops_chw_uint8, id_seed

        epoch, i = i if isinstance(i, tuple) else (self.epoch, i)
        image = i if self.pool else i // self.n_crops
        rec = self.records[image]
        img = self.pixels(image)
        if self.crop_size:
            rng = (
                np.random.default_rng([int(self.seed), int(epoch), i])
                if self.train
                else np.random.default_rng(id_seed(self.seed, rec.id))
            )
            x = crops_chw_uint8(img, self.n_crops if self.pool else 1, self.crop_size, rng)
        else:
            x = np.ascontiguousarray(np.asarray(img).transpose(2, 0, 1)[None])
        std = float(rec.std) if rec.std is not None and rec.std > 0 else float("nan")
        return {"x": torch.from_numpy(x), "score": float(rec.score), "std": std, "index": image}

    __getitem__.epoch_in_index = True  # make_loader passes (epoch, i): persistent workers


def target_scaling(kind: str, train: ImageSet) -> tuple[float, float]:
    """(offset, scale): target = (score - offset) / scale."""
    scores = train.scores
    if kind == "z":
        return float(scores.mean()), float(scores.std() or 1.0)
    if kind == "unit":
        lo, hi = train.dataset.raw_scale
        return float(lo), float((hi - lo) or 1.0)
    if kind == "score":
        return 0.0, 1.0
    raise ValueError(f"unknown target scaling {kind!r}; choose z, unit or score")


def training_records(records, order: str, seed: int) -> list:
    """The training images in the recipe's order: as given (the loader shuffles every epoch), or one permutation
    drawn from the cell's seed and kept for every epoch (``ORDER_ONCE``: MetaIQA's train_test_split order)."""
    records = list(records)
    if order != ORDER_ONCE:
        return records
    perm = np.random.default_rng([int(seed), 29]).permutation(len(records))
    return [records[i] for i in perm]


def epoch_batches(loader, fixed_steps: int, new_pass):
    """One pass over ``loader``, or exactly ``fixed_steps`` batches cycling it; ``new_pass(k)`` before pass k
    (new random crops per pass, and the loader reshuffles)."""
    new_pass(0)
    if not fixed_steps:
        yield from loader
        return
    n, k = 0, 0
    while n < fixed_steps:
        if k:
            new_pass(k)
        k += 1
        for item in loader:
            yield item
            n += 1
            if n >= fixed_steps:
                return
