"""Image decoding and crops; the torch ``Dataset`` every method can use.

One decode per visit: an item opens its image once and cuts all of its crops from that
decode (the paper uses 8 random 224x224 crops). torch is imported here and nowhere in
``bench``'s light modules.

    CropDataset(records, n_crops=8, crop_size=224, train=True, seed=0)[i] ->
      {"crops": float32 [n_crops, 3, s, s] in [0, 1], "score": float, "index": i,
       "scene": float32 [9] multi-hot / sum (zeros if none), "distortion": int (-1 unknown)}

train=True: random crops, seeded by (seed, epoch, i) -- ``set_epoch(e)`` each epoch -- so they are
identical whatever the number of workers. train=False: deterministic crops seeded by (seed, record.id).
Images smaller than the crop are resized up first. ``FullImageDataset`` gives whole images;
``make_loader`` a seeded (multi-worker) DataLoader.

Cost: an item is ~1.3-1.6x one plain PIL decode of a 1024x768 JPEG with 8 crops (``measure_item_vs_decode``):
crops are copied out of the decoded image one by one and converted to float in numpy.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.labels import N_SCENES
from bench.records import ImageRecord


def open_rgb(path: str | Path):
    """The decoded image as an RGB PIL image. Raises DatasetError naming the file when it is
    missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    from bench.errors import DatasetError

    try:
        with Image.open(path) as img:
            img.load()
            return img if img.mode == "RGB" else img.convert("RGB")
    except FileNotFoundError:
        raise DatasetError(f"image file missing: {path}. Restore it, or pass --skip-corrupt to exclude it.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"cannot decode image {path} ({exc}). Re-download it, "
                           "or pass --skip-corrupt to exclude it.") from None


def decode_rgb(path: str | Path) -> np.ndarray:
    """HxWx3 uint8 (a full copy; cutting crops from ``open_rgb``'s image is cheaper)."""
    return np.asarray(open_rgb(path))


def ensure_min_size(img, size: int):
    """Resize up (bicubic, aspect kept) so that the short side is at least ``size`` (PIL image or array)."""
    from PIL import Image

    is_array = isinstance(img, np.ndarray)
    pil = Image.fromarray(img) if is_array else img
    w, h = pil.size
    if min(h, w) >= size:
        return img
    s = size / min(h, w)
    out = pil.resize((max(size, int(np.ceil(w * s))), max(size, int(np.ceil(h * s)))), Image.BICUBIC)
    return np.asarray(out) if is_array else out


