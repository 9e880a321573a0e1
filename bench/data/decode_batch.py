"""Building decoded-image cache entries with ``torchvision.io.decode_jpeg`` in batches: nvJPEG on CUDA, or
torchvision's own libjpeg-turbo on the CPU (the same code, so it is tested without a GPU).

    python -m bench data cache koniq10k --decoder nvjpeg [--device cuda] [--batch 64]

Only plain JPEGs go to the batch decoder: 8-bit baseline or extended-sequential (SOF0/SOF1), one or three
components, no Adobe marker other than YCbCr's (transform 1). Everything else (PNG, progressive, CMYK, 12-bit, anything the
batch decoder refuses or returns in another size) is decoded by PIL, per image, and stored under PIL's key.
The decoded pixels go through ``ImageCache.store``: the same resize and store code as PIL's, under a key that
names the decoder (``bench.data.image_cache``), because nvJPEG's pixels may differ from libjpeg's by a level or two.
Torch is imported inside functions only.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from pathlib import Path

BATCH = 32  # images per decode_jpeg call


def nvjpeg_available(device: str) -> bool:
    """Whether ``device`` is CUDA and torchvision's CUDA JPEG decode works there (one tiny JPEG decoded)."""
    if not str(device).startswith("cuda"):
        return False
    try:
        import io

        import numpy as np
        import torch
        from PIL import Image
        from torchvision.io import decode_jpeg

        if not torch.cuda.is_available():
            return False
        buf = io.BytesIO()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "JPEG")
        decode_jpeg(torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8), device=device)
        return True
    except Exception:  # no CUDA build of torchvision, no nvJPEG, a broken driver: PIL it is
        return False


def resolve_decoder(choice: str, device: str) -> str:
    """``--decoder``: auto is nvjpeg on a CUDA device whose torchvision decodes JPEGs there, else pil."""
    if choice == "auto":
        return "nvjpeg" if nvjpeg_available(device) else "pil"
    return choice


def plain_jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a JPEG the batch decoder is given, from its header; None for anything else."""
    if data[:2] != b"\xff\xd8":
        return None
    i, adobe = 2, False
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        seg = data[i + 4 : i + 2 + length]
        if marker == 0xEE and seg[:5] == b"Adobe" and (len(seg) < 12 or seg[11] != 1):
            adobe = True  # colour transform 0 (RGB, or CMYK) that PIL honours and a GPU decoder may not: PIL's
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame
            if marker not in (0xC0, 0xC1) or len(seg) < 6 or adobe:
                return None  # progressive, lossless, arithmetic-coded
            precision, h, w, components = seg[0], *struct.unpack(">HH", seg[1:5]), seg[5]
            return (w, h) if precision == 8 and components in (1, 3) and w and h else None
        if marker == 0xDA:  # scan data before any frame header: not a JPEG we know
            return None
        i += 2 + length
    return None


def decode_batch(datas: Sequence[bytes], device: str = "cpu") -> list:
    """``datas`` (JPEG file bytes) decoded by one batched ``decode_jpeg`` call on ``device`` as HxWx3 uint8
    numpy arrays; an image the batch call fails on is retried alone, and is None when that fails too."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]

    def one(t):
        try:
            return decode_jpeg(t, mode=ImageReadMode.RGB, device=device)
        except RuntimeError:
            return None

    try:
        out = decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        out = [one(t) for t in tensors]
    return [None if o is None else o.permute(1, 2, 0).contiguous().cpu().numpy() for o in out]


def build_batched(
    cache, paths: Sequence[Path], steps: tuple, device: str, batch: int = BATCH, on_done: Callable | None = None
) -> dict:
    """Store the entries of ``paths`` in ``cache`` (a ``bench.data.image_cache.ImageCache``; ``steps``: its normalised
    resize) under ``cache.decoder``'s key, plain JPEGs decoded ``batch`` at a time on ``device``, every other image
    by PIL under PIL's key. Returns how many each decoder made."""
    from PIL import Image

    counts = {cache.decoder: 0, "pil": 0}
    for start in range(0, len(paths), batch):
        chunk = list(paths[start : start + batch])
        datas = [Path(p).read_bytes() for p in chunk]
        sizes = [plain_jpeg_size(d) for d in datas]
        jpegs = [i for i, s in enumerate(sizes) if s]
        decoded = dict(zip(jpegs, decode_batch([datas[i] for i in jpegs], device))) if jpegs else {}
        for i, p in enumerate(chunk):
            arr = decoded.get(i)
            if arr is not None and (arr.shape[1], arr.shape[0]) == sizes[i]:
                cache.store(p, Image.fromarray(arr), steps, cache.decoder)
                counts[cache.decoder] += 1
            else:  # not a plain JPEG, or the batch decoder refused it: PIL, under PIL's key
                cache.pixels(p, steps)
                counts["pil"] += 1
        if on_done:
            on_done(len(chunk))
    return counts
