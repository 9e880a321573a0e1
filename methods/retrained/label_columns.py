"""A method whose official code trains on another label column than the dataset's ground truth (HyperIQA and TReS
read KonIQ-10k's 'MOS_zscore', 1-100, where our KonIQ ground truth is the authors' MOS on 1-5).

The recipe names the column per dataset (``TrainedRegressor.label_columns``, with its source line). Training
targets are that column; the std (where there is one) is carried to its scale. Predictions are mapped back to the
dataset's score by the least-squares line score = a * label + b fitted on the TRAINING images (never the test
ones), before any metric: SRCC / PLCC / KRCC do not change under it, RMSE is on the dataset's scale, and every
report keeps one ground truth (the dataset's).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bench.core.errors import RunError
from bench.core.records import ImageSet


def training_labels(train: ImageSet, column: str, method: str) -> tuple[ImageSet, tuple[float, float]]:
    """(the training set with ``score`` = the label column and its std on that scale, (a, b) of score = a*label + b)."""
    missing = [r.id for r in train.records if column not in r.label_columns]
    if missing:
        raise RunError(
            f"{method} trains on {train.dataset.name}'s {column!r} column (its official code does), but the dataset "
            f"as loaded has none for {len(missing)} image(s), e.g. {missing[:2]}. Restore the file that has it "
            "(docs/DATASETS.md lists it per layout: KonIQ-10k's MOS_zscore is pyiqa's 'mos' column and the release's "
            "'MOS_zscore' column)."
        )
    labels = np.asarray([r.label_columns[column] for r in train.records], dtype=np.float64)
    scores = train.scores
    if len(train) < 2 or np.ptp(labels) == 0:
        raise RunError(f"{method}: {column!r} of the {len(train)} training images is constant: nothing to map back.")
    a, b = np.polyfit(labels, scores, 1)
    if not a > 0:
        raise RunError(
            f"{method}: {column!r} does not rise with the ground truth on the training images (slope {a:.3g})."
        )
    records = [
        replace(r, score=float(lab), std=None if r.std is None else float(r.std) / float(a))
        for r, lab in zip(train.records, labels)
    ]
    return ImageSet(train.dataset, records), (float(a), float(b))


def use_label_column(method, train: ImageSet, column: str) -> tuple[ImageSet, tuple[float, float]]:
    """``training_labels``, said in the cell's notes and facts."""
    out, (a, b) = training_labels(train, column, method.name)
    source = method.label_columns.get(train.dataset.name, ("", ""))[1]
    method.context.note(
        f"{method.name}: trained on {train.dataset.name}'s {column} ({source}); predictions mapped back to the "
        f"dataset's score by the training images' fit score = {a:.4g} * label + {b:.4g}"
    )
    method.context.record("label_column", column)
    return out, (a, b)


def to_dataset_scale(pred: np.ndarray, mapping: tuple[float, float] | None) -> np.ndarray:
    """Predictions on the label column's scale -> the dataset's score (identity without a mapping)."""
    if mapping is None:
        return pred
    a, b = mapping
    return a * np.asarray(pred, dtype=np.float64) + b


def _map_file(path):
    from pathlib import Path

    return Path(f"{path}.label-map.json")


def save_label_map(path, mapping: tuple[float, float] | None) -> None:
    if mapping is not None:
        import json

        _map_file(path).write_text(json.dumps({"a": mapping[0], "b": mapping[1]}))


def load_label_map(path) -> tuple[float, float] | None:
    import json

    f = _map_file(path)
    if not f.is_file():
        return None
    d = json.loads(f.read_text())
    return float(d["a"]), float(d["b"])
