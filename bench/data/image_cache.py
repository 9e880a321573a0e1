"""Decoded-image cache: decode each image once per dataset, not once per epoch per cell.

An entry is one image's HxWx3 uint8 pixels after a resize, in a ``.npy`` file that is memory-mapped
when read, so worker processes share the pages instead of each holding a copy. The key is the SHA-256
of the image file's bytes plus the resize, so every cell, epoch, worker, method and later run that needs
the same pixels finds the same entry, and an edited image never hits a stale one.

    cache = ImageCache(root)                    # root: default_root() = $BENCH_IMAGE_CACHE or $BENCH_CACHE/images
    arr = cache.pixels(path, resize=("min", 224))   # read-only HxWx3 uint8 (np.memmap)

Layout: ``<root>/<key[:2]>/<key>.npy``. Crash safety: an entry is written to a temporary name in the
same folder, fsync'ed, then ``os.replace``'d onto its name, so a reader sees a whole file or none; a
reader still checks the header against the file size and the pixels against the CRC-32 written after
them (once per process while the file is unchanged: bench/core/integrity.py), and a file that does not match
(truncated, damaged, edited) is deleted and rebuilt. Temporary files left by a killed writer are never read
(``sweep_temp`` removes them). When the disk is nearly full a lazy build stops writing and serves
fresh decodes instead (results are the same, only slower); ``bench data cache`` checks up front.

Resizes: ``bench.data.resize`` (the same code on the cached and uncached paths). A resize that changes nothing
for an image shares that image's raw entry. Building a whole dataset up front, after a free-disk check:
``bench.data.cache_build`` (``bench data cache``).

Decoders: entries are PIL's (libjpeg) unless the cache was built with another decoder
(``bench data cache --decoder nvjpeg``: ``bench.data.decode_batch``); such an entry's key names its decoder, and a
cache reads it only when its ``decoder`` says so ($BENCH_IMAGE_DECODER in runs), else PIL's entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from pathlib import Path

import numpy as np

from bench.core.errors import BenchError
from bench.core.integrity import PIXEL_TRAILER, pixel_trailer, pixels_match
from bench.data.resize import apply_resize, normalise_resize, resize_key, target_size

ENV = "BENCH_IMAGE_CACHE"  # a folder, or 'off' to disable the cache in runs
OFF_VALUES = ("off", "0", "none", "no", "false")
RESERVE_BYTES = 1 << 30  # a lazy build never fills the disk past this much free space
KEY_VERSION = "v3"  # bump if the pixels an entry holds change meaning (v2: short side as torchvision;
# v3: 16-bit/float images scaled, not clipped; a CRC-32 trailer after the pixels)
DECODER_ENV = "BENCH_IMAGE_DECODER"  # whose entries a run reads: pil (default), nvjpeg, torchvision
DECODERS = ("pil", "nvjpeg", "torchvision")  # torchvision: its CPU decode_jpeg (libjpeg-turbo), batched


class CacheDiskFull(BenchError):
    """The image cache would not fit on its disk."""


def env_decoder() -> str:
    """$BENCH_IMAGE_DECODER: whose entries a run reads (default pil)."""
    name = os.environ.get(DECODER_ENV, "").strip().lower() or "pil"
    if name not in DECODERS:
        raise BenchError(f"{DECODER_ENV}={name!r}: use one of {', '.join(DECODERS)} (or unset it for pil)")
    return name


@contextlib.contextmanager
def cell_decoder(name: str):
    """$BENCH_IMAGE_DECODER = the cell's decoder while it runs (the planner put a non-PIL one in the cell's key),
    whatever the worker's own environment says, then as before."""
    saved = os.environ.get(DECODER_ENV)
    os.environ[DECODER_ENV] = name
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(DECODER_ENV, None)
        else:
            os.environ[DECODER_ENV] = saved


def default_root() -> Path | None:
    """$BENCH_IMAGE_CACHE (None when it says 'off'), else $BENCH_CACHE/images."""
    env = os.environ.get(ENV, "").strip()
    if env.lower() in OFF_VALUES:
        return None
    if env:
        return Path(env).expanduser().absolute()
    from bench.core.paths import cache_root

    return cache_root().absolute() / "images"


