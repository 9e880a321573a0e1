"""The two figures end to end: cells -> checkpoints -> maps / embeddings -> files (the CLI's engine)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from reports.figures import FIGURE_DIR
from reports.figures.cells import (
    FigureError,
    cell_test_images,
    load_method,
    method_class,
    read_predictions,
    require_checkpoint,
    select_cells,
    version_notes,
)
from reports.figures.render import FORMATS


@dataclass
class FigureOutput:
    files: list[Path]
    notes: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)  # timings and settings (also in the sidecar JSON)


def _check_formats(formats) -> list[str]:
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise FigureError(f"--format {','.join(formats)}: figures are written as {' and/or '.join(FORMATS)}.")
    return list(formats)


def _cells(runs, methods, hook, **select):
    """The cells, after everything knowable without loading a model: the hook, then the checkpoints."""
    from reports.figures.hooks import require

    for m in methods:
        require(method_class(m), hook)
    cells = select_cells(runs, methods, **select)
    for c in cells:
        require(method_class(c.method), hook)
        require_checkpoint(c)
    return cells


def _title(name: str) -> str:
    from reports import names

    return names.method_title(name)


def gradcam_figure(
    runs="runs",
    out="report",
    *,
    methods=("visual-only", "mpiqe"),
    keys=None,
    dataset=None,
    split=0,
    protocol="intra",
    variant="default",
    image_ids=None,
    per_distortion=1,
    max_images=11,
    layer=None,
    target="score",
    formats=FORMATS,
    device="cpu",
    weights_dir=None,
    data_kwargs=None,
    stem=None,
) -> FigureOutput:
    from reports.figures import gradcam
    from reports.figures.hooks import GRADCAM_HOOK

    formats = _check_formats(formats)
    if target not in gradcam.TARGETS:
        raise FigureError(f"--target {target!r}: choose {' or '.join(gradcam.TARGETS)}")
    if per_distortion < 1 or max_images < 1:
        raise FigureError("--per-distortion and --max-images must be at least 1.")
    cells = _cells(
        runs,
        [] if keys else list(methods),
        GRADCAM_HOOK,
        keys=keys,
        dataset=dataset,
        split=split,
        protocol=protocol,
        variant=variant,
    )
    images, notes = cell_test_images(cells[0], data_kwargs)
    predictions = [read_predictions(c) for c in cells]
    chosen = gradcam.pick_images(images, ids=image_ids, per_distortion=per_distortion, max_images=max_images)
    for c, preds in zip(cells[1:], predictions[1:]):
        absent = [r.id for r in chosen if r.id not in preds]
        if absent:
            raise FigureError(
                f"image {absent[0]!r} is not a test image of cell {c.label}: the cells of one Grad-CAM "
                "figure must share their test images (same dataset and split)."
            )
    rows, facts = [], {"cells": [], "seconds_per_image": {}}
    for c, preds in zip(cells, predictions):
        notes += version_notes(c)
        method = load_method(c, device=device, weights_dir=weights_dir)
        res = gradcam.compute_maps(method, chosen, layer=layer, target=target)
        notes += [f"{c.method}: {n}" for n in res.notes]
        shown = [preds[r.id] for r in chosen]  # the cell's own numbers, as stored
        rows.append((_title(c.method), res, shown))
        facts["seconds_per_image"][c.method] = res.seconds / len(chosen)
        facts["cells"].append(
            {
                "key": c.key,
                "method": c.method,
                "label": c.label,
                "layer": res.layer_name,
                "gradient_of": res.output,
                "stored_predictions": shown,
                "head_output_on_view": res.view_scores,
            }
        )
    test = cells[0].record["test_dataset"]
    title = f"Grad-CAM ({target}) on {test}, split {cells[0].record.get('split_index')}: " + " vs ".join(
        r[0] for r in rows
    )
    settings = {
        "target": target,
        "layer": -1 if layer is None else layer,
        "input": "whole image resized to the model input, map resized back",
    }
    metadata = {
        "title": title,
        "figure": "gradcam",
        "images": [r.id for r in chosen],
        "mos": [r.score for r in chosen],
        "settings": settings,
        "notes": notes,
        **facts,
    }
    stem = Path(out) / FIGURE_DIR / (stem or f"gradcam-{test}")
    return FigureOutput(gradcam.plot(chosen, rows, stem, formats, metadata, title), notes, facts)


def tsne_figure(
    runs="runs",
    out="report",
    *,
    method="mpiqe",
    key=None,
    dataset=None,
    split=0,
    protocol="intra",
    variant="default",
    feature=None,
    perplexity=30.0,
    seed=0,
    init="pca",
    formats=FORMATS,
    device="cpu",
    weights_dir=None,
    data_kwargs=None,
    stem=None,
) -> FigureOutput:
    from reports.figures import tsne
    from reports.figures.hooks import FEATURES_HOOK, features

    formats = _check_formats(formats)
    if init not in tsne.INITS or not perplexity > 0:
        raise FigureError(
            f"--init {init!r} / --perplexity {perplexity}: init is {' or '.join(tsne.INITS)}, "
            "perplexity a positive number."
        )
    (cell,) = _cells(
        runs,
        [] if key else [method],
        FEATURES_HOOK,
        keys=[key] if key else None,
        dataset=dataset,
        split=split,
        protocol=protocol,
        variant=variant,
    )
    images, notes = cell_test_images(cell, data_kwargs)
    notes += version_notes(cell)
    loaded = load_method(cell, device=device, weights_dir=weights_dir)
    start = time.perf_counter()
    feats = features(loaded, images)
    feature_s = time.perf_counter() - start
    if feature:
        if feature not in feats:
            raise FigureError(f"--feature {feature!r}: {cell.method} gives {', '.join(feats)}.")
        feats = {feature: feats[feature]}
    embeddings, runs_facts = {}, {}
    for name, x in feats.items():
        embeddings[name], runs_facts[name] = tsne.embed(x, perplexity=perplexity, seed=seed, init=init)
        runs_facts[name]["dim"] = int(x.shape[1])
    used = ",".join(f"{p:g}" for p in sorted({f["perplexity"] for f in runs_facts.values()}))
    test = cell.record["test_dataset"]
    title = (
        f"t-SNE of {_title(cell.method)} features, {test} test set (split {cell.record.get('split_index')}, "
        f"n={len(images)}; perplexity {used}, seed {seed}, {init} init)"
    )
    facts = {
        "cell": {"key": cell.key, "method": cell.method, "label": cell.label},
        "n_images": len(images),
        "feature_seconds": feature_s,
        "tsne": runs_facts,
    }
    settings = {
        "perplexity": used,
        "perplexity_asked": perplexity,
        "seed": seed,
        "init": init,
        "features": ",".join(feats),
    }
    metadata = {"title": title, "figure": "tsne", "settings": settings, "notes": notes, "images": images.ids, **facts}
    stem = Path(out) / FIGURE_DIR / (stem or f"tsne-{cell.method}-{test}")
    return FigureOutput(tsne.plot(embeddings, images, stem, formats, metadata, title), notes, facts)


__all__ = ["gradcam_figure", "tsne_figure", "FigureOutput", "FigureError"]
