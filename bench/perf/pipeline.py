"""``bench perf --pipeline``: would this device wait on data?

Measures, in one process and interleaved (so machine load hits both alike; best of ``passes``):

* the crops/s the training loader delivers (``CropDataset`` + ``make_loader``, shuffled, the chosen
  workers, batches moved to the device as trainers get them) from fresh decodes and from the
  decoded-image cache (built first in a temporary folder: its build time and size are reported);
* the model's training crops/s at the same batch (``methods.mpiqe.perf.run_perf``);

and says in one line whether the device would wait on data. Images: ``jpeg`` (default) writes
``n_images`` distinct 1024x768 JPEGs (KonIQ-10k's size, quality 90) from scikit-image photos; or a
dataset name (its first ``n_images`` images).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

KONIQ_SIZE = (1024, 768)


def koniq_like_jpegs(folder: Path, n: int) -> list[Path]:
    """``n`` distinct 1024x768 JPEGs (different photos, shifts and flips: different bytes)."""
    import numpy as np
    import skimage.data
    from PIL import Image

    photos = [skimage.data.coffee(), skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.rocket()]
    base = [np.asarray(Image.fromarray(p).resize(KONIQ_SIZE, Image.BICUBIC)) for p in photos]
    out = []
    for i in range(n):
        img = np.roll(base[i % len(base)], shift=37 * i, axis=1)
        if (i // len(base)) % 2:
            img = img[:, ::-1]
        path = folder / f"koniq_like_{i:04d}.jpg"
        Image.fromarray(np.ascontiguousarray(img)).save(path, "JPEG", quality=90)
        out.append(path)
    return out


def _records(source: str, n_images: int, folder: Path, data_kwargs: dict | None):
    from bench.core.records import ImageRecord

    if source == "jpeg":
        paths = koniq_like_jpegs(folder, n_images)
        return [ImageRecord(id=p.name, path=p, score=0.0, raw_score=0.0) for p in paths], "1024x768 JPEG q90"
    from bench.data.datasets import load_dataset

    ds = load_dataset(source, **(data_kwargs or {}))
    if len(ds) == 0:
        from bench.core.errors import DatasetError

        raise DatasetError(f"dataset {source!r} has no images")
    return list(ds.records[:n_images]), f"{ds.dataset.name} images"


def _epoch_seconds(loader, dataset, epoch: int, device: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one pass over the loader."""
    import torch

    dataset.set_epoch(epoch)
    t0, c0 = time.perf_counter(), time.process_time()
    for batch in loader:
        crops = batch["crops"]
        if not crops.is_cuda and device.startswith("cuda"):
            crops = crops.to(device, non_blocking=True)
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0, time.process_time() - c0


