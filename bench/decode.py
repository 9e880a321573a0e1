"""Decoding one image file to RGB, with the harness's error naming a missing or undecodable file.

The bottom of the image stack: the decoded-image cache (``bench.image_cache``) decodes its misses with it,
and ``bench.images`` (crops, torch Datasets) builds on both. ``bench.images.open_rgb`` is this function.
"""

from __future__ import annotations

from pathlib import Path


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
        raise DatasetError(
            f"cannot decode image {path} ({exc}). Re-download it, or pass --skip-corrupt to exclude it."
        ) from None
