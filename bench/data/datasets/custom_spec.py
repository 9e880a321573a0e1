"""The spec file of custom datasets: reading TOML/YAML, validating every key (``bench.data.datasets.custom`` loads).

Every mistake is a ``SpecError`` naming the file, the ``[datasets.NAME]`` entry and the key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from bench.core.errors import DatasetError, did_you_mean
from bench.core.labels import DISTORTION_CLASSES, SCENE_CLASSES, SCENE_PROMPTS
from bench.data.datasets.registry import DatasetSpec

SPEC_NAMES = ("datasets.toml", "datasets.yaml", "datasets.yml")  # looked for in the data root
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._+-]*$")
ORIENTATIONS = {"mos": True, "dmos": False}
NONE = "none"
OFFICIAL_SPLIT = "official"  # split-set name of a dataset's own train/val/test column
PHASES = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "0": "train",
    "1": "val",
    "2": "test",
}

REQUIRED = ("images", "scores", "image_column", "score_column", "scale", "orientation")
OPTIONAL = (
    "title",
    "notes",
    "aliases",
    "sheet",
    "separator",
    "reference_column",
    "std_column",
    "distortion_column",
    "distortion_classes",
    "scene_column",
    "scene_classes",
    "scene_separator",
    "split_column",
    "published_size",
)
SCENE_NAMES = {**{s: i for i, s in enumerate(SCENE_CLASSES)}, **{p.lower(): i for i, p in enumerate(SCENE_PROMPTS)}}


class SpecError(DatasetError):
    """A custom dataset's spec file is wrong: the message names the file and the key."""


@dataclass(frozen=True)
class CustomDataset:
    """One validated ``[datasets.NAME]`` entry (paths resolved against the spec file's folder)."""

    name: str
    spec_file: Path
    images: Path
    scores: Path
    image_column: str
    score_column: str
    scale: tuple[float, float]
    higher_is_better: bool
    entry: dict = field(hash=False, compare=False)  # the raw entry, hashed into the revision
    sheet: str | int | None = None
    separator: str | None = None
    reference_column: str | None = None
    std_column: str | None = None
    distortion_column: str | None = None
    distortion_classes: dict | str | None = None  # value -> class index | None, or 'none'
    scene_column: str | None = None
    scene_classes: dict | str | None = None
    scene_separator: str = ";"
    split_column: str | None = None

    def where(self, key: str) -> str:
        return f"{self.spec_file} [datasets.{self.name}] {key}"


# --- parsing the spec file -------------------------------------------------------------------------


def read_spec_file(path: Path) -> dict:
    """The parsed document (TOML by tomllib/tomli, YAML by PyYAML when installed)."""
    if not path.is_file():
        raise SpecError(f"dataset spec {path} does not exist. Fix --dataset-spec, or create it (docs/DATASETS.md).")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(f"{path} is not valid TOML: {exc}.") from None
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise SpecError(f"{path}: YAML spec files need PyYAML (pip install pyyaml), or write it as TOML.") from None
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise SpecError(f"{path} is not valid YAML: {exc}.") from None
        return doc if doc is not None else {}
    raise SpecError(f"{path}: a dataset spec is a .toml or .yaml file, not {suffix or 'a file without suffix'}.")


def parse_spec_file(path: Path, builtin_names) -> dict[str, CustomDataset]:
    """Every dataset the file declares, validated (structure only: files are checked when loading)."""
    path = Path(path).expanduser().absolute()
    doc = read_spec_file(path)
    if not isinstance(doc, dict) or set(doc) != {"datasets"} or not isinstance(doc["datasets"], dict):
        extra = sorted(set(doc) - {"datasets"}) if isinstance(doc, dict) else []
        hint = f" (unknown top-level key(s): {', '.join(map(repr, extra))})" if extra else ""
        raise SpecError(
            f"{path}: expected one table 'datasets' with one sub-table per dataset, e.g. [datasets.mine]{hint}."
        )
    if not doc["datasets"]:
        raise SpecError(f"{path}: 'datasets' declares no dataset.")
    out = {}
    for name, entry in doc["datasets"].items():
        out[name] = _parse_entry(path, str(name), entry, builtin_names)
    return out


