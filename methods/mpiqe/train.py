"""Training and inference for MP-IQE (paper, "Optimization" and "Training Details").

Two readings of "batch 32/64" with "8 random crops" (``batch_unit``; docs/MPIQE.md has the evidence):

* ``crop`` (paper preset, the authors' code lineage HyperIQA/DEIQT): every crop is a sample. An
  epoch is n_images x n_crops samples, shuffled together; a batch is ``batch_size`` crops; the score
  loss is per crop. Only test predictions are averaged over an image's crops.
* ``image``: a batch is ``batch_size`` images x n_crops crops; the score loss is on the mean of each
  image's crops (n_crops times fewer optimiser steps).

Either way the alignment losses are per crop. One optimisation step:

* the frozen text encoder runs ONCE, in fp32 (20 prompts: cheap, and the alignment logits are
  divided by T = 0.01, so bf16 rounding of the text features would be multiplied by 100);
* the crops go through the prompted ViT in micro-batches (of whole images under ``image``), each
  backpropagated at once (memory bounded); the text features' gradient is accumulated on a detached
  copy and pushed through the text encoder once at the end: exact gradients, one text pass per step;
* L = L_scene + lambda1 L_dist + lambda2 SmoothL1(score, MOS on the chosen scale).

The schedule is per step: linear warm-up for ``warmup_epochs``, then cosine decay to ``min_lr``.
The model of the LAST epoch is the result, unless ``select_on='val'`` keeps the epoch with the best
validation SRCC (never test data).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from methods.mpiqe.model import ModelConfig, MPIQEModel
from methods.mpiqe.recipe import LOW_LAMBDA2_SETS, SMALL_BATCH_SETS, batch_size_for, lambda2_for  # noqa: F401

BATCH_UNITS = ("crop", "image")
SCORE_SCALES = ("unit", "raw", "0-100")
LOSS_TERMS = ("score", "scene", "dist")


def score_map(scale: str, train_scores: np.ndarray, raw_scale: tuple[float, float]) -> tuple[float, float]:
    """(lo, span): the score loss sees (score - lo) / span; predictions are mapped back with it.

    unit: the training set's min..max -> [0, 1]; raw: the dataset's own numbers (higher is better,
    as ``ImageRecord.score``); 0-100: the dataset's published scale (``raw_scale``) -> [0, 100]."""
    if scale == "unit":
        lo, hi = float(np.min(train_scores)), float(np.max(train_scores))
        return lo, (hi - lo) or 1.0
    if scale == "raw":
        return 0.0, 1.0
    if scale == "0-100":
        lo, hi = float(raw_scale[0]), float(raw_scale[1])
        return lo, ((hi - lo) / 100.0) or 1.0
    raise ValueError(f"score_scale={scale!r}: choose one of {', '.join(SCORE_SCALES)}")


