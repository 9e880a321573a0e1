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

from bench.errors import BenchError


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


def atomic_write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(tmp, mode, **({} if mode == "wb" else {"encoding": "utf-8", "newline": ""})) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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

    def ensure_writable(self) -> None:
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
        return self.cell_path(key).is_file()

    def done_keys(self) -> set[str]:
        cells = self.root / "cells"
        if not cells.is_dir():
            return set()
        return {p.name[:-5] for sub in os.scandir(cells) if sub.is_dir() for p in os.scandir(sub.path)
                if p.name.endswith(".json") and not p.name.startswith(".")}

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
        except json.JSONDecodeError as exc:   # never written by us (writes are atomic): edited or damaged by hand
            raise StoreError(f"result file {path} is not valid JSON ({exc}); delete it and run again "
                             "to recompute that cell.") from None

    def iter_results(self) -> Iterator[dict]:
        """Every finished cell (the reports' only input), in key order."""
        for key in sorted(self.done_keys()):
            try:
                yield self.load(key)
            except FileNotFoundError:    # removed by a concurrent --rerun all between listing and reading
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
        key = record["key"]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(("id", "score", "prediction"))
        for image_id, score, pred in predictions:
            writer.writerow((image_id, repr(float(score)), "" if pred is None or not math.isfinite(pred) else repr(float(pred))))
        atomic_write(self.preds_path(key), buf.getvalue())
        path = self.cell_path(key)
        atomic_write(path, json.dumps(_finite(record), indent=1, sort_keys=False, allow_nan=False) + "\n")
        self.failed_path(key).unlink(missing_ok=True)     # done now: an old failure is history
        return path

    def write_failed(self, record: dict) -> Path:
        path = self.failed_path(record["key"])
        atomic_write(path, json.dumps(_finite(record), indent=1, allow_nan=False) + "\n")
        return path
