"""``bench methods NAME --recipe``: a method's training recipe as it will run on one dataset.

The number of training images comes from the dataset when it is found (the training part of split 0 of the
default intra splits), else from its published size x the split's train share (0.8); the output says which.
"""

from __future__ import annotations

import json

TRAIN_SHARE = 0.8  # the intra protocol's default split: 80 % train / 20 % test


class RecipeError(Exception):
    pass


def n_train_images(dataset: str, data_kwargs: dict) -> tuple[int, str]:
    """(n, where it comes from): split 0 of the data when found, else published size x TRAIN_SHARE."""
    from bench.core.errors import BenchError
    from bench.data.datasets import get_spec, load_dataset

    spec = get_spec(dataset)
    try:
        ds = load_dataset(spec.name, **data_kwargs)
        from bench.data.splits import make_splits

        split = make_splits(ds, protocol="intra", n_splits=1, test_fraction=1 - TRAIN_SHARE)[0]
        return len(split.train), f"from the data: {len(ds)} images, training part of split 0 (80/20)"
    except (BenchError, OSError) as exc:
        if not spec.n_images:
            raise RecipeError(
                f"dataset {spec.name!r} is not found here ({exc}) and has no published size: "
                "point --data-root / --dataset-dir at it"
            ) from None
        n = int(round(spec.n_images * TRAIN_SHARE))
        return n, f"dataset not found here: published size {spec.n_images} x train share {TRAIN_SHARE}"


def show_recipe(args) -> int:
    from bench.core.errors import BenchError
    from bench.data.datasets import data_kwargs, get_spec
    from methods import registry

    class UsageError(BenchError):
        pass

    if not args.name:
        raise UsageError(
            "--recipe needs a method name: `python -m bench methods NAME --recipe` "
            "(`python -m bench methods` lists them)"
        )
    if not args.recipe:
        raise UsageError(f"`bench methods {args.name}`: add --recipe to see its training recipe")
    cls = registry.get_method(args.name)
    preset = args.preset if args.preset else "paper"
    if preset not in cls.presets and preset != "default":
        raise UsageError(
            f"method {cls.name!r} has no preset {preset!r}; choose from {sorted(cls.presets) or ['default']}"
        )
    params = cls.make_params(preset)
    dataset = get_spec(args.dataset).name
    try:
        n, where = n_train_images(dataset, data_kwargs(args))
    except RecipeError as exc:
        raise UsageError(str(exc)) from None
    recipe = cls.recipe(params, dataset, n) if cls.trains else None
    if recipe is None:
        what = "it does not train (zero-shot)" if not cls.trains else "it states no recipe (Method.recipe returns None)"
        raise UsageError(f"method {cls.name!r} has no training recipe to show: {what}.")
    recipe = {**recipe, "n_train_images_source": where, "preset": preset}
    if getattr(args, "format", None) == "md":
        raise UsageError("--format md writes every method's recipes: add --all (docs/RECIPES.md)")
    if args.json or getattr(args, "format", None) == "json":
        print(json.dumps(recipe, indent=1, default=str))
    else:
        print(render(recipe))
    return 0


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def lr_runs(values: list) -> str:
    """An lr table, runs of equal values compressed: '2e-04 x7, 2e-05 x3'."""
    runs, out = [], []
    for v in values:
        if runs and abs(runs[-1][0] - v) <= 1e-12 * max(abs(v), 1e-30):
            runs[-1][1] += 1
        else:
            runs.append([v, 1])
    for v, k in runs:
        out.append(f"{v:.3g}" + (f" x{k}" if k > 1 else ""))
    if len(runs) <= 8:
        return ", ".join(out)
    text = f"{values[0]:.3g} -> {values[-1]:.3g} over {len(values)} epochs"
    steps = [b - a for a, b in zip(values, values[1:])]
    if any(d > 0 for d in steps) and any(d < 0 for d in steps):  # periodic (torch's cosine beyond T_max)
        low = min(range(len(values)), key=values.__getitem__)
        text += f", not monotone: min {values[low]:.3g} (epoch {low + 1}), max {max(values):.3g}"
    return text


def step_cosine_text(t_max: int) -> str:
    """A phase's per-step cosine (``Phase.step_cosine_t_max``) in words."""
    return f"lr x (1 + cos(pi k / {t_max})) / 2 at the phase's step k (a cosine stepped per optimiser step)"


def describe_resize(spec) -> str:
    if not spec:
        return "none"
    if isinstance(spec, dict) and spec.get("kind") == "fixed":
        return "to (h, w) = ({}, {})".format(*spec["hw"])
    if isinstance(spec, dict) and spec.get("kind") == "short_side":
        return f"short side to {spec['size']}" + (
            " (only when both sides exceed it)" if spec.get("only_if_larger") else ""
        )
    return _fmt(spec)


def _same_but_lr(a, b) -> bool:
    """Two (optimiser, schedule) phases that differ only in their learning rates (and names)."""
    (oa, sa), (ob, sb) = a, b
    if not all(isinstance(x, dict) for x in (oa, sa, ob, sb)) or "type" not in oa:
        return False
    la, lb = sa.get("lr_per_epoch"), sb.get("lr_per_epoch")
    if not isinstance(la, dict) or not isinstance(lb, dict) or set(la) != set(lb):
        return False
    drop = {"phase", "groups", "epochs", "lr_per_epoch"}
    return (
        {k: v for k, v in oa.items() if k not in drop} == {k: v for k, v in ob.items() if k not in drop}
        and set(oa.get("groups") or ()) == set(ob.get("groups") or ())
        and {k: v for k, v in sa.items() if k not in drop} == {k: v for k, v in sb.items() if k not in drop}
    )