def run_pipeline_perf(
    device: str = "cpu",
    backbone: str = "ViT-B-16",
    method: str = "mpiqe",
    batch: int = 64,
    n_images: int = 64,
    source: str = "jpeg",
    workers: tuple = ("auto",),
    passes: int = 2,
    repeats: int = 3,
    preset: str = "paper",
    overrides: dict | None = None,
    data_kwargs: dict | None = None,
    progress: bool = False,
) -> dict:
    from bench.data import cache_build
    from bench.data import image_cache as ic
    from bench.data.images import CropDataset, make_loader
    from bench.data.pipeline import available_cores, resolve_num_workers
    from methods.mpiqe.perf import intra_estimate, run_perf

    say = (lambda msg: print(msg, flush=True)) if progress else (lambda msg: None)
    say(f"model: {method} on {backbone}, {device}, batch {batch} crops ...")
    model = run_perf(
        method,
        backbone=backbone,
        device=device,
        batch=batch,
        repeats=max(1, repeats),
        warmup=1,
        preset=preset,
        overrides=overrides,
        progress=False,
    )
    n_crops, crop = model.n_crops, model.crop_size
    images_per_batch = max(1, model.batch // n_crops)
    train_cps = model.crops_per_s["mpiqe_train_step"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-perf-pipeline-") as tmp:
        tmp = Path(tmp)
        records, what = _records(source, max(1, n_images), tmp, data_kwargs)
        cache = ic.ImageCache(tmp / "cache", reserve_bytes=0)
        steps = (("min", crop),)
        say(f"images: {len(records)} x {what}; building the cache ...")
        built = cache_build.build(cache, [r.path for r in records], steps)
        n_entries, cache_bytes = cache.size_bytes()
        for requested in workers:
            w = resolve_num_workers(requested, device)
            loaders = {}
            for kind in ("uncached", "cached"):
                ds = CropDataset(
                    records,
                    n_crops=n_crops,
                    crop_size=crop,
                    train=True,
                    seed=0,
                    cache=cache if kind == "cached" else None,
                )
                loaders[kind] = (
                    ds,
                    make_loader(ds, batch_size=images_per_batch, shuffle=True, num_workers=w, seed=0, device=device),
                )
            if w == 0 and not device.startswith("cuda"):  # uint8 batches, not converted: a CUDA cell's CPU share
                ds, loader = loaders["cached"]
                loaders["cached_uint8"] = (ds, loader.loader)
            best = {k: float("inf") for k in loaders}
            cpu = {k: float("inf") for k in loaders}
            for p in range(passes + 1):  # pass 0 warms up (worker start, file cache)
                for kind, (ds, loader) in loaders.items():
                    s, c = _epoch_seconds(loader, ds, p, device)
                    if p:
                        best[kind], cpu[kind] = min(best[kind], s), min(cpu[kind], c)
            del loaders
            n = len(records) * n_crops
            row = {
                "requested": requested,
                "workers": w,
                "loader_uncached_crops_per_s": n / best["uncached"],
                "loader_cached_crops_per_s": n / best["cached"],
            }
            row["cached_vs_uncached"] = row["loader_cached_crops_per_s"] / row["loader_uncached_crops_per_s"]
            if w == 0:  # all loading in this process: crops per CPU-second = per core, load-proof
                row["uncached_crops_per_cpu_s"] = n / max(cpu["uncached"], 1e-9)
                row["cached_crops_per_cpu_s"] = n / max(cpu["cached"], 1e-9)
                if "cached_uint8" in cpu:  # without the float conversion (on CUDA it runs on the GPU)
                    row["cached_uint8_crops_per_cpu_s"] = n / max(cpu["cached_uint8"], 1e-9)
                row["cached_vs_uncached_cpu"] = row["cached_crops_per_cpu_s"] / row["uncached_crops_per_cpu_s"]
            rows.append(row)
            say(
                f"  workers {w}: uncached {row['loader_uncached_crops_per_s']:.0f} crops/s, "
                f"cached {row['loader_cached_crops_per_s']:.0f} crops/s ({row['cached_vs_uncached']:.2f}x)"
            )
    top = rows[0]
    epochs = _epochs(method, preset, overrides)
    infer_cps = model.crops_per_s["mpiqe_inference"]
    fed_train = min(train_cps, top["loader_cached_crops_per_s"])
    fed_infer = min(infer_cps, top["loader_cached_crops_per_s"])
    with_loading_h, _ = intra_estimate(fed_train, fed_infer, n_crops, epochs)
    result = {
        "device": model.device,
        "device_name": model.device_name,
        "backbone": backbone,
        "method": model.method,
        "dtype": model.dtype,
        "batch_crops": model.batch,
        "batch_images": images_per_batch,
        "n_crops": n_crops,
        "crop_size": crop,
        "images": len(records),
        "image_source": what,
        "cores": available_cores(),
        "workers": top["workers"],
        "loader_uncached_crops_per_s": top["loader_uncached_crops_per_s"],
        "loader_cached_crops_per_s": top["loader_cached_crops_per_s"],
        "cached_vs_uncached": top["cached_vs_uncached"],
        "loader_cached_crops_per_s_per_worker": top["loader_cached_crops_per_s"] / max(1, top["workers"]),
        "loader_uncached_crops_per_s_per_worker": top["loader_uncached_crops_per_s"] / max(1, top["workers"]),
        "model_train_crops_per_s": train_cps,
        "model_inference_crops_per_s": infer_cps,
        "cache_build_s": built["seconds"],
        "cache_bytes": cache_bytes,
        "cache_entries": n_entries,
        "by_workers": rows,
        "passes": passes,
        "intra_estimate_compute_only_h": model.intra_estimate_h,
        "intra_estimate_with_loading_h": with_loading_h,
        "verdict": verdict(
            train_cps,
            top["loader_uncached_crops_per_s"],
            top["loader_cached_crops_per_s"],
            top["workers"],
            model.device,
        ),
    }
    return result


def _epochs(method: str, preset: str, overrides: dict | None) -> int:
    from methods import registry

    cls = registry.get_method(method)
    params = cls.make_params(preset if preset in cls.presets else None, **(overrides or {}))
    return int(getattr(params, "epochs", 1))


def verdict(train_cps: float, uncached_cps: float, cached_cps: float, workers: int, device: str) -> str:
    """One line: would the device wait on data, and what to do about it."""
    w = f"{workers} worker{'s' if workers != 1 else ''}" if workers else "no workers (main process)"
    if uncached_cps >= train_cps:
        return (
            f"keeps up: even fresh decodes ({uncached_cps:.0f} crops/s with {w}) outpace training on {device} "
            f"({train_cps:.0f} crops/s); the cache gives {cached_cps / train_cps:.1f}x headroom"
        )
    if cached_cps >= train_cps:
        return (
            f"keeps up with the image cache only: {cached_cps:.0f} crops/s cached vs {uncached_cps:.0f} decoding, "
            f"training on {device} takes {train_cps:.0f} crops/s; keep the cache on (the first epoch of a "
            "dataset decodes: `bench data cache NAME` builds it up front)"
        )
    return (
        f"WOULD WAIT ON DATA: the loader delivers {cached_cps:.0f} crops/s from the cache with {w}, training on "
        f"{device} takes {train_cps:.0f} crops/s; use more --num-workers (or fewer --jobs per machine), "
        "or a machine with more CPU cores per GPU"
    )


def format_pipeline(r: dict) -> str:
    lines = [
        f"bench perf --pipeline: {r['method']} on {r['backbone']}, {r['device']} ({r['device_name']}), {r['dtype']}, "
        f"batch {r['batch_images']} images x {r['n_crops']} crops of {r['crop_size']}; {r['images']} x "
        f"{r['image_source']}; {r['cores']} cores",
        f"  {'workers':>7}  {'uncached crops/s':>16}  {'cached crops/s':>14}  cached/uncached",
    ]
    for row in r["by_workers"]:
        lines.append(
            f"  {row['workers']:>7}  {row['loader_uncached_crops_per_s']:16.1f}  "
            f"{row['loader_cached_crops_per_s']:14.1f}  {row['cached_vs_uncached']:.2f}x"
        )
        if "cached_crops_per_cpu_s" in row:
            lines.append(
                f"  {'per CPU-s':>7}  {row['uncached_crops_per_cpu_s']:16.1f}  "
                f"{row['cached_crops_per_cpu_s']:14.1f}  {row['cached_vs_uncached_cpu']:.2f}x  (one core, load-proof)"
            )
        if "cached_uint8_crops_per_cpu_s" in row:
            lines.append(
                f"  {'uint8/CPU-s':>7}  {'':16}  {row['cached_uint8_crops_per_cpu_s']:14.1f}  "
                "(cached, before the float conversion: a CUDA cell's CPU share)"
            )
    lines += [
        f"  model training: {r['model_train_crops_per_s']:.1f} crops/s, inference "
        f"{r['model_inference_crops_per_s']:.1f} crops/s",
        f"  cache build: {r['cache_build_s']:.2f} s for {r['cache_entries']} images, "
        f"{r['cache_bytes'] / 2**20:.1f} MiB",
        f"  paper intra protocol: ~{r['intra_estimate_compute_only_h']:.1f} h compute only, "
        f"~{r['intra_estimate_with_loading_h']:.1f} h with this loader (cached)",
        f"  verdict: {r['verdict']}",
    ]
    return "\n".join(lines)
