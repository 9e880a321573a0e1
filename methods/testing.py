"""Methods for measuring the harness itself and for its tests (registered as ``noop``).

``noop`` predicts a deterministic pseudo-random score per image id (no pixel is read),
so a run measures the runner's own overhead. Its knobs make it misbehave on purpose:
sleep (SIGKILL tests), raise on one dataset (failure handling), kill its own worker
process (a worker lost to the OOM killer), predict a constant or NaN (metric flags).
"""

from __future__ import annotations

import os
import signal
import time
import zlib
from dataclasses import dataclass

import numpy as np

from bench.core.records import ImageSet
from methods.base import Method


@dataclass
class NoOpParams:
    sleep_s: float = 0.0  # seconds spent in fit (simulates work)
    fail_on: str = ""  # raise in fit when the training set has this dataset name
    fail_while_file: str = ""  # raise in fit while this file exists (a failure fixed outside the parameters)
    die_on: str = ""  # SIGKILL its own process in fit when the training set has this dataset name
    output: str = "hash"  # 'hash' (pseudo-random per id), 'score' (+ noise), 'constant', 'nan',
    # 'mostly_nan' (the true score for every 4th image, NaN for the others: a perfect rank on a quarter)
    noise: float = 0.1  # output='score': Gaussian noise added to the true score


class NoOp(Method):
    name = "noop"
    version = "1"
    kind = "native"
    trains = True
    description = "no-op: a trivial prediction per image id (overhead measurement, tests)"
    Params = NoOpParams
    presets = {"paper": {}, "demo": {}, "ci": {}}

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> None:
        p = self.params
        if p.fail_on and train.dataset.name == p.fail_on:
            raise RuntimeError(f"noop: asked to fail on dataset {p.fail_on!r}")
        if p.die_on and train.dataset.name == p.die_on:
            os.kill(os.getpid(), signal.SIGKILL)
        if p.fail_while_file and os.path.exists(p.fail_while_file):
            raise RuntimeError(f"noop: asked to fail while {p.fail_while_file} exists")
        if p.sleep_s:
            time.sleep(p.sleep_s)
        self._fitted_on = len(train)

    def predict(self, images: ImageSet) -> np.ndarray:
        p = self.params
        n = len(images)
        if p.output == "constant":
            return np.full(n, 0.5)
        if p.output == "nan":
            return np.full(n, np.nan)
        if p.output == "mostly_nan":
            return np.where(np.arange(n) % 4 == 0, images.scores, np.nan)
        if p.output == "score":
            rng = np.random.default_rng(self.context.seed)
            return images.scores + rng.normal(0.0, p.noise, n)
        return np.asarray([zlib.crc32(i.encode()) / 2**32 for i in images.ids])
