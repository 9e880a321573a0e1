"""``bench perf`` for MP-IQE: plain CLIP vs MP-IQE inference vs one MP-IQE training step.

All three run in one process, on the same backbone, device, crop batch and crop size, and are
timed interleaved (round-robin over repeats) so that background load on a shared machine hits them
alike; the best (minimum) time of each is reported, as timeit does (load only ever adds time), with
the medians alongside. Inference uses the text features of the prompts computed once (as
``predict`` does); a training step includes its one text-encoder pass, the forward, backward and
Adam step over all crops (micro-batched like ``fit``).
"""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import asdict, dataclass, field

# The paper's intra protocol (Table 1): images per dataset (LIVE, CSIQ, KADID-10k, LIVE Challenge, BID, KonIQ-10k)
PAPER_INTRA_SIZES = {"live": 779, "csiq": 866, "kadid10k": 10125, "livec": 1162, "bid": 586, "koniq10k": 10073}


@dataclass
class PerfResult:
    method: str
    backbone: str
    device: str
    device_name: str
    batch: int
    crop_size: int
    n_crops: int
    dtype: str
    repeats: int
    threads: int
    seconds: dict[str, float] = field(default_factory=dict)  # best (min) per call: least disturbed by load
    seconds_median: dict[str, float] = field(default_factory=dict)
    crops_per_s: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    peak_memory_mb: dict[str, float] = field(default_factory=dict)
    trainable_params: int = 0
    intra_estimate_h: float = 0.0
    intra_estimate_detail: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_mb() -> float:
    # ru_maxrss is KiB on Linux: the process's peak so far (it never goes down)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def intra_estimate(
    train_cps: float, infer_cps: float, n_crops: int, epochs: int, splits: int = 10, test_fraction: float = 0.2
) -> tuple[float, dict[str, float]]:
    """Hours for the paper's intra protocol (6 sets x splits x epochs), compute only (no decoding)."""
    detail = {}
    for name, n in PAPER_INTRA_SIZES.items():
        n_test = round(n * test_fraction)
        n_train = n - n_test
        s = splits * (n_train * n_crops * epochs / train_cps + n_test * n_crops / infer_cps)
        detail[name] = s / 3600.0
    return sum(detail.values()), detail


