"""A cell: one unit of work (one method trained and tested on one split), and its key.

The key is a hash of the canonical JSON of everything that changes the score, so it
is the same on every machine and for every order of CLI arguments, and it changes
whenever the method, its parameters or version, the data, the split, the seed, the
metric settings or the harness version change. Protocol and variant label are part of
it too: they name the row a report aggregates into, so an ablation's 'full' cell is
stored as an ablation cell even when an intra cell has the same numbers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

KEY_LENGTH = 20
SCHEMA = 3  # 3: integrity hashes cover the whole record; 2: metrics + predictions; 1: none (bench/core/integrity.py)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, tuples as lists, anything else (Path, numpy scalar) as str."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_plain, allow_nan=False)


def _plain(value: Any):
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


@dataclass(frozen=True)
class Cell:
    protocol: str
    method: str
    method_version: str
    method_kind: str
    variant: str  # ablation/sensitivity label; 'default' otherwise
    params: dict = field(hash=False)
    preset: str  # informational: the params are what counts
    train_dataset: str
    test_dataset: str
    train_revision: str
    test_revision: str
    split_set: str
    split_index: int
    split_hash: str  # content hash of the ids used (test side included)
    fraction: float | None
    seed: int
    metric_settings: dict = field(hash=False)
    harness_version: str = ""
    # run options that differ from their defaults (select_on, val_fraction, cross_train, fraction_of);
    # hashed only when not empty, so cells run with the defaults keep the keys they always had
    training_options: dict = field(default_factory=dict, hash=False)

    def identity(self) -> dict:
        """What the key hashes: everything but the informational fields."""
        d = asdict(self)
        for informational in ("preset", "method_kind"):
            d.pop(informational)
        if not d["training_options"]:
            d.pop("training_options")
        return d

    @cached_property
    def key(self) -> str:
        return hashlib.sha256(canonical_json(self.identity()).encode()).hexdigest()[:KEY_LENGTH]

    def record_fields(self) -> dict:
        """The cell's part of a result record (ARCHITECTURE.md schema)."""
        return {"key": self.key, **asdict(self)}

    def label(self) -> str:
        return label(vars(self))


def label(fields: dict) -> str:
    """'intra nss-svr[full] demo-a split=3 seed=0' from a cell's fields or a result record."""
    frac = "" if fields.get("fraction") is None else f" frac={fields['fraction']:g}"
    variant = fields.get("variant", "default")
    var = "" if variant == "default" else f"[{variant}]"
    train, test = fields["train_dataset"], fields["test_dataset"]
    data = train if train == test else f"{train}->{test}"
    options = fields.get("training_options") or {}
    split = "all" if options.get("cross_train") == "full" else fields["split_index"]
    return f"{fields['protocol']} {fields['method']}{var} {data} split={split}{frac} seed={fields['seed']}"


@dataclass(frozen=True)
class Task:
    """A cell plus the image ids it uses: what a worker needs to run it."""

    cell: Cell
    train_ids: tuple[str, ...]
    val_ids: tuple[str, ...]
    test_ids: tuple[str, ...] | None  # None: every image of the test dataset (cross-dataset)
    method_target: str | None = None  # plug-in by location: the import target workers load (not hashed)
    method_path: str | None = None  # module plug-in: the sys.path folder it was imported from (not hashed)
    checkpoint: str | None = None  # eval protocol: a saved cell's weights to load instead of fitting

    @property
    def key(self) -> str:
        return self.cell.key