def lr_factor(step: int, total: int, warmup: int, min_ratio: float = 0.0) -> float:
    """Linear warm-up to 1 over ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def autocast_for(device: torch.device, amp: str):
    """bf16 autocast on CUDA (amp='auto' or 'bf16'); plain fp32 elsewhere (the default dtype: float64 under
    ``--precision float64``, where autocast is off)."""
    use = amp == "bf16" or (amp == "auto" and device.type == "cuda")
    if torch.get_default_dtype() == torch.float64:  # --precision float64: every tensor in float64, no autocast
        use = False
    if use:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return torch.autocast(device_type=device.type, enabled=False)


@contextlib.contextmanager
def cpu_threads(n: int | None):
    """Run with ``n`` torch CPU threads, then restore. Small models on a busy machine are much
    faster with 1 thread: OpenMP workers spin-wait for cores other processes hold."""
    if not n:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def micro_batch_images(micro_batch: int | None, n_crops: int, device: torch.device) -> int:
    """Whole images per forward chunk. ``micro_batch`` counts crops; None -> 128 on CUDA, 64 on CPU."""
    crops = micro_batch or (128 if device.type == "cuda" else 64)
    return max(1, int(crops) // max(1, n_crops))


@dataclass
class LossWeights:
    scene: float = 1.0
    dist: float = 1.0
    score: float = 0.5
    beta: float = 0.1
    class_mean: bool = False  # paper-literal 1/M, 1/N factors of Eqs. 9 and 11


@dataclass
class FitHistory:
    epoch_loss: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)  # one row per epoch: lr, seconds, loss, loss_<term>, val_srcc
    steps: int = 0
    selected_epoch: int | None = None  # 1-based; the last epoch unless select_on='val'
    seconds: float = 0.0


def _soft_ce(logits: torch.Tensor, target: torch.Tensor, class_mean: bool) -> torch.Tensor:
    """Sum over crops of -sum_c y_c log p_c (target rows sum to 1)."""
    loss = -(target * F.log_softmax(logits.to(torch.get_default_dtype()), dim=-1)).sum(-1)
    if class_mean:
        loss = loss / logits.shape[-1]
    return loss.sum()


def step_losses(
    model: MPIQEModel,
    crops: torch.Tensor,
    mos: torch.Tensor,
    scene: torch.Tensor,
    dist: torch.Tensor,
    text: dict,
    w: LossWeights,
    counts: tuple[int, int, int],
    autocast,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of a chunk of images, normalised by the whole batch's counts so chunks add up exactly.

    crops [b, k, 3, s, s]; mos [b]; scene [b, 9] (rows of zeros = unlabelled); dist [b] (-1 = unknown).
    counts = (images in batch, scene-labelled crops in batch, distortion-labelled crops in batch).
    """
    b, k = crops.shape[:2]
    n_img, n_scene, n_dist = counts
    with autocast:
        out = model(crops.flatten(0, 1), text, need_alignment=w.scene > 0 or w.dist > 0)
    score = out["score"].to(torch.get_default_dtype()).view(b, k).mean(1)
    parts = {"score": F.smooth_l1_loss(score, mos, beta=w.beta, reduction="sum") / n_img}
    total = w.score * parts["score"]
    if w.scene > 0 and "scene_logits" in out and n_scene:
        tgt = scene.repeat_interleave(k, 0)
        keep = tgt.sum(-1) > 0
        if keep.any():
            parts["scene"] = _soft_ce(out["scene_logits"][keep], tgt[keep], w.class_mean) / n_scene
            total = total + w.scene * parts["scene"]
    if w.dist > 0 and "dist_logits" in out and n_dist:
        tgt = dist.repeat_interleave(k, 0)
        keep = tgt >= 0
        if keep.any():
            onehot = F.one_hot(tgt[keep], out["dist_logits"].shape[-1]).to(torch.get_default_dtype())
            parts["dist"] = _soft_ce(out["dist_logits"][keep], onehot, w.class_mean) / n_dist
            total = total + w.dist * parts["dist"]
    return total, {k_: float(v.detach()) for k_, v in parts.items()}


def train_step(
    model: MPIQEModel,
    optimizer,
    batch: dict,
    w: LossWeights,
    device: torch.device,
    micro_images: int,
    autocast,
    parts: dict | None = None,
) -> float:
    """One optimiser step on a batch of samples (images with k crops, or single crops: k = 1), text
    encoder run once in fp32. Returns the weighted loss; ``parts`` gets the unweighted terms."""
    optimizer.zero_grad(set_to_none=True)
    crops = batch["crops"].to(device, dtype=torch.get_default_dtype(), non_blocking=True)
    mos = batch["target"].to(device, dtype=torch.get_default_dtype())
    scene = batch["scene"].to(device, dtype=torch.get_default_dtype())
    dist = batch["distortion"].to(device, dtype=torch.long)
    k = crops.shape[1]
    counts = (crops.shape[0], int((scene.sum(-1) > 0).sum()) * k, int((dist >= 0).sum()) * k)
    text = model.text_features()
    detached = {n: t.detach().to(torch.get_default_dtype()).requires_grad_(True) for n, t in text.items()}
    total = 0.0
    for i in range(0, crops.shape[0], micro_images):
        sl = slice(i, i + micro_images)
        loss, chunk = step_losses(model, crops[sl], mos[sl], scene[sl], dist[sl], detached, w, counts, autocast)
        loss.backward()
        total += float(loss.detach())
        if parts is not None:
            for name, value in chunk.items():
                parts[name] = parts.get(name, 0.0) + value
    grads = [(text[n], detached[n].grad) for n in text if detached[n].grad is not None]
    if grads:
        torch.autograd.backward([t for t, _ in grads], [g for _, g in grads])
    optimizer.step()
    return total


