"""Study files: a paper or a suite as data (TOML), a list of experiments.

    [study]
    name = "mpiqe-paper"
    title = "..."
    [[experiment]]
    name = "table1"              # unique in the file
    table = "Table 1"            # the table it feeds (report)
    protocol = "intra"
    methods = ["mpiqe", "dbcnn"]
    datasets = ["live", "csiq"]  # or pairs = [["livec", "koniq10k"], ...] for cross
    preset = "paper"             # and: splits, seeds, split_set, test_fraction, fractions, variants,
    params = { "mpiqe.epochs" = 30 }   # val_fraction, select_on, cross_train, fraction_of, precision,
                                       # deterministic, note

A shipped study is named by its file stem (``bench/study/shipped/<name>.toml``); any other is a path. Every
mistake is one ``StudyError`` naming the file, the experiment and the key, raised before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.errors import BenchError, did_you_mean

SHIPPED = Path(__file__).resolve().parent / "shipped"


class StudyError(BenchError):
    """A study file is missing or malformed."""


def _str(v):
    return isinstance(v, str) and v.strip() != ""


def _strs(v):
    return isinstance(v, list) and bool(v) and all(_str(x) for x in v)


def _int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# key -> (check, what a valid value looks like)
EXPERIMENT_KEYS: dict[str, tuple[Any, str]] = {
    "name": (_str, "a name, unique in the file"),
    "table": (_str, "the table it feeds, e.g. 'Table 1'"),
    "protocol": (_str, "a protocol name (python -m bench protocols)"),
    "methods": (_strs, "a list of method names"),
    "datasets": (lambda v: _strs(v) or v == "found", 'a list of dataset names, or "found" (eval: every one found)'),
    "pairs": (
        lambda v: (
            isinstance(v, list)
            and bool(v)
            and all(isinstance(p, list) and len(p) == 2 and all(_str(x) for x in p) for p in v)
        ),
        "a list of [train, test] dataset pairs",
    ),
    "splits": (lambda v: _int(v) and v >= 1, "a whole number >= 1"),
    "seeds": (lambda v: isinstance(v, list) and bool(v) and all(_int(x) for x in v), "a list of whole numbers"),
    "split_set": (_str, "default, liqe, pyiqa or official"),
    "test_fraction": (lambda v: _num(v) and 0 < v < 1, "a share in (0, 1)"),
    "fractions": (
        lambda v: isinstance(v, list) and bool(v) and all(_num(x) and 0 < x < 1 for x in v),
        "a list of shares in (0, 1)",
    ),
    "variants": (_strs, "a list of variant labels (python -m bench protocols NAME)"),
    "preset": (_str, "paper, demo or ci"),
    "params": (lambda v: isinstance(v, dict), "a table of [METHOD.]NAME = value"),
    "val_fraction": (lambda v: _num(v) and 0 <= v < 1, "a share in [0, 1)"),
    "select_on": (lambda v: v in ("last", "val"), "last or val"),
    "cross_train": (lambda v: v in ("split", "full"), "split or full"),
    "fraction_of": (lambda v: v in ("dataset", "train"), "dataset or train"),
    "precision": (lambda v: v in ("auto", "float64"), "auto or float64"),
    "deterministic": (lambda v: isinstance(v, bool), "true or false"),
    "note": (_str, "a sentence"),
}
STUDY_KEYS = {
    "name": _str,
    "title": _str,
    "description": _str,
    "source": _str,
    "with_published": lambda v: isinstance(v, bool),
}


@dataclass(frozen=True)
class Experiment:
    name: str
    protocol: str
    methods: tuple[str, ...]
    table: str = ""
    datasets: tuple[str, ...] | None = None  # None: the protocol's (eval: every dataset found)
    pairs: tuple[tuple[str, str], ...] | None = None
    splits: int | None = None
    seeds: tuple[int, ...] = (0,)
    split_set: str = "default"
    test_fraction: float | None = None
    fractions: tuple[float, ...] | None = None
    variants: tuple[str, ...] | None = None
    preset: str | None = None
    params: dict = field(default_factory=dict, hash=False)
    val_fraction: float = 0.0
    select_on: str = "last"
    cross_train: str = "split"
    fraction_of: str = "dataset"
    precision: str = "auto"
    deterministic: bool = False
    note: str = ""


@dataclass(frozen=True)
class Study:
    name: str
    path: Path
    experiments: tuple[Experiment, ...]
    title: str = ""
    description: str = ""
    source: str = ""
    with_published: bool = True

    @property
    def tables(self) -> list[str]:
        return list(dict.fromkeys(e.table for e in self.experiments if e.table))

    @property
    def protocols(self) -> list[str]:
        return list(dict.fromkeys(e.protocol for e in self.experiments))


def shipped_names() -> list[str]:
    return sorted(p.stem for p in SHIPPED.glob("*.toml"))


def find(name_or_path: str) -> Path:
    """A shipped study by name, else a path; a missing one lists the shipped ones."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    if name_or_path in shipped_names():
        return SHIPPED / f"{name_or_path}.toml"
    if path.suffix or "/" in name_or_path:
        raise StudyError(f"study file {name_or_path} not found. Shipped studies: {', '.join(shipped_names())}.")
    raise StudyError(did_you_mean(name_or_path, shipped_names(), "study") + " Or give the path of a study file.")