def crop_boxes(h: int, w: int, n: int, size: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """n top-left corners (y, x) of size x size crops, uniform over the image."""
    ys = rng.integers(0, h - size + 1, n)
    xs = rng.integers(0, w - size + 1, n)
    return list(zip(ys.tolist(), xs.tolist()))


def random_crops(img, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """n x size x size x 3 uint8 crops cut from one decoded image (PIL image or HxWx3 array).
    From a PIL image only the crops are copied out, never the whole picture."""
    return np.stack(list(_iter_crops(img, n, size, rng)))


def crops_chw_float(img, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """The same crops as ``random_crops``, as float32 [n, 3, size, size] in [0, 1], written crop by
    crop into one buffer (no full-size intermediate copies)."""
    out = np.empty((n, 3, size, size), dtype=np.float32)
    for k, crop in enumerate(_iter_crops(img, n, size, rng)):
        out[k] = crop.transpose(2, 0, 1)
    out *= np.float32(1.0 / 255.0)
    return out


def _iter_crops(img, n: int, size: int, rng: np.random.Generator):
    img = ensure_min_size(img, size)
    if isinstance(img, np.ndarray):
        h, w = img.shape[:2]
        for y, x in crop_boxes(h, w, n, size, rng):
            yield img[y:y + size, x:x + size]
    else:
        w, h = img.size
        for y, x in crop_boxes(h, w, n, size, rng):
            yield np.asarray(img.crop((x, y, x + size, y + size)))


def id_seed(seed: int, record_id: str) -> list[int]:
    """Stable seed material for deterministic crops of one image (same on every machine)."""
    return [int(seed), zlib.crc32(record_id.encode())]


def scene_vector(rec: ImageRecord) -> np.ndarray:
    v = np.zeros(N_SCENES, dtype=np.float32)
    for s in rec.scenes:
        v[s] = 1.0
    total = v.sum()
    return v / total if total > 0 else v


def _torch_dataset_base():
    from torch.utils.data import Dataset

    return Dataset


class CropDataset(_torch_dataset_base()):
    """n crops per image from one decode. Usable by any method; works with multi-worker loaders."""

    def __init__(self, records: Sequence[ImageRecord], n_crops: int = 8, crop_size: int = 224,
                 train: bool = True, seed: int = 0):
        if n_crops < 1 or crop_size < 1:
            raise ValueError(f"n_crops={n_crops}, crop_size={crop_size}: both must be >= 1")
        self.records = list(getattr(records, "records", records))   # an ImageSet or a list of records
        self.n_crops, self.crop_size, self.train, self.seed = n_crops, crop_size, train, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """New random crops each epoch (call before iterating; workers see it when they start)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def rng_for(self, i: int) -> np.random.Generator:
        if self.train:
            return np.random.default_rng([int(self.seed), self.epoch, i])
        return np.random.default_rng(id_seed(self.seed, self.records[i].id))

    def __getitem__(self, i: int) -> dict:
        import torch

        rec = self.records[i]
        # float conversion in numpy: torch's intra-op threads made it 50x slower on a busy machine
        chw = crops_chw_float(open_rgb(rec.path), self.n_crops, self.crop_size, self.rng_for(i))
        return {
            "crops": torch.from_numpy(chw),
            "score": float(rec.score),
            "index": i,
            "scene": torch.from_numpy(scene_vector(rec)),
            "distortion": int(rec.distortion_class) if rec.distortion_class is not None else -1,
        }


class FullImageDataset(_torch_dataset_base()):
    """Whole images (e.g. for zero-shot metrics): {"image": float32 [3, H, W] in [0, 1], "score", "index"}.
    ``max_side`` shrinks larger images (aspect kept); sizes differ, so load with batch_size=1."""

    def __init__(self, records: Sequence[ImageRecord], max_side: int | None = None):
        self.records = list(getattr(records, "records", records))
        self.max_side = max_side

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        import torch
        from PIL import Image

        rec = self.records[i]
        img = open_rgb(rec.path)
        if self.max_side and max(img.size) > self.max_side:
            s = self.max_side / max(img.size)
            img = img.resize((max(1, round(img.size[0] * s)), max(1, round(img.size[1] * s))), Image.BICUBIC)
        chw = np.asarray(img).transpose(2, 0, 1).astype(np.float32)
        chw *= np.float32(1.0 / 255.0)
        return {"image": torch.from_numpy(chw), "score": float(rec.score), "index": i}


def make_loader(dataset, batch_size: int = 8, shuffle: bool = False, num_workers: int = 0,
                seed: int = 0, drop_last: bool = False, pin_memory: bool = False):
    """A DataLoader with a seeded shuffle order and persistent workers when num_workers > 0."""
    import torch
    from torch.utils.data import DataLoader

    g = torch.Generator()
    g.manual_seed(int(seed))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      generator=g, drop_last=drop_last, pin_memory=pin_memory,
                      persistent_workers=False, worker_init_fn=_seed_worker if num_workers else None)


def _seed_worker(worker_id: int) -> None:
    import random

    import torch

    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def measure_item_vs_decode(path: str | Path, n_crops: int = 8, crop_size: int = 224, repeats: int = 30) -> dict:
    """Median seconds of one plain PIL decode of ``path`` and of one CropDataset item from it,
    measured interleaved in one process (so both see the same machine load), and their ratio."""
    import time

    from PIL import Image

    rec = ImageRecord(id=Path(path).name, path=Path(path), score=0.0, raw_score=0.0)
    ds = CropDataset([rec], n_crops=n_crops, crop_size=crop_size, train=True)
    ds[0]                                             # warm up (imports, file cache)
    decode, item, decode_cpu, item_cpu = [], [], 0.0, 0.0
    for k in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        with Image.open(path) as im:
            im.load()
        decode.append(time.perf_counter() - t)
        decode_cpu += time.process_time() - c
        ds.set_epoch(k)
        t, c = time.perf_counter(), time.process_time()
        ds[0]
        item.append(time.perf_counter() - t)
        item_cpu += time.process_time() - c
    d, i = float(np.median(decode)), float(np.median(item))
    return {"decode_s": d, "item_s": i, "ratio": i / d, "cpu_ratio": item_cpu / decode_cpu,
            "n_crops": n_crops, "crop_size": crop_size, "repeats": repeats}


def _main() -> None:
    """``python -m bench.images``: the loader measurement on a 1024x768 JPEG (KonIQ size)."""
    import json
    import tempfile

    import skimage.data
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "koniq_size.jpg"
        Image.fromarray(skimage.data.coffee()).resize((1024, 768), Image.BICUBIC).save(path, "JPEG", quality=90)
        print(json.dumps(measure_item_vs_decode(path, repeats=60)))


if __name__ == "__main__":
    _main()
