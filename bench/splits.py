"""Splits: which image ids train, validate and test in one cell. (Contract; the data layer implements it.)"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Split:
    dataset: str                 # dataset name
    revision: str                # dataset revision the ids refer to
    split_set: str               # 'default' (ours, seeded), 'liqe', 'pyiqa'
    index: int                   # 0-based split index within the set
    seed: int
    train: tuple[str, ...]
    test: tuple[str, ...]
    val: tuple[str, ...] = ()
    fraction: float | None = None    # efficiency protocol: share of the WHOLE dataset used for training
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def hash(self) -> str:
        """Content hash of the id lists: identical splits on every machine have identical hashes."""
        payload = json.dumps(
            {"train": sorted(self.train), "val": sorted(self.val), "test": sorted(self.test)},
            separators=(",", ":"),
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