def make_optimizer(model: MPIQEModel, lr: float, weight_decay: float):
    params = list(model.trainable_parameters().values())
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _loader(dataset, batch_size: int, shuffle: bool, seed: int, num_workers: int, drop_last: bool = False):
    """The harness's seeded loader; the default collate stacks CropDataset items into a dict of tensors."""
    from bench.data.images import make_loader

    return make_loader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, seed=seed, drop_last=drop_last
    )


def train_loader(dataset, batch_size: int, seed: int, num_workers: int):
    """Shuffled batches of ``batch_size`` samples. Under the crop reading (CropSamples) the last
    partial batch is dropped, as DEIQT's loader does, when there is more than one batch; the image
    reading keeps it. ``methods.recipes.steps_per_epoch`` counts the same way."""
    from methods.mpiqe.data import CropSamples

    n = len(dataset)
    batch = min(batch_size, n)
    drop = isinstance(dataset, CropSamples) and n > batch
    return _loader(dataset, batch, True, seed, num_workers, drop_last=drop)


def _epoch_row(
    lr: float, seconds: float, losses: list[float], parts: dict[str, list[float]], weights: LossWeights
) -> dict:
    """The epoch's history row: mean over its steps of the weighted loss and of each unweighted term
    (None for a term whose weight is 0)."""
    active = {"score": weights.score > 0, "scene": weights.scene > 0, "dist": weights.dist > 0}
    row = {"lr": lr, "seconds": seconds, "loss": float(np.mean(losses)) if losses else None}
    for term in LOSS_TERMS:
        vals = parts.get(term, [])
        row[f"loss_{term}"] = float(np.mean(vals)) if vals and active[term] else None
    return row


