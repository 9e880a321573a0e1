"""Custom datasets from a spec file: a folder of images and a score table, declared in TOML or YAML.

    # <data-root>/datasets.toml (found by itself), or any file given with --dataset-spec FILE
    [datasets.mine]
    images = "mine/images"          # folder, relative to this file
    scores = "mine/scores.csv"      # CSV / TSV / XLSX
    image_column = "file"
    score_column = "mos"
    scale = [1, 5]
    orientation = "mos"             # or "dmos" (lower is better)

A custom dataset gets a ``DatasetSpec`` in the registry (``get_spec('mine')``) and loads into the same
``ImageSet`` as a built-in one, so every command, protocol and report takes it. Every mistake is a
``SpecError`` naming the spec file and the key (or the table and the column). docs/DATASETS.md has the keys.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.core.labels import DISTORTION_CLASSES
from bench.data.datasets.custom_spec import (  # noqa: F401
    NONE,
    OFFICIAL_SPLIT,
    PHASES,
    SCENE_NAMES,
    SPEC_NAMES,
    CustomDataset,
    SpecError,
    parse_spec_file,
    to_dataset_spec,
)
from bench.data.datasets.ids import BadId, normalise_id
from bench.data.datasets.registry import BUILTIN_NAMES, CUSTOM, DatasetSpec

# --- loading ------------------------------------------------------------------------------------------


def load_custom(
    spec: DatasetSpec,
    images_override: Path | None = None,
    skip_corrupt: bool = False,
    deep: bool = False,
    progress: bool = False,
):
    """The ``ImageSet`` of a custom dataset: the table read, validated, and built like a built-in one."""
    from bench.data.datasets.locate import build
    from bench.data.datasets.meta import Meta, Row
    from bench.data.datasets.score_tables import SUFFIXES, read_table

    c: CustomDataset = spec.extra["custom"]
    if images_override is not None:
        c = replace(c, images=images_override)
    folder_key = "images" if images_override is None else f"--dataset-dir {c.name}=PATH"
    if not c.images.is_dir():
        raise SpecError(
            f"{c.where('images')}: image folder {c.images} not found. Fix {folder_key!r} "
            "(relative paths are relative to the spec file's folder)."
        )
    if not c.scores.is_file():
        raise SpecError(
            f"{c.where('scores')}: score table {c.scores} not found. Fix 'scores' "
            "(relative paths are relative to the spec file's folder)."
        )
    if c.scores.suffix.lower() not in SUFFIXES:
        raise SpecError(
            f"{c.where('scores')}: {c.scores.name} is not a table this loader reads ({', '.join(SUFFIXES)})."
        )
    table = read_table(c.scores, c.separator, c.sheet)
    cols = {
        k: table.column(getattr(c, k), k, f"{c.spec_file} [datasets.{c.name}]") if getattr(c, k) else None
        for k in (
            "image_column",
            "score_column",
            "reference_column",
            "std_column",
            "distortion_column",
            "scene_column",
            "split_column",
        )
    }
    rows, notes, unmapped, official = [], [], {}, {}
    lo, hi = c.scale
    for where, cells in table.rows:
        src = f"{table.what}, {where}"
        written = cells[cols["image_column"]]
        if not written:
            raise SpecError(f"{src}: the image column {c.image_column!r} is empty.")
        try:
            rel = normalise_id(written)
        except BadId as why:
            raise SpecError(
                f"{src}: image {written!r} in column {c.image_column!r} {why} ({c.where('images')} is "
                f"{c.images}). Write it relative to that folder, or point 'images' at a folder "
                "that holds it."
            ) from None
        raw = cells[cols["score_column"]]
        if not _numeric(raw):
            raise SpecError(
                f"{src}: score column {c.score_column!r} holds {raw!r} for {rel!r}, which is not a "
                f"number. Is score_column the right column ({c.where('score_column')})?"
            )
        if not lo <= float(raw) <= hi:
            raise SpecError(
                f"{src}: score {raw} of {rel!r} is outside scale = [{lo:g}, {hi:g}] "
                f"({c.where('scale')}); fix the scale (DMOS scores are mirrored inside it)."
            )
        row = Row(rel, raw, src, std=_std(c, cols, cells, src))
        if cols["reference_column"] is not None:
            row.ref = cells[cols["reference_column"]]
            if not row.ref:
                raise SpecError(
                    f"{src}: reference column {c.reference_column!r} is empty for {rel!r}; every image "
                    "needs its reference (splits keep each reference on one side)."
                )
        if cols["distortion_column"] is not None:
            row.distortion = cells[cols["distortion_column"]] or None
        if cols["scene_column"] is not None:
            row.scenes = _scenes(c, cells[cols["scene_column"]], unmapped)
        if cols["split_column"] is not None:
            phase = PHASES.get(cells[cols["split_column"]].strip().lower())
            if phase is None:
                raise SpecError(
                    f"{src}: split column {c.split_column!r} holds {cells[cols['split_column']]!r}; "
                    "expected train, val or test (or 0/1/2)."
                )
            official[rel] = phase
        rows.append(row)
    classes = _distortion_classes(c, rows, unmapped)
    if unmapped:
        key, values = next(iter(unmapped.items()))
        raise SpecError(
            f"{c.where(key)}: column {getattr(c, key.replace('classes', 'column'))!r} holds "
            f"{len(values)} value(s) that map to no class, e.g. {sorted(values)[:5]}. Add them to "
            f'{key} (value = class name, or "none"), or set {key} = "none".'
        )
    meta = Meta(
        "custom",
        c.images,
        rows,
        [c.scores],
        c.scale,
        c.higher_is_better,
        notes=notes,
        revision_parts=[_canonical(c), f"images:{c.images}"],
    )
    meta.pyiqa_order = [r.rel for r in rows]
    ds = build(spec, meta, None, skip_corrupt=skip_corrupt, deep=deep, progress=progress)
    ds.records = [replace(r, distortion_class=classes.get(r.id)) for r in ds.records]
    info = ds.dataset
    ds.dataset = replace(
        info, layout="custom", has_distortion_labels=any(r.distortion_class is not None for r in ds.records)
    )
    ds._split_sources = {
        **ds._split_sources,
        OFFICIAL_SPLIT: official,
        "official_source": f"{table.what} column {c.split_column!r}" if official else None,
    }
    return ds


def _numeric(text: str) -> bool:
    import math

    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _std(c: CustomDataset, cols, cells, src) -> float | None:
    if cols["std_column"] is None or not cells[cols["std_column"]]:
        return None
    value = cells[cols["std_column"]]
    if not _numeric(value):
        raise SpecError(f"{src}: std column {c.std_column!r} holds {value!r}, which is not a number.")
    if float(value) < 0:
        raise SpecError(
            f"{src}: std column {c.std_column!r} holds {value!r}: a standard deviation of ratings cannot be "
            "negative. Is std_column the right column (not a difference or a z-score)?"
        )
    return float(value)


def _scenes(c: CustomDataset, text: str, unmapped: dict) -> tuple[int, ...]:
    if c.scene_classes == NONE or not text:
        return ()
    out = []
    for value in (v.strip() for v in text.split(c.scene_separator)):
        if not value:
            continue
        if isinstance(c.scene_classes, dict):
            if value not in c.scene_classes:
                unmapped.setdefault("scene_classes", set()).add(value)
                continue
            idx = c.scene_classes[value]
        else:
            idx = SCENE_NAMES.get(value.lower())
            if idx is None:
                unmapped.setdefault("scene_classes", set()).add(value)
                continue
        if idx is not None and idx not in out:
            out.append(idx)
    return tuple(sorted(out))


def _distortion_classes(c: CustomDataset, rows, unmapped: dict) -> dict[str, int]:
    """id -> class index: by the spec's mapping, else the value is a class name or a known native name."""
    from bench.data.datasets.distortions import distortion_class

    if c.distortion_column is None or c.distortion_classes == NONE:
        return {}
    names = {n: i for i, n in enumerate(DISTORTION_CLASSES)}
    out = {}
    for r in rows:
        if r.distortion is None:
            continue
        if isinstance(c.distortion_classes, dict):
            if r.distortion not in c.distortion_classes:
                unmapped.setdefault("distortion_classes", set()).add(r.distortion)
                continue
            idx = c.distortion_classes[r.distortion]
        else:
            low = r.distortion.strip().lower()
            idx = names.get(low, distortion_class(low))
            if idx is None:
                unmapped.setdefault("distortion_classes", set()).add(r.distortion)
                continue
        if idx is not None:
            out[r.rel] = idx
    return out


