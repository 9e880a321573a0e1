"""Layouts of the datasets recent papers test on: FLIVE, AGIQA-3K, UHD-IQA.

    flive     pyiqa:  meta_info/meta_info_FLIVEDataset.csv ('img_name/patch_name', mos, split|official_split)
                      + FLIVE_Database/database/<source>/<image>
              authors: FLIVE_Database/database/labels_image.csv (name, mos), labels640.csv (the test images),
                      labels=640_padded.csv (is_valid: the validation images)
    agiqa3k   authors: AGIQA-3K/data.csv (name, ..., mos_quality, std_quality, mos_align, std_align) + images
    uhdiqa    authors: UHD-IQA-database/uhd-iqa-metadata.csv (image_name, quality_mos, set)
                      + training/ validation/ test/

The official splits go into each row's ``splits['official_split']`` (split set 'official').
"""

from __future__ import annotations

from pathlib import Path

from bench.core.errors import DatasetError
from bench.data.datasets.meta import OFFICIAL_SPLIT, SET_NAMES, FileIndex, Meta, Row, column, opt_float, read_csv
from bench.data.datasets.registry import DatasetSpec

KEY_FILES = {
    "flive": ("database/labels_image.csv", "labels_image.csv"),
    "agiqa3k": ("data.csv",),
    "uhdiqa": ("uhd-iqa-metadata.csv",),
}


def _is_patch(name: str) -> bool:
    return "_patch_" in name or name.startswith("patches/")


def flive_pyiqa(meta: Meta, header, lines, path: Path, image_dir: str, index: FileIndex) -> None:
    """pyiqa's FLIVE CSV lists the 39,810 images and then their 119,430 patches: the images only."""
    ci, cs = column(header, path, "img_name/patch_name", "img_name", "name"), column(header, path, "mos")
    patches = 0
    meta.pyiqa_order = []  # pyiqa's flive_official.pkl indexes every row, patches included
    for n, r in lines:
        name = r[ci].strip().replace("\\", "/")
        if _is_patch(name):
            patches += 1
            meta.pyiqa_order.append(f"patch row {n}")  # never an image id: its index selects nothing
            continue
        meta.rows.append(Row(f"{image_dir}/{name}" if image_dir else name, r[cs], f"{path}:{n}"))
        meta.pyiqa_order.append(meta.rows[-1].rel)
    if patches:
        meta.notes.append(f"left out FLIVE's {patches} patch rows: the benchmark scores whole images")


def _flive(spec: DatasetSpec, key: Path, folder: Path) -> Meta:
    header, lines = read_csv(key)
    ci, cs = column(header, key, "name"), column(header, key, "mos")
    base = key.parent  # FLIVE_Database/database: the names are relative to it
    phases, files, missing = _flive_split(base)
    rows = []
    for n, r in lines:
        name = r[ci].strip().replace("\\", "/")
        row = Row(name, r[cs], f"{key}:{n}")
        if phases:
            row.splits[OFFICIAL_SPLIT] = phases.get(name, "train")
        rows.append(row)
    notes = ["authors' FLIVE release (labels_image.csv), MOS 0-100"]
    if missing:
        notes.append(f"no official split: {missing}")
    meta = Meta("official", base, rows, [key] + files, (0.0, 100.0), True, notes=notes)
    meta.official_missing = missing
    return meta


def _flive_split(base: Path) -> tuple[dict[str, str], list[Path], str]:
    """PaQ-2-PiQ's split: the images of labels640.csv test, those marked is_valid in the padded list validate.
    Without both files: no split, and the third value says which file is missing and where."""
    test_file, train_file = base / "labels640.csv", base / "labels=640_padded.csv"
    absent = [f for f in (test_file, train_file) if not f.is_file()]
    if absent:
        named = " and ".join(f"{f.name} (missing)" for f in absent)
        there = [f.name for f in (test_file, train_file) if f not in absent]
        why = (
            f"PaQ-2-PiQ's split needs labels640.csv (the test images) and labels=640_padded.csv (is_valid: the "
            f"validation images) beside {base / 'labels_image.csv'}: {named}"
            + (f"; {there[0]} is there" if there else "")
            + ". Put the missing file(s) from the PaQ-2-PiQ release (database/) there."
        )
        return {}, [], why
    phases: dict[str, str] = {}
    header, lines = read_csv(train_file)
    ci, cv = column(header, train_file, "name_image"), column(header, train_file, "is_valid")
    for _, r in lines:
        if r[cv].strip().lower() in ("true", "1", "1.0"):
            phases[r[ci].strip()] = "val"
    header, lines = read_csv(test_file)
    ci = column(header, test_file, "name_image")
    for _, r in lines:
        phases[r[ci].strip()] = "test"
    return phases, [train_file, test_file], ""


def _agiqa3k(spec: DatasetSpec, key: Path, folder: Path) -> Meta:
    header, lines = read_csv(key)
    ci, cs = column(header, key, "name"), column(header, key, "mos_quality")
    cd = column(header, key, "std_quality")
    index = FileIndex(folder)
    first = lines[0][1][ci].strip() if lines else ""
    image_dir = next(
        (d for d in ("", "AGIQA-3K", "AGIQA-3k", "images", "image") if index.find([f"{d}/{first}" if d else first])), ""
    )
    rows = [
        Row(f"{image_dir}/{r[ci].strip()}" if image_dir else r[ci].strip(), r[cs], f"{key}:{n}", std=opt_float(r[cd]))
        for n, r in lines
    ]
    return Meta(
        "official",
        folder,
        rows,
        [key],
        (0.0, 5.0),
        True,
        revision_parts=[f"image-dir:{image_dir}"],
        notes=["AGIQA-3K: the perceptual-quality MOS (mos_quality, 0-5); the text-alignment MOS is not used"],
    )


def _uhdiqa(spec: DatasetSpec, key: Path, folder: Path) -> Meta:
    header, lines = read_csv(key)
    ci, cs = column(header, key, "image_name"), column(header, key, "quality_mos", "mos")
    low = [h.lower() for h in header]
    cset = low.index("set") if "set" in low else None
    index = FileIndex(folder)
    rows = []
    for n, r in lines:
        name = r[ci].strip()
        phase = SET_NAMES.get(r[cset].strip().lower()) if cset is not None else None
        if cset is not None and phase is None:
            raise DatasetError(
                f"{key}:{n}: set {r[cset]!r} of {name!r} is not training/validation/test. "
                "Restore the metadata file from the release."
            )
        subdir = {"train": "training", "val": "validation", "test": "test"}.get(phase or "", "")
        rel = (
            index.find([f"{subdir}/{name}" if subdir else name, name, f"database/{name}", f"images/{name}"])
            or index.find_name(name)
            or (f"{subdir}/{name}" if subdir else name)
        )
        row = Row(rel, r[cs], f"{key}:{n}")
        if phase:
            row.splits[OFFICIAL_SPLIT] = phase
        rows.append(row)
    return Meta(
        "official",
        folder,
        rows,
        [key],
        (0.0, 1.0),
        True,
        notes=["UHD-IQA release: quality MOS on 0-1; its training/validation/test sets are the split set 'official'"],
    )


PARSERS = {"flive": _flive, "agiqa3k": _agiqa3k, "uhdiqa": _uhdiqa}
PYIQA_PARSERS = {"flive": flive_pyiqa}  # row readers of pyiqa's meta CSV (bench/data/datasets/layouts.py)
