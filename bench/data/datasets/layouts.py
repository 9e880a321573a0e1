"""The table of layout readers that ``locate`` consults: per layout, which datasets it reads and how.

Each reader module parses only its own files and imports none of the others: ``pyiqa_layout`` (pyiqa's meta
CSVs), ``official`` (the authors' releases), ``recent`` (FLIVE, AGIQA-3K, UHD-IQA in either layout), ``generated``
(PIPAL, AIGIQA-20K, AIGCIQA2023), ``liqe`` (LIQE's lists, BID's index). This is the one place that joins their tables.
"""

from __future__ import annotations

from pathlib import Path

from bench.data.datasets import generated, official, pyiqa_layout, recent
from bench.data.datasets.ground_truth import CHOICES
from bench.data.datasets.meta import Meta
from bench.data.datasets.registry import DatasetSpec

# dataset -> row reader of its pyiqa meta CSV
PYIQA_ROW_READERS = {**pyiqa_layout.ROW_READERS, **recent.PYIQA_PARSERS, **generated.PYIQA_PARSERS}
# dataset -> parse(spec, key file, folder) of the authors' release, and the key files (or, PIPAL, the label folder)
# that identify it
OFFICIAL_PARSERS = {**official.PARSERS, **recent.PARSERS, **generated.PARSERS}
OFFICIAL_KEY_FILES = {**official.KEY_FILES, **recent.KEY_FILES, **generated.KEY_FILES}
KEY_FOLDERS = {"pipal"}  # datasets whose release is identified by a folder of label files

pyiqa_meta_candidates = pyiqa_layout.meta_candidates


def parse_pyiqa(spec: DatasetSpec, meta_file: Path, folder: Path) -> Meta:
    return pyiqa_layout.parse(spec, meta_file, folder, PYIQA_ROW_READERS[spec.name])


def official_key_file(spec: DatasetSpec, folder: Path) -> Path | None:
    for name in OFFICIAL_KEY_FILES.get(spec.name, ()):
        if (folder / name).is_dir() if spec.name in KEY_FOLDERS else (folder / name).is_file():
            return folder / name
    return None


def parse_official(spec: DatasetSpec, key: Path, folder: Path, ground_truth: str | None = None) -> Meta:
    """``ground_truth``: the choice of a dataset with more than one (bench/data/datasets/ground_truth.py CHOICES)."""
    if spec.name in CHOICES:
        return OFFICIAL_PARSERS[spec.name](spec, key, folder, choice=ground_truth)
    return OFFICIAL_PARSERS[spec.name](spec, key, folder)
