"""What every layer exchanges: one record per image, a dataset's facts, a set of images, a split of it.

These are plain, torch-free dataclasses. Loaders (``bench.data.datasets``) produce them,
splits select them by ``ImageRecord.id``, methods receive them in an ``ImageSet``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ImageRecord:
    id: str  # path relative to the dataset folder, '/'-separated: stable across machines
    path: Path  # absolute path of the image file
    score: float  # normalised so that HIGHER IS BETTER (DMOS sets are flipped)
    raw_score: float  # the score exactly as the dataset's file gives it
    std: float | None = None  # std of the human ratings, where the dataset publishes it
    ref_id: str | None = None  # reference/content id on synthetic datasets (split grouping), else None
    distortion: str | None = None  # native distortion name (dataset's own vocabulary)
    distortion_class: int | None = None  # index into bench.core.labels.DISTORTION_CLASSES
    scenes: tuple[int, ...] = ()  # indices into bench.core.labels.SCENE_CLASSES (multi-label)
    level: int | None = None  # distortion level where the dataset has one
    # other label columns of the dataset (e.g. KonIQ-10k's MOS_zscore), for a method whose official code trains
    # on one of them (its recipe says so); metrics always use ``score``
    label_columns: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def group(self) -> str:
        """The unit a split must keep together: the reference on synthetic sets, else the image."""
        return self.ref_id if self.ref_id is not None else self.id


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # registry name, e.g. 'live', 'koniq10k', 'demo-a'
    title: str  # human name, e.g. 'KonIQ-10k'
    root: Path  # the dataset folder actually used
    layout: str  # 'pyiqa', 'official', 'liqe', 'demo'
    synthetic: bool  # synthetic distortions of reference images -> split by reference
    raw_scale: tuple[float, float]  # (min, max) of raw_score's scale, e.g. (0, 100)
    raw_higher_is_better: bool  # orientation of raw_score (False for DMOS)
    revision: str  # hash of the metadata actually loaded (+ exclusions)
    has_scene_labels: bool = False
    has_distortion_labels: bool = False
    notes: tuple[str, ...] = ()  # e.g. exclusions, label disagreements
    ground_truth: str = ""  # the score's source (file, column, scale, orientation); part of the revision
    paper_note: str = ""  # how it differs from the ground truth the paper's baselines trained on ('' = it does not)


@dataclass
class ImageSet:
    """The images a method trains or predicts on, with the dataset they come from."""

    dataset: DatasetInfo
    records: list[ImageRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[ImageRecord]:
        return iter(self.records)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    @property
    def scores(self) -> np.ndarray:
        return np.asarray([r.score for r in self.records], dtype=np.float64)

    def subset(self, ids: Sequence[str]) -> ImageSet:
        by_id = {r.id: r for r in self.records}
        missing = [i for i in ids if i not in by_id]
        if missing:
            from bench.core.errors import SplitError

            raise SplitError(
                f"{len(missing)} id(s) not in dataset {self.dataset.name!r}, e.g. {missing[:3]}; "
                "the split was made for another revision of the dataset: remake it with `bench data splits`."
            )
        return ImageSet(self.dataset, [by_id[i] for i in ids])


@dataclass(frozen=True)
class Split:
    dataset: str  # dataset name
    revision: str  # dataset revision the ids refer to
    split_set: str  # 'default' (ours, seeded), 'liqe', 'pyiqa'
    index: int  # 0-based split index within the set
    seed: int
    train: tuple[str, ...]
    test: tuple[str, ...]
    val: tuple[str, ...] = ()
    fraction: float | None = None  # efficiency protocol: share of the WHOLE dataset used for training
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def hash(self) -> str:
        """Content hash of the id lists: identical splits on every machine have identical hashes."""
        payload = json.dumps(
            {"train": sorted(self.train), "val": sorted(self.val), "test": sorted(self.test)},
            separators=(",", ":"),
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
