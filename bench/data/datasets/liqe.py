"""LIQE label files: per-image distortion name and 1-3 scene names, and LIQE's ten splits.

The LIQE repository keeps, per database, ``IQA_Database/<db>/splits2/``:
    <k>/<prefix>_{train,val,test}_clip.txt   k = 1..10: relpath, score, distortion, scene1..3 (tab-separated)
    <prefix>_all_clip.txt / <prefix>_val_clip.txt   more labelled lists (not for every database)
    <prefix>_all.txt                          relpath, score, std (BID: the index of the dataset)
'invalid' marks an empty scene slot. Paths are matched to record ids by relative path, then
(ignoring case) by file name when that name is unique (CSIQ's paths differ between layouts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.core.errors import DatasetError
from bench.core.labels import SCENE_CLASSES
from bench.data.datasets.registry import DatasetSpec

_SCENE_INDEX = {s: i for i, s in enumerate(SCENE_CLASSES)}
_SCENE_INDEX["other"] = 8


@dataclass
class LiqeEntry:
    rel: str
    score: float
    distortion: str | None
    scenes: tuple[int, ...]
    source: str


@dataclass
class LiqeLabels:
    folder: Path
    entries: dict[str, LiqeEntry] = field(default_factory=dict)  # relpath -> labels
    all_list: list[tuple[str, str, str, str]] = field(default_factory=list)  # (rel, score, std, source)
    splits: dict[int, dict[str, list[str]]] = field(default_factory=dict)  # k -> phase -> relpaths
    files: list[Path] = field(default_factory=list)


def locate(spec: DatasetSpec, labels_dir: Path | None, data_root: Path) -> Path | None:
    """The splits2 folder of this dataset's LIQE files, or None."""
    if not spec.liqe_dir:
        return None
    if labels_dir:
        check_labels_dir(labels_dir)
    base = Path(labels_dir) if labels_dir else data_root / "liqe"
    cands = (
        base / "IQA_Database" / spec.liqe_dir / "splits2",
        base / spec.liqe_dir / "splits2",
        base / spec.liqe_dir,
        base / "splits2",
        base,
    )
    for cand in cands:
        if _has_lists(cand, spec.liqe_prefix):
            return cand
    if labels_dir:  # asked for explicitly: training without the labels would be a silent change of method
        raise DatasetError(
            f"--labels {labels_dir}: no LIQE label files of {spec.title} in it (looked for {cands[0]}/"
            f"{spec.liqe_prefix}_*.txt). Fix: point --labels at the LIQE repository's folder holding "
            "IQA_Database/ with this dataset's files, or leave --labels out to run without labels."
        )
    return None


def check_labels_dir(labels_dir) -> Path:
    """An explicit --labels must exist and look like LIQE's files (a typo would turn the label losses off)."""
    folder = Path(labels_dir).expanduser()
    if not folder.is_dir():
        raise DatasetError(
            f"--labels {labels_dir}: no such folder. Fix: point it at the folder holding the LIQE "
            "repository's IQA_Database/ (docs/DATASETS.md), or leave it out (default <data-root>/liqe)."
        )
    looks_like = (
        (folder / "IQA_Database").is_dir()
        or folder.name == "splits2"
        or (folder / "splits2").is_dir()
        or any(folder.glob("*/splits2"))
        or any(folder.glob("*_clip.txt"))
        or any(folder.glob("[0-9]*/*_clip.txt"))
    )
    if not looks_like:
        raise DatasetError(
            f"--labels {labels_dir}: holds no IQA_Database/ (nor LIQE list files). Fix: point it at "
            "the folder holding the LIQE repository's IQA_Database/, or leave it out."
        )
    return folder


def _has_lists(folder: Path, prefix: str) -> bool:
    return folder.is_dir() and (any(folder.glob(f"{prefix}_*.txt")) or any(folder.glob(f"[0-9]*/{prefix}_*_clip.txt")))


def read(spec: DatasetSpec, folder: Path) -> LiqeLabels:
    out = LiqeLabels(folder)
    clip_files = sorted(folder.glob(f"{spec.liqe_prefix}_*_clip.txt"))
    split_dirs = sorted((d for d in folder.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name))
    for d in split_dirs:
        phases = {}
        for phase in ("train", "val", "test"):
            f = d / f"{spec.liqe_prefix}_{phase}_clip.txt"
            if f.is_file():
                phases[phase] = [e.rel for e in _read_clip(f, out)]
                out.files.append(f)
        if "train" in phases and "test" in phases:
            out.splits[int(d.name)] = phases
    for f in clip_files:
        _read_clip(f, out)
        out.files.append(f)
    all_file = folder / f"{spec.liqe_prefix}_all.txt"
    if all_file.is_file():
        out.files.append(all_file)
        for n, line in enumerate(all_file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if line.strip():
                parts = line.split("\t") if "\t" in line else line.split()
                if len(parts) < 2:
                    raise DatasetError(f"{all_file}:{n}: expected 'relpath<TAB>score[<TAB>std]', got {line!r}.")
                out.all_list.append((parts[0].strip(), parts[1], parts[2] if len(parts) > 2 else "", f"{all_file}:{n}"))
    if not out.entries and not out.all_list:
        raise DatasetError(
            f"no LIQE label lines for {spec.title} in {folder} (expected {spec.liqe_prefix}_*_clip.txt). "
            "Point --labels at the LIQE repository's folder holding IQA_Database/."
        )
    return out


def _read_clip(path: Path, out: LiqeLabels) -> list[LiqeEntry]:
    got = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) < 3:
            raise DatasetError(
                f"{path}:{n}: expected 'relpath, score, distortion, scene1..3' (tab-separated), "
                f"got {line!r}. Restore the file from the LIQE repository."
            )
        try:
            score = float(parts[1])
        except ValueError:
            score = math.nan
        scenes = []
        for s in parts[3:6]:
            key = s.lower().replace("-", "_").replace(" ", "_")
            if key in ("invalid", ""):
                continue
            idx = _SCENE_INDEX.get(key)
            if idx is None:
                raise DatasetError(f"{path}:{n}: unknown scene {s!r}; known: {', '.join(SCENE_CLASSES)}.")
            if idx not in scenes:
                scenes.append(idx)
        dist = parts[2].lower() if parts[2].lower() not in ("invalid", "") else None
        entry = LiqeEntry(parts[0].replace("\\", "/"), score, dist, tuple(scenes), f"{path}:{n}")
        out.entries.setdefault(entry.rel, entry)
        got.append(entry)
    return got


class Matcher:
    """Maps LIQE relative paths onto record ids: exact path, path ignoring case, then unique file name."""

    def __init__(self, ids):
        ids = list(ids)
        self.exact = set(ids)
        self.lower = {i.lower(): i for i in ids}
        names: dict[str, list[str]] = {}
        for i in ids:
            names.setdefault(i.rsplit("/", 1)[-1].lower(), []).append(i)
        self.names = {k: v[0] for k, v in names.items() if len(v) == 1}

    def __call__(self, rel: str) -> str | None:
        if rel in self.exact:
            return rel
        hit = self.lower.get(rel.lower())
        if hit:
            return hit
        return self.names.get(rel.rsplit("/", 1)[-1].lower())