def fit(
    model: MPIQEModel,
    dataset,
    *,
    epochs: int,
    warmup_epochs: int,
    lr: float,
    min_lr: float,
    weight_decay: float,
    batch_size: int,
    weights: LossWeights,
    score_map: tuple[float, float],
    device: torch.device,
    amp: str = "auto",
    micro_batch: int | None = None,
    seed: int = 0,
    num_workers: int = 0,
    progress: bool = False,
    validate=None,
    select_on: str = "last",
    on_epoch=None,
) -> FitHistory:
    """Train ``model`` on a torch Dataset of training samples (``methods.mpiqe.data.training_samples``).

    score_map (lo, span): the score loss's target is (score - lo) / span.
    validate: None or a callable returning the validation SRCC of the model as it is (called after
    every epoch); select_on='val' then restores the epoch with the best one.
    on_epoch(epoch, row): called with every finished epoch's history row (1-based epoch).
    """
    if select_on not in ("last", "val"):
        raise ValueError(f"select_on={select_on!r}: choose last or val")
    if select_on == "val" and validate is None:
        raise ValueError("select_on='val' needs a validation part (--val-fraction F)")
    lo, span = score_map
    loader = train_loader(dataset, batch_size, seed, num_workers)
    steps_per_epoch = len(loader)
    total_steps = max(1, epochs * steps_per_epoch)
    warm = warmup_epochs * steps_per_epoch
    opt = make_optimizer(model, lr, weight_decay)
    autocast = autocast_for(device, amp)
    micro = micro_batch_images(
        micro_batch, getattr(dataset, "n_crops", 8) if not _is_crop_samples(dataset) else 1, device
    )
    hist = FitHistory()
    best: tuple[float, int, dict] | None = None
    start = time.perf_counter()
    model.train()
    bar = _bar(total_steps, progress, "mpiqe fit")
    step = 0
    for epoch in range(epochs):
        t_epoch = time.perf_counter()
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        losses, parts, lr_now = [], {}, lr
        for batch in loader:
            lr_now = lr * lr_factor(step, total_steps, warm, min_lr / lr if lr else 0.0)
            for gparam in opt.param_groups:
                gparam["lr"] = lr_now
            batch["target"] = (batch["score"].double() - lo) / span
            step_parts: dict = {}
            loss = train_step(model, opt, batch, weights, device, micro, autocast, parts=step_parts)
            for name, value in step_parts.items():
                parts.setdefault(name, []).append(value)
            losses.append(loss)
            hist.step_loss.append(loss)
            step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss:.4f}")
        hist.epoch_loss.append(float(np.mean(losses)) if losses else float("nan"))
        row = _epoch_row(lr_now, 0.0, losses, parts, weights)
        if validate is not None:
            model.eval()
            srcc = float(validate())
            model.train()
            row["val_srcc"] = srcc if math.isfinite(srcc) else None  # constant predictions: no SRCC
            srcc = srcc if math.isfinite(srcc) else -math.inf
            if select_on == "val" and (best is None or srcc > best[0]):
                best = (srcc, epoch + 1, {k: v.detach().clone() for k, v in model.trainable_state().items()})
        row["seconds"] = time.perf_counter() - t_epoch
        hist.epochs.append(row)
        if on_epoch is not None:
            on_epoch(epoch + 1, row)
    if bar is not None:
        bar.close()
    hist.steps = step
    hist.selected_epoch = epochs if epochs else None
    if best is not None:
        model.load_state_dict(best[2], strict=False)
        hist.selected_epoch = best[1]
    model.eval()
    hist.seconds = time.perf_counter() - start
    return hist


def _is_crop_samples(dataset) -> bool:
    from methods.mpiqe.data import CropSamples

    return isinstance(dataset, CropSamples)


@torch.no_grad()
def predict(
    model: MPIQEModel,
    dataset,
    *,
    batch_size: int,
    device: torch.device,
    amp: str = "auto",
    micro_batch: int | None = None,
    num_workers: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """Per-image score = mean over its crops (dataset: CropDataset with train=False)."""
    model.eval()
    autocast = autocast_for(device, amp)
    text = model.text_features(use_cache=True)  # trained prompts: one fp32 text pass for all images
    micro = micro_batch_images(micro_batch, getattr(dataset, "n_crops", 8), device)
    out = np.zeros(len(dataset), dtype=np.float64)
    loader = _loader(dataset, batch_size, False, 0, num_workers)
    bar = _bar(len(loader), progress, "mpiqe predict")
    for batch in loader:
        crops = batch["crops"].to(device, dtype=torch.get_default_dtype())
        b, k = crops.shape[:2]
        scores = []
        for i in range(0, b, micro):
            with autocast:
                s = model(crops[i : i + micro].flatten(0, 1), text, need_alignment=False)["score"]
            scores.append(s.to(torch.get_default_dtype()).view(-1, k).mean(1))
        out[batch["index"].numpy()] = torch.cat(scores).cpu().double().numpy()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return out


def _bar(total: int, progress: bool, desc: str):
    if not progress:
        return None
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not sys.stderr.isatty(), leave=False)


def model_config(values: dict) -> ModelConfig:
    """The ModelConfig fields picked out of a method's parameter dict."""
    names = ModelConfig.__dataclass_fields__
    return ModelConfig(**{k: v for k, v in values.items() if k in names})
