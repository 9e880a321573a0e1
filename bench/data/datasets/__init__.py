"""Dataset registry and loaders: one ``ImageSet`` per dataset, whatever layout it is stored in.

    load_dataset("live", data_root=None, dataset_dirs=None, labels_dir=None, skip_corrupt=False)

Data root: ``data_root``, else $BENCH_DATA, else ./datasets. ``dataset_dirs={"live": Path}``
overrides one dataset's folder. LIQE label files: ``labels_dir``, else <data-root>/liqe.
'demo-a'/'demo-b' are generated on first use into the cache and need no data root.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from bench.core.errors import DatasetError
from bench.core.records import ImageSet
from bench.data.datasets.common import cache_root, resolve_data_root
from bench.data.datasets.custom import register_custom
from bench.data.datasets.registry import DEMO_NAMES, SPECS, DatasetSpec, all_specs, dataset_names, get_spec

__all__ = [
    "load_dataset",
    "dataset_names",
    "get_spec",
    "resolve_data_root",
    "cache_root",
    "add_data_args",
    "data_kwargs",
    "DatasetSpec",
    "SPECS",
    "DEMO_NAMES",
    "all_specs",
    "register_custom",
]

PathLike = str | os.PathLike


def load_dataset(
    name: str,
    data_root: PathLike | None = None,
    dataset_dirs: Mapping[str, PathLike] | None = None,
    labels_dir: PathLike | None = None,
    skip_corrupt: bool = False,
    *,
    dataset_specs=None,
    layout: str | None = None,
    deep: bool = False,
    progress: bool = False,
    ground_truths: Mapping[str, str] | None = None,
) -> ImageSet:
    """Load one dataset's records.

    layout: force 'pyiqa' | 'official' | 'liqe' (default: detected, pyiqa first).
    deep: decode every image (slow) instead of only checking that the file exists and is not empty.
    dataset_specs: spec files of custom datasets (besides <data-root>/datasets.toml, read when present).
    ground_truths: {dataset: choice} for datasets with more than one ground truth (LIVE: 'realigned' | 'original';
    bench/data/datasets/ground_truth.py); names may be aliases.
    """
    register_custom(data_root, dataset_specs)
    spec = get_spec(name)
    if spec.name in DEMO_NAMES:
        from bench.data.datasets.demo_loader import load_demo

        return load_demo(spec, progress=progress)
    check_data_root(data_root)
    dirs = _normalise_dirs(dataset_dirs)
    if spec.extra.get("custom") is not None:
        from bench.data.datasets.custom import load_custom

        return load_custom(spec, dirs.get(spec.name), skip_corrupt=skip_corrupt, deep=deep, progress=progress)
    from bench.data.datasets.locate import load_real

    return load_real(
        spec,
        resolve_data_root(data_root),
        dirs.get(spec.name),
        Path(labels_dir).expanduser() if labels_dir else None,
        skip_corrupt=skip_corrupt,
        layout=layout,
        deep=deep,
        progress=progress,
        ground_truth={get_spec(k).name: v for k, v in (ground_truths or {}).items()}.get(spec.name),
    )


def _normalise_dirs(dataset_dirs: Mapping[str, PathLike] | None) -> dict[str, Path]:
    out = {}
    for key, path in (dataset_dirs or {}).items():
        out[get_spec(key).name] = Path(path).expanduser()
    return out


# --- shared CLI flags (bench data, bench run) -------------------------------------------------


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """--data-root, --dataset-dir NAME=PATH (repeatable), --labels DIR, --skip-corrupt."""
    g = parser.add_argument_group("data")
    g.add_argument(
        "--data-root",
        metavar="DIR",
        default=None,
        help="folder holding the datasets (default: $BENCH_DATA, else ./datasets)",
    )
    g.add_argument(
        "--dataset-dir",
        metavar="NAME=PATH",
        action="append",
        default=[],
        help="folder of one dataset, overriding the default under the data root (repeatable)",
    )
    g.add_argument(
        "--labels",
        metavar="DIR",
        default=None,
        help="LIQE label files (the folder holding IQA_Database/; default: <data-root>/liqe)",
    )
    g.add_argument(
        "--dataset-spec",
        metavar="FILE",
        action="append",
        default=[],
        help="TOML/YAML file declaring datasets of your own (repeatable; <data-root>/datasets.toml "
        "is read by itself); see docs/DATASETS.md",
    )
    g.add_argument(
        "--ground-truth",
        metavar="NAME=CHOICE",
        action="append",
        default=[],
        help="which ground truth of a dataset that has two: live=realigned (release layout, the default there) "
        "or live=original (docs/DATASETS.md)",
    )
    g.add_argument(
        "--skip-corrupt",
        action="store_true",
        help="exclude missing/corrupt images instead of failing (recorded in the revision)",
    )


def check_data_root(data_root: PathLike | None) -> None:
    """A data root (--data-root, else $BENCH_DATA) that exists but is not a folder is the user's typo: say so,
    rather than report every dataset as not found under it."""
    root = resolve_data_root(data_root)
    if root.exists() and not root.is_dir():
        flag = "--data-root" if data_root else "$BENCH_DATA" if os.environ.get("BENCH_DATA") else "the data root"
        raise DatasetError(
            f"{flag} {str(root)!r} is a file, not a folder. Point it at the folder that holds the "
            "datasets (each in its own sub-folder; docs/DATASETS.md), or at a datasets.toml's folder."
        )


def data_kwargs(args: argparse.Namespace) -> dict:
    """The keyword arguments of ``load_dataset`` from parsed ``add_data_args`` flags."""
    specs = tuple(str(Path(p).expanduser().absolute()) for p in getattr(args, "dataset_spec", None) or [])
    check_data_root(getattr(args, "data_root", None))
    register_custom(getattr(args, "data_root", None), specs)  # before --dataset-dir names are resolved
    dirs: dict[str, Path] = {}
    for item in getattr(args, "dataset_dir", None) or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise DatasetError(f"--dataset-dir {item!r}: expected NAME=PATH, e.g. --dataset-dir live=/data/live")
        dirs[get_spec(name).name] = Path(path).expanduser()
    if getattr(args, "labels", None):  # checked even where only demo data is used
        from bench.data.datasets.liqe import check_labels_dir

        check_labels_dir(args.labels)
    truths: dict[str, str] = {}
    for item in getattr(args, "ground_truth", None) or []:
        name, sep, choice = item.partition("=")
        if not sep or not name or not choice:
            raise DatasetError(f"--ground-truth {item!r}: expected NAME=CHOICE, e.g. --ground-truth live=original")
        truths[get_spec(name).name] = choice.strip().lower()
    kw = {
        "data_root": getattr(args, "data_root", None),
        "dataset_dirs": dirs,
        "labels_dir": getattr(args, "labels", None),
        "skip_corrupt": bool(getattr(args, "skip_corrupt", False)),
        "dataset_specs": specs,
    }
    if truths:  # only when given: data_kwargs travel to workers and older callers know no such key
        kw["ground_truths"] = truths
    return kw