# --- content hashes -----------------------------------------------------------------------------------

_DIGESTS: dict[str, tuple[tuple, str]] = {}  # per process: path -> ((size, mtime_ns, inode), sha256)


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of the file's bytes, hashed once per process while size, mtime and inode stay the same."""
    path = os.fspath(path)
    st = os.stat(path)
    stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    memo = _DIGESTS.get(path)
    if memo and memo[0] == stamp:
        return memo[1]
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    _DIGESTS[path] = (stamp, digest)
    return digest


# --- the cache ----------------------------------------------------------------------------------------


class ImageCache:
    """Decoded pixels by (file content, resize). Picklable (a root folder and a decoder name), so it travels into
    DataLoader workers; each process keeps its own hash memo and opens entries as memory maps."""

    def __init__(self, root: str | os.PathLike, reserve_bytes: int = RESERVE_BYTES, decoder: str | None = None):
        self.root = Path(root).expanduser().absolute()
        self.reserve_bytes = int(reserve_bytes)
        self.decoder = decoder or env_decoder()  # whose entries are read first (then PIL's)
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder {self.decoder!r}: use one of {DECODERS}")
        self.stats = {"hits": 0, "builds": 0, "rebuilt_bad": 0, "not_written_disk_full": 0}

    def __repr__(self) -> str:
        return f"ImageCache({str(self.root)!r}, decoder={self.decoder!r})"

    def __getstate__(self):
        return {"root": self.root, "reserve_bytes": self.reserve_bytes, "decoder": self.decoder}

    def __setstate__(self, state):
        self.__init__(state["root"], state["reserve_bytes"], state.get("decoder", "pil"))

    # keys and paths
    def entry_path(self, digest: str, steps: tuple[tuple, ...], decoder: str = "pil") -> Path:
        tag = "" if decoder == "pil" else f"|{decoder}"  # PIL's keys are those from before decoders had names
        key = hashlib.sha256(f"{KEY_VERSION}|{digest}|{resize_key(steps)}{tag}".encode()).hexdigest()[:32]
        return self.root / key[:2] / f"{key}.npy"

    def _decoders(self) -> tuple[str, ...]:
        return (self.decoder, "pil") if self.decoder != "pil" else ("pil",)

    # reading
    def pixels(self, path: str | os.PathLike, resize=None, decode=None) -> np.ndarray:
        """The image's uint8 HxWx3 pixels after ``resize``: from the cache, or decoded, stored and returned.
        Raises DatasetError (naming the file) when the image is missing or undecodable. ``decode``: the
        decoder of a miss (default ``bench.data.decode.open_rgb``; callers pass the one they decode with)."""
        if decode is None:
            from bench.data.decode import open_rgb as decode
        steps = normalise_resize(resize)
        try:
            digest = file_digest(path)
        except FileNotFoundError:
            decode(path)  # raises the harness's "image file missing" error
            raise
        for decoder in self._decoders():
            if steps:
                arr = self._read(self.entry_path(digest, steps, decoder))
                if arr is not None:
                    return arr
            raw = self._read(self.entry_path(digest, (), decoder))
            if raw is not None and target_size(raw.shape[1], raw.shape[0], steps) == (raw.shape[1], raw.shape[0]):
                return raw
            if raw is not None:  # resize from the cached decode: the same pixels as a fresh one
                from PIL import Image

                return self.store(path, Image.fromarray(np.asarray(raw)), steps, decoder)
        return self.store(path, decode(path), steps, "pil")

    def store(self, path: str | os.PathLike, img, steps: tuple[tuple, ...], decoder: str = "pil") -> np.ndarray:
        """Resize ``img`` (``path`` decoded, an RGB PIL image) by ``steps`` and store it under ``decoder``'s key
        (the raw entry when nothing changes); the stored pixels. The one store path of every decoder."""
        out = np.asarray(apply_resize(img, steps))
        unchanged = out.shape[:2] == (img.size[1], img.size[0])
        self._write(self.entry_path(file_digest(path), () if unchanged else steps, decoder), out)
        self.stats["builds"] += 1
        return out

    def _read(self, entry: Path) -> np.ndarray | None:
        """The entry as a read-only memory map, or None when absent; a damaged entry is removed."""
        try:
            arr = np.load(entry, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            return None
        except (ValueError, OSError, EOFError):
            arr = None
        if arr is not None and _valid(entry, arr) and _pixels_verified(entry, arr):
            self.stats["hits"] += 1
            return arr
        self.stats["rebuilt_bad"] += 1
        entry.unlink(missing_ok=True)
        return None

    def contains(self, path: str | os.PathLike, resize=None) -> bool:
        steps = normalise_resize(resize)
        digest = file_digest(path)
        for entry, resized in (
            (self.entry_path(digest, s, d), s == steps)
            for d in self._decoders()
            for s in ((steps, ()) if steps else ((),))
        ):
            try:
                arr = np.load(entry, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError, EOFError):
                continue
            if (
                _valid(entry, arr)
                and _pixels_verified(entry, arr)
                and (resized or target_size(arr.shape[1], arr.shape[0], steps) == (arr.shape[1], arr.shape[0]))
            ):
                return True
        return False

    # writing
    def _write(self, entry: Path, arr: np.ndarray) -> bool:
        """Atomically store ``arr`` (temp file, fsync, os.replace). False when the disk is too full."""
        entry.parent.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(entry.parent).free < arr.nbytes + self.reserve_bytes:
            self.stats["not_written_disk_full"] += 1
            return False
        tmp = entry.parent / f".tmp.{entry.stem}.{os.getpid()}.{os.urandom(4).hex()}"
        try:
            with open(tmp, "wb") as fh:
                arr = np.ascontiguousarray(arr)
                np.save(fh, arr, allow_pickle=False)
                fh.write(pixel_trailer(arr))  # CRC-32 of the pixels, checked when read (bench/core/integrity.py)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, entry)
        except OSError:
            tmp.unlink(missing_ok=True)  # e.g. the disk filled up meanwhile: the run goes on uncached
            self.stats["not_written_disk_full"] += 1
            return False
        return True

    def sweep_temp(self, older_than_s: float = 3600.0) -> int:
        """Remove temporary files of writers that died (older than ``older_than_s``). Returns how many."""
        n, now = 0, time.time()
        if not self.root.is_dir():
            return 0
        for tmp in self.root.glob("*/.tmp.*"):
            try:
                if now - tmp.stat().st_mtime > older_than_s:
                    tmp.unlink()
                    n += 1
            except OSError:
                pass
        return n

    def size_bytes(self) -> tuple[int, int]:
        """(entries, bytes) under the root."""
        n = total = 0
        if self.root.is_dir():
            for f in self.root.glob("*/*.npy"):
                n += 1
                total += f.stat().st_size
        return n, total


def _valid(entry: Path, arr: np.ndarray) -> bool:
    """Header and file size agree (not truncated), and it holds HxWx3 uint8 pixels."""
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        return False
    return entry.stat().st_size == arr.offset + arr.nbytes + PIXEL_TRAILER


_VERIFIED: dict[str, tuple] = {}  # per process: entry -> (size, mtime_ns, inode) when its CRC last matched


def _pixels_verified(entry: Path, arr: np.ndarray) -> bool:
    """The pixels match the CRC-32 written after them; checked once per process while the file is unchanged
    (a memory-mapped entry is read by every epoch: hashing it on every read would cost more than the crops)."""
    st = entry.stat()
    stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    if _VERIFIED.get(str(entry)) == stamp:
        return True
    if not pixels_match(entry, arr, arr.offset + arr.nbytes):
        return False
    _VERIFIED[str(entry)] = stamp
    return True


# --- the cache a run uses -----------------------------------------------------------------------------


def active() -> ImageCache | None:
    """The cache a CropDataset uses when none is given: the one the runner set for the cell in flight
    (``bench.data.pipeline.enter_cell``), else $BENCH_IMAGE_CACHE when it names a folder, else none (plain
    library use decodes every time)."""
    from bench.data import pipeline

    cell = pipeline.current()
    if cell is not None:
        root = cell.get("image_cache")
        return ImageCache(root) if root else None
    env = os.environ.get(ENV, "").strip()
    return ImageCache(env) if env and env.lower() not in OFF_VALUES else None
