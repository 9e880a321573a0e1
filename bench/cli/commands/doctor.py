"""``bench doctor``: the first command on a new machine. Can this machine run what it found?

    python -m bench doctor [--method NAME[,NAME...]] [--preset paper|demo|ci] [--json]

One screen: Python, torch and CUDA versions; each GPU with its memory and bf16 support; free disk
where the caches and results go; the datasets found (and their layouts); the weight files each method
needs and whether they are found. Exit 0 when every checked method can run on this machine and every
dataset found is complete; 1 otherwise, with the fix for each problem. Missing datasets and a missing
GPU are reported, not problems (the demo data and the CPU always work).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path

MIN_FREE_BYTES = 2 * 2**30  # below this a run may stop on a full disk


def add_parser(sub) -> None:
    from bench.data.datasets import add_data_args

    p = sub.add_parser(
        "doctor",
        help="check this machine: versions, GPUs, disk, datasets, weights (exit 1 + fixes)",
        description=__doc__,
    )
    p.add_argument("--method", default=None, help="only these methods (comma-separated; default: all)")
    p.add_argument("--preset", default="paper", help="check the weights of this preset's parameters (default paper)")
    p.add_argument("--weights-dir", help="also look for weight files in this folder")
    p.add_argument("--out", default="runs", help="results folder a run would write (default runs/)")
    add_data_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _problem(report: dict, what: str, fix: str) -> None:
    report["problems"].append({"what": what, "fix": fix})


def _warn(report: dict, what: str, fix: str = "") -> None:
    report["warnings"].append({"what": what, "fix": fix})


def check_python(report: dict) -> None:
    import sys

    report["python"] = platform.python_version()
    if sys.version_info < (3, 10):
        _problem(report, f"Python {report['python']} is too old", "use Python 3.10 or newer (tested on 3.11)")


def check_torch(report: dict) -> None:
    from importlib import metadata

    from bench.run.devices import visible_gpus

    versions = {}
    for dist in ("torch", "torchvision", "open_clip_torch", "pyiqa", "numpy", "pillow"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    report["versions"] = versions
    report["gpus"] = []
    try:
        import torch
    except ImportError:
        report.update(torch=None, cuda=None, cuda_available=False)
        _problem(
            report,
            "torch is not installed: only nss-svr, the data commands and the reports work",
            "pip install torch==2.14.1 torchvision==0.29.1 && pip install -e '.[all]' 'setuptools<81'",
        )
        return
    report.update(
        torch=torch.__version__,
        cuda=torch.version.cuda,
        cuda_available=bool(torch.cuda.is_available()),
        cudnn=torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    )
    if not report["cuda_available"]:
        if visible_gpus() and os.environ.get("CUDA_VISIBLE_DEVICES") is None:
            _problem(
                report,
                f"the NVIDIA driver lists {visible_gpus()} GPU(s) but torch {torch.__version__} "
                f"(CUDA {torch.version.cuda}) cannot use them",
                "install a CUDA build of torch that matches the driver (see `nvidia-smi`), e.g. "
                "pip install torch==2.14.1 --index-url https://download.pytorch.org/whl/cu130",
            )
        else:
            _warn(
                report,
                "no CUDA GPU: everything runs on the CPU (fine for --data demo; the paper protocols "
                "take days here: `python -m bench perf` estimates them)",
            )
        return
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        bf16 = (props.major, props.minor) >= (8, 0)
        free, total = torch.cuda.mem_get_info(i)
        report["gpus"].append(
            {
                "index": i,
                "name": props.name,
                "memory_gib": round(total / 2**30, 1),
                "free_gib": round(free / 2**30, 1),
                "capability": f"{props.major}.{props.minor}",
                "bf16": bf16,
            }
        )
        if not bf16:
            _warn(
                report,
                f"cuda:{i} ({props.name}) has no native bf16: MP-IQE's amp=auto would emulate it slowly",
                "run with --param amp=off (fp32)",
            )


def _free(path: Path) -> tuple[Path, int, bool]:
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe, shutil.disk_usage(probe).free, os.access(probe, os.W_OK)


def check_disk(report: dict, out: str) -> None:
    from bench.data import cache_build, image_cache
    from bench.data.datasets import cache_root

    places = {"cache ($BENCH_CACHE: demo data, splits)": cache_root(), f"results (--out {out})": Path(out)}
    root = image_cache.default_root()
    if root is not None:
        places["decoded-image cache ($BENCH_IMAGE_CACHE)"] = root
    report["disk"] = []
    for what, path in places.items():
        probe, free, writable = _free(Path(path))
        row = {"what": what, "path": str(Path(path).absolute()), "free_bytes": free, "writable": writable}
        if "decoded-image" in what:
            row["entries"], row["used_bytes"] = image_cache.ImageCache(root).size_bytes()
        report["disk"].append(row)
        if not writable:
            _problem(report, f"{what}: {probe} is not writable", "fix its permissions, or point it elsewhere")
        elif free < MIN_FREE_BYTES:
            _problem(
                report,
                f"{what}: only {cache_build.gib(free)} free in {probe}",
                "free space, or point it at a bigger disk (BENCH_CACHE / BENCH_IMAGE_CACHE / --out)",
            )
    if root is None:
        _warn(report, "BENCH_IMAGE_CACHE=off: every epoch decodes every image again", "unset BENCH_IMAGE_CACHE")


def check_datasets(report: dict, kw: dict) -> None:
    from bench.cli.commands.data import dataset_rows
    from bench.data.datasets import resolve_data_root

    rows = dataset_rows(kw)
    report["data_root"] = str(resolve_data_root(kw.get("data_root")))
    report["datasets"] = rows
    for r in rows:
        if r["status"] == "missing":
            r["fix"] = (
                f"put it under {report['data_root']} in pyiqa's or its authors' layout (docs/DATASETS.md "
                f"has the file names), or pass --dataset-dir {r['name']}=PATH"
            )
        if r["status"] == "incomplete":
            _problem(
                report,
                f"dataset {r['name']}: {r.get('problem', 'incomplete')}",
                f"python -m bench data check {r['name']} (names the missing files), then restore them",
            )
    real = [r for r in rows if r["status"] == "found" and r.get("layout") != "demo"]
    if not real:
        _warn(
            report,
            f"no real dataset found under {report['data_root']} (only the synthetic demo data)",
            "put the datasets there (docs/DATASETS.md), or pass --data-root DIR / --dataset-dir NAME=PATH",
        )


def estimate_image_cache(report: dict, kw: dict, sample: int = 32) -> None:
    """The decoded-image cache's size for the datasets found (image headers of a sample, no decoding)
    against the free space where it lives: a note when it would not fit (runs then decode uncached)."""
    from PIL import Image

    from bench.data import cache_build, image_cache
    from bench.data.datasets import load_dataset
    from bench.data.resize import target_size

    row = next((d for d in report["disk"] if "decoded-image" in d["what"]), None)
    if row is None:
        return
    need = 0
    for d in report["datasets"]:
        if d["status"] != "found":
            continue
        try:
            recs = load_dataset(d["name"], **kw).records
            picked = recs[:: max(1, len(recs) // sample)][:sample]
            sizes = []
            for r in picked:
                with Image.open(r.path) as im:
                    sizes.append(cache_build.entry_bytes(*target_size(*im.size, (("min", 224),))))
            need += int(sum(sizes) / max(1, len(sizes)) * len(recs))
        except Exception:  # noqa: BLE001 -- an estimate; the dataset's own problems are reported above
            continue
    row["need_bytes_estimate"] = need
    short = need - row.get("used_bytes", 0) + image_cache.RESERVE_BYTES - row["free_bytes"]
    if short > 0:
        _warn(
            report,
            f"the decoded-image cache of the datasets found needs ~{cache_build.gib(need)}, more than the "
            f"{cache_build.gib(row['free_bytes'])} free at {row['path']}: runs will decode uncached once it is full",
            "point BENCH_IMAGE_CACHE at a bigger disk, or free space",
        )


def check_methods(report: dict, names: list[str] | None, preset: str | None, weights_dir: str | None) -> None:
    from bench.cli.commands.methods import method_rows
    from methods import registry

    rows = method_rows(weights_dir, preset)
    if names:
        unknown = sorted(set(names) - {r["name"] for r in rows})
        if unknown:
            from bench.core.errors import BenchError, did_you_mean

            raise BenchError(did_you_mean(unknown[0], [r["name"] for r in rows], "method"))
        rows = [r for r in rows if r["name"] in names]
    else:  # the internal test method (noop) only when named
        rows = [r for r in rows if r["name"] not in registry.INTERNAL]
    out = []
    for r in rows:
        entry = {"name": r["name"], "kind": r["kind"], "runs_here": r["available"], "why": r["why"], "weights": []}
        try:
            cls = registry.get_method(r["name"])
            params = cls.make_params(preset if preset in cls.presets else None)
            for w in cls.required_weights(params, Path(weights_dir) if weights_dir else None):
                found = w.found
                entry["weights"].append(
                    {
                        "name": w.name,
                        "file": w.filename,
                        "found": str(found) if found else None,
                        "looked_in": [str(p.parent) for p in w.search_paths][:4],
                        "hint": w.hint,
                    }
                )
        except Exception as exc:  # noqa: BLE001 -- one broken method must not hide the others
            entry["why"] = entry["why"] or f"{type(exc).__name__}: {exc}"
        out.append(entry)
        if r["available"] or r["kind"] == "unavailable":
            continue  # 'unavailable' rows are kept in tables on purpose (no public implementation)
        missing = [w for w in entry["weights"] if not w["found"]]
        if missing:
            what = f"method {r['name']}: weight file(s) not found: {', '.join(w['file'] for w in missing)}"
            fix = (
                f"python -m bench weights fetch {r['name']} (on a machine with internet; --to DIR makes a folder "
                "for this one, then --weights-dir DIR); or by hand: "
                + "; ".join(w["hint"] or f"put {w['file']} in --weights-dir or {w['looked_in'][0]}" for w in missing)
            )
        elif "not installed" in r["why"] or "import failed" in r["why"]:
            what, fix = f"method {r['name']} cannot run here: {r['why']}", "pip install -e '.[all]' 'setuptools<81'"
        else:
            what, fix = f"method {r['name']} cannot run here: {r['why']}", "see `python -m bench methods`"
        _problem(report, what, fix)
    report["methods"] = out


def diagnose(
    kw: dict,
    methods: list[str] | None = None,
    preset: str | None = "paper",
    weights_dir: str | None = None,
    out: str = "runs",
) -> dict:
    report: dict = {"problems": [], "warnings": []}
    check_python(report)
    check_torch(report)
    check_disk(report, out)
    check_datasets(report, kw)
    estimate_image_cache(report, kw)
    check_methods(report, methods, preset, weights_dir)
    report["ok"] = not report["problems"]
    report["exit_code"] = 0 if report["ok"] else 1
    return report


def format_report(r: dict) -> str:
    from bench.data.cache_build import gib

    v = r["versions"]
    lines = [
        f"Python {r['python']}; torch {r.get('torch') or 'MISSING'} (CUDA {r.get('cuda') or '-'}); "
        f"open_clip {v.get('open_clip_torch') or 'missing'}; pyiqa {v.get('pyiqa') or 'missing'}"
    ]
    if r["gpus"]:
        for g in r["gpus"]:
            lines.append(
                f"GPU cuda:{g['index']}: {g['name']}, {g['memory_gib']} GiB ({g['free_gib']} free), "
                f"compute {g['capability']}, bf16 {'yes' if g['bf16'] else 'NO'}"
            )
    else:
        lines.append("GPU: none visible to torch (CPU only)")
    for d in r["disk"]:
        extra = f", {d['entries']} entries using {gib(d['used_bytes'])}" if "entries" in d else ""
        if d.get("need_bytes_estimate"):
            extra += f"; the datasets found need ~{gib(d['need_bytes_estimate'])}"
        lines.append(
            f"disk: {d['what']}: {gib(d['free_bytes'])} free at {d['path']}{extra}"
            + ("" if d["writable"] else " (NOT WRITABLE)")
        )
    found = [x for x in r["datasets"] if x["status"] == "found"]
    lines.append(
        f"datasets under {r['data_root']}: "
        + (", ".join(f"{x['name']} ({x['layout']}, {x['n_images']} images)" for x in found) or "none found")
    )
    absent = [x["name"] for x in r["datasets"] if x["status"] == "missing"]
    if absent:
        lines.append(
            f"  not found: {', '.join(absent)}: put them under {r['data_root']} (docs/DATASETS.md), "
            "or pass --dataset-dir NAME=PATH"
        )
    lines.append("methods:")
    for m in r["methods"]:
        files = (
            ", ".join(
                f"{w['file']} "
                + (
                    "found"
                    if w["found"]
                    else "MISSING"
                    if not m["runs_here"]
                    else "not on disk (downloaded on first use: online)"
                )
                for w in m["weights"]
            )
            or "no weight files"
        )
        lines.append(f"  {m['name']:<22} {'runs here' if m['runs_here'] else 'cannot run':<11} {files}")
    for w in r["warnings"]:
        lines.append(f"note: {w['what']}" + (f" -> {w['fix']}" if w["fix"] else ""))
    for p in r["problems"]:
        lines.append(f"PROBLEM: {p['what']}\n  fix: {p['fix']}")
    lines.append(
        "OK: this machine can run what it found."
        if r["ok"]
        else f"{len(r['problems'])} problem(s): fix them and run `python -m bench doctor` again."
    )
    return "\n".join(lines)


def run(args) -> int:
    from bench.data.datasets import data_kwargs
    from bench.run.planning import check_preset

    check_preset(args.preset, [])
    names = [m.strip() for m in args.method.split(",") if m.strip()] if args.method else None
    report = diagnose(data_kwargs(args), names, args.preset, args.weights_dir, args.out)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return report["exit_code"]
