"""``python -m bench data list|check|describe|splits|fetch``: what datasets are here, and are they right."""

from __future__ import annotations

import json
import sys

from bench.core.errors import BenchError, DatasetError


def add_parser(subparsers) -> None:
    from bench.data.datasets import add_data_args

    p = subparsers.add_parser(
        "data",
        help="datasets: list, check, describe, splits, fetch",
        description="Find, check and describe the datasets; print or persist splits.",
    )
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")

    q = sub.add_parser("list", help="every dataset, found or missing, its folder and image count")
    add_data_args(q)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)

    q = sub.add_parser("check", help="files present, counts against published sizes, scores, labels")
    q.add_argument("name")
    add_data_args(q)
    q.add_argument("--deep", action="store_true", help="also decode every image (slow)")
    q.add_argument("--layout", choices=("pyiqa", "official", "liqe"), help="force a layout (default: detect)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_check)

    q = sub.add_parser("describe", help="layout, sizes, score range, label coverage, revision")
    q.add_argument("name")
    add_data_args(q)
    q.add_argument("--layout", choices=("pyiqa", "official", "liqe"))
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_describe)

    q = sub.add_parser("splits", help="the splits of a protocol (made once, persisted, leak-checked)")
    q.add_argument("name")
    add_data_args(q)
    q.add_argument("--protocol", choices=("intra", "efficiency"), default="intra")
    q.add_argument("--split-set", default="default", help="default | liqe | pyiqa | official")
    q.add_argument(
        "--splits",
        "--n-splits",
        dest="n_splits",
        type=int,
        default=10,
        metavar="N",
        help="number of splits (default 10), as `bench run --splits`",
    )
    q.add_argument("--test-fraction", type=float, default=0.2)
    q.add_argument("--val-fraction", type=float, default=0.0)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--fractions", default=None, help="efficiency: comma-separated, default 0.2,0.4,0.6")
    q.add_argument(
        "--fraction-of",
        choices=("dataset", "train"),
        default="dataset",
        help="efficiency fractions are shares of the whole dataset (default) or of the training part",
    )
    q.add_argument("--json", action="store_true", help="print the splits (ids included) as JSON")
    q.set_defaults(func=cmd_splits)

    q = sub.add_parser("fetch", help="download a dataset through pyiqa's Hugging Face dataset hub (needs internet)")
    q.add_argument("name")
    q.add_argument("--data-root", metavar="DIR", default=None)
    q.set_defaults(func=cmd_fetch)

    from bench.cli.commands.cache import add_cache_parser  # `data cache NAME`: the decoded-image cache

    add_cache_parser(sub)

    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


# --- list -----------------------------------------------------------------------------------------


def dataset_rows(kw: dict) -> list[dict]:
    """One row per known dataset: found / missing / incomplete, layout, folder, image count (also `bench doctor`)."""
    from bench.data.datasets import all_specs, load_dataset
    from bench.data.demo import demo_dir

    rows = []
    for name, spec in all_specs().items():
        row = {"name": name, "title": spec.title, "published": spec.n_images}
        if name.startswith("demo-"):
            folder = demo_dir(name)
            ready = (folder / "meta.csv").is_file()
            row.update(
                status="found" if ready else "generated on first use",
                layout="demo",
                folder=str(folder),
                n_images=_count_lines(folder / "meta.csv") - 1 if ready else None,
            )
        else:
            try:
                ds = load_dataset(name, **kw)
                row.update(status="found", layout=ds.dataset.layout, folder=str(ds.dataset.root), n_images=len(ds))
            except DatasetError as exc:
                first = str(exc).splitlines()[0]
                status = "missing" if "not found" in first else "incomplete"
                row.update(status=status, layout=None, folder=None, n_images=None, problem=first)
        rows.append(row)
    return rows


