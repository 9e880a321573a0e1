"""``bench perf --methods``: the efficiency table, one record per method (issue 23).

Per method, built with its real construction code (``Method.build``; weight files from the cache, or fake ones
of the right shapes where the real ones are missing -- the record says ``weights: fake``, speed and size do not
depend on the values):

* ``params_total`` / ``params_trainable`` (what the method's fit trains);
* ``gflops``: one forward pass over one image's test input, counted by ``torch.utils.flop_counter.FlopCounterMode``
  (matrix products and convolutions, incl. attention; NOT counted: element-wise ops, normalisation, softmax,
  pooling, resizing, data loading; ``gmacs`` = gflops / 2);
* ``latency_s``: median seconds per image at the method's test mode (its crops, or its whole resized image) and at
  pyiqa's 1080x800 reference image (``latency_1080x800_s``: the same test procedure on a 1080x800 image; for
  crop-based tests that is the same network input);
* ``peak_mem_mb``: CUDA ``max_memory_allocated`` over the test-mode pass; CPU: the peak RSS of the measuring
  process (each method is measured in its own process, so this is that method's own peak);
* ``train_crops_per_s`` for trained methods: one optimiser step (forward, the method's loss, backward) per timed
  repeat at ``train_batch`` crops.

Methods without a torch network (the classical and pyiqa zero-shot ones) are listed as skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TABLE_METHODS = (
    "mpiqe",
    "visual-only",
    "liqe",
    "hyperiqa",
    "dbcnn",
    "paq2piq",
    "unique",
    "musiq",
    "metaiqa",
    "tres",
    "dacnn",
    "clipiqa+-pyiqa",
    "vit-biqa",
    "topiq",
    "maniqa",
    "qualiclip",
)
REFERENCE_HW = (800, 1080)  # pyiqa tests/Efficiency_benchmark.csv: one 1080x800 image
TEST_IMAGE_WH = (1024, 768)  # a KonIQ-10k image for the test mode


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device, repeats: int, warmup: int = 1, grad: bool = False) -> float:
    import torch

    with torch.set_grad_enabled(grad):
        return _timed_runs(fn, device, repeats, warmup)


def _timed_runs(fn, device, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _flops(fn) -> float:
    """GFLOPs of ``fn()``, run with autograd on: FlopCounterMode's module tracker fails on some models under
    no_grad (tensors that require grad without a grad_fn)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.enable_grad(), FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def _peak_mb(device) -> float:
    import resource

    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:  # VmHWM: this process's own peak (ru_maxrss survives exec: it would include the parent's)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _count(params) -> int:
    return int(sum(p.numel() for p in params))


