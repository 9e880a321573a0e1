"""Which finished cells a figure is drawn from, and their trained models back from the checkpoints.

A cell is chosen by key (prefix) or by (method, test dataset, split, protocol, variant); the model is
rebuilt with the method's own ``load`` from ``OUT/checkpoints/<key[:2]>/<key>`` (``bench run
--save-checkpoints``), and its test images are the ids of the cell's ``.preds.csv``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reports.errors import ReportError


class FigureError(ReportError):
    """A figure cannot be drawn as asked (no such cell, no checkpoint, a method without the hook)."""


RERUN_HINT = (
    "Run the same `python -m bench run ...` command again with --save-checkpoints --rerun all "
    "(same cells, same keys; their weights are kept this time), then retry."
)


@dataclass
class CellRef:
    """One finished cell of the store: its JSON record and where its files are."""

    record: dict[str, Any]
    runs: Path

    @property
    def key(self) -> str:
        return str(self.record["key"])

    @property
    def method(self) -> str:
        return str(self.record["method"])

    @property
    def label(self) -> str:
        from bench.results.cells import label

        return f"{self.key[:10]} ({label(self.record)})"

    @property
    def preds_path(self) -> Path:
        return self.runs / "cells" / self.key[:2] / f"{self.key}.preds.csv"

    @property
    def checkpoint(self) -> Path:
        return self.runs / "checkpoints" / self.key[:2] / self.key


def read_store(runs: str | Path) -> list[CellRef]:
    from reports.source import read_cells

    runs = Path(runs)
    return [CellRef(c, runs) for c in read_cells(runs)]


def select_cells(
    runs: str | Path,
    methods: list[str],
    *,
    keys: list[str] | None = None,
    dataset: str | None = None,
    split: int = 0,
    protocol: str = "intra",
    variant: str = "default",
) -> list[CellRef]:
    """One cell per method (in the order given), all on the same test images.

    With ``keys`` each key (prefix) names one cell. Otherwise each method's cell is the one of
    ``protocol``/``variant``/``split`` on ``dataset`` (default: the first test dataset every method has a
    cell on, checkpoints preferred); of several (seeds, reruns) the one with the lowest seed, newest first.
    """
    cells = read_store(runs)
    if keys:
        return [_by_key(cells, k) for k in keys]

    def matches(c: CellRef, method: str) -> bool:
        r = c.record
        return (
            r["method"] == method
            and r["protocol"] == protocol
            and r.get("variant", "default") == variant
            and r.get("split_index") == split
        )

    per_method = {m: [c for c in cells if matches(c, m)] for m in methods}
    for m, found in per_method.items():
        if not found:
            have = sorted({f"{c.method}/{c.record['protocol']}" for c in cells})
            raise FigureError(
                f"no finished {protocol} cell of method {m!r} (variant {variant!r}, split {split}) "
                f"in {runs}; the store has: {', '.join(have) or 'nothing'}. Run it with `python -m "
                f"bench run --protocol {protocol} --method {m} --save-checkpoints`, or pick cells "
                "with --cell KEY."
            )
    common = set.intersection(*({c.record["test_dataset"] for c in found} for found in per_method.values()))
    if dataset is None:
        if not common:
            raise FigureError(
                f"methods {', '.join(methods)} have no test dataset in common in {runs}; "
                "choose --dataset or the cells with --cell KEY."
            )
        with_ckpt = sorted(
            d
            for d in common
            if all(
                any(c.checkpoint.is_file() for c in found if c.record["test_dataset"] == d)
                for found in per_method.values()
            )
        )
        dataset = (with_ckpt or sorted(common))[0]
    chosen = []
    for m, found in per_method.items():
        on = [c for c in found if c.record["test_dataset"] == dataset]
        if not on:
            raise FigureError(
                f"method {m!r} has no {protocol} cell tested on {dataset!r} (split {split}) in {runs}; "
                f"it has: {', '.join(sorted({c.record['test_dataset'] for c in found}))}."
            )
        on.sort(
            key=lambda c: (not c.checkpoint.is_file(), c.record.get("seed") or 0, _neg(c.record.get("finished_at", "")))
        )
        chosen.append(on[0])
    return chosen


def _neg(text: str) -> tuple:
    return tuple(-ord(ch) for ch in text)


def _by_key(cells: list[CellRef], key: str) -> CellRef:
    hits = [c for c in cells if c.key.startswith(key)]
    if len(hits) != 1:
        what = "no finished cell" if not hits else f"{len(hits)} cells"
        raise FigureError(
            f"--cell {key!r}: {what} with that key (prefix) in the store; `python -m bench results "
            "export` lists the keys."
        )
    return hits[0]


def method_class(name: str):
    from methods.registry import get_method

    return get_method(name)


def require_checkpoint(cell: CellRef) -> Path:
    path = cell.checkpoint
    if not path.is_file():
        why = (
            "it ran without --save-checkpoints"
            if "checkpoint" not in cell.record
            else f"{path} is missing (moved or deleted)"
        )
        raise FigureError(f"cell {cell.label} has no checkpoint: {why}. {RERUN_HINT}")
    return path


def load_method(cell: CellRef, *, device: str = "cpu", weights_dir: str | Path | None = None):
    """The cell's trained method, rebuilt from its checkpoint (the method's own ``load``)."""
    from methods.base import RunContext

    cls = method_class(cell.method)
    path = require_checkpoint(cell)
    try:
        params = cls.Params(**cell.record.get("params", {}))
    except TypeError as exc:  # a parameter this version of the method no longer has
        raise FigureError(
            f"cell {cell.label} was trained by {cell.method} version "
            f"{cell.record.get('method_version', '?')}, whose parameters today's code does not take "
            f"({exc}). Rerun the cell with today's code (--save-checkpoints)."
        ) from None
    context = RunContext(
        seed=int(cell.record.get("method_seed", cell.record.get("seed", 0)) or 0),
        device=device,
        weights_dir=Path(weights_dir) if weights_dir else None,
    )
    method = cls(params, context)
    try:
        method.load(path)
    except NotImplementedError as exc:
        raise FigureError(f"cell {cell.label}: {exc}; this method cannot be loaded back for figures.") from None
    return method


def version_notes(cell: CellRef) -> list[str]:
    """Warnings to print and record: a checkpoint from another method version may not mean the same."""
    cls = method_class(cell.method)
    stored = str(cell.record.get("method_version", ""))
    if stored and stored != str(cls.version):
        return [
            f"cell {cell.label} was trained by {cell.method} version {stored}; the code is version "
            f"{cls.version}: the figure uses today's code on that checkpoint."
        ]
    return []


def read_predictions(cell: CellRef) -> dict[str, float]:
    """id -> the cell's stored prediction (the number behind its metrics)."""
    path = cell.preds_path
    if not path.is_file():
        raise FigureError(f"cell {cell.label} has no predictions file {path}; rerun the cell (--rerun all).")
    with path.open(newline="") as f:
        return {
            row["id"]: float(row["prediction"]) if row["prediction"] not in ("", None) else float("nan")
            for row in csv.DictReader(f)
        }


def cell_test_images(cell: CellRef, data_kwargs: dict | None = None):
    """(the cell's test images as an ImageSet, notes). The ids are those of its predictions file."""
    from bench.data.datasets import load_dataset

    ids = list(read_predictions(cell))
    ds = load_dataset(cell.record["test_dataset"], **(data_kwargs or {}))
    known = set(ds.ids)
    missing = [i for i in ids if i not in known]
    if missing:
        raise FigureError(
            f"cell {cell.label}: {len(missing)} test image(s) (e.g. {missing[0]!r}) are not in dataset "
            f"{ds.dataset.name!r} as loaded now; point --data-root/--dataset-dir at the data it ran on."
        )
    notes = []
    if cell.record.get("test_revision") and cell.record["test_revision"] != ds.dataset.revision:
        notes.append(
            f"dataset {ds.dataset.name} is at revision {ds.dataset.revision}, the cell ran on "
            f"{cell.record['test_revision']}: MOS and labels are today's."
        )
    return ds.subset(ids), notes
