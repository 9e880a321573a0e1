"""Offline, deterministic demo data: ``demo-a`` and ``demo-b``.

SYNTHETIC AND NOT HUMAN-RATED. Reference photographs that ship inside scikit-image are
cropped to 256x256 and distorted (10 types x 4 levels). The "MOS" is a pseudo-MOS: full-
reference fidelity (SSIM against the reference, on RGB) mapped to a 1-5 scale, then 24
simulated raters add seeded noise; MOS and std are the mean and std of those raters.
The two sets use disjoint references, so demo-a -> demo-b is a genuine cross-dataset test.
demo-b publishes DMOS on 0-100 (lower is better) so the orientation code path is exercised.

Generated on first use into ``$BENCH_CACHE/demo/<name>-v<VERSION>/`` (never committed):
    refs/<ref>.png                     pristine references
    dist/<ref>_<distortion>_<level>.png
    meta.csv                           id,ref,distortion,level,score,std
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

VERSION = 1
SIZE = 256
N_RATERS = 24
NAMES = ("demo-a", "demo-b")


@dataclass(frozen=True)
class DemoRef:
    name: str  # file in skimage/data
    key: str  # short id used in file names
    scenes: tuple[str, ...]  # scene class names (bench.core.labels.SCENE_CLASSES)


# Disjoint references; grey photographs are toned (see _load_ref) so colour distortions act on them.
REFERENCES = {
    "demo-a": (
        DemoRef("astronaut.png", "astronaut", ("human",)),
        DemoRef("chelsea.png", "chelsea", ("animal", "indoor")),
        DemoRef("coffee.png", "coffee", ("still_life", "indoor")),
        DemoRef("rocket.jpg", "rocket", ("cityscape", "landscape")),
        DemoRef("camera.png", "camera", ("human", "landscape")),
        DemoRef("grass.png", "grass", ("plant",)),
        DemoRef("moon.png", "moon", ("night", "others")),
    ),
    "demo-b": (
        DemoRef("motorcycle_left.png", "motorcycle", ("indoor", "still_life")),
        DemoRef("hubble_deep_field.jpg", "hubble", ("night", "others")),
        DemoRef("retina.jpg", "retina", ("others",)),
        DemoRef("ihc.png", "ihc", ("others",)),
        DemoRef("coins.png", "coins", ("still_life",)),
        DemoRef("brick.png", "brick", ("cityscape", "others")),
        DemoRef("clock_motion.png", "clock", ("still_life", "indoor")),
    ),
}

# native name (LIQE vocabulary, so bench.data.datasets.distortions maps it) -> 4 levels, mild to strong
DISTORTIONS: dict[str, tuple[float, ...]] = {
    "gaussian blur": (1.0, 2.0, 3.5, 6.0),  # Gaussian radius (px)
    "white noise": (8.0, 16.0, 30.0, 50.0),  # sigma on 0-255
    "jpeg compression": (40, 20, 10, 4),  # JPEG quality
    "jpeg2000 compression": (20, 50, 100, 200),  # compression ratio
    "contrast": (0.7, 0.5, 0.32, 0.18),  # contrast factor around the mean
    "brighten": (0.75, 0.55, 0.4, 0.28),  # gamma < 1
    "darken": (1.4, 2.0, 2.8, 4.0),  # gamma > 1
    "desaturation": (0.6, 0.35, 0.15, 0.0),  # saturation factor
    "color quantization": (32, 12, 6, 3),  # levels per channel
    "pixelate": (2, 4, 8, 14),  # block size (px)
}

SCALES = {"demo-a": ((1.0, 5.0), True), "demo-b": ((0.0, 100.0), False)}  # (raw scale, higher is better)
TITLES = {"demo-a": "Demo A (synthetic, not human-rated)", "demo-b": "Demo B (synthetic, not human-rated)"}


def demo_dir(name: str, cache_dir: Path | None = None) -> Path:
    from bench.core.paths import cache_root

    return Path(cache_dir or cache_root()) / "demo" / f"{name}-v{VERSION}"


def ensure_demo(name: str, cache_dir: Path | None = None, progress: bool = False) -> Path:
    """The demo folder, generated on first use. Safe when several processes race for it."""
    target = demo_dir(name, cache_dir)
    if (target / "meta.csv").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        generate(name, tmp, progress=progress)
        try:
            os.replace(tmp, target)  # atomic; fails if another process won the race
        except OSError:
            if not (target / "meta.csv").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def generate(name: str, out: Path, progress: bool = False, n_refs: int | None = None) -> None:
    """Write one demo set into ``out``. ``n_refs`` keeps a prefix of the references (quick checks:
    its rows equal the full set's first rows, since the seeded stream is consumed reference by reference)."""
    from PIL import Image
    from tqdm import tqdm

    (out / "refs").mkdir(parents=True, exist_ok=True)
    (out / "dist").mkdir(exist_ok=True)
    rng = np.random.default_rng([VERSION, NAMES.index(name)])
    (lo, hi), hib = SCALES[name]
    rows = []
    refs = REFERENCES[name][:n_refs]
    jobs = [(ref, d, lvl) for ref in refs for d in DISTORTIONS for lvl in range(len(DISTORTIONS[d]))]
    ref_px = {ref.key: _load_ref(ref) for ref in refs}
    for ref in refs:
        Image.fromarray(ref_px[ref.key]).save(out / "refs" / f"{ref.key}.png")
    for ref, dist, lvl in tqdm(jobs, desc=f"generating {name}", disable=not progress, leave=False):
        img = apply_distortion(ref_px[ref.key], dist, DISTORTIONS[dist][lvl], rng)
        rel = f"dist/{ref.key}_{dist.replace(' ', '-')}_{lvl + 1}.png"
        Image.fromarray(img).save(out / rel, compress_level=1)  # lossless, fast
        q = _fidelity(ref_px[ref.key], img)
        ratings = _rate(q, rng)  # on 1..5, higher is better
        if not hib:  # DMOS on 0-100
            ratings = (5.0 - ratings) * 25.0
        ratings = np.clip(ratings, lo, hi)
        rows.append(
            (rel, ref.key, dist, lvl + 1, round(float(ratings.mean()), 4), round(float(ratings.std(ddof=1)), 4))
        )
    with open(out / "meta.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("id", "ref", "distortion", "level", "score", "std"))
        w.writerows(rows)


def _load_ref(ref: DemoRef) -> np.ndarray:
    """256x256 RGB uint8: short side resized to 256, centre crop; grey photos get a warm tone."""
    import skimage.data
    from PIL import Image

    img = Image.open(Path(skimage.data.__file__).parent / ref.name)
    if img.mode in ("L", "I", "I;16", "P", "LA"):
        g = np.asarray(img.convert("L"), dtype=np.float32)
        img = Image.fromarray(np.stack([g, g * 0.93 + 4, g * 0.8 + 10], -1).clip(0, 255).astype(np.uint8))
    img = img.convert("RGB")
    w, h = img.size
    s = SIZE / min(w, h)
    img = img.resize((max(SIZE, round(w * s)), max(SIZE, round(h * s))), Image.BICUBIC)
    w, h = img.size
    left, top = (w - SIZE) // 2, (h - SIZE) // 2
    return np.asarray(img.crop((left, top, left + SIZE, top + SIZE)), dtype=np.uint8)


def apply_distortion(img: np.ndarray, name: str, level: float, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageFilter

    x = img.astype(np.float32)
    if name == "gaussian blur":
        return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(level)))
    if name == "white noise":
        return _u8(x + rng.normal(0, level, x.shape))
    if name in ("jpeg compression", "jpeg2000 compression"):
        buf = io.BytesIO()
        if name == "jpeg compression":
            Image.fromarray(img).save(buf, "JPEG", quality=int(level))
        else:
            Image.fromarray(img).save(buf, "JPEG2000", quality_mode="rates", quality_layers=[float(level)])
        buf.seek(0)
        return np.asarray(Image.open(buf).convert("RGB"))
    if name == "contrast":
        return _u8((x - x.mean()) * level + x.mean())
    if name in ("brighten", "darken"):
        return _u8(255.0 * (x / 255.0) ** level)
    if name == "desaturation":
        grey = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return _u8(grey[..., None] + (x - grey[..., None]) * level)
    if name == "color quantization":
        step = 256.0 / level
        return _u8(np.floor(x / step) * step + step / 2)
    if name == "pixelate":
        b = int(level)
        small = Image.fromarray(img).resize((SIZE // b, SIZE // b), Image.BOX)
        return np.asarray(small.resize((SIZE, SIZE), Image.NEAREST))
    raise KeyError(name)


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def ssim(ref: np.ndarray, img: np.ndarray) -> float:
    """Mean SSIM over RGB as scikit-image computes it by default (7x7 uniform window, sample
    covariance, K1=0.01, K2=0.03, 3 px border cropped), in float32 for speed."""
    from scipy.ndimage import uniform_filter1d

    x, y = (np.moveaxis(a, -1, 0).astype(np.float32) for a in (ref, img))  # channels first
    m = np.stack([x, y, x * x, y * y, x * y])
    m = uniform_filter1d(uniform_filter1d(m, 7, axis=-1), 7, axis=-2)[..., 3:-3, 3:-3]
    mx, my, mxx, myy, mxy = m
    cov = 49.0 / 48.0
    vx, vy, vxy = cov * (mxx - mx * mx), cov * (myy - my * my), cov * (mxy - mx * my)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean(dtype=np.float64))


def _fidelity(ref: np.ndarray, img: np.ndarray) -> float:
    """Quality in [0, 1] from SSIM; the power spreads the crowded top of SSIM's range."""
    return float(np.clip(ssim(ref, img), 0.0, 1.0) ** 1.5)


def _rate(q: float, rng: np.random.Generator) -> np.ndarray:
    """24 simulated raters on 1..5: a per-rater bias plus per-rating noise, seeded."""
    bias = rng.normal(0.0, 0.25, N_RATERS)
    noise = rng.normal(0.0, 0.45, N_RATERS)
    return np.clip(1.0 + 4.0 * q + bias + noise, 1.0, 5.0)


def _main() -> None:
    """``python -m bench.data.demo``: generate both sets into a fresh temporary folder and time it."""
    import time

    with tempfile.TemporaryDirectory() as tmp:
        for name in NAMES:
            t, c = time.perf_counter(), time.process_time()
            generate(name, Path(tmp) / name)
            print(f"{name}: {time.perf_counter() - t:.2f} s wall, {time.process_time() - c:.2f} s CPU")


if __name__ == "__main__":
    _main()
