"""The numbers the MP-IQE paper publishes (Tables 1-6), read from ``published.csv``.

One row per printed number. ``method`` is the harness's name, ``paper_name`` the paper's;
``note`` says e.g. that the paper marks a number as reproduced (its asterisk).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from reports.errors import ReportError

CSV_PATH = Path(__file__).with_name("published.csv")
COLUMNS = (
    "table",
    "protocol",
    "method",
    "paper_name",
    "train_dataset",
    "test_dataset",
    "metric",
    "fraction",
    "variant",
    "value",
    "note",
)


@dataclass(frozen=True)
class Published:
    table: int
    protocol: str
    method: str
    paper_name: str
    train: str
    test: str
    metric: str  # 'plcc' | 'srcc'
    fraction: float | None
    variant: str  # 'default' where the table has no variants
    value: float
    note: str = ""

    @property
    def reproduced(self) -> bool:
        return self.note.startswith("reproduced")


def load_published(path: Path = CSV_PATH) -> list[Published]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ReportError(f"cannot read the published numbers {path}: {exc}; reinstall biqa-bench.") from exc
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ReportError(f"{path}: header {reader.fieldnames} is not {list(COLUMNS)}.")
    out = []
    for line, row in enumerate(reader, start=2):
        try:
            out.append(
                Published(
                    table=int(row["table"]),
                    protocol=row["protocol"],
                    method=row["method"],
                    paper_name=row["paper_name"],
                    train=row["train_dataset"],
                    test=row["test_dataset"],
                    metric=row["metric"],
                    fraction=round(float(row["fraction"]), 6) if row["fraction"] else None,
                    variant=row["variant"] or "default",
                    value=float(row["value"]),
                    note=row["note"],
                )
            )
        except (TypeError, ValueError) as exc:
            raise ReportError(f"{path}:{line}: bad row {row} ({exc}).") from exc
    return out


# pyiqa's no-reference benchmark (every image of a dataset scored by a released metric), for the eval table.
PYIQA_NR_PATH = Path(__file__).with_name("published_pyiqa_nr.csv")
PYIQA_NR_SOURCE = (
    "pyiqa's NR benchmark, chaofengc/IQA-PyTorch tests/NR_benchmark_results.csv (commit 3c6ebdc, 2024-09-03)"
)
PYIQA_NR_TABLE = 0  # `Published.table` of these rows: no table of the MP-IQE paper


def load_pyiqa_nr(path: Path = PYIQA_NR_PATH) -> list[Published]:
    """pyiqa's published SRCC/PLCC/KRCC per metric and dataset, as ``Published`` rows of protocol 'eval'
    (written by scripts/import-pyiqa-nr-benchmark; names mapped to the harness's there)."""
    try:
        rows = list(csv.DictReader(path.read_text().splitlines()))
    except OSError as exc:
        raise ReportError(f"cannot read pyiqa's published numbers {path}: {exc}; reinstall biqa-bench.") from exc
    out = []
    for line, row in enumerate(rows, start=2):
        try:
            out.append(
                Published(
                    table=PYIQA_NR_TABLE,
                    protocol="eval",
                    method=row["method"],
                    paper_name=row["pyiqa_metric"],
                    train=row["dataset"],
                    test=row["dataset"],
                    metric=row["metric"],
                    fraction=None,
                    variant="default",
                    value=float(row["value"]),
                    note=f"pyiqa column {row['pyiqa_column']}",
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportError(f"{path}:{line}: bad row {row} ({exc}).") from exc
    return out
