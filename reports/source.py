"""Reading the results store: the only input of a report.

``read_cells`` is the one function that touches the store; it lists finished cells through
``bench.results.store.ResultStore`` (the layout's owner) and reads each JSON itself so that a
damaged file is named in the error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.integrity import status_of
from bench.core.metrics import dropped_predictions
from reports.configs import config_of
from reports.errors import ReportError

REQUIRED = ("key", "protocol", "method", "train_dataset", "test_dataset", "metrics")


def read_cells(runs: str | Path) -> list[dict[str, Any]]:
    """Every finished cell's JSON dict under ``runs`` (status 'done' only), in key order."""
    from bench.results.store import ResultStore

    runs = Path(runs)
    if not (runs / "cells").is_dir():
        raise ReportError(
            f"no results store at {runs}: {runs / 'cells'} does not exist. "
            "Pass the folder given to `bench run --out` with --runs DIR."
        )
    store = ResultStore(runs)
    cells, tampered = [], []
    for key in sorted(store.done_keys()):
        path = store.cell_path(key)
        try:
            cell = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:  # removed by a concurrent `--rerun all` since the listing
            continue
        except (OSError, ValueError) as exc:
            raise ReportError(f"cannot read result {path}: {exc}. Delete it and rerun its cell.") from exc
        if not isinstance(cell, dict):
            raise ReportError(
                f"result {path} is not a cell record (a JSON {type(cell).__name__}). Delete it and rerun its cell."
            )
        if cell.get("status", "done") != "done":
            continue
        missing = [k for k in REQUIRED if k not in cell]
        if missing:
            raise ReportError(
                f"result {path} lacks field(s) {missing}: it was not written by `bench run`. Delete it from the store."
            )
        problem = store.tampered(cell, path)
        if problem:
            tampered.append(problem)
        cells.append(cell)
    if tampered:  # refused, never reported: an edited number would look like a measured one
        more = f" (and {len(tampered) - 3} more)" if len(tampered) > 3 else ""
        raise ReportError(f"{len(tampered)} result(s) fail their integrity check{more}: " + " | ".join(tampered[:3]))
    return cells


@dataclass(frozen=True)
class Result:
    """One finished cell, reduced to what the report needs."""

    key: str
    protocol: str
    method: str
    variant: str
    train: str
    test: str
    fraction: float | None
    split_set: str
    split_index: int | None
    split_hash: str | None
    seed: int | None
    metrics: dict[str, float] = field(hash=False, compare=False)
    method_version: str = ""
    harness_version: str = ""
    train_revision: str = ""
    test_revision: str = ""
    test_ground_truth: str = ""  # the metrics' ground truth (DatasetInfo.ground_truth); '' in older records
    train_ground_truth: str = ""  # what the cell trained on ('' in older records)
    test_ground_truth_vs_paper: str = ""  # how it differs from the paper baselines' ground truth ('' = it does not)
    finished_at: str = ""
    preds_path: Path | None = None
    # configuration (reports.configs): every resolved parameter, the preset, protocol options
    config: tuple = ()
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    preset: str = ""
    git_commit: str = ""
    git_dirty: bool = False
    n_test: int | None = None
    fit_s: float | None = None
    predict_s: float | None = None
    device: str = ""
    trained_on_test: bool = False  # a zero-shot checkpoint tested on a dataset it was trained on
    history: tuple = field(default=(), hash=False, compare=False)  # per-epoch training log (dicts)
    selected_epoch: int | None = None
    n_dropped: int = 0  # test predictions left out of the metrics as non-finite (metrics flag non_finite_predictions)
    integrity: str = "verified"  # 'partial': schema 2 (metrics + predictions hashed); 'unverified': schema 1
    n_train: int | None = None
    versions: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)  # python, torch, numpy ...
    notes: tuple = field(default=(), hash=False, compare=False)

    @property
    def pair_key(self) -> tuple:
        """One split of one seed: what the median counts and what the Wilcoxon test pairs across methods.

        The index counts (as in `bench run`'s summary) even where two indices drew the same images; the
        hash keeps results on different splits of the same index (other test fraction, revision) apart."""
        return (self.split_set, self.split_index, self.split_hash, self.seed)

    def metric(self, name: str) -> float | None:
        """The metric as a finite float; None when absent, not a number, NaN or infinite."""
        return _number(self.metrics.get(name))


def _fraction(value: Any) -> float | None:
    if value in (None, "", "null"):
        return None
    return round(float(value), 6)


