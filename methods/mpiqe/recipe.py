"""MP-IQE's training recipe as data (torch-free): the paper's per-dataset rules and what a cell does.

``describe(...)`` is what ``MPIQE.recipe`` / ``bench methods mpiqe --recipe --dataset D`` returns:
optimiser steps and samples seen under BOTH readings of "batch 32/64" (``readings``), and the
source of every value. docs/MPIQE.md has the evidence for the readings.
"""

from __future__ import annotations

from typing import Any

from methods.recipes import steps_per_epoch

SMALL_BATCH_SETS = ("live", "csiq", "bid")  # batch 32 in the paper, 64 elsewhere
LOW_LAMBDA2_SETS = ("live", "csiq")  # lambda2 = 0.1 in the paper, 0.5 elsewhere
PAPER = "MP-IQE paper, Implementation Details / Training Details"
LINEAGE = (
    "narthchin/DEIQT IQA/iqa_dataset.py (each image listed PATCH_NUM times, one random crop per item), "
    "IQA/build.py (DataLoader batch_size counts those items, drop_last=True), main.py (SmoothL1Loss per "
    "crop; crops averaged only in validate); SSL92/hyperIQA folders.py, data_loader.py, HyerIQASolver.py "
    "(the same per-patch samples, L1 per patch, test patches averaged)"
)


def batch_size_for(dataset: str, batch_size: int | None) -> int:
    if batch_size is not None:
        return int(batch_size)
    return 32 if dataset in SMALL_BATCH_SETS else 64


def lambda2_for(dataset: str, lambda2: float | None) -> float:
    if lambda2 is not None:
        return float(lambda2)
    return 0.1 if dataset in LOW_LAMBDA2_SETS else 0.5


def reading(batch_unit: str, n_train_images: int, n_crops: int, batch_size: int, epochs: int) -> dict[str, Any]:
    """Steps and samples of one cell under one reading (the loops in methods/mpiqe/train.py count alike)."""
    if batch_unit == "crop":  # n x k crop samples per epoch, last partial batch dropped (DEIQT)
        per_epoch = steps_per_epoch(n_train_images * n_crops, batch_size, drop_last=True)
        batch = min(batch_size, n_train_images * n_crops)
        samples = per_epoch * batch * epochs
        return {
            "batch_unit": "crop",
            "batch_size": batch_size,
            "steps_per_epoch": per_epoch,
            "optimizer_steps": per_epoch * epochs,
            "samples_seen": samples,
            "crops_seen": samples,
            "score_loss_on": "each crop",
        }
    if batch_unit == "image":  # n image samples (k crops each) per epoch, last partial batch kept
        per_epoch = steps_per_epoch(n_train_images, batch_size, drop_last=False)
        return {
            "batch_unit": "image",
            "batch_size": batch_size,
            "steps_per_epoch": per_epoch,
            "optimizer_steps": per_epoch * epochs,
            "samples_seen": n_train_images * epochs,
            "crops_seen": n_train_images * n_crops * epochs,
            "score_loss_on": "mean of each image's crops",
        }
    raise ValueError(f"batch_unit={batch_unit!r}: choose crop or image")


def describe(method: str, p: dict[str, Any], dataset: str, n_train_images: int) -> dict[str, Any]:
    """The recipe dict (``methods.recipes.RECIPE_KEYS`` and more) for resolved parameters ``p``."""
    batch = batch_size_for(dataset, p["batch_size"])
    k, epochs = int(p["n_crops"]), int(p["epochs"])
    readings = {u: reading(u, n_train_images, k, batch, epochs) for u in ("crop", "image")}
    chosen = readings[p["batch_unit"]]
    text = not p.get("learnable_query")
    loss: dict[str, Any] = {
        "score": f"SmoothL1(beta={p['smooth_l1_beta']}) on {chosen['score_loss_on']}, MOS scale {p['score_scale']!r}",
        "lambda2": lambda2_for(dataset, p["lambda2"]),
    }
    if text:
        loss.update(
            total="L_scene + lambda1 L_dist + lambda2 L_score (Eq. 15)",
            lambda1=p.get("lambda1"),
            scene="soft cross-entropy per crop, CLS vs 9 scene prompts / T (Eqs. 8-9)"
            if p.get("use_scene_prompts")
            else "off (use_scene_prompts=false)",
            dist="cross-entropy per crop, window-weighted similarity to 11 distortion prompts (Eqs. 10-11)"
            if p.get("use_distortion_prompts")
            else "off (use_distortion_prompts=false)",
            labels="required (LIQE files)"
            if not p.get("allow_missing_labels", True)
            else "terms off where labels are missing (noted)",
        )
    else:
        loss["total"] = "lambda2 L_score (no text branch)"
    notes = [
        f"batch_unit={u}{'' if u == p['batch_unit'] else ' (--param batch_unit=' + u + ')'}: "
        f"{r['steps_per_epoch']} steps/epoch, {r['optimizer_steps']} optimiser steps, "
        + (f"{r['samples_seen']} crops" if u == "crop" else f"{r['samples_seen']} images ({r['crops_seen']} crops)")
        + f", score loss on {r['score_loss_on']}"
        for u, r in readings.items()
    ]
    return {
        "method": method,
        "dataset": dataset,
        "n_train_images": int(n_train_images),
        "pool_train_crops": p["batch_unit"] == "image",
        "notes": notes,
        "train_crops_per_image": k,
        "crop_size": int(p["crop_size"]),
        "resize": None,  # crops are cut from the image at its own size (resized up only below crop_size)
        "batch_size": batch,
        "batch_unit": p["batch_unit"],
        "epochs": epochs,
        "optimizer_steps": chosen["optimizer_steps"],
        "samples_seen": chosen["samples_seen"],
        "crops_seen": chosen["crops_seen"],
        "readings": readings,
        "test": {"mode": "crops", "n_crops": k, "aggregate": "mean", "crops": "seeded by image id"},
        "optimizer": {
            "name": "Adam",
            "lr": p["lr"],
            "betas": [0.9, 0.999],
            "weight_decay": p["weight_decay"],
            "trainable": ("visual and text prompts, decoder, head" if text else "learnable query, decoder, head")
            + " (CLIP frozen)",
        },
        "schedule": {
            "warmup_epochs": p["warmup_epochs"],
            "warmup": "linear, per step",
            "decay": "cosine, per step",
            "min_lr": p["min_lr"],
        },
        "loss": loss,
        "selection": "last epoch (--select-on val: best validation SRCC; never test)",
        "sources": {
            "epochs, warmup_epochs, lr, schedule, n_crops, crop_size, lambda1, lambda2, batch_size": PAPER,
            "batch_unit": LINEAGE
            if p["batch_unit"] == "crop"
            else "our alternative reading (--param batch_unit=image)",
            "score_scale, smooth_l1_beta, optimizer betas, min_lr, test crops": "our choice, docs/MPIQE.md",
        },
    }
