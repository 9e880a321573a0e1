"""What a figure needs from a trained method: a Grad-CAM target and image features.

MP-IQE and visual-only are served here from the model's public modules (nothing in methods/mpiqe
changes). Any other method opts in with two methods of its own:

    gradcam_target(layer: int | None) -> dict(model=nn.Module mapping images [B,3,H,W] in [0,1] to
        scores [B], layer=the nn.Module whose output is weighted, reshape=callable turning that output
        into [B,C,h,w] (or None when it already is), input_size=(H, W), output='what the score is',
        layer_name='...')
    features(images: ImageSet) -> np.ndarray [N, D] or {name: np.ndarray [N, D]}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from reports.figures.cells import FigureError

GRADCAM_HOOK, FEATURES_HOOK = "gradcam_target", "features"


def _is_mpiqe(cls) -> bool:
    from methods.mpiqe import MPIQE

    return isinstance(cls, type) and issubclass(cls, MPIQE)


def has_gradcam(cls) -> bool:
    return _is_mpiqe(cls) or callable(getattr(cls, GRADCAM_HOOK, None))


def has_features(cls) -> bool:
    return _is_mpiqe(cls) or callable(getattr(cls, FEATURES_HOOK, None))


def require(cls, hook: str) -> None:
    """Before any checkpoint is read: the method must offer what the figure needs."""
    ok = has_gradcam(cls) if hook == GRADCAM_HOOK else has_features(cls)
    if not ok:
        figure = "Grad-CAM" if hook == GRADCAM_HOOK else "t-SNE"
        raise FigureError(
            f"method {cls.name!r} exposes no {hook}(): no {figure} figure for it. Draw it for mpiqe "
            "or visual-only (run them with `python -m bench run ... --method mpiqe,visual-only "
            f"--save-checkpoints`), or give the method a {hook}() hook (docs/FIGURES.md)."
        )


# --- Grad-CAM -----------------------------------------------------------------------------------
def _mpiqe_score_module(model):
    import torch

    class ScoreOf(torch.nn.Module):
        """images in [0, 1] -> MP-IQE's score head output [B] (the prompts' text features held fixed)."""

        def __init__(self, net):
            super().__init__()
            self.net = net
            with torch.no_grad():
                self.text = {k: v.detach() for k, v in net.text_features(use_cache=False).items()}

        def forward(self, images):
            return self.net(images.float(), self.text, need_alignment=False)["score"]

    return ScoreOf(model)


def gradcam_target(method, layer: int | None = None) -> dict[str, Any]:
    """The target of ``method`` (a loaded method instance), with the ViT block ``layer`` (default: last)."""
    if not _is_mpiqe(type(method)):
        require(type(method), GRADCAM_HOOK)
        spec = dict(method.gradcam_target(layer))
        missing = {"model", "layer", "input_size"} - set(spec)
        if missing:
            raise FigureError(f"{method.name}.gradcam_target() lacks {sorted(missing)}; see docs/FIGURES.md.")
        spec.setdefault("reshape", None)
        spec.setdefault("output", "the method's score")
        spec.setdefault("layer_name", str(layer))
        return spec
    net = method.model
    blocks = net.visual.visual.transformer.resblocks
    index = -1 if layer is None else int(layer)
    if not -len(blocks) <= index < len(blocks):
        raise FigureError(
            f"--layer {layer}: {method.name}'s image encoder has {len(blocks)} blocks; "
            f"choose -{len(blocks)}..{len(blocks) - 1}."
        )
    index %= len(blocks)
    skip = 1 + net.visual.n  # [CLS] and the visual prompt tokens come before the patches
    gh, gw = net.visual.grid

    def reshape(tokens):
        patches = tokens[:, skip:, :]
        return patches.reshape(tokens.shape[0], gh, gw, tokens.shape[2]).permute(0, 3, 1, 2)

    size = int(method.settings()["crop_size"])
    return dict(
        model=_mpiqe_score_module(net),
        layer=blocks[index].ln_1,
        reshape=reshape,
        input_size=(size, size),
        layer_name=f"image encoder block {index} (of {len(blocks)}), its ln_1 output (patch tokens)",
        output="the score head's output (decoder -> MLP head), before mapping back to the MOS scale",
    )


# --- features -----------------------------------------------------------------------------------
def features(method, images) -> dict[str, np.ndarray]:
    """name -> [N, D] features of ``images`` (per image: the mean over the method's own test crops)."""
    if not _is_mpiqe(type(method)):
        require(type(method), FEATURES_HOOK)
        out = method.features(images)
        out = out if isinstance(out, dict) else {"features": out}
        return {k: np.asarray(v, dtype=np.float64).reshape(len(images), -1) for k, v in out.items()}
    return _mpiqe_features(method, images)


def _mpiqe_features(method, images) -> dict[str, np.ndarray]:
    """MP-IQE / visual-only: the decoder's pooled output (what the score head reads) and the projected [CLS]
    token (CLIP's image embedding, the one aligned with the scene prompts), read by forward pre-hooks."""
    import torch

    from bench.data.images import CropDataset, make_loader

    p = method.settings()
    net = method.model
    net.eval()
    data = CropDataset(
        images.records, n_crops=p["n_crops"], crop_size=p["crop_size"], train=False, seed=method.context.seed
    )  # the same crops the cell's predict() used
    seen: dict[str, list] = {"decoder": [], "cls": []}
    hooks = [
        net.decoder.head.register_forward_pre_hook(lambda m, a: seen["decoder"].append(a[0].float())),
        net.decoder.register_forward_pre_hook(lambda m, a: seen["cls"].append(a[1][:, 0].float())),
    ]
    out = {"decoder": np.zeros((len(images), 0)), "cls": np.zeros((len(images), 0))}
    rows: dict[str, list] = {"decoder": [], "cls": []}
    try:
        with torch.no_grad():
            text = net.text_features(use_cache=True)
            device = next(net.decoder.parameters()).device
            for batch in make_loader(data, batch_size=p["predict_batch_size"], shuffle=False):
                crops = batch["crops"].to(device)
                b, k = crops.shape[:2]
                for name in seen:
                    seen[name].clear()
                net(crops.flatten(0, 1), text, need_alignment=False)
                for name in seen:
                    rows[name].append(torch.cat(seen[name]).view(b, k, -1).mean(1).cpu().double().numpy())
    finally:
        for h in hooks:
            h.remove()
    for name in rows:
        if rows[name]:
            out[name] = np.concatenate(rows[name])
    return out