def merge_phases(pairs: list) -> list:
    """Runs of consecutive phases that differ only in lr shown as one (DACNN: a fresh Adam each epoch is one
    phase per epoch): [(optimiser, schedule with the lr tables joined, [phase names])]. Display only."""
    out = []
    for o, s in pairs:
        name = o.get("phase", "") if isinstance(o, dict) else ""
        if out and _same_but_lr((out[-1][0], out[-1][1]), (o, s)):
            last = out[-1][1]
            last["lr_per_epoch"] = {
                g: list(last["lr_per_epoch"][g]) + list(s["lr_per_epoch"][g]) for g in last["lr_per_epoch"]
            }
            out[-1][2].append(name)
        else:
            out.append((o, dict(s) if isinstance(s, dict) else s, [name]))
    return out


def phase_label(names: list) -> str:
    """'all'; 'epochs 1-30 (30 phases, each a new optimiser)' for a merged run of 'epoch N' phases (each
    phase starts its own optimiser: bench's engine builds one per phase)."""
    if len(names) == 1:
        return str(names[0])
    nums = [n.split()[-1] for n in names]
    if (
        all(str(n).startswith("epoch ") for n in names)
        and all(x.isdigit() for x in nums)
        and [int(x) for x in nums] == list(range(int(nums[0]), int(nums[0]) + len(nums)))
    ):
        span = f"epochs {nums[0]}-{nums[-1]}"
    else:
        span = f"{names[0]} .. {names[-1]}"
    return f"{span} ({len(names)} phases, each a new optimiser)"


def render(r: dict) -> str:
    lines = [
        f"{r['method']} on {r['dataset']} (preset {r['preset']}): {r['n_train_images']} training images "
        f"({r['n_train_images_source']})"
    ]
    crop = r["crop_size"]
    per = r["train_crops_per_image"]
    lines.append(
        f"  input      crop {crop}, {per} crop(s) per image per epoch"
        + (" averaged into one sample" if r.get("pool_train_crops") else " (each a sample)")
        + f", resize {describe_resize(r.get('resize'))}"
        + (f", flips {_fmt(r['flips'])}" if r.get("flips") else "")
    )
    if r.get("pairs_per_epoch"):
        lines.append(
            f"  samples    {r['pairs_per_epoch']} image pairs per epoch (drawn once per cell), batches of pairs"
        )
    t = r["test"]
    lines.append(
        f"  test       {t['mode']}"
        + (f", {t['n_crops']} crops averaged" if t["mode"] == "crops" else "")
        + (f", resize {describe_resize(t['resize'])}" if t.get("resize") else "")
    )
    lines.append(
        f"  totals     {r['epochs']} epochs, batch {r['batch_size']}, {r['optimizer_steps']} optimiser "
        f"steps, {r['samples_seen']} samples seen"
    )
    if "order" in r:
        lines.append(
            f"  batches    {r['order']}; the last incomplete batch of an epoch "
            f"{'dropped' if r.get('drop_last') else 'trained on'}"
        )
    if r.get("feature_cache"):
        lines.append(f"  cache      {r['feature_cache']}")
    opts = r["optimizer"] if isinstance(r["optimizer"], list) else [r["optimizer"]]
    scheds = r["schedule"] if isinstance(r["schedule"], list) else [r["schedule"]]
    for o, s, labels in merge_phases(list(zip(opts, scheds + [None] * len(opts)))):
        if not isinstance(o, dict) or "type" not in o:
            lines.append(f"  optimiser  {_fmt(o)}")
            if s is not None:
                lines.append(f"  schedule   {_fmt(s)}")
            continue
        lines.append(
            f"  phase {phase_label(labels)}: {o.get('type')} batch {o.get('batch_size')}, wd "
            f"{_fmt(o.get('weight_decay'))}"
            + (f", frozen {', '.join(o['frozen'])}" if o.get("frozen") else "")
            + (
                ", a new optimiser every epoch"
                if o.get("reset_every_epoch")
                else ", new optimiser on each lr change"
                if o.get("reset_on_lr_change") and len(labels) == 1
                else ""
            )
            + (
                f", {step_cosine_text(s['step_cosine_t_max'])}"
                if isinstance(s, dict) and s.get("step_cosine_t_max")
                else ""
            )
        )
        if isinstance(s, dict) and isinstance(s.get("lr_per_epoch"), dict):
            for g, lrs in s["lr_per_epoch"].items():
                lines.append(f"    lr {g}: {lr_runs(lrs)}")
            if s.get("lr_per_step"):
                c = s["lr_per_step"]
                lines.append(f"    lr per step: cosine to {c['min_lr']:g} over {c['period']:,} steps")
    loss = r["loss"]
    lines.append(
        f"  loss       {_fmt(loss) if not isinstance(loss, dict) else (loss.get('name') or _fmt(loss))}"
        + (f" = {_fmt(loss['terms'])}" if isinstance(loss, dict) and loss.get("terms") else "")
        + (f"; target {r['target']}" if r.get("target") else "")
    )
    if isinstance(loss, dict) and loss.get("left_out"):
        lines.append(f"  left out   {loss['left_out']}")
    if r.get("selection"):
        lines.append(f"  selection  {r['selection']}")
    if r.get("official_selection"):
        lines.append(f"  official   {r['official_selection']}")
    for note in r.get("notes", []):
        lines.append(f"  note       {note}")
    lines.append("  sources")
    srcs = r["sources"]
    for k, v in srcs.items() if isinstance(srcs, dict) else enumerate(srcs):
        lines.append(f"    {k}: {v}")
    return "\n".join(lines)
