"""What a layout parser hands to the record builder, and the file helpers parsers share."""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bench.core.errors import DatasetError

OFFICIAL_SPLIT = "official_split"  # Row.splits column of a dataset's own train/val/test sets (split set 'official')
SET_NAMES = {
    "training": "train",
    "train": "train",
    "validation": "val",
    "val": "val",
    "valid": "val",
    "test": "test",
    "testing": "test",
    "0": "train",
    "1": "val",
    "2": "test",
}
LIVEC_TRAINING = {f"t{i}.bmp" for i in range(1, 8)}  # LIVE Challenge's 7 training images, excluded by prior work
_SYNTH_NAME = re.compile(r"^(i\d+)_(\d+)_(\d+)\.\w+$", re.I)  # KADID I01_01_01.png, TID i01_01_1.bmp


@dataclass
class Row:
    """One scored image as a metadata file lists it (not yet validated)."""

    rel: str  # path relative to the dataset folder: the record id
    raw: object  # score as read; validated by ``score_of``
    source: str  # "file:line", for error messages
    std: float | None = None
    ref: str | None = None
    distortion: str | None = None
    level: int | None = None
    scenes: tuple[int, ...] = ()  # when the metadata itself carries scenes (SPAQ)
    splits: dict = field(default_factory=dict)  # pyiqa split columns: column -> 'train'|'val'|'test'
    label_columns: dict = field(default_factory=dict)  # other label columns a method may train on: name -> value


@dataclass
class Meta:
    """A parsed dataset: its rows and everything that goes into its revision."""

    layout: str  # 'pyiqa' | 'official' | 'liqe'
    folder: Path  # the dataset folder ids are relative to
    rows: list[Row]
    files: list[Path]  # metadata files read (hashed into the revision)
    raw_scale: tuple[float, float]
    raw_higher_is_better: bool
    notes: list[str] = field(default_factory=list)
    revision_parts: list[str] = field(default_factory=list)  # e.g. which image folder was used
    pyiqa_order: list[str] | None = None  # ids in pyiqa's row order (its split pickles index it)
    split_pickles: list[Path] = field(default_factory=list)
    official_missing: str = ""  # why the dataset's own split is unavailable (a named missing file), if it has one
    ground_truth: str = ""  # the score's source: file, column, scale, orientation (DatasetInfo.ground_truth)
    std_source: str = ""  # where the std comes from, on the score's scale
    paper_note: str = ""  # how this ground truth differs from the one the paper's baselines trained on


def read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, row) pairs; a clear error for an unreadable file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise DatasetError(f"{path} is empty: restore it from the dataset's release.")
            rows = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path} is not a text CSV ({exc}): restore it from the dataset's release.") from None
    short = next(((n, r) for n, r in rows if len(r) < len(header)), None)
    if short is not None:  # a truncated line would otherwise fail later as an IndexError
        raise DatasetError(
            f"{path}:{short[0]}: {len(short[1])} field(s) where the header has {len(header)} "
            f"({','.join(short[1])!r}). The file is truncated or edited: restore it."
        )
    return [h.strip() for h in header], rows


def column(header: list[str], path: Path, *names: str) -> int:
    """Index of the first of ``names`` in ``header`` (case-insensitive), else an error naming the file."""
    low = [h.lower() for h in header]
    for n in names:
        if n.lower() in low:
            return low.index(n.lower())
    raise DatasetError(
        f"{path}: no column {' or '.join(repr(n) for n in names)} (columns: {', '.join(header)}). "
        "Is this the right file for this dataset?"
    )


def read_table(path: Path, min_cols: int, sep: str | None = None) -> list[tuple[int, list[str]]]:
    """Whitespace- (or ``sep``-) separated text rows with at least ``min_cols`` fields."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split(sep) if sep else line.split()
            if len(parts) < min_cols:
                raise DatasetError(
                    f"{path}:{n}: expected at least {min_cols} fields, got {line.strip()!r}. "
                    "The file is truncated or not the dataset's original."
                )
            out.append((n, parts))
    return out


def score_of(row: Row) -> float:
    try:
        value = float(str(row.raw).strip())
    except ValueError:
        raise DatasetError(
            f"{row.source}: score {row.raw!r} of {row.rel!r} is not a number. Fix or restore the metadata file."
        ) from None
    if not math.isfinite(value):
        raise DatasetError(f"{row.source}: score of {row.rel!r} is {value}. Fix or restore the metadata file.")
    return value


def opt_float(text: str | None) -> float | None:
    try:
        v = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return v if v is not None and math.isfinite(v) else None


class FileIndex:
    """Case-insensitive lookup of files under a folder (built once, on first miss)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._by_rel: dict[str, str] | None = None
        self._by_name: dict[str, list[str]] | None = None

    def _build(self) -> None:
        self._by_rel, self._by_name = {}, {}
        for dirpath, _, names in os.walk(self.folder):
            rel_dir = os.path.relpath(dirpath, self.folder)
            for n in names:
                rel = n if rel_dir == "." else f"{rel_dir}/{n}".replace(os.sep, "/")
                self._by_rel[rel.lower()] = rel
                self._by_name.setdefault(n.lower(), []).append(rel)

    def find(self, candidates: list[str]) -> str | None:
        """The first candidate relative path that exists (exact, then ignoring case)."""
        for c in candidates:
            if (self.folder / c).is_file():
                return c
        if self._by_rel is None:
            self._build()
        for c in candidates:
            hit = self._by_rel.get(c.lower())
            if hit:
                return hit
        return None

    def find_name(self, name: str) -> str | None:
        """The one file with this name anywhere below the folder (None if absent or ambiguous)."""
        if self._by_rel is None:
            self._build()
        hits = self._by_name.get(name.lower(), [])
        return hits[0] if len(hits) == 1 else None


def synthetic_codes(name: str) -> tuple[int, int] | None:
    """(distortion type, level) from a KADID-10k / TID2013 file name, e.g. I01_03_4.png -> (3, 4)."""
    m = _SYNTH_NAME.match(Path(name).name)
    return (int(m.group(2)), int(m.group(3))) if m else None
