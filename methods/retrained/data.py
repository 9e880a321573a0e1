"""Images as the retrained baselines see them: the recipe's resize, crops per image per epoch, target scaling.
torch-free at import time (``PatchDataset`` is a plain map-style dataset for torch's DataLoader)."""

from __future__ import annotations

import numpy as np

from bench.records import ImageSet

def apply_resize(img, spec: dict | None):
    """The recipe's resize of a PIL image: fixed (h, w) (torchvision Resize((h, w))) or the short side to a size
    (torchvision Resize(s); ``only_if_larger``: images with a side below s are left alone, as the
    AdaptiveResize of UNIQUE / LIQE). Bilinear, as torchvision's default for PIL images."""
    from PIL import Image

    if not spec:
        return img
    w, h = img.size
    if spec["kind"] == "fixed":
        th, tw = spec["hw"]
        return img if (h, w) == (th, tw) else img.resize((tw, th), Image.BILINEAR)
    if spec["kind"] == "short_side":
        s = spec["size"]
        if spec.get("only_if_larger") and min(h, w) < s:
            return img
        if min(h, w) == s:
            return img
        k = s / min(h, w)
        return img.resize((max(1, round(w * k)), max(1, round(h * k))), Image.BILINEAR)
    raise ValueError(f"unknown resize {spec!r}")


def resized_size(size_wh: tuple[int, int], spec: dict | None) -> tuple[int, int]:
    from PIL import Image

    return apply_resize(Image.new("L", size_wh), spec).size if spec else size_wh


class PatchDataset:
    # a map-style dataset for torch's DataLoader (no torch base class: this module imports without torch)
    """Crops of resized images. train: ``n_crops`` samples per image per epoch (``pool``: one sample of
    n_crops), random crops seeded by (seed, epoch, sample); test: n deterministic crops per image, or the
    whole image (crop_size 0). Item: {"x": float32 [k, 3, s, s] in [0, 1], "score", "index" (image)}."""

    def __init__(self, records, crop_size: int, n_crops: int, resize: dict | None, train: bool,
                 seed: int = 0, pool: bool = False):
        self.records = list(getattr(records, "records", records))
        self.crop_size, self.n_crops, self.resize, self.train = crop_size, max(1, n_crops), resize, train
        self.seed, self.pool, self.epoch = seed, pool or not train, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records) * (1 if self.pool else self.n_crops)

    def __getitem__(self, i: int) -> dict:
        import torch

        from bench.images import crops_chw_float, id_seed, open_rgb

        image = i if self.pool else i // self.n_crops
        rec = self.records[image]
        img = apply_resize(open_rgb(rec.path), self.resize)
        if self.crop_size:
            rng = (np.random.default_rng([int(self.seed), self.epoch, i]) if self.train
                   else np.random.default_rng(id_seed(self.seed, rec.id)))
            x = crops_chw_float(img, self.n_crops if self.pool else 1, self.crop_size, rng)
        else:
            x = (np.asarray(img).transpose(2, 0, 1)[None].astype(np.float32)) / np.float32(255.0)
        std = float(rec.std) if rec.std is not None and rec.std > 0 else float("nan")
        return {"x": torch.from_numpy(x), "score": float(rec.score), "std": std, "index": image}


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


