"""A BIQA method in one file, outside the package: four image statistics and a ridge regression.

Run it with:  python -m bench run --protocol intra --method docs/examples/sharpness_ridge.py:SharpnessRidge --data demo
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.records import ImageSet
from methods.base import Method


@dataclass
class Params:
    max_side: int = 256  # images are shrunk to this long side before the statistics (0: native size)
    alpha: float = 1e-2  # ridge penalty on the standardised features


class SharpnessRidge(Method):
    name = "sharpness-ridge"  # names the cells and the results; must not clash with a built-in method
    version = "1"  # bump when a change alters the scores: it is part of every cell key
    kind = "native"
    trains = True
    description = "gradient energy, Laplacian variance, colourfulness and luminance + ridge regression"
    Params = Params
    presets = {"paper": {}, "demo": {"max_side": 128}, "ci": {"max_side": 64}}

    def features(self, images: ImageSet) -> np.ndarray:
        from PIL import Image

        rows = []
        for record in images:
            with Image.open(record.path) as im:
                im = im.convert("RGB")
                if self.params.max_side and max(im.size) > self.params.max_side:
                    im.thumbnail((self.params.max_side, self.params.max_side))
                rgb = np.asarray(im, dtype=np.float64) / 255.0
            grey = rgb.mean(axis=2)
            gy, gx = np.gradient(grey)
            lap = grey[1:-1, 2:] + grey[1:-1, :-2] + grey[2:, 1:-1] + grey[:-2, 1:-1] - 4 * grey[1:-1, 1:-1]
            rg, yb = rgb[..., 0] - rgb[..., 1], (rgb[..., 0] + rgb[..., 1]) / 2 - rgb[..., 2]
            rows.append([np.mean(gx * gx + gy * gy), lap.var(), np.hypot(rg.std(), yb.std()), grey.mean()])
        return np.log1p(np.asarray(rows) * 100.0)

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> None:
        x = self.features(train)
        self.mean, self.std = x.mean(axis=0), x.std(axis=0) + 1e-12
        z = np.c_[(x - self.mean) / self.std, np.ones(len(x))]
        penalty = self.params.alpha * np.diag([1.0] * x.shape[1] + [0.0])  # the intercept is not penalised
        self.w = np.linalg.solve(z.T @ z + penalty, z.T @ train.scores)

    def predict(self, images: ImageSet) -> np.ndarray:
        z = np.c_[(self.features(images) - self.mean) / self.std, np.ones(len(images))]
        return z @ self.w  # higher is better, like every method here

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, mean=self.mean, std=self.std, w=self.w)

    def load(self, path: Path) -> None:
        with np.load(path) as data:
            self.mean, self.std, self.w = data["mean"], data["std"], data["w"]