def _parse_entry(path: Path, name: str, entry, builtin_names) -> CustomDataset:
    where = f"{path} [datasets.{name}]"
    if not NAME_RE.match(name):
        raise SpecError(
            f"{where}: dataset name {name!r} must be lower-case letters, digits and . _ + - "
            "(it is used on the command line and in results)."
        )
    if name in builtin_names:
        raise SpecError(f"{where}: {name!r} is a built-in dataset name (or alias); give yours another name.")
    if not isinstance(entry, dict):
        raise SpecError(f"{where}: expected a table of keys (images, scores, ...), got {type(entry).__name__}.")
    for key in entry:
        if key not in REQUIRED + OPTIONAL:
            raise SpecError(f"{where}: {did_you_mean(str(key), REQUIRED + OPTIONAL, 'key')}")
    for key in REQUIRED:
        if key not in entry:
            raise SpecError(f"{where}: missing key {key!r} (required: {', '.join(REQUIRED)}).")

    def text(key, default=None):
        v = entry.get(key, default)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise SpecError(f"{where} {key}: expected a non-empty string, got {v!r}.")
        return v.strip() if isinstance(v, str) else v

    base = path.parent
    scale = entry["scale"]
    if (
        not isinstance(scale, list)
        or len(scale) != 2
        or not all(_is_number(x) for x in scale)
        or not float(scale[0]) < float(scale[1])
    ):
        raise SpecError(
            f"{where} scale: expected [min, max] with min < max (the scale of the score column as the "
            f"file gives it, e.g. [1, 5] or [0, 100]), got {scale!r}."
        )
    orientation = text("orientation").lower()
    if orientation not in ORIENTATIONS:
        raise SpecError(
            f'{where} orientation: {orientation!r}; use "mos" (higher is better) or "dmos" (lower is better).'
        )
    sheet = entry.get("sheet")
    if (
        sheet is not None
        and not (isinstance(sheet, str) and sheet)
        and not (isinstance(sheet, int) and not isinstance(sheet, bool))
    ):
        raise SpecError(f"{where} sheet: a sheet name or 0-based index, got {sheet!r}.")
    size = entry.get("published_size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise SpecError(f"{where} published_size: a positive integer, got {size!r}.")
    aliases = entry.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and NAME_RE.match(a) for a in aliases):
        raise SpecError(f"{where} aliases: a list of lower-case names, got {aliases!r}.")
    clash = [a for a in aliases if a in builtin_names]
    if clash:
        raise SpecError(f"{where} aliases: {clash[0]!r} is a built-in dataset name or alias.")
    dist_col, scene_col = text("distortion_column"), text("scene_column")
    for col, key in ((dist_col, "distortion_classes"), (scene_col, "scene_classes")):
        if col is None and key in entry:
            raise SpecError(f"{where} {key}: given without {key.split('_')[0]}_column; add the column or remove it.")
    return CustomDataset(
        name=name,
        spec_file=path,
        images=_resolve(base, text("images")),
        scores=_resolve(base, text("scores")),
        image_column=text("image_column"),
        score_column=text("score_column"),
        scale=(float(scale[0]), float(scale[1])),
        higher_is_better=ORIENTATIONS[orientation],
        entry=dict(entry),
        sheet=sheet,
        separator=_separator(where, entry.get("separator")),
        reference_column=text("reference_column"),
        std_column=text("std_column"),
        distortion_column=dist_col,
        distortion_classes=_mapping(
            where,
            "distortion_classes",
            entry.get("distortion_classes"),
            {c: i for i, c in enumerate(DISTORTION_CLASSES)},
            DISTORTION_CLASSES,
        ),
        scene_column=scene_col,
        scene_classes=_mapping(where, "scene_classes", entry.get("scene_classes"), SCENE_NAMES, SCENE_CLASSES),
        scene_separator=text("scene_separator", ";"),
        split_column=text("split_column"),
    )


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _resolve(base: Path, value: str) -> Path:
    p = Path(os.path.expandvars(value)).expanduser()
    return p if p.is_absolute() else (base / p)


def _separator(where: str, sep):
    if sep is None:
        return None
    if not isinstance(sep, str) or len(sep) != 1:
        raise SpecError(f'{where} separator: one character (",", "\\t", ";"), got {sep!r}.')
    return sep


def _mapping(where: str, key: str, value, targets: dict[str, int], classes) -> dict | str | None:
    """value -> class index (None for 'none'); 'none' for no classes at all; None: values are class names."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() != NONE:
            raise SpecError(f'{where} {key}: a table (value = class name) or "none", got {value!r}.')
        return NONE
    if not isinstance(value, dict) or not value:
        raise SpecError(f'{where} {key}: a table mapping the column\'s values to classes, or "none".')
    out = {}
    for native, target in value.items():
        t = str(target).strip().lower() if isinstance(target, str) else None
        if t == NONE:
            out[str(native)] = None
        elif t in targets:
            out[str(native)] = targets[t]
        else:
            raise SpecError(
                f"{where} {key}: {native!r} = {target!r} is not a class; use one of "
                f'{", ".join(repr(c) for c in classes)}, or "none".'
            )
    return out


def to_dataset_spec(c: CustomDataset) -> DatasetSpec:
    e = c.entry
    return DatasetSpec(
        name=c.name,
        title=e.get("title", c.name),
        synthetic=c.reference_column is not None,
        n_images=e.get("published_size"),
        raw_scale=c.scale,
        raw_higher_is_better=c.higher_is_better,
        aliases=tuple(e.get("aliases", ())),
        notes=e.get("notes", f"custom dataset from {c.spec_file}"),
        extra={"custom": c},
    )
