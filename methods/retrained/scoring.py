"""Test-time scoring of the retrained baselines: deterministic crops (or the whole image) through the trained
network, pooled per image, exactly as ``recipe.test`` says. Used after training, on a validation split and on a loaded
checkpoint alike (``methods/retrained/engine.py``)."""

from __future__ import annotations

import numpy as np

from bench.core.records import ImageSet
from methods.retrained.data import PatchDataset


def predict_images(model, images: ImageSet, crop_size: int, test: dict, context, batch_size: int = 16) -> np.ndarray:
    """Scores of ``images``: the mean over ``test['n_crops']`` deterministic crops (mode 'crops'), or the
    whole image after ``test['resize']`` (modes 'full' / 'resize'), one image per batch. ``model``: the engine's
    ``Trainable`` (its ``net`` and ``pool``)."""
    import torch
    from tqdm import tqdm

    from bench.data.images import make_loader

    net = model.net.to(context.device).eval()
    crop = crop_size if test["mode"] == "crops" else 0
    n = test["n_crops"] if crop else 1
    data = PatchDataset(
        images.records,
        crop,
        n,
        test.get("resize"),
        train=False,
        seed=context.seed,
        cache=getattr(context, "image_cache", None),
    )  # the run's decoded-image cache, or None
    loader = make_loader(
        data, batch_size=max(1, batch_size // n) if crop else 1, num_workers=context.num_workers, device=context.device
    )
    out = []
    with torch.no_grad():
        for item in tqdm(loader, desc="predict", disable=not context.progress, leave=False):
            out.append(
                model.pool(net, item["x"].to(context.device, dtype=torch.get_default_dtype()))
                .to(torch.get_default_dtype())
                .cpu()
                .numpy()
            )
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
