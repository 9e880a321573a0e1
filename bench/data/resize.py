"""Resizes of decoded images, the same code on the cached and uncached paths (``bench.data.image_cache``, crops).

A resize is a tuple of steps applied in order to the decoded RGB image with PIL: ``("min", N)`` short side at
least N (aspect kept; only images smaller than N change), ``("short", N)`` short side exactly N, ``("max", N)``
short side at most N (only larger images change), ``("fixed", W, H)``. A step may end with its PIL filter,
``"bilinear"`` or ``"bicubic"`` (the default, left out of the key so older cache keys stay valid).
"""

from __future__ import annotations

import numpy as np

FILTERS = ("bicubic", "bilinear")  # a resize step's PIL filter (bicubic unless the step names one)


def normalise_resize(resize) -> tuple[tuple, ...]:
    """A resize as a tuple of steps: None, one step ("min", 224), or a sequence of steps."""
    if resize is None or resize == ():
        return ()
    if isinstance(resize, tuple) and resize and isinstance(resize[0], str):
        resize = (resize,)
    steps = []
    for step in resize:
        step = tuple(step)
        kind = step[0] if step else None
        filt = step[-1] if len(step) > 2 and isinstance(step[-1], str) else "bicubic"
        sizes = step[1:-1] if len(step) > 2 and isinstance(step[-1], str) else step[1:]
        ok = (kind in ("min", "short", "max") and len(sizes) == 1) or (kind == "fixed" and len(sizes) == 2)
        if not ok or filt not in FILTERS or not all(isinstance(v, (int, np.integer)) and v > 0 for v in sizes):
            raise ValueError(
                f"resize step {step!r}: use ('min', N), ('short', N), ('max', N) or ('fixed', W, H) with "
                "N, W, H >= 1, optionally ending with 'bilinear' or 'bicubic'"
            )
        # bicubic (the default) is left out, so the keys of entries stored before filters existed stay the same
        steps.append((kind, *(int(v) for v in sizes), *((filt,) if filt != "bicubic" else ())))
    return tuple(steps)


def resize_key(steps: tuple[tuple, ...]) -> str:
    return "|".join(":".join(str(v) for v in s) for s in steps) or "raw"


def target_size(w: int, h: int, steps: tuple[tuple, ...]) -> tuple[int, int]:
    """The (w, h) an image of (w, h) has after ``steps``."""
    for step in steps:
        if step[0] == "fixed":
            w, h = step[1], step[2]
        elif step[0] == "min":
            n = step[1]
            if min(w, h) < n:
                s = n / min(w, h)
                w, h = max(n, int(np.ceil(w * s))), max(n, int(np.ceil(h * s)))
        elif step[0] == "max" and min(w, h) <= step[1]:
            continue
        else:  # short (and max, for images whose short side is larger): torchvision's Resize(n) rule,
            # the long side truncated (int(n * long / short)), as the official UNIQUE/LIQE loaders resize
            n = step[1]
            w, h = (n, max(1, int(n * h / w))) if w <= h else (max(1, int(n * w / h)), n)
    return w, h


def apply_resize(img, steps: tuple[tuple, ...]):
    """``steps`` applied to a PIL image (bicubic); the image itself when nothing changes."""
    from PIL import Image

    for step in steps:
        size = target_size(*img.size, (step,))
        if size != img.size:
            img = img.resize(size, Image.BILINEAR if step[-1] == "bilinear" else Image.BICUBIC)
    return img
