"""Methods the paper compares with that have no public implementation: listed, never faked."""

from __future__ import annotations

import numpy as np

from bench.records import ImageSet
from methods.base import Method, MethodUnavailable


class DACNN(Method):
    name = "dacnn"
    kind = "unavailable"
    trains = True
    version = "1"
    description = "DACNN (Pan et al. 2022), Table 1 of the paper"
    unavailable_reason = ("no public code or weights exist for DACNN (Pan et al., 'DACNN: Blind image quality "
                          "assessment via a distortion-aware convolutional neural network', TCSVT 2022); "
                          "its row reports the published numbers only")
    presets = {"paper": {}, "demo": {}, "ci": {}}

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> None:
        raise MethodUnavailable(self.unavailable_reason)

    def predict(self, images: ImageSet) -> np.ndarray:
        raise MethodUnavailable(self.unavailable_reason)