def _canonical(c: CustomDataset) -> str:
    import json

    return json.dumps({"name": c.name, "entry": c.entry}, sort_keys=True, default=str)


# --- the registry of custom datasets ------------------------------------------------------------------

_FILES: dict[Path, tuple[float, dict[str, DatasetSpec]]] = {}  # spec file -> (mtime, its datasets)


def find_spec_files(data_root: Path | None, explicit) -> list[Path]:
    """--dataset-spec files, then <data-root>/datasets.{toml,yaml,yml} when present."""
    out = [Path(p).expanduser().absolute() for p in explicit or ()]
    if data_root is not None:
        out += [Path(data_root) / n for n in SPEC_NAMES if (Path(data_root) / n).is_file()]
    return list(dict.fromkeys(out))


def register(files, custom: dict[str, DatasetSpec], builtin_names) -> None:
    """``custom`` becomes the datasets of ``files`` (each re-read when changed); one name declared by two of
    them is an error. Every call states the whole configuration (data root + --dataset-spec files), so a
    call for another data root in the same process replaces the datasets of the previous one."""
    owner: dict[str, Path] = {}
    found: dict[str, DatasetSpec] = {}
    for path in files:
        path = Path(path)
        mtime = path.stat().st_mtime if path.is_file() else -1.0
        cached = _FILES.get(path)
        if cached is None or cached[0] != mtime:
            parsed = parse_spec_file(path, builtin_names)
            cached = (mtime, {n: to_dataset_spec(d) for n, d in parsed.items()})
            _FILES[path] = cached
        for name, spec in cached[1].items():
            if name in owner and owner[name] != path:
                raise SpecError(
                    f"dataset {name!r} is declared twice: in {owner[name]} and in {path}. Rename one of them."
                )
            found[name] = spec
            owner[name] = path
    custom.clear()
    custom.update(found)


def register_custom(data_root=None, spec_files=None) -> None:
    """Register the custom datasets of ``spec_files`` and of <data-root>/datasets.toml (|.yaml|.yml)."""
    from bench.data.datasets.common import resolve_data_root

    register(find_spec_files(resolve_data_root(data_root), spec_files), CUSTOM, BUILTIN_NAMES)
