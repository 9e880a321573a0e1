"""Every pixel format read in its real bit depth, then brought to the 8 bits the methods take.

PIL's own ``convert('RGB')``/``convert('L')`` clips 16-bit and 32-bit greyscale at 255, so a 16-bit PNG
would be scored as a white image. Here:

- ``I;16``/``I;16B``/``I;16L`` (16-bit greyscale) and ``I`` (32-bit integer, read as 16-bit: older Pillow
  opened 16-bit PNGs as ``I``) are scaled by 255/65535 with rounding (v/257); an ``I`` value outside
  0..65535 has no known range and is refused;
- ``F`` (float) is read when its values lie in [0, 1] (scaled by 255), refused otherwise (no standard range);
- 16-bit RGB/RGBA PNGs are decoded by Pillow to their high byte (v >> 8): already 8-bit when they get here;
- alpha (``RGBA``, ``LA``, ``PA``, palette transparency) is dropped, keeping the colour underneath, as the
  official codes' ``Image.open(...).convert('RGB')`` does; ``P``, ``1``, ``CMYK``, ``YCbCr`` go through
  Pillow's conversion; a mode Pillow cannot convert (``LAB``, ``HSV``) is refused.

EXIF orientation is never applied (docs/DATASETS.md: the official codes do not either). A refusal is an
``ImageModeError`` naming the file, its mode and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bench.core.errors import DatasetError

if TYPE_CHECKING:
    from PIL import Image

DECODER = "modes-v1"  # in the keys of caches of values computed from decoded pixels (features, entries)
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
HIGH_DEPTH = SIXTEEN_BIT + ("I", "F")
_LABELS = {
    "I;16": "16-bit greyscale",
    "I;16B": "16-bit greyscale",
    "I;16L": "16-bit greyscale",
    "I;16N": "16-bit greyscale",
    "I": "32-bit integer greyscale",
    "F": "32-bit float greyscale",
    "L": "8-bit greyscale",
    "1": "1-bit",
    "P": "palette",
    "LA": "greyscale + alpha",
    "RGBA": "RGB + alpha",
    "PA": "palette + alpha",
    "CMYK": "CMYK",
    "YCbCr": "YCbCr",
    "RGB": "8-bit RGB",
}


class ImageModeError(DatasetError):
    """An image whose pixel format the harness cannot bring to 8 bits without guessing."""


def describe(im) -> str:
    """The mode as ``data check --deep`` lists it, e.g. 'I;16 (16-bit greyscale)', 'RGB (16-bit PNG)'.
    Call before ``im.load()``: the file's raw mode (16-bit RGB PNGs) is known only until then."""
    mode = im.mode
    args = im.tile[0].args if getattr(im, "tile", None) else ""
    raw = args[0] if isinstance(args, tuple) and args else args  # the decoder's raw mode, e.g. 'RGB;16B'
    label = _LABELS.get(mode, mode)
    if isinstance(raw, str) and raw.endswith(";16B") and mode in ("RGB", "RGBA", "LA"):
        label = f"16-bit {mode} PNG, read as its high byte"
    return f"{mode} ({label})"


def to_rgb8(im, path) -> Image.Image:
    """``im`` (loaded) as an 8-bit RGB PIL image; ImageModeError naming ``path`` where there is no sound way."""
    if im.mode == "RGB":
        return im
    if im.mode in HIGH_DEPTH:
        return _grey8(im, path).convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # a palette with transparency: Pillow wants it through RGBA
    return _convert(im, "RGB", path)


def to_grey8(im, path) -> Image.Image:
    """``im`` (loaded) as an 8-bit greyscale ('L') PIL image (Pillow's luma for colour modes)."""
    if im.mode == "L":
        return im
    if im.mode in HIGH_DEPTH:
        return _grey8(im, path)
    return _convert(im, "L", path)


def check(im, path) -> None:
    """Raise ImageModeError now (e.g. in ``data check --deep``) for an image ``to_rgb8`` would refuse."""
    to_rgb8(im, path)


def _convert(im, mode: str, path):
    try:
        return im.convert(mode)
    except ValueError as exc:  # e.g. LAB -> RGB: Pillow has no conversion
        raise ImageModeError(
            f"image {path} has pixel mode {im.mode!r}, which cannot be converted to {mode} "
            f"({exc}). Save it as 8- or 16-bit RGB or greyscale PNG."
        ) from None


def _grey8(im, path):
    from PIL import Image

    a = np.asarray(im)
    if im.mode == "F":
        finite = np.isfinite(a).all()
        lo, hi = (float(a.min()), float(a.max())) if a.size and finite else (0.0, 0.0)
        if not finite or lo < 0.0 or hi > 1.0:
            what = "non-finite values" if not finite else f"values in [{lo:g}, {hi:g}]"
            raise ImageModeError(
                f"image {path} holds float pixels (mode 'F') with {what}; float images are read "
                "only in [0, 1] (there is no standard range otherwise). Save it as 8- or 16-bit PNG."
            )
        return Image.fromarray(np.rint(a * 255.0).astype(np.uint8))
    a = a.astype(np.int64)
    if a.size and (a.min() < 0 or a.max() > 65535):
        raise ImageModeError(
            f"image {path} holds 32-bit integer pixels (mode {im.mode!r}) in [{a.min()}, {a.max()}], "
            "outside the 16-bit range 0..65535 this harness scales from. Save it as 8- or 16-bit PNG."
        )
    return Image.fromarray(((a * 255 + 32767) // 65535).astype(np.uint8))
