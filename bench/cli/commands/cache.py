"""``bench data cache NAME``: build a dataset's decoded-image cache up front (runs also build it lazily).

    python -m bench data cache koniq10k [--crop-size 224] [--resize short:512] [--decoder auto] [--dry-run] [--json]

Checks the free disk first and says how much the cache needs; prints what it built, how long it
took and how big it is. The cache lives in $BENCH_IMAGE_CACHE (default $BENCH_CACHE/images).
--decoder auto decodes JPEGs with nvJPEG in batches on a CUDA device (``bench.data.decode_batch``), else with PIL;
entries nvJPEG made are keyed with its name and runs read them only with BENCH_IMAGE_DECODER=nvjpeg.
"""

from __future__ import annotations

import json
import sys

from bench.core.errors import BenchError


def add_cache_parser(sub) -> None:
    from bench.data.datasets import add_data_args

    q = sub.add_parser(
        "cache", help="decode a dataset once into the decoded-image cache (free-disk check first)", description=__doc__
    )
    q.add_argument("name")
    add_data_args(q)
    q.add_argument(
        "--crop-size",
        type=int,
        default=224,
        help="images smaller than this are stored resized up, as crops of this size need (default 224)",
    )
    q.add_argument(
        "--resize",
        default=None,
        metavar="short:N|WxH",
        help="a recipe's resize before cropping: short side to N, or a fixed WxH (default: none)",
    )
    q.add_argument("--jobs", type=int, default=1, help="PIL decoding processes (default 1)")
    q.add_argument(
        "--decoder",
        choices=("auto", "pil", "nvjpeg", "torchvision"),
        default="auto",
        help="auto (default): nvjpeg on a CUDA device where torchvision can decode JPEGs there, else pil; "
        "torchvision: its CPU decode_jpeg in batches. Non-pil entries are keyed with the decoder's name",
    )
    q.add_argument(
        "--device", default="auto", help="for --decoder nvjpeg/auto: auto (cuda when visible), cuda[:N], cpu"
    )
    q.add_argument("--batch", type=int, default=32, help="JPEGs per batched decode (default 32)")
    q.add_argument("--dry-run", action="store_true", help="only say what is cached, what is missing and its size")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_cache)


def parse_resize(text: str | None, crop_size: int) -> tuple:
    """--resize and --crop-size as bench.data.image_cache resize steps."""
    steps = []
    if text:
        kind, sep, value = text.partition(":")
        try:
            if sep and kind == "short":
                steps.append(("short", int(value)))
            elif "x" in text and not sep:
                w, h = (int(v) for v in text.lower().split("x"))
                steps.append(("fixed", w, h))
            else:
                raise ValueError
        except ValueError:
            raise BenchError(
                f"--resize {text!r}: write short:N (short side to N pixels) or WxH (e.g. 512x384)"
            ) from None
    if crop_size < 1:
        raise BenchError(f"--crop-size must be >= 1, got {crop_size}")
    steps.append(("min", crop_size))
    try:
        from bench.data.resize import normalise_resize

        return normalise_resize(tuple(steps))
    except ValueError as exc:
        raise BenchError(f"{exc}") from None


def pick_decoder(choice: str, device: str) -> tuple[str, str]:
    """--decoder and --device as (decoder, device); a clear error when nvjpeg is asked for and cannot run."""
    from bench.data.decode_batch import nvjpeg_available, resolve_decoder
    from bench.run.devices import check_device, visible_gpus

    check_device(device, backend="dask")  # the form only: a missing GPU is said below, with the fix
    if device == "auto":
        device = "cuda" if choice in ("auto", "nvjpeg") and visible_gpus() else "cpu"
    if choice == "torchvision":
        return choice, "cpu"
    if choice == "nvjpeg" and not nvjpeg_available(device):
        raise BenchError(
            f"--decoder nvjpeg: torchvision cannot decode JPEGs on {device!r} here (it needs a CUDA device and a "
            "CUDA build of torchvision); use --decoder pil (or auto, which falls back to pil)."
        )
    return resolve_decoder(choice, device), device


def cmd_cache(args) -> int:
    from bench.data import cache_build
    from bench.data import image_cache as ic
    from bench.data.datasets import data_kwargs, load_dataset
    from bench.data.resize import resize_key

    steps = parse_resize(args.resize, args.crop_size)
    root = ic.default_root()
    if root is None:
        raise BenchError(f"{ic.ENV}=off disables the image cache; unset it (or set it to a folder) to build one.")
    if args.batch < 1:
        raise BenchError(f"--batch must be at least 1, got {args.batch}")
    decoder, device = pick_decoder(args.decoder, args.device)  # a dry run counts that decoder's entries too
    ds = load_dataset(args.name, **data_kwargs(args))
    cache = ic.ImageCache(root, decoder=decoder)
    paths = [r.path for r in ds.records]
    what = f"{ds.dataset.name} ({len(paths)} images)"
    if args.dry_run:
        plan = cache_build.plan_build(cache, paths, steps)
        free = cache_build.check_free_space(root, 0, what, reserve_bytes=0)
        out = {
            "dataset": ds.dataset.name,
            "images": plan["images"],
            "cached": plan["images"] - plan["missing"],
            "missing": plan["missing"],
            "need_bytes": plan["need_bytes"],
            "total_bytes": plan["total_bytes"],
            "free_bytes": free,
            "fits": plan["need_bytes"] + ic.RESERVE_BYTES <= free,
            "root": str(root),
            "resize": resize_key(steps),
            "decoder": decoder,
        }
        print(
            json.dumps(out, indent=2)
            if args.json
            else f"{what}: {out['cached']} cached, {out['missing']} to build ({cache_build.gib(out['need_bytes'])}; "
            f"{cache_build.gib(free)} free in {root}{'' if out['fits'] else ': DOES NOT FIT'})"
        )
        return 0 if out["fits"] else 1
    if args.jobs < 1:
        raise BenchError(f"--jobs must be at least 1, got {args.jobs}")
    facts = cache_build.build(
        cache,
        paths,
        steps,
        progress=sys.stderr.isatty() and not args.json,
        what=ds.dataset.name,
        jobs=args.jobs,
        device=device,
        batch=args.batch,
    )
    facts.update(dataset=ds.dataset.name, resize=resize_key(steps), decoder=decoder, device=device)
    lost = facts["not_written_disk_full"]
    facts["stored"] = facts["built"] - lost
    if args.json:
        print(json.dumps(facts, indent=2))
        return 1 if lost else 0
    if lost:  # the disk filled during the build (the check up front passed): not a success
        raise ic.CacheDiskFull(
            f"{what}: the disk under {facts['root']} filled up during the build: {lost} of {facts['built']} decoded "
            f"images could not be stored ({facts['stored']} stored, {facts['already_cached']} already cached; "
            f"{cache_build.gib(cache_build.free_bytes(root))} free now). Runs decode the missing ones each time (the same numbers, "
            f"slower). Free space, or point {ic.ENV} at a bigger disk, and run `bench data cache {args.name}` again."
        )
    print(
        f"{what}: {facts['built']} decoded and stored, {facts['already_cached']} already cached, "
        f"{cache_build.gib(facts['bytes'])} in {facts['root']}, {facts['seconds']:.1f} s"
        + (f"; decoded by {facts['decoded_by']} on {device}" if decoder != "pil" else "")
    )
    return 0
