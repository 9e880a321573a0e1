"""What the pyiqa architectures retrained per cell share: weight specs, building through pyiqa offline,
parameter groups, the smoke presets. Torch-free at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from methods import weights as W
from methods.base import WeightSpec
from methods.pyiqa_zeroshot import weight_specs
from methods.retrained.engine import TrainedRegressor

# smoke presets (their numbers mean nothing): ci = 2 optimiser steps on 64 px crops, 2 crops per image
CI = {
    "epochs": 1,
    "max_steps": 2,
    "batch_size": 2,
    "train_crops": 2,
    "test_crops": 1,
    "head_epochs": 0,
    "steps_per_epoch": 0,
}
DEMO = {"epochs": 2, "batch_size": 8, "train_crops": 2, "test_crops": 2, "head_epochs": 0, "steps_per_epoch": 0}


class PyiqaRetrained(TrainedRegressor):
    kind = "pyiqa-retrained"
    trains = True
    version = "1"
    weights: ClassVar[list[tuple[str, str]]] = []

    @classmethod
    def required_weights(cls, params: Any, weights_dir: Path | None = None) -> list[WeightSpec]:
        return weight_specs(cls.weights, weights_dir)

    def _ensure_model(self):
        if self.model is None:
            import pyiqa  # noqa: F401  (registers the architectures)

            with W.offline_weights(self.context.weights_dir, self.context.notes):
                self.model = self.build()
        return self.model


def split_params(net, backbone_module) -> tuple[list, list]:
    """Trainable parameters: those of ``backbone_module`` and the rest."""
    bb = {id(p) for p in backbone_module.parameters()}
    trainable = [p for p in net.parameters() if p.requires_grad]
    return [p for p in trainable if id(p) in bb], [p for p in trainable if id(p) not in bb]


def build_arch(opts: dict):
    from pyiqa.archs import build_network

    return build_network(dict(opts))


def keep_exact_crops(arch_module) -> None:
    """pyiqa's TReS / MANIQA re-crop their input inside ``forward`` (``random_crop(x, 224, 1)`` in training,
    ``uniform_crop`` in eval), and arch_util upscales any input whose short side is <= 224 to 225 first (bilinear):
    each of our 224 crops would be resampled. The official codes feed their 224 patch as is: in ``arch_module`` an
    exactly crop-sized input asked for one crop is returned unchanged (any other call goes to pyiqa's function)."""
    if getattr(arch_module.random_crop, "keeps_exact_crops", False):
        return

    def exact(crop):
        def wrapped(x, crop_size, crop_num):
            if crop_num == 1 and not isinstance(x, (list, tuple)) and tuple(x.shape[-2:]) == (crop_size, crop_size):
                return x
            return crop(x, crop_size, crop_num)

        wrapped.keeps_exact_crops = True
        return wrapped

    arch_module.random_crop = exact(arch_module.random_crop)
    arch_module.uniform_crop = exact(arch_module.uniform_crop)
