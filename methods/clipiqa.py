"""CLIP-IQA and CLIP-IQA+ (Wang, Chan and Loy, AAAI 2023) natively on open_clip.

CLIP-IQA (zero-shot): the antonym prompts "Good photo." / "Bad photo."; an image's score is
softmax(100 * cosine(image, prompts))[good], averaged over ``n_crops`` deterministic crops.
CLIP-IQA+ (CoOp): the same two prompts with ``n_ctx`` learnable context vectors before the
class word ("[V]1..[V]M good." / "[V]1..[V]M bad."), CLIP frozen, trained per cell with the
CLIP-IQA+ recipe (as pyiqa's train_CLIPIQA_koniq10k.yml: Adam 2e-3, cosine, 50 epochs, batch 8,
MSE + PLCC on scores scaled to [0, 1]).

Both use ``methods.clip_backbone.create_clip`` with ViT-B/16 (OpenAI) by default -- the same
backbone as MP-IQE, for a like-for-like comparison. The CLIP-IQA paper used RN50 without positional
embedding at full resolution: that variant is ``pyiqa:clipiqa`` / ``clipiqa+-pyiqa``.
This module imports torch and open_clip only inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.records import ImageSet
from methods.base import WeightSpec
from methods.regression_trainer import Trainable, TrainedRegressor, recipe_dataclass

PROMPTS = ("Good photo.", "Bad photo.")
CLASS_WORDS = ("good", "bad")


def clip_weight_specs(backbone: str, pretrained: str, weights_dir: Path | None) -> list[WeightSpec]:
    from methods.clip_backbone import describe_weights

    filename, paths, hint = describe_weights(backbone, pretrained, weights_dir)
    if not filename:
        return []
    return [WeightSpec(name=f"CLIP {backbone} ({pretrained})", filename=filename, search_paths=tuple(paths), hint=hint)]


def _normalizer(info, size: int):
    import torch
    import torch.nn.functional as F

    mean = torch.tensor(info.mean).view(1, 3, 1, 1)
    std = torch.tensor(info.std).view(1, 3, 1, 1)

    def norm(x):
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
        return (x - mean.to(x)) / std.to(x)

    return norm


def build_clipiqa_net(model, info, n_ctx: int = 0, logit_scale: float = 100.0):
    """An nn.Module: crops in [0, 1] -> P(good). n_ctx=0: fixed prompts (CLIP-IQA); >0: CoOp (CLIP-IQA+).

    The CoOp text path is the shared ``DualTextPrompts`` (methods/clip_prompts.py) with one branch: the same prompt learner
    for both methods (it also handles open_clip's CustomTextCLIP and a missing text projection)."""
    import open_clip
    from torch import nn

    tokenizer = open_clip.get_tokenizer(info.backbone)
    norm = _normalizer(info, info.image_size)

    class ClipIQANet(nn.Module):
        def __init__(self):
            super().__init__()
            self.clip = [model]            # a list: frozen, not part of state_dict / parameters
            for p in model.parameters():
                p.requires_grad_(False)
            if n_ctx:
                from methods.clip_prompts import DualTextPrompts

                self.prompts = DualTextPrompts(model, tokenizer, {"quality": CLASS_WORDS}, n_ctx=n_ctx)
            else:
                self.register_buffer("tokens", tokenizer(list(PROMPTS)), persistent=False)

        def text_features(self):
            if n_ctx:
                return self.prompts()["quality"]
            return self.clip[0].encode_text(self.tokens)

        def forward(self, x):
            m = self.clip[0].to(x.device)
            img = m.encode_image(norm(x))
            txt = self.text_features()
            img = img / img.norm(dim=-1, keepdim=True)
            txt = txt / txt.norm(dim=-1, keepdim=True)
            return (logit_scale * img @ txt.t()).softmax(dim=-1)[:, 0]

    return ClipIQANet()


@dataclass
class CLIPIQAParams:
    backbone: str = "ViT-B-16"
    pretrained: str = "openai"
    crop_size: int = 224        # crops are resized to the backbone's input size if different
    test_crops: int = 8


class _ClipBase(TrainedRegressor):
    n_ctx = 0

    @classmethod
    def required_weights(cls, params: Any, weights_dir: Path | None = None) -> list[WeightSpec]:
        return clip_weight_specs(params.backbone, params.pretrained, weights_dir)

    def build(self) -> Trainable:
        from methods.clip_backbone import create_clip

        clip, info = create_clip(self.params.backbone, self.params.pretrained, self.context.device,
                                 weights_dir=self.context.weights_dir)
        net = build_clipiqa_net(clip, info, n_ctx=self.n_ctx)
        return Trainable(net, [], [p for p in net.parameters() if p.requires_grad])


class CLIPIQA(_ClipBase):
    name = "clipiqa"
    kind = "native-zero-shot"
    trains = False
    version = "1"
    description = "CLIP-IQA zero-shot: 'Good photo.'/'Bad photo.' on open_clip ViT-B/16 (OpenAI), softmax(100 cos)[good]"
    Params = CLIPIQAParams
    presets = {"paper": {}, "demo": {"test_crops": 2},
               "ci": {"test_crops": 1, "backbone": "biqa-tiny-vit", "pretrained": "none", "crop_size": 64}}

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> None:
        """Zero-shot: nothing to train."""


CLIPIQAPlusParams = recipe_dataclass(
    "CLIPIQAPlusParams", epochs=50, batch_size=8, optimizer="adam", lr=2e-3, scheduler="cosine",
    loss="mse+plcc", target="unit", crop_size=224, hflip=True, test_crops=8,
    extra=[("backbone", str, "ViT-B-16"), ("pretrained", str, "openai"), ("n_ctx", int, 16)])
CLIPIQAPlusParams.__module__ = __name__


class CLIPIQAPlus(_ClipBase):
    name = "clipiqa+"
    kind = "native"
    trains = True
    version = "2"                # 2: CoOp text path shared with MP-IQE (DualTextPrompts)
    description = "CLIP-IQA+: CoOp context vectors for the antonym prompts, frozen open_clip ViT-B/16, trained per cell"
    Params = CLIPIQAPlusParams
    presets = {"paper": {}, "demo": {"epochs": 2, "test_crops": 2},
               "ci": {"epochs": 1, "max_steps": 2, "batch_size": 2, "test_crops": 1, "n_ctx": 4,
                      "backbone": "biqa-tiny-vit", "pretrained": "none", "crop_size": 64}}
    source = ("CLIP-IQA paper (AAAI 2023) + pyiqa options/train/CLIPIQA/train_CLIPIQA_koniq10k.yml: 16 context "
              "tokens, Adam lr 2e-3, cosine over 50 epochs, batch 8, MSE + PLCC")

    @property
    def n_ctx(self) -> int:   # type: ignore[override]
        return int(self.params.n_ctx)
