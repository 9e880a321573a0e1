"""CLIP-IQA and CLIP-IQA+ (Wang, Chan and Loy, AAAI 2023) natively on open_clip.

CLIP-IQA (zero-shot), as the CLIP-IQA paper ran it (its Table 2 row in the MP-IQE paper): OpenAI CLIP
RN50, the antonym prompts "Good photo." / "Bad photo.", the whole image at its native resolution with
the attention pool's positional embedding left out (the official CLIPIQAFixed default; 'interpolate'
resizes it instead, as its pos_embedding=True), score = softmax(exp(logit_scale) * cos(image, prompts))[good].
``backbone=ViT-B-16`` keeps the like-for-like variant with MP-IQE's backbone; ``test_input=crops``
scores the mean over ``test_crops`` crops resized to the backbone's input size instead.
CLIP-IQA+ (CoOp prompts, trained per cell) is methods/clipiqa_plus.py.

CLIP is built with ``methods.clip_backbone.create_clip``. This module imports torch and open_clip
only inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.errors import BenchError
from bench.core.records import ImageSet
from methods.base import Method, WeightSpec

PROMPTS = ("Good photo.", "Bad photo.")


def clip_weight_specs(backbone: str, pretrained: str, weights_dir: Path | None) -> list[WeightSpec]:
    from methods.clip_backbone import describe_weights

    filename, paths, hint = describe_weights(backbone, pretrained, weights_dir)
    if not filename:
        return []
    from methods.clip_backbone import weight_url

    return [
        WeightSpec(
            name=f"CLIP {backbone} ({pretrained})",
            filename=filename,
            search_paths=tuple(paths),
            hint=hint,
            url=weight_url(backbone, pretrained),
        )
    ]


# --- CLIP-IQA (zero-shot) ------------------------------------------------------------------------
TEST_INPUTS = ("full", "crops")
POS_EMBEDDING_MODES = ("none", "interpolate")  # = methods.clip_backbone.POS_EMBEDDING_MODES (torch-free here)


class ClipIQAConfigError(BenchError, ValueError):
    """A CLIP-IQA parameter value that cannot be used."""


@dataclass
class CLIPIQAParams:
    backbone: str = "RN50"  # the CLIP-IQA paper's; ViT-B-16 = MP-IQE's backbone
    pretrained: str = "openai"
    test_input: str = "full"  # full: the whole image (the paper); crops: test_crops crops, resized to the input size
    pos_embedding: str = "none"  # none: left out (official default); interpolate: resized to the token count
    max_side: int = 0  # full: 0 = native resolution; else shrink so that the long side <= max_side
    batch_size: int = 8  # full: images of equal size scored together
    crop_size: int = 224  # crops: crop side (then resized to the backbone's input size)
    test_crops: int = 8  # crops: crops averaged per image


class CLIPIQA(Method):
    name = "clipiqa"
    kind = "native-zero-shot"
    trains = False
    version = "2"  # 2: RN50, full image, no positional embedding, the model's logit scale (v1: ViT-B/16, 8 crops)
    description = (
        "CLIP-IQA zero-shot as its paper: OpenAI CLIP RN50, 'Good photo.'/'Bad photo.', the full image "
        "without positional embedding, softmax(logit_scale cos)[good]"
    )
    Params = CLIPIQAParams
    presets = {
        "paper": {},
        "demo": {"max_side": 256},
        "ci": {"backbone": "biqa-tiny-rn", "pretrained": "none", "max_side": 96, "batch_size": 4},
    }
    source = (
        "CLIP-IQA paper (AAAI 2023) Sec. 3 + official code IceClear/CLIP-IQA: configs/clipiqa/"
        "clipiqa_attribute_test.py (CLIPIQAFixed, RN50, classnames ['Good photo.', 'Bad photo.'], test "
        "pipeline = the whole image, batch 1), mmedit/models/backbones/sr_backbones/coopclipiqa.py "
        "(pos_embedding=False by default), mmedit/models/components/clip/model.py (AttentionPool2d)"
    )

    def __init__(self, params: Any = None, context=None):
        super().__init__(params, context)
        p = self.params
        if p.test_input not in TEST_INPUTS:
            raise ClipIQAConfigError(f"clipiqa: test_input={p.test_input!r}: choose one of {', '.join(TEST_INPUTS)}")
        if p.pos_embedding not in POS_EMBEDDING_MODES:
            raise ClipIQAConfigError(
                f"clipiqa: pos_embedding={p.pos_embedding!r}: choose one of {', '.join(POS_EMBEDDING_MODES)}"
            )
        for key in ("batch_size", "crop_size", "test_crops"):
            if not isinstance(getattr(p, key), int) or getattr(p, key) < 1:
                raise ClipIQAConfigError(f"clipiqa: {key}={getattr(p, key)!r} must be a positive integer")
        if not isinstance(p.max_side, int) or p.max_side < 0:
            raise ClipIQAConfigError(f"clipiqa: max_side={p.max_side!r} must be 0 (native size) or a positive integer")
        self._net = None

    @classmethod
    def required_weights(cls, params: Any, weights_dir: Path | None = None) -> list[WeightSpec]:
        return clip_weight_specs(params.backbone, params.pretrained, weights_dir)

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> None:
        """Zero-shot: nothing to train."""

    def net(self):
        """(clip model, ClipInfo, normalised text features of the two prompts), built once."""
        if self._net is None:
            import open_clip
            import torch

            from methods.clip_backbone import create_clip

            model, info = create_clip(
                self.params.backbone, self.params.pretrained, self.context.device, weights_dir=self.context.weights_dir
            )
            with torch.no_grad():
                tokens = open_clip.get_tokenizer(info.backbone)(list(PROMPTS)).to(self.context.device)
                text = model.encode_text(tokens, normalize=True)
            self._net = (model, info, text)
        return self._net

    def scores(self, x):
        """P(good) for a batch ``x`` [B, 3, H, W] in [0, 1] at any size (the pixels as given)."""
        import torch

        from bench.data.device_input import normalise
        from methods.clip_backbone import encode_image_any_size

        model, info, text = self.net()
        mean = torch.tensor(info.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(info.std, device=x.device).view(1, 3, 1, 1)
        with torch.no_grad():
            img = encode_image_any_size(model, normalise(x, mean, std), self.params.pos_embedding)
            img = img / img.norm(dim=-1, keepdim=True)
            return (model.logit_scale.exp() * img @ text.t()).softmax(dim=-1)[:, 0]

    def predict(self, images: ImageSet) -> np.ndarray:
        # OpenAI CLIP saw no IQA data: never trained on the dataset scored (the cell fact zero-shot methods record)
        self.context.record("trained_on_test_dataset", False)
        if self.params.test_input == "crops":
            return self._predict_crops(images)
        return self._predict_full(images)

    def _predict_full(self, images: ImageSet) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from bench.data.images import FullImageDataset
        from methods.clip_backbone import min_input_side

        model, _, _ = self.net()
        smallest = min_input_side(model)
        data = FullImageDataset(images.records, max_side=self.params.max_side or None)
        out = np.zeros(len(data))
        upscaled = 0
        order = sorted(range(len(data)), key=lambda i: self._decoded_size(images.records[i].path))
        batch: list[tuple[int, Any]] = []

        def flush():
            y = self.scores(torch.stack([t for _, t in batch]).to(self.context.device))
            for (i, _), v in zip(batch, y.float().cpu().numpy()):
                out[i] = v
            batch.clear()

        for i in order:
            x = data[i]["image"]
            h, w = x.shape[-2:]
            if min(h, w) < smallest:  # the tower needs one feature cell: bicubic up to the smallest side
                s = smallest / min(h, w)
                x = F.interpolate(
                    x[None],
                    size=(max(smallest, round(h * s)), max(smallest, round(w * s))),
                    mode="bicubic",
                    align_corners=False,
                )[0].clamp(0, 1)
                upscaled += 1
            if batch and (batch[0][1].shape != x.shape or len(batch) >= self.params.batch_size):
                flush()
            batch.append((i, x))
        if batch:
            flush()
        if upscaled:
            self.context.note(f"clipiqa: {upscaled} image(s) smaller than {smallest} px upscaled to {smallest}")
        return out

    def _decoded_size(self, path) -> tuple[int, int]:
        """(width, height) FullImageDataset will decode ``path`` to, from the file header (for batching)."""
        from bench.data.images import image_size

        w, h = image_size(path)
        m = self.params.max_side
        if m and max(w, h) > m:
            s = m / max(w, h)
            return max(1, round(w * s)), max(1, round(h * s))
        return w, h

    def _predict_crops(self, images: ImageSet) -> np.ndarray:
        import torch.nn.functional as F

        from bench.data.device_input import to_unit
        from bench.data.images import CropDataset

        _, info, _ = self.net()
        size = info.image_size
        data = CropDataset(
            images.records,
            n_crops=self.params.test_crops,
            crop_size=self.params.crop_size,
            train=False,
            seed=self.context.seed,
        )
        out = np.zeros(len(data))
        for i in range(len(data)):
            x = to_unit(data[i]["crops"])  # on the CPU, as before: the resize below runs there
            if x.shape[-1] != size or x.shape[-2] != size:
                x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
            out[i] = float(self.scores(x.to(self.context.device)).mean())
        return out
