"""Integrity hashes: a finished cell and a decoded-image cache entry notice when their bytes change.

Results store: ``bench.results.store`` writes into each finished cell JSON (schema 3)

    "integrity": {"preds_sha256": "<SHA-256 of <key>.preds.csv as written>",
                  "metrics_sha256": "<SHA-256 of the metrics block, canonical JSON>",
                  "record_sha256": "<SHA-256 of the whole record but this block, canonical JSON>"}

and ``check_record`` compares them with the files on disk, and the record's ``key`` with its file name. The
record hash covers everything that decides or labels a reported number: method, version, parameters, datasets
and revisions, split, seed, key, n_test, the metric flags (dropped predictions), notes. A record that does not
match was edited, damaged or copied after its cell ran: ``bench report``, ``bench results export`` refuse it,
naming the file, and a run (resume) treats it as damaged and computes the cell again.

Older records are read with a status that says what was checked (docs/RUNNING.md, "Integrity of the results
store"): schema 2 (metrics and predictions hashed, not the rest) is *partial*; a record without any hashes
(schema 1) is *unverified*. A schema-2-or-later record whose ``integrity`` block is gone was stripped after the
run: damaged, never read as schema 1.

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

UNVERIFIED = "unverified"  # a record without hashes (schema 1)
PARTIAL = "partial"  # schema 2: metrics and predictions hashed; method, params, data, split not
VERIFIED = "verified"  # schema 3: the whole record hashed
HASHED_SINCE = 2  # the first schema whose records carry an 'integrity' block
RECORD_HASHED_SINCE = 3  # the first schema whose 'integrity' block holds record_sha256


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


def record_digest(record: dict) -> str:
    """SHA-256 of the record without its 'integrity' block, as JSON with sorted keys (equal before writing and
    after reading back: the writer hashes the record as JSON gives it back)."""
    body = {k: v for k, v in record.items() if k != "integrity"}
    return sha256_bytes(json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode())


def record_hashes(record: dict, preds_text: str) -> dict:
    """The 'integrity' block of ``record`` (plain JSON values) and its predictions file's text."""
    return {
        "preds_sha256": sha256_bytes(preds_text.encode("utf-8")),
        "metrics_sha256": metrics_digest(record.get("metrics")),
        "record_sha256": record_digest(record),
    }


def _schema(record: dict) -> int:
    value = record.get("schema", 1)
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def check_record(record: dict, preds_path: Path, key: str | None = None) -> str | None:
    """None when the record's hashes match its fields and predictions file (or when it is a schema-1 record
    without any: ``status_of`` says 'unverified'), and its 'key' is ``key`` (its file name); otherwise what
    does not match, naming the file."""
    if key is not None and record.get("key") != key:
        return (
            f"its key {record.get('key')!r} is not its file name's {key!r}: the record was copied or renamed "
            "from another cell"
        )
    hashes = record.get("integrity")
    schema = _schema(record)
    if hashes is None:
        if schema >= HASHED_SINCE:
            return f"it has no 'integrity' block, which every schema-{schema} record carries (removed after the run?)"
        return None
    wanted = {"preds_sha256", "metrics_sha256"} | ({"record_sha256"} if schema >= RECORD_HASHED_SINCE else set())
    if not isinstance(hashes, dict) or not wanted <= set(hashes):
        return "its 'integrity' field is damaged"
    try:
        if metrics_digest(record.get("metrics")) != hashes["metrics_sha256"]:
            return "its metrics block does not match the hash written with it (edited after the run?)"
        if "record_sha256" in hashes and record_digest(record) != hashes["record_sha256"]:
            return (
                "its fields (method, parameters, datasets, split, key or another) do not match the hash "
                "written with them (edited after the run?)"
            )
    except (TypeError, ValueError):
        return "its metrics block or fields are not plain JSON"
    try:
        actual = sha256_file(preds_path)
    except OSError as exc:
        return f"its predictions file {preds_path} cannot be read ({exc.strerror or exc})"
    if actual != hashes["preds_sha256"]:
        return f"its predictions file {preds_path} does not match the hash written with it (edited after the run?)"
    return None


def status_of(record: dict) -> str:
    """What ``check_record`` could verify of a record that passed it: 'verified' (the whole record, schema 3),
    'partial' (metrics and predictions only, schema 2), 'unverified' (nothing, schema 1)."""
    hashes = record.get("integrity")
    if not isinstance(hashes, dict):
        return UNVERIFIED
    return VERIFIED if "record_sha256" in hashes else PARTIAL


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
