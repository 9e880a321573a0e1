"""JPEG decoding for the image cache, measured: PIL (libjpeg) against ``torchvision.io.decode_jpeg`` in batches on
a device (CUDA: nvJPEG), images/s and how far the pixels differ (issue 23; ``scripts/gpu-check`` runs it).

    python -m bench.perf.decode [--device cuda] [--n-images 64] [--batch 16]

It also builds the decoded-image cache both ways (``cache_build``: PIL against ``bench.data.decode_batch`` on the
device, the code ``bench data cache --decoder nvjpeg`` runs) and compares the entries: images whose pixels differ,
the largest level difference and the share of pixel values that differ.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path


def compare_decoders(paths, device: str = "cpu", batch: int = 16, passes: int = 2) -> dict:
    import numpy as np
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg, read_file

    from bench.data.images import decode_rgb

    data = [read_file(str(p)) for p in paths]
    pil_s = gpu_s = float("inf")
    for _ in range(passes):
        t0 = time.perf_counter()
        ref = [decode_rgb(p) for p in paths]
        pil_s = min(pil_s, time.perf_counter() - t0)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = []
        for i in range(0, len(data), batch):
            out += decode_jpeg(data[i : i + batch], mode=ImageReadMode.RGB, device=device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        gpu_s = min(gpu_s, time.perf_counter() - t0)
    diffs = [np.abs(o.permute(1, 2, 0).cpu().numpy().astype(np.int16) - r.astype(np.int16)) for o, r in zip(out, ref)]
    n = len(paths)
    return {
        "images": n,
        "device": device,
        "batch": batch,
        "pil_images_per_s": n / pil_s,
        "torchvision_images_per_s": n / gpu_s,
        "speedup": pil_s / gpu_s,
        "identical_images": int(sum(not d.any() for d in diffs)),
        "max_abs_diff": int(max(d.max() for d in diffs)),
        "mean_abs_diff": float(np.mean([d.mean() for d in diffs])),
        "differing_value_share": float(sum(int((d > 0).sum()) for d in diffs) / sum(d.size for d in diffs)),
    }


def compare_cache_builds(paths, device: str = "cpu", batch: int = 16, resize=(("min", 224),)) -> dict:
    """``bench.data.cache_build.build`` with PIL and with the batched decoder (nvjpeg on CUDA, torchvision on the CPU),
    each into a fresh temporary cache: seconds, and how far the entries differ."""
    import numpy as np

    from bench.data import cache_build
    from bench.data import image_cache as ic

    decoder = "nvjpeg" if str(device).startswith("cuda") else "torchvision"
    out: dict = {"decoder": decoder, "device": device, "images": len(paths), "batch": batch}
    with tempfile.TemporaryDirectory(prefix="bench-decode-cache-") as tmp:
        caches = {name: ic.ImageCache(Path(tmp) / name, decoder=name) for name in ("pil", decoder)}
        for name, cache in caches.items():
            facts = cache_build.build(cache, paths, resize, device=device, batch=batch)
            out[f"{name}_build_s"] = facts["seconds"]
            out[f"{name}_decoded_by"] = facts["decoded_by"]
        diffs = [
            np.abs(
                caches[decoder].pixels(p, resize).astype(np.int16) - caches["pil"].pixels(p, resize).astype(np.int16)
            )
            for p in paths
        ]
    out["speedup"] = out["pil_build_s"] / out[f"{decoder}_build_s"]
    out["identical_entries"] = int(sum(not d.any() for d in diffs))
    out["max_abs_diff"] = int(max(d.max() for d in diffs))
    out["differing_value_share"] = float(sum(int((d > 0).sum()) for d in diffs) / sum(d.size for d in diffs))
    return out


def main(argv=None) -> int:
    import argparse

    from bench.perf.pipeline import koniq_like_jpegs

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n-images", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-decode-") as tmp:
        paths = koniq_like_jpegs(Path(tmp), args.n_images)
        facts = compare_decoders(paths, args.device, args.batch)
        facts["cache_build"] = compare_cache_builds(paths, args.device, args.batch)
        print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
