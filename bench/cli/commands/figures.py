"""``bench figures``: the paper's Figure 3 (Grad-CAM) and Figure 4 (t-SNE) from saved checkpoints.

    python -m bench figures gradcam [--method visual-only,mpiqe] [--dataset D] [--images ID,...] [--layer K]
    python -m bench figures tsne [--method mpiqe] [--dataset D] [--perplexity 30] [--seed 0]

Both read cells run with ``bench run --save-checkpoints`` and write OUT/figures/*.png|pdf|json
(OUT defaults to report/, where ``bench report`` links them). docs/FIGURES.md.
"""

from __future__ import annotations

import argparse

EPILOG = """examples:
  python -m bench run --protocol intra --method visual-only,mpiqe --data demo --splits 1 --save-checkpoints
  python -m bench figures gradcam                 # visual-only vs MP-IQE, lowest-MOS image per distortion
  python -m bench figures tsne --method mpiqe
  python -m bench report --format md,png --out report/    # report.md links report/figures/"""


def _csv(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected one or more names separated by commas; got {text!r}")
    return values


def _common(p) -> None:
    from bench.data.datasets import add_data_args

    p.add_argument("--runs", default="runs", help="results store (the --out of `bench run`; default: runs)")
    p.add_argument("--out", default="report", help="report folder; figures go to OUT/figures/ (default: report)")
    p.add_argument("--dataset", help="test dataset of the cells (default: the first one all methods have)")
    p.add_argument("--split", type=int, default=0, help="split index (default 0)")
    p.add_argument("--protocol", default="intra", help="protocol of the cells (default intra)")
    p.add_argument("--variant", default="default", help="variant of the cells (ablation/sensitivity)")
    p.add_argument("--format", type=_csv, default=["png", "pdf"], metavar="F[,F]", help="png,pdf (default both)")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    p.add_argument("--weights-dir", help="pretrained weight files, as for `bench run` (the CLIP the cells used)")
    p.add_argument("--name", help="file name stem under OUT/figures/ (default: from figure, method, dataset)")
    add_data_args(p)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "figures",
        help="Grad-CAM maps and t-SNE plots (paper Figs. 3-4) from saved checkpoints",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    figs = p.add_subparsers(dest="figure", metavar="FIGURE")
    g = figs.add_parser("gradcam", help="Grad-CAM maps, one row per method (paper Figure 3)")
    _common(g)
    g.add_argument(
        "--method",
        type=_csv,
        default=["visual-only", "mpiqe"],
        help="methods, one row each, in this order (default: visual-only,mpiqe)",
    )
    g.add_argument("--cell", type=_csv, metavar="KEY[,KEY]", help="exact cells (key prefixes) instead of --method")
    g.add_argument("--images", type=_csv, metavar="ID[,ID]", help="test image ids (as in the cell's .preds.csv)")
    g.add_argument(
        "--per-distortion",
        type=int,
        default=1,
        help="without --images: this many lowest-MOS test images per distortion class (default 1)",
    )
    g.add_argument(
        "--max-images", type=int, default=11, help="at most this many columns (default 11: one per distortion class)"
    )
    g.add_argument(
        "--layer",
        type=int,
        default=None,
        help="image-encoder block whose output is weighted (negative counts from the end; default -1)",
    )
    g.add_argument(
        "--target",
        default="score",
        help="score (what raises the predicted quality, default) or neg-score (what lowers it)",
    )
    g.set_defaults(func=run_gradcam)
    t = figs.add_parser("tsne", help="t-SNE of a cell's test-set features (paper Figure 4)")
    _common(t)
    t.add_argument("--method", default="mpiqe", help="method of the cell (default mpiqe)")
    t.add_argument("--cell", metavar="KEY", help="an exact cell (key prefix) instead of --method")
    t.add_argument("--feature", help="only this feature set (MP-IQE: decoder or cls; default: all)")
    t.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (default 30; capped at (N-1)/3)")
    t.add_argument("--seed", type=int, default=0, help="t-SNE random_state (default 0)")
    t.add_argument(
        "--init", default="pca", help="t-SNE initialisation: pca (default; the seed then changes nothing) or random"
    )
    t.set_defaults(func=run_tsne)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _kwargs(args) -> dict:
    from bench.data.datasets import data_kwargs

    return dict(
        runs=args.runs,
        out=args.out,
        dataset=args.dataset,
        split=args.split,
        protocol=args.protocol,
        variant=args.variant,
        formats=args.format,
        device=args.device,
        weights_dir=args.weights_dir,
        data_kwargs=data_kwargs(args),
        stem=args.name,
    )


def _report(result, what: str) -> int:
    for note in result.notes:
        print(f"note: {note}")
    print(f"{what}:")
    for path in result.files:
        print(f"  {path}")
    print("`python -m bench report --out <the same folder>` links them in report.md.")
    return 0


def run_gradcam(args) -> int:
    from reports.figures.make import gradcam_figure

    result = gradcam_figure(
        methods=args.method,
        keys=args.cell,
        image_ids=args.images,
        per_distortion=args.per_distortion,
        max_images=args.max_images,
        layer=args.layer,
        target=args.target,
        **_kwargs(args),
    )
    times = ", ".join(f"{m} {s:.2f} s" for m, s in result.facts["seconds_per_image"].items())
    return _report(result, f"Grad-CAM figure ({times} per image)")


def run_tsne(args) -> int:
    from reports.figures.make import tsne_figure

    result = tsne_figure(
        method=args.method,
        key=args.cell,
        feature=args.feature,
        perplexity=args.perplexity,
        seed=args.seed,
        init=args.init,
        **_kwargs(args),
    )
    t = result.facts["tsne"]
    times = ", ".join(f"{n} {f['seconds']:.2f} s" for n, f in t.items())
    return _report(
        result,
        f"t-SNE figure ({result.facts['n_images']} images; features "
        f"{result.facts['feature_seconds']:.2f} s; t-SNE {times})",
    )
