"""ViT-BIQA (paper Table 5): an ImageNet-pretrained ViT-B/16 from timm with a regression head,
fine-tuned per cell.

The paper gives no recipe for it; we apply MP-IQE's own schedule (paper, implementation details):
Adam, lr 3e-5 with 5 warm-up epochs then cosine decay, 30 epochs, batch 64 (32 for LIVE / CSIQ / BID,
resolved per dataset as MP-IQE's ``batch_size_for``), 8 random 224 crops per image per epoch (each a sample)
and 8 crops averaged at test, as MP-IQE's recipe; MSE on standardised MOS.
Weights: timm's ``vit_base_patch16_224.augreg2_in21k_ft_in1k`` (HF cache or --weights-dir).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from methods import weights as W
from methods.base import WeightSpec
from methods.retrained.engine import Trainable, TrainedRegressor, recipe_dataclass

ViTBIQAParams = recipe_dataclass(
    "ViTBIQAParams",
    epochs=30,
    warmup_epochs=5,
    batch_size=0,
    optimizer="adam",
    lr=3e-5,
    scheduler="cosine",
    loss="mse",
    crop_size=224,
    hflip=True,
    train_crops=8,
    test_crops=8,
    extra=[("model", str, "vit_base_patch16_224.augreg2_in21k_ft_in1k"), ("pretrained", bool, True)],
)
ViTBIQAParams.__module__ = __name__


class ViTBIQA(TrainedRegressor):
    name = "vit-biqa"
    kind = "native"
    trains = True
    version = "2"  # 2: 8 crops per image per epoch and batch 32 on LIVE / CSIQ / BID, as MP-IQE (was 1, 64)
    description = "ViT-BIQA: timm ViT-B/16 (ImageNet-21k -> 1k) + linear regression head, fine-tuned per cell"
    Params = ViTBIQAParams
    presets = {
        "paper": {},
        "demo": {"epochs": 2, "warmup_epochs": 0, "batch_size": 8, "train_crops": 2, "test_crops": 2},
        "ci": {
            "epochs": 1,
            "warmup_epochs": 0,
            "max_steps": 2,
            "batch_size": 2,
            "train_crops": 2,
            "test_crops": 1,
            "crop_size": 64,
        },
    }
    source = "MP-IQE paper's training schedule (the paper states none for ViT-BIQA)"
    sources = {
        "optimizer, lr, schedule, epochs, batch": "MP-IQE paper, implementation details (the paper states no "
        "recipe for ViT-BIQA): Adam 3e-5, 5 warm-up epochs then cosine, 30 epochs, batch 32 (LIVE, CSIQ, BID) / 64",
        "crops, test": "MP-IQE paper: 'During training and inference, we randomly crop 8 sub-images' of 224: 8 "
        "crops per image per epoch (each a sample, as methods/mpiqe/recipe.py), 8 test crops averaged",
        "loss, targets": "ours: MSE on standardised MOS",
        "schedule granularity": "ours: warm-up and cosine resolved per epoch (MP-IQE's trainer steps them per step)",
        "weights": "timm vit_base_patch16_224.augreg2_in21k_ft_in1k",
        "last batch": "as MP-IQE's crop samples (methods/mpiqe/recipe.py reading 'crop': the incomplete last batch "
        "is dropped)",
    }

    @classmethod
    def recipe_for(cls, params, dataset: str):
        """batch_size 0 (the paper preset): MP-IQE's per-dataset batch (32 on LIVE / CSIQ / BID, else 64)."""
        import dataclasses

        from methods.mpiqe.recipe import batch_size_for

        if not params.batch_size:
            params = dataclasses.replace(params, batch_size=batch_size_for(dataset, None))
        return super().recipe_for(params, dataset)

    @classmethod
    def required_weights(cls, params: Any, weights_dir: Path | None = None) -> list[WeightSpec]:
        return [W.timm_weight(f"timm/{params.model}", weights_dir)] if params.pretrained else []

    def build(self) -> Trainable:
        import timm

        kwargs = {"num_classes": 1}
        if self.params.crop_size != 224:  # small inputs (tests): timm resamples the position embedding
            kwargs["img_size"] = self.params.crop_size
        with W.offline_weights(self.context.weights_dir, self.context.notes):
            net = timm.create_model(self.params.model, pretrained=self.params.pretrained, **kwargs)
        cfg = net.pretrained_cfg
        net = _Normalised(net, cfg.get("mean", (0.5, 0.5, 0.5)), cfg.get("std", (0.5, 0.5, 0.5)))
        head = list(net.inner.get_classifier().parameters())
        ids = {id(p) for p in head}
        return Trainable(net, [p for p in net.parameters() if id(p) not in ids], head)


def _Normalised(net, mean, std):
    """Wrap ``net`` so that it takes crops in [0, 1] (CropDataset) and normalises them itself."""
    import torch
    from torch import nn

    class Normalised(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = net
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

        def forward(self, x):
            from bench.data.device_input import normalise

            return self.inner(normalise(x, self.mean, self.std))

    return Normalised()