def cmd_list(args) -> int:
    from bench.data.datasets import data_kwargs, resolve_data_root

    kw = data_kwargs(args)  # registers the custom datasets of spec files too
    rows = dataset_rows(kw)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"data root: {resolve_data_root(kw['data_root'])}")
    print(f"{'name':<10} {'status':<23} {'layout':<9} {'images':>7} {'published':>9}  folder")
    for r in rows:
        n = "" if r["n_images"] is None else r["n_images"]
        pub = "" if r["published"] is None else r["published"]
        print(f"{r['name']:<10} {r['status']:<23} {r['layout'] or '':<9} {n:>7} {pub:>9}  {r['folder'] or ''}")
        if r.get("problem") and r["status"] == "incomplete":
            print(f"{'':<10} {r['problem']}")
    print("Details and fixes: `python -m bench data check NAME`.")
    return 0


def _count_lines(path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


# --- check / describe --------------------------------------------------------------------------------


def _load(args, deep=False):
    from bench.data.datasets import data_kwargs, load_dataset

    return load_dataset(
        args.name, **data_kwargs(args), layout=getattr(args, "layout", None), deep=deep, progress=sys.stderr.isatty()
    )


def describe(ds) -> dict:
    import numpy as np

    info = ds.dataset
    scores = ds.scores
    raw = np.asarray([r.raw_score for r in ds.records], dtype=float)
    n = max(len(ds), 1)
    refs = {r.ref_id for r in ds.records if r.ref_id is not None}
    d = {
        "name": info.name,
        "title": info.title,
        "layout": info.layout,
        "folder": str(info.root),
        "n_images": len(ds),
        "n_references": len(refs) if info.synthetic else None,
        "synthetic_distortions": info.synthetic,
        "score_range": [float(scores.min()), float(scores.max())] if len(ds) else None,
        "higher_is_better": True,
        "raw_score_range": [float(raw.min()), float(raw.max())] if len(ds) else None,
        "raw_scale": list(info.raw_scale),
        "raw_higher_is_better": info.raw_higher_is_better,
        "ground_truth": info.ground_truth,
        "ground_truth_vs_paper": info.paper_note or "no difference known",
        "has_std": any(r.std is not None for r in ds.records),
        "std_range": _std_range(ds),
        "label_coverage": {
            "scene": sum(bool(r.scenes) for r in ds.records) / n,
            "distortion": sum(r.distortion_class is not None for r in ds.records) / n,
        },
        "revision": info.revision,
        "notes": list(info.notes),
    }
    if info.layout == "demo":
        d["warning"] = "SYNTHETIC demo data: pseudo-MOS from SSIM + simulated raters. NOT human-rated."
    return d


def _std_range(ds) -> list[float] | None:
    stds = [r.std for r in ds.records if r.std is not None]
    return [float(min(stds)), float(max(stds))] if stds else None


def cmd_describe(args) -> int:
    d = describe(_load(args))
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    if d.get("warning"):
        print(f"*** {d['warning']} ***")
    for k, v in d.items():
        if k not in ("notes", "warning"):
            print(f"{k:<22} {v}")
    for note in d["notes"]:
        print(f"note: {note}")
    return 0


def cmd_check(args) -> int:
    from bench.data.datasets import get_spec

    ds = _load(args, deep=args.deep)  # raises, with the first missing/bad files and the fix
    spec = get_spec(args.name)  # after loading: custom datasets are registered by then
    d = describe(ds)
    problems = []
    sizes = spec.extra.get("published_sizes") or ({spec.n_images: "published"} if spec.n_images else {})
    if sizes and len(ds) not in sizes:
        listed = " or ".join(f"{n} ({what})" for n, what in sizes.items())
        problems.append(
            f"{len(ds)} images, but {spec.title} has {listed} (published size): "
            "the metadata file is not the standard one, or images were excluded"
        )
    from bench.data.datasets.scales import scale_summary

    scales = scale_summary(ds.records, ds.dataset.raw_scale) if len(ds) else None
    if scales:
        problems.extend(scales["problems"])
    cov = d["label_coverage"]
    if 0 < cov["scene"] < 1:
        problems.append(f"only {cov['scene']:.1%} of images have scene labels (partial label files?)")
    modes = dict(getattr(ds, "image_modes", None) or {}) if args.deep else {}
    result = {
        "name": spec.name,
        "ok": not problems,
        "problems": problems,
        "images_decoded": bool(args.deep),
        **d,
        **({"pixel_modes": modes} if args.deep else {}),
        **({"scales": {k: v for k, v in scales.items() if k != "problems"}} if scales else {}),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{spec.title}: {len(ds)} images ({d['layout']} layout) in {d['folder']}")
        print(
            f"  files present{' and decodable' if args.deep else ''}: yes; scores finite: yes; revision {d['revision']}"
        )
        print(f"  ground truth: {d['ground_truth']}")
        if ds.dataset.paper_note:
            print(f"  ground truth differs from the paper's baselines: {ds.dataset.paper_note}")
        if scales:
            lo, hi = scales["declared_scale"]
            print(f"  scores {_range(scales['score_range'])} on the declared scale {lo:g}-{hi:g}: within it")
            if scales["std_range"]:
                print(
                    f"  stds {_range(scales['std_range'])} (largest {scales['std_max_share_of_scale']:.1%} of the "
                    "score scale's width): on the score's scale"
                    + (" (see PROBLEM below)" if scales["problems"] else "")
                )
        print(f"  labels: scene {cov['scene']:.1%}, distortion {cov['distortion']:.1%}")
        if modes:
            print(
                "  pixel modes: "
                + ", ".join(f"{m}: {n}" for m, n in sorted(modes.items()))
                + "; every mode is read at its bit depth and scaled to 8 bits (docs/DATASETS.md)"
            )
        for note in d["notes"]:
            print(f"  note: {note}")
        for p in problems:
            print(f"  PROBLEM: {p}")
        print("OK" if not problems else "CHECK FOUND PROBLEMS")
    return 0 if not problems else 1


def _range(pair) -> str:
    return f"{pair[0]:.4g}-{pair[1]:.4g}"


# --- splits -------------------------------------------------------------------------------------------


def cmd_splits(args) -> int:
    from bench.data.splits import make_splits, split_to_dict, splits_hash

    fractions = None
    if args.fractions:
        try:
            fractions = tuple(float(x) for x in args.fractions.split(","))
        except ValueError:
            raise BenchError(
                f"--fractions {args.fractions!r}: expected comma-separated numbers, e.g. 0.2,0.4,0.6"
            ) from None
    ds = _load(args)
    splits = make_splits(
        ds,
        protocol=args.protocol,
        split_set=args.split_set,
        n_splits=args.n_splits,
        test_fraction=args.test_fraction,
        val_fraction=args.val_fraction,
        seed=args.seed,
        fractions=fractions,
        fraction_of=args.fraction_of,
    )
    if args.json:
        out = []
        for s in splits:
            d = split_to_dict(s)
            d.pop("meta", None)
            if s.fraction is None:
                d.pop("fraction")
            if not s.val:
                d.pop("val")
            out.append(d)
        _emit(json.dumps(out))
        return 0
    print(
        f"{ds.dataset.name} revision {ds.dataset.revision}, split set {args.split_set}, protocol {args.protocol}: "
        f"{len(splits)} splits, set hash {splits_hash(splits)} (leak check passed)"
    )
    from bench.data.datasets.split_sets import duplicate_note

    if duplicate_note(splits, args.split_set, ds.dataset.name):
        print(f"  note: {duplicate_note(splits, args.split_set, ds.dataset.name)}")
    for s in splits:
        frac = f" fraction {s.fraction:.0%}" if s.fraction is not None else ""
        val = f" val {len(s.val)}" if s.val else ""
        source = f"  ({s.meta['source']})" if s.meta.get("source") else ""  # imported sets: file[k] or column
        print(f"  #{s.index}{frac}: train {len(s.train)}{val} test {len(s.test)}  hash {s.hash}{source}")
    return 0


def _emit(text: str) -> None:
    """Print, quietly stopping when the reader went away (``... --json | head``)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# --- fetch --------------------------------------------------------------------------------------------


def cmd_fetch(args) -> int:
    from bench.data.datasets.fetch import fetch

    path = fetch(args.name, args.data_root)
    print(f"downloaded into {path}; check it with `python -m bench data check {args.name}`")
    return 0


__all__ = ["add_parser", "describe"]