def to_result(cell: dict[str, Any], runs: Path | None = None) -> Result:
    missing = [k for k in REQUIRED if k not in cell]
    if missing:
        raise ReportError(
            f"result {cell.get('key', '?')} lacks field(s) {missing}: it was not written by `bench run`. "
            "Delete it from the store."
        )
    key = str(cell["key"])
    preds = None
    if runs is not None:
        preds = Path(runs) / "cells" / key[:2] / f"{key}.preds.csv"
    return Result(
        key=key,
        protocol=str(cell["protocol"]),
        method=str(cell["method"]),
        variant=str(cell.get("variant") or "default"),
        train=str(cell["train_dataset"]),
        test=str(cell["test_dataset"]),
        fraction=_fraction(cell.get("fraction")),
        split_set=str(cell.get("split_set") or "default"),
        split_index=cell.get("split_index"),
        split_hash=cell.get("split_hash"),
        seed=cell.get("seed"),
        metrics=dict(cell["metrics"] or {}),
        method_version=str(cell.get("method_version", "")),
        harness_version=str(cell.get("harness_version", "")),
        train_revision=str(cell.get("train_revision", "")),
        test_revision=str(cell.get("test_revision", "")),
        test_ground_truth=str(cell.get("test_ground_truth") or ""),
        test_ground_truth_vs_paper=str(cell.get("test_ground_truth_vs_paper") or ""),
        train_ground_truth=str(cell.get("train_ground_truth") or ""),
        finished_at=str(cell.get("finished_at", "")),
        preds_path=preds,
        config=config_of(cell),
        params=dict(cell.get("params") or {}),
        preset=str(cell.get("preset") or ""),
        git_commit=str(cell.get("git_commit") or ""),
        git_dirty=bool(cell.get("git_dirty")),
        n_test=_int(cell.get("n_test")),
        fit_s=_number(cell.get("fit_s")),
        predict_s=_number(cell.get("predict_s")),
        device=str(cell.get("device") or ""),
        trained_on_test=bool(cell.get("trained_on_test_dataset")),
        history=tuple(h for h in (cell.get("history") or ()) if isinstance(h, dict)),
        selected_epoch=_int(cell.get("selected_epoch")),
        n_dropped=dropped_predictions(cell["metrics"]),
        integrity=status_of(cell),
        n_train=_int(cell.get("n_train")),
        versions=dict(cell.get("versions") or {}) if isinstance(cell.get("versions"), dict) else {},
        notes=tuple(str(n) for n in (cell.get("notes") or ()) if n),
    )


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def load_results(runs: str | Path) -> list[Result]:
    return [to_result(c, Path(runs)) for c in read_cells(runs)]


_READ: dict[tuple, tuple] = {}  # (path, size, mtime) -> (ids, MOS, predictions, rows): one read per report


def read_predictions(path: Path, n_expected: int | None = None, *, with_ids: bool = False):
    """(MOS, prediction) -- or (ids, MOS, prediction) -- from a cell's ``<key>.preds.csv``
    (columns id,score,prediction). ``n_expected`` (the cell's ``n_test``) catches a truncated file:
    a plot or table from part of the test images would look valid and be wrong. A file is parsed once while
    it is unchanged (the per-distortion view, the same-images test and the site all read it)."""
    if path is None or not path.is_file():
        raise ReportError(
            f"no predictions file {path}: the scatter plot and per-distortion tables need the cell's .preds.csv."
        )
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _READ:
        if len(_READ) > 50_000:
            _READ.clear()
        _READ[key] = _parse_predictions(path)
    ids, mos, pred, n_rows = _READ[key]
    if n_expected is not None and n_rows != n_expected:
        raise ReportError(
            f"{path} holds {n_rows} prediction(s) but its cell tested {n_expected} images: the file is "
            "truncated or damaged. Delete the cell's .json and .preds.csv and run the same "
            "`bench run` command again to recompute it."
        )
    return (list(ids), list(mos), list(pred)) if with_ids else (list(mos), list(pred))


def _parse_predictions(path: Path) -> tuple:
    import csv

    ids, mos, pred = [], [], []
    n_rows = 0
    try:
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                n_rows += 1
                try:
                    if row["prediction"] in ("", None):  # the store writes non-finite predictions empty
                        continue
                    score, value = float(row["score"]), float(row["prediction"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise ReportError(
                        f"{path}: bad row {n_rows} {row} ({exc}); expected columns "
                        "id,score,prediction. Delete the cell's .json and .preds.csv and rerun it."
                    ) from exc
                ids.append(row["id"])
                mos.append(score)
                pred.append(value)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReportError(
            f"cannot read predictions {path}: {exc}. Delete the cell's .json and .preds.csv and rerun it."
        ) from exc
    return tuple(ids), tuple(mos), tuple(pred), n_rows


def filter_protocols(results: Iterable[Result], protocols: Iterable[str] | None) -> list[Result]:
    wanted = set(protocols or ())
    return [r for r in results if not wanted or r.protocol in wanted]
