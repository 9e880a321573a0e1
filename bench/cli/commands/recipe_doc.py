"""``bench methods --recipe --all --format md``: docs/RECIPES.md, written from the recipe objects the engine runs.

Every retrained baseline (a ``TrainedRegressor``: ``recipe_for`` gives the ``Recipe`` that
``methods/retrained/engine.py`` trains) is resolved on every built-in dataset with the ``paper`` preset. The
training-set size is always the published size x 0.8 (never a local copy), so the file is the same on every
machine; ``tests/test_recipe_doc.py`` fails when the committed file differs from what this writes.
"""

from __future__ import annotations

import json

from bench.cli.commands.recipe_view import (
    TRAIN_SHARE,
    describe_resize,
    lr_runs,
    merge_phases,
    phase_label,
    step_cosine_text,
)

COMMAND = "python -m bench methods --recipe --all --format md --output docs/RECIPES.md"
ROW_KEYS = (
    "n_train_images",
    "resize",
    "crop_size",
    "train_crops_per_image",
    "pairs_per_epoch",
    "batch_size",
    "optimizer_steps",
    "samples_seen",
    "test",
)


def retrained_methods() -> list:
    """The registered classes the shared engine trains (their ``recipe_for`` is what runs)."""
    from methods import registry
    from methods.retrained.engine import TrainedRegressor

    out = []
    for name in registry.names():
        try:
            cls = registry.get_method(name)
        except Exception:  # noqa: BLE001 -- a broken plug-in must not stop the built-in docs
            continue
        if isinstance(cls, type) and issubclass(cls, TrainedRegressor) and cls.trains and "paper" in cls.presets:
            out.append(cls)
    return out


def real_datasets() -> list:
    from bench.data.datasets import DEMO_NAMES
    from bench.data.datasets.registry import SPECS

    return [s for s in SPECS.values() if s.name not in DEMO_NAMES and s.n_images]


def resolved(cls, spec) -> dict:
    n = int(round(spec.n_images * TRAIN_SHARE))
    return cls.recipe_for(cls.make_params("paper"), spec.name).as_dict(n)


def _test(t: dict) -> str:
    mode = t["mode"] + (f", {t['n_crops']} crops averaged" if t["mode"] == "crops" else "")
    return mode + (f", resize {describe_resize(t['resize'])}" if t.get("resize") else "")


def _row(r: dict) -> str:
    per = (
        f"{r['pairs_per_epoch']} pairs"
        if r.get("pairs_per_epoch")
        else f"{r['n_train_images'] * r['train_crops_per_image'] if not r['pool_train_crops'] else r['n_train_images']}"
    )
    cells = [
        r["dataset"],
        str(r["n_train_images"]),
        describe_resize(r["resize"]),
        str(r["crop_size"]),
        str(r["train_crops_per_image"]) + (" (pooled)" if r["pool_train_crops"] else ""),
        per,
        str(r["batch_size"]),
        str(r["optimizer_steps"]),
        str(r["samples_seen"]),
        _test(r["test"]),
    ]
    return "| " + " | ".join(cells) + " |"


def _shared(r: dict) -> dict:
    """What does not vary per dataset row (one section per distinct value)."""
    drop = set(ROW_KEYS) | {"dataset", "flips", "pool_train_crops", "epochs", "sample", "feature_cache_passes"}
    return {k: v for k, v in r.items() if k not in drop}


def _phase_lines(r: dict) -> list[str]:
    lines = []
    for o, s, names in merge_phases(list(zip(r["optimizer"], r["schedule"]))):
        extra = [f"momentum {o['momentum']:g}"] if "momentum" in o else []
        if o.get("reset_every_epoch"):
            extra.append("a new optimiser every epoch")
        elif o.get("reset_on_lr_change"):
            extra.append("a new optimiser on each lr change")
        if s.get("steps_per_epoch"):
            extra.append(f"{s['steps_per_epoch']} steps per epoch")
        if s.get("step_cosine_t_max"):
            extra.append(step_cosine_text(s["step_cosine_t_max"]))
        frozen = f"; frozen: {', '.join(o['frozen'])}" if o["frozen"] else ""
        epochs = sum(len(v) for v in s["lr_per_epoch"].values()) // max(1, len(s["lr_per_epoch"]))
        lines.append(
            f"* phase `{phase_label(names)}`: {o['type']}, batch {o['batch_size']}, weight decay "
            f"{o['weight_decay']:g}, {epochs} epoch(s){', ' + ', '.join(extra) if extra else ''}{frozen}"
        )
        for group, lrs in s["lr_per_epoch"].items():
            lines.append(f"  * lr `{group}` per epoch: {lr_runs(lrs)}")
        if s.get("lr_per_step"):
            c = s["lr_per_step"]
            lines.append(
                f"  * lr per step: cosine from the first epoch's value to {c['min_lr']:g} over {c['period']:,} steps "
                "(the per-epoch values above are each epoch's first step)"
            )
    return lines