def _mpiqe_probe(method, device, train_batch: int):
    """(params, trainable, test_fn, reference_fn, train_fn) of MP-IQE / visual-only."""
    import torch

    from methods.mpiqe import train as T

    model = method.build().to(device)
    p = method.settings()
    k, s = int(p["n_crops"]), int(p["crop_size"])
    crops = torch.rand(k, 3, s, s, device=device)
    model.eval()
    autocast = T.autocast_for(device, p["amp"])
    with torch.no_grad(), autocast:
        text = model.text_features(use_cache=True)

    def test():
        with autocast:
            return model(crops, text, need_alignment=False)["score"].float().mean()

    n_img = max(1, train_batch // k)
    batch = {
        "crops": torch.rand(n_img, k, 3, s, s, device=device),
        "target": torch.rand(n_img),
        "scene": torch.nn.functional.one_hot(torch.arange(n_img) % 9, 9).float(),
        "distortion": torch.arange(n_img) % 11,
    }
    weights = T.LossWeights(
        scene=1.0 if model.text is not None and "scene" in model.text.branches else 0.0,
        dist=1.0 if model.text is not None and "distortion" in model.text.branches else 0.0,
    )
    opt = T.make_optimizer(model, lr=1e-9, weight_decay=0.0)
    micro = T.micro_batch_images(p["micro_batch"], k, device)

    def train():
        model.train()
        T.train_step(model, opt, batch, weights, device, micro, autocast)
        model.eval()

    trainable = [q for q in model.parameters() if q.requires_grad]
    mode = f"{k} crops of {s}"
    return list(model.parameters()), trainable, test, test, train, n_img * k, mode, mode


def _all_parameters(net) -> list:
    """Every parameter the forward pass uses, also of a frozen model kept in a plain list to stay out of the module
    tree (CLIP-IQA+: ``self.clip = [model]``; pyiqa's ``clip_model = [model]``)."""
    from torch import nn

    hidden = [
        m
        for sub in net.modules()
        for v in vars(sub).values()
        if isinstance(v, (list, tuple))
        for m in v
        if isinstance(m, nn.Module)
    ]
    return list({id(q): q for m in [net, *hidden] for q in m.parameters()}.values())


def _retrained_probe(method, device, train_batch: int):
    import torch

    from methods.retrained.data import resized_size

    model = method._ensure_model()
    net = model.net.to(device).eval()
    recipe = method.recipe_for(method.params, "koniq10k")
    test, s = recipe.test, int(recipe.crop_size)

    def input_for(wh):
        if test["mode"] == "crops":
            return torch.rand(1, int(test["n_crops"]), 3, s, s, device=device), f"{test['n_crops']} crops of {s}"
        w, h = resized_size(wh, test.get("resize"))
        return torch.rand(1, 1, 3, h, w, device=device), f"whole image {w}x{h}"

    x_test, mode = input_for(TEST_IMAGE_WH)
    x_ref, ref_mode = input_for(REFERENCE_HW[::-1])

    def scorer(x):
        def run():
            return model.pool(net, x)

        return run

    k = recipe.train_crops_per_image if recipe.pool_train_crops else 1
    n = max(1, train_batch // k)
    xb = torch.rand(n, k, 3, s, s, device=device)
    yb = torch.rand(n, device=device)
    params = _all_parameters(net)
    trainable = list(model.backbone) + list(model.head)
    opt = torch.optim.SGD(trainable, lr=1e-9)

    def train():
        net.train()
        loss = sum(method.loss_terms(net, xb, yb).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        net.eval()

    return params, trainable, scorer(x_test), scorer(x_ref), train, n * k, mode, ref_mode


def measure_one(
    name: str,
    device: str = "cpu",
    preset: str = "paper",
    overrides: dict | None = None,
    repeats: int = 3,
    train_batch: int | None = None,
    weights: str = "real",
) -> dict:
    """The efficiency record of one method (in this process)."""
    import torch

    from methods import registry
    from methods.base import RunContext
    from methods.mpiqe import MPIQE
    from methods.retrained.engine import TrainedRegressor

    cls = registry.get_method(name)
    dev = torch.device(device)
    rec = {
        "method": name,
        "device": str(dev),
        "preset": preset,
        "weights": weights,
        "threads": torch.get_num_threads(),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else _cpu_name(),
    }
    values = dict(overrides or {})
    if issubclass(cls, MPIQE):
        values.setdefault("pretrained", "none")  # random CLIP weights: the same architecture and cost
        rec["weights"] = "random (pretrained=none)"
    params = cls.make_params(preset if preset in cls.presets else None, **values)
    method = cls(params, RunContext(seed=0, device=str(dev)))
    batch = train_batch or (64 if dev.type == "cuda" else 8)
    torch.manual_seed(0)
    if issubclass(cls, MPIQE):
        probe = _mpiqe_probe(method, dev, batch)
    elif issubclass(cls, TrainedRegressor):
        probe = _retrained_probe(method, dev, batch)
    else:
        return {**rec, "skipped": "no torch network to measure (classical or pyiqa zero-shot method)"}
    all_params, trainable, test, reference, train, train_crops, mode, ref_mode = probe
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rec.update(
        params_total=_count(all_params),
        params_trainable=_count({id(q): q for q in trainable}.values()),
        test_mode=mode,
        reference_mode=ref_mode,
        gflops=_flops(test),
    )
    rec["gmacs"] = rec["gflops"] / 2
    rec["latency_s"] = _timed(test, dev, repeats)
    rec["peak_mem_mb"] = _peak_mb(dev)
    rec["peak_mem_kind"] = "cuda max_memory_allocated" if dev.type == "cuda" else "process peak RSS"
    rec["latency_1080x800_s"] = rec["latency_s"] if ref_mode == mode else _timed(reference, dev, repeats)
    if getattr(cls, "trains", True):
        rec["train_batch_crops"] = train_crops
        try:
            rec["train_crops_per_s"] = train_crops / _timed(train, dev, max(1, repeats - 1), grad=True)
        except (RuntimeError, ValueError, TypeError) as exc:  # a loss on other samples (UNIQUE's image pairs)
            rec["train_error"] = f"{type(exc).__name__}: {exc}"[:200]
    return rec


def _cpu_name() -> str:
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def fake_weights_home() -> Path | None:
    """A private TORCH_HOME with fake weight files of the right shapes (tests/fake_weights.py, present in a
    checkout), or None where that module is not available. Never the user's cache."""
    import tempfile

    root = Path(__file__).resolve().parents[1]
    if not (root / "tests" / "fake_weights.py").is_file():
        return None
    sys.path.insert(0, str(root))
    from tests.fake_weights import make_fake_cache

    home = Path(tempfile.mkdtemp(prefix="bench-efficiency-fake-weights-"))
    return make_fake_cache(home, full_clip=True)  # full-size CLIP files: the real architecture


def measure(
    names,
    device: str = "cpu",
    preset: str = "paper",
    overrides: dict | None = None,
    repeats: int = 3,
    train_batch: int | None = None,
    timeout_s: float = 600,
    progress: bool = False,
) -> list[dict]:
    """One record per method, each measured in its own process (its own peak memory; a crash costs one row).
    Real weight files first; where building with them fails, again with fake ones in a private TORCH_HOME."""
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if progress else (lambda m: None)
    records, fake = [], {}
    try:
        for name in names:
            records.append(
                _measure_in_process(name, device, preset, overrides, repeats, train_batch, timeout_s, say, fake)
            )
    finally:  # the fake files are a few hundred MB (full-size CLIP): never left behind in the temp folder
        if fake.get("home") is not None:
            shutil.rmtree(fake["home"], ignore_errors=True)
    return records


def _measure_in_process(name, device, preset, overrides, repeats, train_batch, timeout_s, say, fake: dict) -> dict:
    """One method's record from a fresh process: real weights first, then fake ones (made once, in ``fake``)."""
    rec = None
    for weights in ("real", "fake"):
        env = dict(os.environ)
        if weights == "fake":
            if "home" not in fake:
                fake["home"] = fake_weights_home()
            if fake["home"] is None:
                break
            env.update(TORCH_HOME=str(fake["home"]), HF_HOME=str(fake["home"] / "hf"), HF_HUB_OFFLINE="1")
        say(f"efficiency: {name} ({weights} weights) ...")
        args = json.dumps([name, device, preset, overrides or {}, repeats, train_batch, weights])
        code = (
            "import json, sys; from methods.efficiency import measure_one; "
            "a = json.loads(sys.argv[1]); print('EFFICIENCY ' + json.dumps(measure_one(*a)))"
        )
        try:
            out = subprocess.run(
                [sys.executable, "-c", code, args],
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout_s,
                cwd=str(Path(__file__).resolve().parents[1]),
                check=False,
            )
        except subprocess.TimeoutExpired:
            rec = {"method": name, "device": device, "error": f"timed out after {timeout_s:.0f} s"}
            break
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("EFFICIENCY ")]
        if out.returncode == 0 and line:
            rec = json.loads(line[-1][len("EFFICIENCY ") :])
            break
        err = (out.stderr.strip().splitlines() or ["no output"])[-1]
        rec = {"method": name, "device": device, "error": err[:300]}
    return rec


def format_table(records: list[dict]) -> str:
    head = (
        f"{'method':15} {'params M':>9} {'trainable M':>11} {'GFLOPs':>8} {'test s/img':>10} {'1080x800 s':>10} "
        f"{'peak MB':>8} {'train crops/s':>13}  test mode / weights"
    )
    lines = [head]
    for r in records:
        if "error" in r or "skipped" in r:
            lines.append(f"{r['method']:15} {'-- ' + r.get('error', r.get('skipped', ''))}")
            continue
        train = f"{r['train_crops_per_s']:13.1f}" if "train_crops_per_s" in r else f"{'-':>13}"
        lines.append(
            f"{r['method']:15} {r['params_total'] / 1e6:9.2f} {r['params_trainable'] / 1e6:11.2f} "
            f"{r['gflops']:8.2f} {r['latency_s']:10.4f} {r['latency_1080x800_s']:10.4f} "
            f"{r['peak_mem_mb']:8.0f} {train}  {r['test_mode']}; {r['weights']}"
        )
    if records:
        r0 = next((r for r in records if "device_name" in r), records[0])
        lines.append(
            f"device: {r0.get('device')} ({r0.get('device_name', '?')}), {r0.get('threads', '?')} threads; "
            "GFLOPs: FlopCounterMode, matmul/conv only (no element-wise, norm, softmax, pooling)"
        )
    return "\n".join(lines)