def load_study(name_or_path: str) -> Study:
    path = find(name_or_path)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyError(f"{path}: cannot read the study file: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{path}: not valid TOML: {exc}. Fix the file (format: docs/STUDIES.md).") from None
    return parse(doc, path)


def parse(doc: dict, path: Path) -> Study:
    unknown = set(doc) - {"study", "experiment"}
    if unknown:
        key = min(unknown)
        raise StudyError(f"{path}: top-level key {key!r}: " + did_you_mean(key, ("study", "experiment"), "section"))
    head = doc.get("study", {})
    if not isinstance(head, dict):
        raise StudyError(f"{path}: [study] must be a table.")
    for key, value in head.items():
        if key not in STUDY_KEYS:
            raise StudyError(f"{path}: [study] key {key!r}: " + did_you_mean(key, STUDY_KEYS, "key"))
        if not STUDY_KEYS[key](value):
            raise StudyError(f"{path}: [study] key {key!r}: bad value {value!r}.")
    raw = doc.get("experiment")
    if not isinstance(raw, list) or not raw:
        raise StudyError(f"{path}: no experiments: add at least one [[experiment]] table.")
    experiments, seen = [], set()
    for i, entry in enumerate(raw, start=1):
        exp = _experiment(entry, path, i)
        if exp.name in seen:
            raise StudyError(f"{path}: experiment {exp.name!r}: key 'name': used twice; names are unique in a study.")
        seen.add(exp.name)
        experiments.append(exp)
    return Study(
        name=head.get("name", path.stem),
        path=path,
        experiments=tuple(experiments),
        title=head.get("title", ""),
        description=head.get("description", ""),
        source=head.get("source", ""),
        with_published=head.get("with_published", True),
    )


def _experiment(entry: Any, path: Path, index: int) -> Experiment:
    label = f"experiment #{index}"
    if not isinstance(entry, dict):
        raise StudyError(f"{path}: {label}: must be a table ([[experiment]]).")
    if _str(entry.get("name")):
        label = f"experiment {entry['name']!r}"

    def fail(key: str, msg: str) -> StudyError:
        return StudyError(f"{path}: {label}: key {key!r}: {msg}")

    for key, value in entry.items():
        if key not in EXPERIMENT_KEYS:
            raise fail(key, did_you_mean(key, EXPERIMENT_KEYS, "key"))
        check, expected = EXPERIMENT_KEYS[key]
        if not check(value):
            raise fail(key, f"bad value {value!r}; expected {expected}.")
    for key in ("name", "protocol", "methods"):
        if key not in entry:
            raise fail(key, f"missing; expected {EXPERIMENT_KEYS[key][1]}.")
    if "datasets" in entry and "pairs" in entry:
        raise fail("pairs", "give datasets (intra-like protocols) or pairs (cross), not both.")
    import protocols

    if entry["protocol"] not in protocols.names():
        raise fail("protocol", did_you_mean(entry["protocol"], protocols.names(), "protocol"))
    proto = protocols.get(entry["protocol"])
    if "pairs" in entry and not proto.is_cross:
        raise fail("pairs", f"protocol {proto.name!r} takes datasets; pairs are for cross.")
    if "datasets" in entry and proto.is_cross:
        raise fail("datasets", "the cross protocol takes pairs = [[train, test], ...].")
    if entry.get("datasets") == "found" and not getattr(proto, "eval_only", False):
        raise fail("datasets", '"found" (every dataset found) is for the eval protocol; list the datasets.')
    datasets = entry.get("datasets")
    return Experiment(
        name=entry["name"],
        protocol=entry["protocol"],
        methods=tuple(entry["methods"]),
        table=entry.get("table", ""),
        datasets=None if datasets in (None, "found") else tuple(datasets),
        pairs=tuple(tuple(p) for p in entry["pairs"]) if "pairs" in entry else None,
        splits=entry.get("splits"),
        seeds=tuple(entry.get("seeds", (0,))),
        split_set=entry.get("split_set", "default"),
        test_fraction=entry.get("test_fraction"),
        fractions=tuple(float(f) for f in entry["fractions"]) if "fractions" in entry else None,
        variants=tuple(entry["variants"]) if "variants" in entry else None,
        preset=entry.get("preset"),
        params=dict(entry.get("params", {})),
        val_fraction=float(entry.get("val_fraction", 0.0)),
        select_on=entry.get("select_on", "last"),
        cross_train=entry.get("cross_train", "split"),
        fraction_of=entry.get("fraction_of", "dataset"),
        precision=entry.get("precision", "auto"),
        deterministic=entry.get("deterministic", False),
        note=entry.get("note", ""),
    )


def check_dataset_names(exp: Experiment, path: Path) -> None:
    """Unknown dataset names, after the custom ones of the data root are registered (planner)."""
    from bench.data.datasets import get_spec

    for key, names in (("datasets", exp.datasets or ()), ("pairs", [n for p in exp.pairs or () for n in p])):
        for n in names:
            try:
                get_spec(n)
            except BenchError as exc:
                raise StudyError(f"{path}: experiment {exp.name!r}: key {key!r}: {exc}") from None
