"""Small helpers every loader shares: paths, revisions, score orientation."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from bench.core.errors import DatasetError
from bench.core.paths import cache_root  # noqa: F401  (bench.data.datasets.common.cache_root stays)

REVISION_LEN = 16


class DatasetNotFound(DatasetError):
    """No file of a dataset is where it is looked for (as opposed to a dataset found but broken)."""


def resolve_data_root(data_root: str | os.PathLike | None = None) -> Path:
    """--data-root, else $BENCH_DATA, else ./datasets (made absolute: workers may run elsewhere)."""
    env = os.environ.get("BENCH_DATA")
    root = Path(data_root) if data_root else Path(env) if env else Path("datasets")
    return root.expanduser().absolute()


class Revision:
    """Accumulates the metadata actually loaded; ``hexdigest()`` is the dataset revision."""

    def __init__(self, *parts: object):
        self._h = hashlib.sha256()
        for p in parts:
            self.add(p)

    def add(self, part: object) -> Revision:
        if isinstance(part, (bytes, bytearray)):
            data = bytes(part)
        elif isinstance(part, Path):
            data = part.read_bytes()
        elif isinstance(part, str):
            data = part.encode()
        else:
            data = json.dumps(part, sort_keys=True, default=str).encode()
        self._h.update(len(data).to_bytes(8, "little"))
        self._h.update(data)
        return self

    def hexdigest(self) -> str:
        return self._h.hexdigest()[:REVISION_LEN]


def higher_is_better(raw: float, scale: tuple[float, float], raw_higher_is_better: bool) -> float:
    """Normalised score: raw on MOS sets; mirrored inside its scale on DMOS sets (max + min - raw)."""
    return float(raw) if raw_higher_is_better else float(scale[0] + scale[1] - raw)
