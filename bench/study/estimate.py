"""What a study costs before any cell runs: cells, optimizer steps, samples and device-hours.

Counted from the protocols and the methods' recipes (``Method.recipe``), with the published dataset
sizes, so it works on a machine without the data. Device-hours = training samples / training throughput
+ test crops / inference throughput, per cell, scaled by crop area relative to 224x224 (compute grows with
pixels). A cell that trains from cached frozen features (``feature_cache_passes`` in its recipe:
methods/retrained/feature_cache.py) costs its tower passes over the inference throughput plus
``CACHED_STEP_SECONDS`` per optimiser step. Throughput: ``bench perf``'s last measurement on this machine (``$BENCH_CACHE/perf/``) when
present, else ``DEFAULT_THROUGHPUT`` (its source is printed with every estimate). Hand-crafted methods
that run on the CPU (``CPU_ONLY``) count no device-hours.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

# timm's published benchmark of vit_base_patch16_224 (the ViT-B/16 image tower MP-IQE and CLIP-IQA run):
# RTX 3090, PyTorch 1.12 / CUDA 11.3, AMP, NCHW. Training: 390.86 samples/s (batch 192); inference:
# 1132.21 samples/s (batch 1024). MP-IQE's training step also runs the text tower once per step and its
# prompts, so the real figure is lower; `bench perf --device cuda` on the machine replaces it.
DEFAULT_THROUGHPUT = {
    "train_samples_per_s": 390.86,
    "infer_samples_per_s": 1132.21,
    "source": "default: timm vit_base_patch16_224 on an RTX 3090 with AMP (huggingface/pytorch-image-models "
    "results/benchmark-train-amp-nchw-pt112-cu113-rtx3090.csv and benchmark-infer-amp-nchw-pt112-"
    "cu113-rtx3090.csv); run `python -m bench perf --device cuda` here to measure this machine",
}
# A step trained from cached features runs only what sits after the frozen tower: for CLIP-IQA+ the CLIP text
# transformer (12 layers, width 512) forward and backward on 2 prompts of 77 tokens and a 128 x 1024 product,
# ~35 GFLOP -- far below a GPU's throughput, so the step is bound by its ~10^3 kernel launches (~5 us each):
# assumed 5 ms, not measured (scripts/feature-cache-speed measures the CPU's)
CACHED_STEP_SECONDS = 0.005
CPU_ONLY = {"nss-svr", "niqe", "ilniqe", "brisque", "noop"}  # no GPU work; their CPU time is not counted
PERF_DIR_NAME = "perf"


def perf_dir() -> Path:
    from bench.core.paths import cache_root

    return cache_root() / PERF_DIR_NAME


def save_perf(result: dict) -> Path:
    """Keep ``bench perf``'s result where estimates find it (one file per device type, newest wins)."""
    from bench.core.files import atomic_write

    device = "cuda" if str(result.get("device", "cpu")).startswith("cuda") else "cpu"
    path = perf_dir() / f"{result.get('method', 'mpiqe')}-{device}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(result, indent=1))
    return path


def throughput() -> dict:
    """The measured figure (CUDA preferred over CPU) or the default, with its source."""
    for device in ("cuda", "cpu"):
        path = perf_dir() / f"mpiqe-{device}.json"
        try:
            r = json.loads(path.read_text())
            train, infer = r["crops_per_s"]["mpiqe_train_step"], r["crops_per_s"]["mpiqe_inference"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return {
            "train_samples_per_s": float(train),
            "infer_samples_per_s": float(infer),
            "source": f"measured: bench perf --method mpiqe on {r.get('device_name', device)} "
            f"({r.get('backbone', '?')}, {r.get('dtype', '?')}, batch {r.get('batch', '?')}), {path}",
        }
    return dict(DEFAULT_THROUGHPUT)


@dataclass
class CellCost:
    key: tuple  # identity without data (dedupes cells shared by experiments)
    steps: int | None = 0  # None: unknown (dataset size unknown)
    samples: int | None = 0
    device_s: float | None = 0.0


@dataclass
class Estimate:
    cells: list[CellCost] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def totals(self, seen: set | None = None) -> dict:
        """Sums over cells (those whose key is in ``seen`` are skipped and ``seen`` is updated)."""
        steps = samples = 0
        hours = 0.0
        n = unknown = 0
        for c in self.cells:
            if seen is not None:
                if c.key in seen:
                    continue
                seen.add(c.key)
            n += 1
            if c.steps is None or c.device_s is None:
                unknown += 1
                continue
            steps += c.steps
            samples += c.samples or 0
            hours += c.device_s / 3600.0
        return {
            "cells": n,
            "optimizer_steps": steps,
            "samples": samples,
            "device_hours": round(hours, 3),
            "cells_without_estimate": unknown,
        }


def _size(name: str, sizes: dict[str, int | None]) -> int | None:
    if name in sizes:
        return sizes[name]
    from bench.data.datasets import get_spec

    return get_spec(name).n_images


def _area(crop) -> float:
    try:
        return (float(crop) / 224.0) ** 2
    except (TypeError, ValueError):
        return 1.0


def cell_cost(cls, params, dataset: str, n_train: int | None, n_test: int | None, rate: dict) -> tuple:
    """(optimizer steps, samples, device seconds) of one cell; None where the size is unknown."""
    if n_test is None or (cls.trains and n_train is None):
        return None, None, None
    recipe = cls.recipe(params, dataset, n_train) if cls.trains and n_train else None
    steps = int(recipe.get("optimizer_steps") or 0) if recipe else 0
    samples = int(recipe.get("crops_seen") or recipe.get("samples_seen") or 0) if recipe else 0
    if cls.name in CPU_ONLY:
        return steps, samples, 0.0
    area = _area((recipe or {}).get("crop_size", getattr(params, "crop_size", 224)))
    test = (recipe or {}).get("test") or {}
    test_crops = int(test.get("n_crops") or getattr(params, "n_crops", 1) or 1) if isinstance(test, dict) else 1
    test_s = n_test * test_crops * area / rate["infer_samples_per_s"]
    passes = int((recipe or {}).get("feature_cache_passes") or 0)
    if passes:  # the tower once per (image, flip), then steps of the trained part alone
        return steps, samples, passes * area / rate["infer_samples_per_s"] + steps * CACHED_STEP_SECONDS + test_s
    return steps, samples, samples * area / rate["train_samples_per_s"] + test_s


def train_test_sizes(
    unit,
    n_a: int | None,
    n_b: int | None,
    test_fraction: float,
    val_fraction: float,
    fraction: float | None,
    fraction_of: str,
    cross_full: bool,
) -> tuple[int | None, int | None]:
    """Training and test images of one cell of ``unit`` (as bench.data.splits makes them, to rounding)."""
    if unit.split_kind == "eval":
        return 0, n_a
    if n_a is None:
        return None, None if unit.split_kind != "cross" else n_b
    n_test_a = math.ceil(n_a * test_fraction)
    pool = n_a if (unit.split_kind == "cross" and cross_full) else n_a - n_test_a
    if fraction is not None:
        pool = round(n_a * fraction) if fraction_of == "dataset" else round((n_a - n_test_a) * fraction)
    n_train = max(0, pool - round(n_a * val_fraction))
    return n_train, (n_b if unit.split_kind == "cross" else n_test_a)
