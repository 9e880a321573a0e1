"""Image decoding and crops; the torch ``Dataset`` every method can use.

At most one decode per visit: an item cuts all of its crops from one decode (the paper uses 8 random
224x224 crops), or, with the decoded-image cache (``bench.data.image_cache``; on by default inside a run),
from the image's cached uint8 pixels, decoded once for every epoch, cell and run: the same crops either
way. torch is imported here and nowhere in ``bench``'s light modules.

    CropDataset(records, n_crops=8, crop_size=224, train=True, seed=0, resize=None, cache="active")[i] ->
      {"crops": uint8 [n_crops, 3, s, s], "score": float, "index": i,
       "scene": float32 [9] multi-hot / sum (zeros if none), "distortion": int (-1 unknown)}

train=True: random crops, seeded by (seed, epoch, i) -- ``set_epoch(e)`` each epoch -- so they are
identical whatever the number of workers. train=False: deterministic crops seeded by (seed, record.id).
Images smaller than the crop are resized up first. ``FullImageDataset`` gives whole images;
``make_loader`` a seeded DataLoader: the same order and crops for any number of workers (persistent),
and on CUDA pinned memory with non-blocking side-stream copies (docs/PERFORMANCE.md). Items carry uint8
crops; the loader's batches carry them in [0, 1] in torch's default dtype, converted on the loader's device
by ``bench.data.device_input.to_unit`` (code that indexes a dataset itself calls it).

Cost: an uncached item is ~1.3-1.6x one plain PIL decode of a 1024x768 JPEG with 8 crops
(``measure_item_vs_decode``): crops are copied out of the decoded image one by one and converted to
float on the device; a cached item skips the decode (the crop copies remain).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.core.labels import N_SCENES
from bench.core.records import ImageRecord
from bench.data.decode import image_size, open_rgb  # noqa: F401  (the one decoder and header reader, re-exported)
from bench.data.device_input import IMAGE_KEYS, UnitLoader


def decode_rgb(path: str | Path) -> np.ndarray:
    """HxWx3 uint8 (a full copy; cutting crops from ``open_rgb``'s image is cheaper)."""
    return np.asarray(open_rgb(path))


def ensure_min_size(img, size: int):
    """Resize up (bicubic, aspect kept) so that the short side is at least ``size`` (PIL image or array)."""
    from PIL import Image

    is_array = isinstance(img, np.ndarray)
    h, w = img.shape[:2] if is_array else img.size[::-1]
    if min(h, w) >= size:
        return img  # (before fromarray: that would copy a large image for nothing)
    pil = Image.fromarray(img) if is_array else img
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


def crops_chw_uint8(img, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """The same crops as ``random_crops``, as uint8 [n, 3, size, size], written crop by crop into one
    buffer (no full-size intermediate copies). ``bench.data.device_input.to_unit`` makes them model input."""
    out = np.empty((n, 3, size, size), dtype=np.uint8)
    for k, crop in enumerate(_iter_crops(img, n, size, rng)):
        out[k] = crop.transpose(2, 0, 1)
    return out


def crops_chw_float(img, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``crops_chw_uint8`` as float32 in [0, 1] (products with float32(1/255), as ``to_unit`` computes)."""
    return crops_chw_uint8(img, n, size, rng).astype(np.float32) * np.float32(1.0 / 255.0)


def _iter_crops(img, n: int, size: int, rng: np.random.Generator):
    img = ensure_min_size(img, size)
    if isinstance(img, np.ndarray):
        h, w = img.shape[:2]
        for y, x in crop_boxes(h, w, n, size, rng):
            yield img[y : y + size, x : x + size]
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

    def __init__(
        self,
        records: Sequence[ImageRecord],
        n_crops: int = 8,
        crop_size: int = 224,
        train: bool = True,
        seed: int = 0,
        resize=None,
        cache="active",
    ):
        from bench.data import image_cache
        from bench.data.resize import normalise_resize

        if n_crops < 1 or crop_size < 1:
            raise ValueError(f"n_crops={n_crops}, crop_size={crop_size}: both must be >= 1")
        self.records = list(getattr(records, "records", records))  # an ImageSet or a list of records
        self.n_crops, self.crop_size, self.train, self.seed = n_crops, crop_size, train, seed
        self.resize = normalise_resize(resize)  # before cropping, e.g. ("short", 512)
        # 'active': the run's decoded-image cache (bench.data.image_cache.active()); None: decode every time
        self.cache = (
            image_cache.active()
            if isinstance(cache, str) and cache == "active"
            else image_cache.ImageCache(cache)
            if isinstance(cache, (str, Path))
            else cache
        )
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """New random crops each epoch (call before iterating; workers see it when they start)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def rng_for(self, i: int, epoch: int | None = None) -> np.random.Generator:
        if self.train:
            return np.random.default_rng([int(self.seed), self.epoch if epoch is None else int(epoch), i])
        return np.random.default_rng(id_seed(self.seed, self.records[i].id))

    def pixels(self, i: int):
        """Image i after the resize and the min-size step: a cached uint8 array, or a fresh PIL decode."""
        from bench.data.resize import apply_resize

        path = self.records[i].path
        if self.cache is not None:
            return self.cache.pixels(path, self.resize + (("min", self.crop_size),), decode=open_rgb)
        return apply_resize(open_rgb(path), self.resize)  # the min-size step happens in crops_chw_uint8

    def __getitem__(self, i) -> dict:
        """``ds[i]``, or ``ds[(epoch, i)]`` as make_loader's sampler asks: persistent workers hold their own
        copy of the dataset, so the epoch travels with the index (identical crops for any worker count)."""
        import torch

        epoch, i = i if isinstance(i, tuple) else (None, i)
        rec = self.records[i]
        # uint8: a quarter of the bytes to the device; make_loader converts there (bench.data.device_input)
        chw = crops_chw_uint8(self.pixels(i), self.n_crops, self.crop_size, self.rng_for(i, epoch))
        return {
            "crops": torch.from_numpy(chw),
            "score": float(rec.score),
            "index": i,
            "scene": torch.from_numpy(scene_vector(rec)),
            "distortion": int(rec.distortion_class) if rec.distortion_class is not None else -1,
        }

    __getitem__.epoch_in_index = True  # make_loader may pass (epoch, i); a subclass's own __getitem__ is not

    @staticmethod
    def split_index(item) -> tuple[int | None, int]:
        """(epoch or None, i) of an index make_loader's sampler passed (for subclasses' __getitem__)."""
        return item if isinstance(item, tuple) else (None, item)


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


def make_loader(
    dataset,
    batch_size: int = 8,
    shuffle: bool = False,
    num_workers: int | str = 0,
    seed: int = 0,
    drop_last: bool = False,
    pin_memory: bool | None = None,
    device=None,
    prefetch_factor: int = 4,
):
    """A DataLoader with a seeded shuffle order, the same whatever ``num_workers`` is.

    ``device``: where the batches go (default: the device of the cell in flight, else cpu). On CUDA the
    loader pins memory and moves each batch's image tensors to the device with non-blocking copies on a
    side stream, one batch ahead (they arrive on the device; other fields stay on the CPU). With workers:
    persistent across epochs, ``prefetch_factor`` batches each in flight. ``num_workers='auto'``: see
    ``bench.data.pipeline.resolve_num_workers``. uint8 image fields arrive as [0, 1] floats in torch's default
    dtype, converted on ``device`` (``bench.data.device_input``; ``dataset.unit_exact``: divide by 255)."""
    import torch
    from torch.utils.data import DataLoader, RandomSampler, SequentialSampler

    from bench.data import pipeline

    device = str(device or pipeline.cell_device() or "cpu")
    workers = pipeline.resolve_num_workers(num_workers, device)
    cuda = device.startswith("cuda")
    g = torch.Generator()
    g.manual_seed(int(seed))
    epoch_aware = getattr(type(dataset).__getitem__, "epoch_in_index", False)
    sampler = SeededSampler(
        RandomSampler(dataset, generator=g) if shuffle else SequentialSampler(dataset),
        g if shuffle else None,
        dataset if epoch_aware else None,
    )
    # a worker's dataset copy never sees set_epoch: persistent workers only where the epoch rides the index
    persistent = workers > 0 and (epoch_aware or not hasattr(dataset, "set_epoch"))
    worker_seeds = torch.Generator()
    worker_seeds.manual_seed(int(seed))
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        generator=worker_seeds,
        drop_last=drop_last,
        pin_memory=cuda if pin_memory is None else pin_memory,
        persistent_workers=persistent,
        prefetch_factor=prefetch_factor if workers else None,
        worker_init_fn=_seed_worker if workers else None,
        multiprocessing_context=_worker_context() if workers else None,
    )
    exact = bool(getattr(dataset, "unit_exact", False))
    return DeviceLoader(loader, device, exact) if cuda else UnitLoader(loader, device, exact)


def _worker_context():
    """fork where there is one (fast, nothing to pickle), else spawn. Explicit because a runner worker
    (loky) changes the default context to one whose processes a DataLoader cannot start."""
    import multiprocessing as mp

    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


class SeededSampler:
    """Wraps a sampler: the shuffle draws exactly what DataLoader(shuffle=True, generator=g) drew with
    workers=0 (a seed draw, then the permutation: old results keep their order), for any number of workers;
    indices carry the dataset's epoch when it has one."""

    def __init__(self, inner, generator=None, dataset=None):
        self.inner, self.generator, self.dataset = inner, generator, dataset

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self):
        import torch

        if self.generator is not None:  # what DataLoader's iterator drew for its base seed
            torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        if self.dataset is None:
            yield from self.inner
        else:
            epoch = int(self.dataset.epoch)
            for i in self.inner:
                yield (epoch, i)


class DeviceLoader(UnitLoader):
    """Iterates a DataLoader and sends each batch's image tensors ('crops', 'image'; 'x' of the retrained
    baselines' PatchDataset) to a CUDA device with non-blocking copies on a side stream, one batch ahead, so
    the copy overlaps the model's work; uint8 ones are converted to [0, 1] floats there, after the copy."""

    MOVED = IMAGE_KEYS

    def _send(self, batch, stream):
        import torch

        from bench.data.device_input import unit_batch

        with torch.cuda.stream(stream):
            return unit_batch(batch, self.device, self.exact)

    def __iter__(self):
        import torch

        device = torch.device(self.device)
        stream = torch.cuda.Stream(device)
        pending = None
        for batch in self.loader:
            if not isinstance(batch, dict):
                yield batch
                continue
            # the previous batch is made ready before the next copy is queued, so the model's stream
            # waits for that copy only, and this one runs while the model works on the previous batch
            ready = self._ready(pending, stream, device) if pending is not None else None
            pending = self._send(batch, stream)
            if ready is not None:
                yield ready
        if pending is not None:
            yield self._ready(pending, stream, device)

    def _ready(self, batch, stream, device):
        import torch

        current = torch.cuda.current_stream(device)
        current.wait_stream(stream)  # the model's stream waits for this batch's copy only
        for k in self.MOVED:
            if k in batch and torch.is_tensor(batch[k]):
                batch[k].record_stream(current)  # its memory is in use on the model's stream
        return batch


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
    ds[0]  # warm up (imports, file cache)
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
    return {
        "decode_s": d,
        "item_s": i,
        "ratio": i / d,
        "cpu_ratio": item_cpu / decode_cpu,
        "n_crops": n_crops,
        "crop_size": crop_size,
        "repeats": repeats,
    }


def _main() -> None:
    """``python -m bench.data.images``: the loader measurement on a 1024x768 JPEG (KonIQ size)."""
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
