"""Paper Figure 3: Grad-CAM maps of test images, one row per method, with MOS and predictions.

The maps come from the ``grad-cam`` package (``pytorch_grad_cam.GradCAM``): the target layer's output
(ViT patch tokens reshaped to their grid) is weighted by the spatial mean of the score's gradient,
ReLU'd and min-max scaled to [0, 1] per image. The model sees the whole image resized to its input
size (its position grid is fixed); the map is then resized back to the image's own size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reports.figures.cells import FigureError

TARGETS = ("score", "neg-score")  # the score itself, or its negative: what raises / what lowers quality


@dataclass
class CamResult:
    maps: list[np.ndarray]  # per image, [H, W] in [0, 1], the image's own size
    view_scores: list[float]  # the model's score on the resized view the map explains
    layer_name: str
    output: str
    seconds: float
    notes: list[str] = field(default_factory=list)


class _Target:
    """A grad-cam target: the model's (scalar) score for one image, or its negative."""

    def __init__(self, sign: float):
        self.sign = sign

    def __call__(self, output):
        return self.sign * output.reshape(())


def _view(path, size: tuple[int, int]):
    """(the image as float [H, W, 3] in [0, 1], the network's input view [3, h, w])."""
    from PIL import Image

    from bench.data.images import open_rgb

    img = open_rgb(path)
    full = np.asarray(img, dtype=np.float32) / 255.0
    small = np.asarray(img.resize((size[1], size[0]), Image.BICUBIC), dtype=np.float32) / 255.0
    return full, np.clip(small, 0.0, 1.0).transpose(2, 0, 1)


def _resize_map(cam: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    out = np.asarray(Image.fromarray(cam.astype(np.float32)).resize((shape[1], shape[0]), Image.BILINEAR))
    return np.clip(out, 0.0, 1.0)


def compute_maps(method, records, *, layer: int | None = None, target: str = "score") -> CamResult:
    """Grad-CAM maps of ``records`` (ImageRecord list) for a loaded method."""
    import torch

    from reports.figures.hooks import gradcam_target

    try:
        from pytorch_grad_cam import GradCAM
    except ImportError:
        raise FigureError(
            "the Grad-CAM figure needs the grad-cam package: pip install -e '.[figures]' (or pip install grad-cam)"
        ) from None

    if target not in TARGETS:
        raise FigureError(f"--target {target!r}: choose {' or '.join(TARGETS)}")
    spec = gradcam_target(method, layer)
    model = spec["model"]
    sign = 1.0 if target == "score" else -1.0
    maps, scores = [], []
    start = time.perf_counter()
    cam = GradCAM(model=model, target_layers=[spec["layer"]], reshape_transform=spec["reshape"])
    try:
        for rec in records:
            full, view = _view(rec.path, tuple(spec["input_size"]))
            # the input requires grad: a frozen backbone (visual-only) has no trainable tensor before the
            # target layer, and the package only hooks the gradients of tensors that require them
            x = torch.from_numpy(view)[None].to(cam.device).requires_grad_(True)
            grey = cam(input_tensor=x, targets=[_Target(sign)])[0]
            scores.append(float(cam.outputs.detach().reshape(-1)[0]))
            maps.append(_resize_map(grey, full.shape[:2]))
    finally:
        cam.activations_and_grads.release()
    seconds = time.perf_counter() - start
    notes = (
        [
            f"{sum(float(m.max() - m.min()) == 0 for m in maps)} map(s) are constant (no positive evidence for "
            f"the target at this layer)"
        ]
        if any(float(m.max() - m.min()) == 0 for m in maps)
        else []
    )
    return CamResult(maps, scores, spec["layer_name"], spec["output"], seconds, notes)


def _distortion(rec) -> str:
    from bench.core.labels import DISTORTION_CLASSES

    if rec.distortion_class is not None:
        return DISTORTION_CLASSES[rec.distortion_class]
    return rec.distortion or "unknown"


def pick_images(images, *, ids: list[str] | None = None, per_distortion: int = 1, max_images: int = 11):
    """The records to show: the given ids, else the ``per_distortion`` lowest-MOS images of each distortion
    class in the test set (the paper looks at low-quality images; without distortion labels simply the
    lowest-MOS images), at most ``max_images``."""
    by_id = {r.id: r for r in images.records}
    if ids:
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise FigureError(
                f"--images: {unknown[0]!r} is not a test image of this cell; its test ids are in "
                "the cell's .preds.csv (e.g. " + ", ".join(list(by_id)[:3]) + ")."
            )
        return [by_id[i] for i in ids]
    groups: dict[str, list] = {}
    for r in images.records:
        groups.setdefault(_distortion(r), []).append(r)
    if set(groups) == {"unknown"}:  # no distortion labels (authentic sets): the lowest-MOS images
        per_distortion = max_images
    chosen = []
    for name in sorted(groups):
        chosen += sorted(groups[name], key=lambda r: (r.score, r.id))[:per_distortion]
    return chosen[:max_images]


def plot(
    images: list, rows: list[tuple[str, CamResult, list[float]]], stem: Path, formats, metadata: dict, title: str
) -> list[Path]:
    """Row 1: the images with their MOS; then one row per method: the map over the image, 'pred (delta)'."""
    from reports.figures.render import plt, save

    ncol, nrow = len(images), 1 + len(rows)
    fig, axes = plt().subplots(nrow, ncol, figsize=(1.9 * ncol + 0.8, 1.9 * nrow + 0.4), squeeze=False)
    originals = []
    for j, rec in enumerate(images):
        full = _view(rec.path, (8, 8))[0]  # the image itself (the 8x8 view is not used)
        originals.append(full)
        ax = axes[0][j]
        ax.imshow(full)
        ax.set_xlabel(f"{_distortion(rec)}\nMOS {rec.score:.3g}", fontsize=8)
    first = rows[0][2] if rows else None
    heat = None
    for i, (name, res, preds) in enumerate(rows, start=1):
        for j in range(len(images)):
            ax = axes[i][j]
            grey = originals[j].mean(axis=2)
            ax.imshow(grey, cmap="gray", vmin=0, vmax=1)
            heat = ax.imshow(res.maps[j], cmap="inferno", vmin=0, vmax=1, alpha=0.6)
            # contours keep the hot region readable when printed in grey
            ax.contour(
                res.maps[j], levels=[0.5, 0.8], colors=["white", "black"], linestyles=["--", "-"], linewidths=0.7
            )
            text = f"{preds[j]:.3g}"
            if i > 1 and first is not None and np.isfinite(preds[j]) and np.isfinite(first[j]):
                text += f" ({preds[j] - first[j]:+.3g})"
            ax.set_xlabel(text, fontsize=8)
        axes[i][0].set_ylabel(name, fontsize=9)
    axes[0][0].set_ylabel("image", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if heat is not None:
        bar = fig.colorbar(heat, ax=axes[1:, :].ravel().tolist(), fraction=0.02, pad=0.01)
        bar.set_label("Grad-CAM (contours: 0.5 dashed, 0.8 solid)", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return save(fig, stem, formats, metadata)
