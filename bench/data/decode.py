"""Decoding one image file to RGB, with the harness's error naming a missing or undecodable file.

The bottom of the image stack: the decoded-image cache (``bench.data.image_cache``) decodes its misses with it,
and ``bench.data.images`` (crops, torch Datasets) builds on both. ``bench.data.images.open_rgb`` is this function.
"""

from __future__ import annotations

from pathlib import Path


def open_rgb(path: str | Path):
    """The decoded image as an 8-bit RGB PIL image, from any bit depth and mode (``bench.data.image_modes``).
    Raises DatasetError naming the file when it is missing, not an image (a decompression bomb included),
    or of a mode that cannot be read."""
    from PIL import Image, UnidentifiedImageError

    from bench.core.errors import DatasetError
    from bench.data.image_modes import to_rgb8

    try:
        with Image.open(path) as img:
            img.load()
            return to_rgb8(img, path)
    except FileNotFoundError:
        raise DatasetError(f"image file missing: {path}. Restore it, or pass --skip-corrupt to exclude it.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(
            f"cannot decode image {path} ({type(exc).__name__}: {exc}). Re-download it, or pass --skip-corrupt "
            "to exclude it."
        ) from None


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the file header, no decode; a DatasetError naming the file when it cannot be
    read (missing, not an image, a decompression bomb: Pillow refuses those while opening)."""
    from PIL import Image, UnidentifiedImageError

    from bench.core.errors import DatasetError

    try:
        with Image.open(path) as img:
            return img.size
    except FileNotFoundError:
        raise DatasetError(f"image file missing: {path}. Restore it, or pass --skip-corrupt to exclude it.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(
            f"cannot read image {path} ({type(exc).__name__}: {exc}). Re-download it, "
            "or pass --skip-corrupt to exclude it."
        ) from None
