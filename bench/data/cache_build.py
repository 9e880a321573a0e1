"""Building the decoded-image cache of a whole dataset up front (``bench data cache``, ``bench perf``), with the
free-disk check before anything is written; a run fills the same cache lazily (``bench.data.image_cache``)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from bench.core.integrity import PIXEL_TRAILER
from bench.data.image_cache import ENV, RESERVE_BYTES, CacheDiskFull, ImageCache
from bench.data.resize import normalise_resize, target_size


def entry_bytes(w: int, h: int) -> int:
    return w * h * 3 + 128 + PIXEL_TRAILER  # .npy header: 128 bytes for these shapes


def plan_build(cache: ImageCache, paths: Sequence[Path], resize=None) -> dict:
    """What building ``paths`` would take: image sizes from the file headers only (no decode)."""
    from PIL import Image

    from bench.core.errors import DatasetError

    steps = normalise_resize(resize)
    todo, need, total = [], 0, 0
    for p in paths:
        try:
            with Image.open(p) as im:
                w, h = target_size(*im.size, steps)
        except FileNotFoundError:
            raise DatasetError(f"image file missing: {p}. Restore it, or pass --skip-corrupt to exclude it.") from None
        except (OSError, Image.DecompressionBombError) as exc:
            raise DatasetError(
                f"cannot read image {p} ({type(exc).__name__}: {exc}). Re-download it, or pass --skip-corrupt."
            ) from None
        size = entry_bytes(w, h)
        total += size
        if not cache.contains(p, steps):
            todo.append(p)
            need += size
    return {"images": len(paths), "missing": len(todo), "todo": todo, "need_bytes": need, "total_bytes": total}


def free_bytes(root: Path) -> int:
    """Free bytes on the disk that holds (or will hold) ``root``."""
    probe = Path(root)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_free_space(root: Path, need_bytes: int, what: str, reserve_bytes: int = RESERVE_BYTES) -> int:
    """Raise CacheDiskFull when ``need_bytes`` (+ the reserve) do not fit under ``root``. Returns free bytes."""
    free = free_bytes(root)
    if need_bytes + reserve_bytes > free:
        raise CacheDiskFull(
            f"the decoded-image cache for {what} needs {gib(need_bytes)} more in {root}, but only {gib(free)} is "
            f"free there (keeping {gib(reserve_bytes)} in reserve). Free space, point {ENV}=/a/bigger/disk at "
            "another folder, resize the images smaller in the recipe, or run with --no-image-cache (slower)."
        )
    return free


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"


def build(
    cache: ImageCache,
    paths: Sequence[Path],
    resize=None,
    progress: bool = False,
    what: str = "",
    jobs: int = 1,
    device: str = "cpu",
    batch: int = 32,
) -> dict:
    """Build the entries of ``paths`` that are missing, after the free-space check, in ``jobs`` processes, or,
    when ``cache.decoder`` is not PIL, JPEGs in batches on ``device`` (``bench.data.decode_batch``). Returns facts
    (images, built, already_cached, bytes, seconds, root, not_written_disk_full, decoded_by)."""
    t0 = time.perf_counter()
    plan = plan_build(cache, paths, resize)
    check_free_space(cache.root, plan["need_bytes"], what or f"{len(paths)} images", cache.reserve_bytes)
    cache.sweep_temp()
    from tqdm.auto import tqdm

    bar = tqdm(total=len(plan["todo"]), desc=f"caching {what}".strip(), unit="img", disable=not progress)
    not_written, decoded_by = 0, None
    if cache.decoder != "pil":
        from bench.data.decode_batch import build_batched

        decoded_by = build_batched(cache, plan["todo"], normalise_resize(resize), device, batch, on_done=bar.update)
        not_written = cache.stats["not_written_disk_full"]
    elif jobs > 1 and len(plan["todo"]) > 1:
        from concurrent.futures import ProcessPoolExecutor

        chunks = [plan["todo"][i :: jobs * 4] for i in range(jobs * 4)]
        with ProcessPoolExecutor(jobs) as pool:
            for n, skipped in pool.map(_build_chunk, [(cache, c, resize) for c in chunks if c]):
                bar.update(n)
                not_written += skipped
    else:
        for p in plan["todo"]:
            cache.pixels(p, resize)
            bar.update(1)
        not_written = cache.stats["not_written_disk_full"]
    bar.close()
    return {
        "images": plan["images"],
        "built": plan["missing"],
        "already_cached": plan["images"] - plan["missing"],
        "bytes": plan["total_bytes"],
        "seconds": time.perf_counter() - t0,
        "root": str(cache.root),
        "not_written_disk_full": not_written,
        "decoded_by": decoded_by or {"pil": plan["missing"]},
    }


def _build_chunk(job) -> tuple[int, int]:
    cache, paths, resize = job
    for p in paths:
        cache.pixels(p, resize)
    return len(paths), cache.stats["not_written_disk_full"]
