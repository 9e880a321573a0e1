"""CLIP-IQA+ (Wang, Chan and Loy, AAAI 2023) as pyiqa trains it: CoOp prompts on a frozen CLIP RN50.

Recipe from pyiqa's own options/train/CLIPIQA/train_CLIPIQA_koniq10k.yml -- pyiqa's recipe, not the CLIP-IQA
authors' (their IceClear/CLIP-IQA configuration, SGD 2e-3 over 500k iterations of whole images, is ``clipiqa+``,
methods/clipiqa_plus.py):
RN50 with positional embedding, 16 learned context tokens, Adam lr 2e-3, CosineAnnealingLR(T_max 50, eta_min 0),
50 epochs, batch 8, random 384 crops + hflip of KonIQ's 512x384 copy, MSE + PLCC on MOS normalised to [0, 1]
(``mos_normalize``), the whole image at test.
"""

from __future__ import annotations

from methods.pyiqa_zeroshot import OPENAI_CLIP
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch
from methods.retrained.recipe import fixed, recipe_dataclass

YML = "pyiqa options/train/CLIPIQA/train_CLIPIQA_koniq10k.yml"

CLIPIQAPlusParams = recipe_dataclass(
    "CLIPIQAPlusParams",
    epochs=50,
    batch_size=8,
    optimizer="adam",
    lr=2e-3,
    scheduler="cosine",
    loss="mse+plcc",
    target="unit",
    crop_size=384,
    hflip=True,
    train_crops=1,
    test_mode="full",
    test_crops=1,
)
CLIPIQAPlusParams.__module__ = __name__


class CLIPIQAPlusPyiqa(PyiqaRetrained):
    name = "clipiqa+-pyiqa"
    description = (
        "CLIP-IQA+ (Wang et al. 2023) with pyiqa's training recipe (not the authors'): CoOp prompts on "
        "frozen CLIP RN50, retrained per cell"
    )
    version = "2"  # 2: [0, 1] targets (were standardised), whole-image test, KonIQ at 512x384
    Params = CLIPIQAPlusParams
    presets = {
        "paper": {},
        "demo": {**DEMO, "crop_size": 224, "test_mode": "crops"},
        "ci": {**CI, "crop_size": 64, "test_mode": "crops"},
    }
    weights = [(OPENAI_CLIP, "RN50")]
    sources = {
        "optimizer, schedule": f"{YML}: Adam lr 2e-3, CosineAnnealingLR T_max 50 eta_min 0, total_epoch 50",
        "batch, crop, flip": f"{YML}: batch_size_per_gpu 8, random_crop 384, hflip",
        "resize": f"{YML}: dataroot koniq10k/512x384 (KonIQ at half size)",
        "loss, targets": f"{YML}: MSELoss + PLCCLoss, mos_normalize true (MOS / its range -> [0, 1])",
        "test": f"{YML}: the val set has no crop (whole image)",
        "last batch": "pyiqa pyiqa/data/__init__.py build_dataloader: the train loader has drop_last=True",
        "model": "pyiqa clipiqa_arch: model_type clipiqa+, RN50, pos_embedding, 16 context tokens, CLIP frozen",
    }
    source = f"pyiqa's own recipe, {YML}: Adam 2e-3, cosine 50, batch 8, 384 crops, MSE + PLCC on [0, 1] MOS, whole-image test"
    has_backbone = False
    official_selection = "pyiqa's trainer saves the best validation checkpoint: we keep the last epoch"

    @classmethod
    def resize_for(cls, params, dataset: str):
        return fixed(384, 512) if dataset == "koniq10k" else None

    def build(self):
        from methods.retrained.engine import Trainable

        net = build_arch(
            {
                "type": "CLIPIQA",
                "model_type": "clipiqa+",
                "backbone": "RN50",
                "pretrained": False,
                "pos_embedding": True,
            }
        )
        return Trainable(net, [], [p for p in net.prompt_learner.parameters()])