def method_section(cls, datasets) -> list[str]:
    recipes = [resolved(cls, spec) for spec in datasets]
    out = [f"## `{cls.name}` (version {cls.version})", "", cls.description + ".", ""]
    if getattr(cls, "source", ""):
        out += [f"Source: {cls.source}.", ""]
    groups: dict[str, list[dict]] = {}
    for r in recipes:
        groups.setdefault(json.dumps(_shared(r), sort_keys=True, default=str), []).append(r)
    for rows in groups.values():
        r = rows[0]
        if len(groups) > 1:
            out += [f"### on {', '.join(x['dataset'] for x in rows)}", ""]
        out += [
            "| dataset | train images | resize | crop | crops / image | samples / epoch | batch (last phase) | "
            "optimizer steps | samples seen | test |",
            "| --- " * 10 + "|",
        ]
        out += [_row(x) for x in rows] + [""]
        flips = ", ".join(k if v is True else f"{k} {v:g}" for k, v in r["flips"].items() if v) or "none"
        out += [
            f"Flips: {flips}. Order: {r['order']}. Last incomplete batch of an epoch: "
            f"{'dropped' if r['drop_last'] else 'trained on'} (source: 'last batch' below)."
            + (" A sample is a pair of images (one crop each)." if r.get("pairs_per_epoch") else ""),
            "",
        ]
        if r.get("feature_cache"):
            out += [f"Frozen-feature cache: {r['feature_cache']}.", ""]
        out += ["Optimiser and schedule:", ""] + _phase_lines(r) + [""]
        loss = r["loss"]
        terms = " + ".join(f"{w:g} x {t}" for t, w in loss["terms"].items())
        out += [
            f"Loss: `{loss['name']}` = {terms}; target `{r['target']}`."
            + (
                f" Trained on the label column `{r['label_column']}` (the official code's), predictions mapped back "
                "to the dataset's score before any metric."
                if r.get("label_column")
                else ""
            )
            + (f" Left out: {loss['left_out']}." if loss.get("left_out") else ""),
            "",
        ]
        out += [
            f"Selection: {r['selection']}."
            + (f" Official: {r['official_selection']}." if r["official_selection"] else ""),
            "",
        ]
        if r["notes"]:
            out += ["Where this differs from the official code, and why:", ""] + [f"* {n}" for n in r["notes"]] + [""]
        out += ["Sources:", ""] + [f"* {k}: {v}" for k, v in r["sources"].items()] + [""]
    return out


def render_markdown() -> str:
    datasets = real_datasets()
    out = [
        "# Training recipes of the retrained baselines",
        "",
        f"Written by `{COMMAND}` from the `Recipe` objects `methods/retrained/engine.py` trains (the `paper` "
        "preset); do not edit by hand: `tests/test_recipe_doc.py` fails when this file differs from the code.",
        f"Training images = the published size x {TRAIN_SHARE} (split 0 of the intra protocol); on a local copy "
        "`python -m bench methods NAME --recipe --dataset D` counts the real split. Steps count the batches "
        "of every epoch, the last incomplete one where the official loader keeps it (`drop_last` per recipe); "
        "samples = the samples of those batches (a UNIQUE sample is an image pair).",
        "",
    ]
    for cls in retrained_methods():
        out += method_section(cls, datasets)
    return "\n".join(out).rstrip() + "\n"


def show_all(args) -> int:
    from bench.core.errors import BenchError

    class UsageError(BenchError):
        pass

    if args.name or (args.format or "md") != "md" or args.json:
        raise UsageError(
            "--recipe --all writes docs/RECIPES.md: `python -m bench methods --recipe --all --format md` "
            "(one method: `python -m bench methods NAME --recipe [--json]`)"
        )
    text = render_markdown()
    if args.output:
        from pathlib import Path

        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0
