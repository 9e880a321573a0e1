"""The shape of a training recipe as ``bench methods NAME --recipe`` shows it (torch-free).

Every trained method's ``Method.recipe(params, dataset, n_train_images)`` returns a dict with at
least these keys, so a user sees before a run how many optimiser steps a cell takes, how many
samples it sees, what the test mode is and where every value comes from.
"""

from __future__ import annotations

import math

RECIPE_KEYS = (
    "method",
    "dataset",
    "n_train_images",
    "train_crops_per_image",
    "crop_size",
    "resize",
    "batch_size",
    "epochs",
    "optimizer_steps",
    "samples_seen",
    "test",
    "optimizer",
    "schedule",
    "loss",
    "sources",
)


def steps_per_epoch(n_samples: int, batch_size: int, drop_last: bool = True) -> int:
    """Optimiser steps of one pass over ``n_samples`` samples (drop_last only when more than one batch)."""
    if n_samples <= 0:
        return 0
    batch = min(batch_size, n_samples)
    return n_samples // batch if drop_last and n_samples > batch else math.ceil(n_samples / batch)