def run_perf(
    method_name: str = "mpiqe",
    backbone: str = "ViT-B-16",
    pretrained: str = "none",
    device: str = "cpu",
    batch: int = 64,
    repeats: int = 3,
    warmup: int = 1,
    preset: str = "paper",
    overrides: dict | None = None,
    progress: bool = False,
) -> PerfResult:
    import torch

    from methods import registry
    from methods.base import RunContext
    from methods.clip_backbone import register_tiny_configs
    from methods.mpiqe import MPIQE, MPIQEConfigError
    from methods.mpiqe import train as T
    from methods.mpiqe.model import count_trainable

    cls = registry.get_method(method_name)
    if not (isinstance(cls, type) and issubclass(cls, MPIQE)):
        raise MPIQEConfigError(f"bench perf measures mpiqe and visual-only, not {method_name!r}")
    if batch < 1:
        raise MPIQEConfigError(f"--batch must be >= 1 crop, got {batch}")
    register_tiny_configs()
    import open_clip

    cfg = open_clip.get_model_config(backbone)
    if cfg is None:
        from methods.clip_backbone import check_backbone

        check_backbone(backbone)  # raises with did-you-mean
    size = cfg["vision_cfg"]["image_size"]
    size = size[0] if isinstance(size, (list, tuple)) else int(size)
    values = dict(backbone=backbone, pretrained=pretrained, crop_size=size)
    values.update(overrides or {})
    params = cls.make_params(preset if preset in cls.presets else None, **values)
    method = cls(params, RunContext(device=device))
    dev = method._device()
    torch.manual_seed(0)
    model = method.build()
    clip = model.clip
    p = method.settings()
    k = min(p["n_crops"], batch)
    n_img = max(1, batch // k)
    batch = n_img * k  # whole images
    autocast = T.autocast_for(dev, p["amp"])
    micro = T.micro_batch_images(p["micro_batch"], k, dev)
    g = torch.Generator().manual_seed(0)
    crops = torch.rand(n_img, k, 3, size, size, generator=g).to(dev)
    flat = crops.flatten(0, 1)
    from bench.data.device_input import normalise

    norm = normalise(flat, model.mean, model.std)
    step_batch = {
        "crops": crops,
        "target": torch.rand(n_img, generator=g),
        "scene": torch.nn.functional.one_hot(torch.arange(n_img) % 9, 9).float(),
        "distortion": torch.arange(n_img) % 11,
    }
    weights = T.LossWeights(
        scene=1.0 if model.text is not None and "scene" in model.text.branches else 0.0,
        dist=1.0 if model.text is not None and "distortion" in model.text.branches else 0.0,
    )
    opt = T.make_optimizer(model, lr=1e-9, weight_decay=0.0)

    @torch.no_grad()
    def clip_infer():
        for i in range(0, batch, micro * k):
            with autocast:
                clip.encode_image(norm[i : i + micro * k])

    model.eval()
    with torch.no_grad(), autocast:
        text = model.text_features(use_cache=True)

    @torch.no_grad()
    def mpiqe_infer():
        for i in range(0, n_img, micro):
            with autocast:
                model(crops[i : i + micro].flatten(0, 1), text, need_alignment=False)

    def mpiqe_train():
        model.train()
        T.train_step(model, opt, step_batch, weights, dev, micro, autocast)
        model.eval()

    phases = {"clip_inference": clip_infer, "mpiqe_inference": mpiqe_infer, "mpiqe_train_step": mpiqe_train}
    times: dict[str, list[float]] = {n: [] for n in phases}
    peaks: dict[str, float] = {}
    for rep in range(warmup + repeats):
        for name, fn in phases.items():
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            _sync(dev)
            t0 = time.perf_counter()
            fn()
            _sync(dev)
            dt = time.perf_counter() - t0
            if rep >= warmup:
                times[name].append(dt)
            peaks[name] = max(
                peaks.get(name, 0.0), torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else _rss_mb()
            )
            if progress:
                which = f"warm-up {rep + 1}/{warmup}" if rep < warmup else f"rep {rep - warmup + 1}/{repeats}"
                print(f"  {name:18s} {which}: {dt:.3f} s", flush=True)
    res = PerfResult(
        method=cls.name,
        backbone=backbone,
        device=str(dev),
        device_name=torch.cuda.get_device_name(dev) if dev.type == "cuda" else _cpu_name(),
        batch=batch,
        crop_size=size,
        n_crops=k,
        dtype="bf16 autocast" if (p["amp"] == "bf16" or (p["amp"] == "auto" and dev.type == "cuda")) else "fp32",
        repeats=repeats,
        threads=torch.get_num_threads(),
        trainable_params=count_trainable(model),
    )
    for name, ts in times.items():
        res.seconds[name] = min(ts)
        res.seconds_median[name] = statistics.median(ts)
        res.crops_per_s[name] = batch / res.seconds[name]
        res.peak_memory_mb[name] = round(peaks[name], 1)
    base = res.crops_per_s["clip_inference"]
    res.ratios = {
        "inference/clip": res.crops_per_s["mpiqe_inference"] / base,
        "train_step/clip": res.crops_per_s["mpiqe_train_step"] / base,
    }
    res.intra_estimate_h, res.intra_estimate_detail = intra_estimate(
        res.crops_per_s["mpiqe_train_step"], res.crops_per_s["mpiqe_inference"], p["n_crops"], p["epochs"]
    )
    res.notes.append(
        f"intra estimate: 6 datasets x 10 splits x {p['epochs']} epochs x {p['n_crops']} crops, 80/20 split, "
        "compute only (decoding and data loading not included)"
    )
    if dev.type != "cuda":
        res.notes.append("CPU peak memory is the process's peak RSS so far (monotonic across phases)")
    return res


def _cpu_name() -> str:
    import platform

    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def format_result(r: PerfResult) -> str:
    lines = [
        f"bench perf: {r.method} on {r.backbone}, {r.device} ({r.device_name}), {r.dtype}, "
        f"{r.batch} crops of {r.crop_size}x{r.crop_size} ({r.batch // r.n_crops} images x {r.n_crops}), "
        f"best of {r.repeats}, {r.threads} threads",
        f"  trainable parameters: {r.trainable_params:,}",
    ]
    labels = {
        "clip_inference": "(1) open_clip encode_image",
        "mpiqe_inference": "(2) MP-IQE inference",
        "mpiqe_train_step": "(3) MP-IQE training step",
    }
    for name, label in labels.items():
        lines.append(
            f"  {label:28s} {r.crops_per_s[name]:10.2f} crops/s  {r.seconds[name]:8.3f} s/batch "
            f"(median {r.seconds_median[name]:.3f})  peak {r.peak_memory_mb[name]:9.1f} MiB"
        )
    lines.append(f"  ratio (2)/(1) = {r.ratios['inference/clip']:.3f}   (target >= 0.90)")
    lines.append(f"  ratio (3)/(1) = {r.ratios['train_step/clip']:.3f}   (target >= 0.40)")
    lines.append(
        f"  paper intra protocol on this device: ~{r.intra_estimate_h:.1f} h  ("
        + ", ".join(f"{k} {v:.1f} h" for k, v in r.intra_estimate_detail.items())
        + ")"
    )
    lines += [f"  note: {n}" for n in r.notes]
    return "\n".join(lines)
