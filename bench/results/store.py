"""The results store: one JSON file per finished cell, its predictions beside it.

Layout (docs/ARCHITECTURE.md, a contract with `bench report`):

    OUT/cells/<key[:2]>/<key>.json        finished cell (status 'done')
    OUT/cells/<key[:2]>/<key>.preds.csv   id,score,prediction for the test images
    OUT/failed/<key>.json                 failed cell with its traceback (never counts as done)

Every file is written to a unique temporary name in the same folder and moved into
place with ``os.replace`` (atomic on POSIX), predictions first and the cell JSON last:
the JSON is the 'done' marker, so a run killed at any instant leaves either a complete
cell or none, and two runs writing the same folder never leave a half-written file
(the last complete write of a key wins; both are results of the same cell).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from bench.core.errors import BenchError
from bench.core.files import atomic_write
from bench.core.integrity import check_record, record_hashes


class StoreError(BenchError):
    """The results folder cannot be used."""


def _finite(value):
    """JSON has no NaN: NaN/inf become null (metrics flags say why)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def unwritable_reason(folder: Path) -> str | None:
    """Why ``folder`` (made if missing) could not be written, checked without creating anything."""
    folder = Path(folder).absolute()
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):  # read-only mounts too (EROFS), even for root
        return "read-only file system" if _read_only_fs(probe) else "permission denied"
    return None


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def ensure_writable_dir(folder: Path, flag: str) -> None:
    """A folder cells write into (e.g. --cache-dir): made and probed at start-up, not found out per cell."""
    probe = Path(folder) / f".write-probe.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise StoreError(
            f"{flag} {str(folder)!r} is not writable ({exc.strerror or exc}); "
            f"pass a folder you can write with {flag} DIR."
        ) from None


class ResultStore:
    def __init__(self, out: str | os.PathLike = "runs", create: bool = False):
        self.root = Path(out)
        if create:
            self.ensure_writable()

    # --- layout ---------------------------------------------------------------------
    def cell_path(self, key: str) -> Path:
        return self.root / "cells" / key[:2] / f"{key}.json"

    def preds_path(self, key: str) -> Path:
        return self.root / "cells" / key[:2] / f"{key}.preds.csv"

    def failed_path(self, key: str) -> Path:
        return self.root / "failed" / f"{key}.json"

    @property
    def cache_dir(self) -> Path:
        """Shared across cells and runs of this store: feature caches, zero-shot scores."""
        return self.root / "cache"

    def ensure_writable(self, create: bool = True) -> None:
        """create=False (--dry-run): the same verdict, nothing made on disk."""
        if not create:
            problem = unwritable_reason(self.root)
            if problem:
                raise StoreError(
                    f"results folder {str(self.root)!r} is not writable ({problem}); "
                    "pass a folder you can write with --out DIR."
                )
            return
        probe = self.root / f".write-probe.{os.getpid()}.{uuid.uuid4().hex[:6]}"
        try:
            (self.root / "cells").mkdir(parents=True, exist_ok=True)
            (self.root / "failed").mkdir(parents=True, exist_ok=True)
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise StoreError(
                f"results folder {str(self.root)!r} is not writable ({exc.strerror or exc}); "
                "pass a folder you can write with --out DIR."
            ) from None

    # --- reading --------------------------------------------------------------------
    def is_done(self, key: str) -> bool:
        """A cell file that is a complete record (a damaged one is recomputed, not trusted)."""
        return self.cell_path(key).is_file() and not self.damaged_keys([key])

    def damaged_keys(self, keys: Iterable[str]) -> dict[str, str]:
        """Of ``keys`` with a cell file, those whose file is not a complete JSON record: key -> why."""
        out = {}
        for key in keys:
            try:
                record = json.loads(self.cell_path(key).read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue
            except (OSError, ValueError) as exc:
                out[key] = f"{type(exc).__name__}: {exc}"
                continue
            if not isinstance(record, dict) or "metrics" not in record:
                out[key] = "not a finished cell record"
                continue
            mismatch = check_record(record, self.preds_path(key), key)
            if mismatch:
                out[key] = mismatch
        return out

    def tampered(self, record: dict, path: Path | None = None) -> str | None:
        """One message naming the cell file when ``record`` (read from ``path``) fails its integrity hashes or
        its key is not its file name's, else None."""
        path = path or self.cell_path(str(record.get("key", "")))
        key = path.name[: -len(".json")] if path.name.endswith(".json") else None
        mismatch = check_record(record, self.preds_path(key or str(record.get("key", ""))), key)
        if not mismatch:
            return None
        return (
            f"result {path}: {mismatch}. Its numbers cannot be trusted: delete it and its .preds.csv and run "
            "the same `bench run` command again to recompute that cell."
        )

    def done_keys(self) -> set[str]:
        cells = self.root / "cells"
        if not cells.is_dir():
            return set()
        return {
            p.name[:-5]
            for sub in os.scandir(cells)
            if sub.is_dir()
            for p in os.scandir(sub.path)
            if p.name.endswith(".json") and not p.name.startswith(".")
        }

    def failed_keys(self) -> set[str]:
        failed = self.root / "failed"
        if not failed.is_dir():
            return set()
        return {p.name[:-5] for p in os.scandir(failed) if p.name.endswith(".json") and not p.name.startswith(".")}

    def load(self, key: str) -> dict:
        path = self.cell_path(key)
        text = path.read_text(encoding="utf-8")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:  # never written by us (writes are atomic): edited or damaged by hand
            raise StoreError(
                f"result file {path} is not valid JSON ({exc}); delete it and run again to recompute that cell."
            ) from None

    def iter_results(self) -> Iterator[dict]:
        """Every finished cell (the reports' only input), in key order."""
        for key in sorted(self.done_keys()):
            try:
                yield self.load(key)
            except FileNotFoundError:  # removed by a concurrent --rerun all between listing and reading
                continue

    def iter_failures(self) -> Iterator[dict]:
        for key in sorted(self.failed_keys()):
            try:
                yield json.loads(self.failed_path(key).read_text(encoding="utf-8"))
            except FileNotFoundError:
                continue

    def load_predictions(self, key: str) -> list[tuple[str, float, float | None]]:
        with open(self.preds_path(key), encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        return [(r["id"], float(r["score"]), float(r["prediction"]) if r["prediction"] else None) for r in rows]

    # --- writing --------------------------------------------------------------------
    def write_done(self, record: dict, predictions: Iterable[tuple[str, float, float]]) -> Path:
        """Predictions, then the cell JSON with the SHA-256 of both (bench/core/integrity.py)."""
        key = record["key"]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(("id", "score", "prediction"))
        for image_id, score, pred in predictions:
            writer.writerow(
                (image_id, repr(float(score)), "" if pred is None or not math.isfinite(pred) else repr(float(pred)))
            )
        atomic_write(self.preds_path(key), buf.getvalue())
        path = self.cell_path(key)
        # hashed as JSON gives it back (tuples -> lists, numeric dict keys -> strings), so a reader re-hashes the same
        record = json.loads(json.dumps(_finite(record), allow_nan=False))
        record.pop("integrity", None)
        record["integrity"] = record_hashes(record, buf.getvalue())
        atomic_write(path, json.dumps(record, indent=1, sort_keys=False, allow_nan=False) + "\n")
        self.failed_path(key).unlink(missing_ok=True)  # done now: an old failure is history
        return path

    def write_failed(self, record: dict) -> Path:
        path = self.failed_path(record["key"])
        atomic_write(path, json.dumps(_finite(record), indent=1, allow_nan=False) + "\n")
        return path
