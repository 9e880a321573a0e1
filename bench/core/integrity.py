"""Integrity hashes: a finished cell and a decoded-image cache entry notice when their bytes change.

Results store: ``bench.results.store`` writes into each finished cell JSON

    "integrity": {"preds_sha256": "<SHA-256 of <key>.preds.csv as written>",
                  "metrics_sha256": "<SHA-256 of the metrics block, canonical JSON>"}

and ``check_record`` compares them with the files on disk. A record that does not match was edited or
damaged after its cell ran: ``bench report``, ``bench results export`` refuse it, naming the file, and a run
(resume) treats it as damaged and computes the cell again. A record written before these hashes existed
(no ``integrity`` field) is read as *unverified*: counted, and marked as such, never refused
(docs/RUNNING.md, "Integrity of the results store").

Decoded-image cache (``bench.data.image_cache``): each entry's .npy payload is followed by a 12-byte trailer,
``PIXCRC32`` + the CRC-32 of the pixel bytes; an entry whose pixels do not match is deleted and rebuilt. CRC-32
(not SHA-256) because it is read on the data path: 0.9 ms per 1024x768 image against 2.4 ms (docs/PERFORMANCE.md);
it detects damage, not a forger (who could rewrite a stored SHA-256 as easily).
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from pathlib import Path

UNVERIFIED = "unverified"  # a record without hashes (written before schema 2)
VERIFIED = "verified"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def metrics_digest(metrics) -> str:
    """SHA-256 of the metrics block as JSON with sorted keys: equal before writing and after reading back
    (floats round-trip exactly; NaN is already null in the stored record)."""
    return sha256_bytes(json.dumps(metrics, sort_keys=True, separators=(",", ":"), allow_nan=False).encode())


def record_hashes(metrics, preds_text: str) -> dict:
    return {"preds_sha256": sha256_bytes(preds_text.encode("utf-8")), "metrics_sha256": metrics_digest(metrics)}


def check_record(record: dict, preds_path: Path) -> str | None:
    """None when the record's hashes match its metrics and predictions file, or when it has none
    (``status_of`` says 'unverified'); otherwise what does not match, naming the file."""
    hashes = record.get("integrity")
    if hashes is None:
        return None
    if not isinstance(hashes, dict) or not {"preds_sha256", "metrics_sha256"} <= set(hashes):
        return "its 'integrity' field is damaged"
    try:
        if metrics_digest(record.get("metrics")) != hashes["metrics_sha256"]:
            return "its metrics block does not match the hash written with it (edited after the run?)"
    except (TypeError, ValueError):
        return "its metrics block is not plain JSON numbers"
    try:
        actual = sha256_file(preds_path)
    except OSError as exc:
        return f"its predictions file {preds_path} cannot be read ({exc.strerror or exc})"
    if actual != hashes["preds_sha256"]:
        return f"its predictions file {preds_path} does not match the hash written with it (edited after the run?)"
    return None


def status_of(record: dict) -> str:
    """'verified' for a record with hashes (check it with ``check_record``), else 'unverified'."""
    return VERIFIED if isinstance(record.get("integrity"), dict) else UNVERIFIED


# --- decoded-image cache entries --------------------------------------------------------------------------

PIXEL_MAGIC = b"PIXCRC32"
PIXEL_TRAILER = len(PIXEL_MAGIC) + 4


def pixel_trailer(pixels) -> bytes:
    """The bytes written after an entry's .npy payload: magic + CRC-32 of the C-contiguous pixel bytes."""
    return PIXEL_MAGIC + struct.pack("<I", zlib.crc32(memoryview(pixels).cast("B")))


def pixels_match(entry: Path, pixels, payload_end: int) -> bool:
    """The trailer after ``payload_end`` holds the magic and the CRC-32 of ``pixels`` (the mapped payload)."""
    try:
        with open(entry, "rb") as fh:
            fh.seek(payload_end)
            trailer = fh.read(PIXEL_TRAILER + 1)
    except OSError:
        return False
    return len(trailer) == PIXEL_TRAILER and trailer == pixel_trailer(pixels)
