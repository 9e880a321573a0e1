"""``bench perf``: how fast MP-IQE runs here, against plain CLIP on the same backbone and batch.

    python -m bench perf --method mpiqe [--backbone ViT-B-16] [--device cpu|cuda] [--batch 64] [--json]
    python -m bench perf --pipeline [--images jpeg|DATASET] [--num-workers auto|1,2,auto] [--json]
    python -m bench perf --methods all|M[,M...] [--device D] [--json] [--save RUNS]   (methods/efficiency.py)

Times (1) open_clip ``encode_image``, (2) MP-IQE inference, (3) one MP-IQE training step, in one
process, interleaved; prints crops/s, the ratios (2)/(1) and (3)/(1), peak memory and the estimated
wall time of the paper's intra protocol on this device. Weights default to random ('none'):
speed does not depend on them. ``--pipeline`` (bench/perf/pipeline.py): would this device wait on data.
"""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("perf", help="time MP-IQE inference and training against plain CLIP")
    p.add_argument("--method", default="mpiqe", help="mpiqe or visual-only (default: mpiqe)")
    p.add_argument("--backbone", default="ViT-B-16", help="open_clip model name, or biqa-tiny-vit (default: ViT-B-16)")
    p.add_argument("--pretrained", default="none", help="weights: none (random, default), openai, or a file")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    p.add_argument("--batch", type=int, default=64, help="crops per timed batch (default: 64)")
    p.add_argument(
        "--repeats", type=int, default=3, help="timed repeats per measurement; the best is reported, medians alongside"
    )
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up rounds (default: 1)")
    p.add_argument("--preset", default="paper", help="method preset the parameters start from (default: paper)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a method parameter, e.g. --param micro_batch=32 (repeatable)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    g = p.add_argument_group("data pipeline (--pipeline)")
    g.add_argument(
        "--pipeline",
        action="store_true",
        help="loader crops/s (fresh decodes and from the image cache) next to training crops/s, and a verdict",
    )
    g.add_argument(
        "--images",
        default="jpeg",
        metavar="jpeg|DATASET",
        help="jpeg (default): 1024x768 JPEGs like KonIQ-10k's; or a dataset name, e.g. demo-a",
    )
    g.add_argument("--n-images", type=int, default=64, help="images per timed pass (default 64)")
    g.add_argument(
        "--num-workers",
        default="auto",
        metavar="auto|N[,N...]",
        help="loader workers, e.g. 1,2,auto to compare (default auto; the first is the headline)",
    )
    g.add_argument("--passes", type=int, default=2, help="timed passes over the images per loader (best counts)")
    e = p.add_argument_group("efficiency table (--methods)")
    e.add_argument(
        "--methods",
        default=None,
        metavar="all|M[,M...]",
        help="params, GFLOPs, latency per image, peak memory, training crops/s per method (each in its "
        "own process; fake weight files where the real ones are missing, said so)",
    )
    e.add_argument(
        "--train-batch", type=int, default=None, help="crops per timed training step (default: 64 on CUDA, 8 on CPU)"
    )
    e.add_argument(
        "--method-timeout",
        type=float,
        default=600,
        metavar="S",
        help="seconds one method's measuring process may take before its row says 'timed out' (default: 600; "
        "MANIQA's ViT-B/8 training step needs more on a CPU)",
    )
    e.add_argument(
        "--save",
        default=None,
        metavar="RUNS",
        help="also write the records to RUNS/efficiency/ for the report's Efficiency view",
    )
    from bench.data.datasets import add_data_args

    add_data_args(p)  # --data-root etc., for --images DATASET
    p.set_defaults(func=run)


def _parse_params(items: list[str]) -> dict:
    import json

    from bench.core.errors import BenchError

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise BenchError(f"--param {item!r}: write NAME=VALUE, e.g. --param micro_batch=32")
        try:
            out[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[name.strip()] = value
    return out


def run(args) -> int:
    import json

    from bench.core.errors import BenchError

    try:
        import torch
    except ImportError as exc:
        raise BenchError("bench perf needs torch and open_clip: pip install -e '.[torch]'") from exc
    from methods.mpiqe.perf import format_result, run_perf

    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.methods:
        return _methods(args)
    if args.pipeline:
        try:
            return _pipeline(args)
        finally:
            torch.set_num_threads(threads)
    try:
        result = run_perf(
            args.method,
            backbone=args.backbone,
            pretrained=args.pretrained,
            device=args.device,
            batch=args.batch,
            repeats=max(1, args.repeats),
            warmup=max(0, args.warmup),
            preset=args.preset,
            overrides=_parse_params(args.param),
            progress=not args.json,
        )
    except ValueError as exc:  # make_params: unknown parameter or preset
        raise BenchError(str(exc)) from exc
    finally:
        torch.set_num_threads(threads)
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_result(result))
    if result.method == "mpiqe" and args.backbone == "ViT-B-16" and not args.param:
        # this machine's paper-size throughput, for `bench study plan`'s cost estimate
        import sys

        from bench.study.estimate import save_perf

        print(f"saved for cost estimates (bench study plan): {save_perf(result.to_dict())}", file=sys.stderr)
    return 0


def _pipeline(args) -> int:
    import argparse
    import json

    from bench.core.errors import BenchError
    from bench.data.datasets import data_kwargs
    from bench.data.pipeline import parse_num_workers
    from bench.perf.pipeline import format_pipeline, run_pipeline_perf

    try:
        workers = tuple(parse_num_workers(w) for w in str(args.num_workers).split(",") if w.strip())
    except argparse.ArgumentTypeError as exc:
        raise BenchError(f"--num-workers: {exc}") from None
    if not workers or args.n_images < 1 or args.passes < 1:
        raise BenchError("--pipeline needs --num-workers auto|N[,N...], --n-images >= 1 and --passes >= 1")
    try:
        result = run_pipeline_perf(
            device=args.device,
            backbone=args.backbone,
            method=args.method,
            batch=args.batch,
            n_images=args.n_images,
            source=args.images,
            workers=workers,
            passes=args.passes,
            repeats=max(1, args.repeats),
            preset=args.preset,
            overrides=_parse_params(args.param),
            data_kwargs=data_kwargs(args),
            progress=not args.json,
        )
    except ValueError as exc:
        raise BenchError(str(exc)) from exc
    print(json.dumps(result, indent=2) if args.json else format_pipeline(result))
    return 0


def _methods(args) -> int:
    import datetime
    import json
    import socket
    from pathlib import Path

    from bench.core.errors import BenchError
    from methods import registry
    from methods.efficiency import TABLE_METHODS, format_table, measure

    names = list(TABLE_METHODS) if args.methods == "all" else [m.strip() for m in args.methods.split(",") if m.strip()]
    for name in names:
        registry.get_method(name)  # unknown names fail here, with did-you-mean
    if args.train_batch is not None and args.train_batch < 1:
        raise BenchError("--train-batch must be >= 1 crop")
    if args.method_timeout <= 0:
        raise BenchError("--method-timeout must be > 0 seconds")
    overrides = _parse_params(args.param)
    records = measure(
        names,
        device=args.device,
        preset=args.preset,
        overrides=overrides,
        repeats=max(1, args.repeats),
        train_batch=args.train_batch,
        timeout_s=args.method_timeout,
        progress=not args.json,
    )
    if args.save:
        out = Path(args.save) / "efficiency"
        out.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S")
        path = out / f"{socket.gethostname()}-{args.device.replace(':', '')}-{stamp}.json"
        path.write_text(json.dumps({"preset": args.preset, "params": overrides, "records": records}, indent=1))
        if not args.json:
            print(f"saved: {path}")
    print(json.dumps(records, indent=2) if args.json else format_table(records))
    return 0
