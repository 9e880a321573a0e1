"""``bench perf``: how fast MP-IQE runs here, against plain CLIP on the same backbone and batch.

    python -m bench perf --method mpiqe [--backbone ViT-B-16] [--device cpu|cuda] [--batch 64] [--json]

Times (1) open_clip ``encode_image``, (2) MP-IQE inference, (3) one MP-IQE training step, in one
process, interleaved; prints crops/s, the ratios (2)/(1) and (3)/(1), peak memory and the estimated
wall time of the paper's intra protocol on this device. Weights default to random ('none'):
speed does not depend on them.
"""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("perf", help="time MP-IQE inference and training against plain CLIP")
    p.add_argument("--method", default="mpiqe", help="mpiqe or visual-only (default: mpiqe)")
    p.add_argument("--backbone", default="ViT-B-16", help="open_clip model name, or biqa-tiny-vit (default: ViT-B-16)")
    p.add_argument("--pretrained", default="none", help="weights: none (random, default), openai, or a file")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default: cpu)")
    p.add_argument("--batch", type=int, default=64, help="crops per timed batch (default: 64)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per measurement; the best is reported, medians alongside")
    p.add_argument("--warmup", type=int, default=1, help="untimed warm-up rounds (default: 1)")
    p.add_argument("--preset", default="paper", help="method preset the parameters start from (default: paper)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a method parameter, e.g. --param micro_batch=32 (repeatable)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def _parse_params(items: list[str]) -> dict:
    import json

    from bench.errors import BenchError

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

    from bench.errors import BenchError

    try:
        import torch
    except ImportError as exc:
        raise BenchError("bench perf needs torch and open_clip: pip install -e '.[torch]'") from exc
    from methods.mpiqe.perf import format_result, run_perf

    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = run_perf(args.method, backbone=args.backbone, pretrained=args.pretrained, device=args.device,
                          batch=args.batch, repeats=max(1, args.repeats), warmup=max(0, args.warmup),
                          preset=args.preset, overrides=_parse_params(args.param), progress=not args.json)
    except ValueError as exc:   # make_params: unknown parameter or preset
        raise BenchError(str(exc)) from exc
    finally:
        torch.set_num_threads(threads)
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_result(result))
    return 0
