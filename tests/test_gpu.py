"""CUDA checks (``python -m pytest -m gpu``; ``scripts/gpu-check`` runs them). Skipped without a GPU.

MP-IQE on ViT-B-16 with random weights (bf16 fit of a few steps + predict, peak GPU memory recorded),
CPU-vs-CUDA agreement of the tiny config in fp32, the CUDA loader (pinned, non-blocking side-stream
copies, workers) giving the CPU loader's crops, and two workers claiming two GPUs when two exist.
Facts go to $GPU_CHECK_OUT/gpu-facts.json when that is set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def record(name: str, value) -> None:
    out = os.environ.get("GPU_CHECK_OUT")
    if not out:
        return
    path = Path(out) / "gpu-facts.json"
    facts = json.loads(path.read_text()) if path.is_file() else {}
    facts[name] = value
    path.write_text(json.dumps(facts, indent=2))


@pytest.fixture(scope="module")
def demo_images():
    from bench.data.datasets import load_dataset

    ds = load_dataset("demo-a")
    return ds.subset([r.id for r in ds.records[:16]])


def _fit_predict(cls_name, preset, images, device, tmp_path, **overrides):
    from bench.data import pipeline
    from methods.base import RunContext
    from methods.registry import get_method

    cls = get_method(cls_name)
    params = cls.make_params(preset, **overrides)
    method = cls(params, RunContext(seed=0, device=device, workdir=tmp_path))
    pipeline.enter_cell(device=device, image_cache=tmp_path / "image-cache")
    try:
        method.fit(images, None)
        return method, np.asarray(method.predict(images), dtype=np.float64)
    finally:
        pipeline.exit_cell()


def test_mpiqe_vit_b16_bf16_fit_and_predict(demo_images, tmp_path):
    import time

    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    method, preds = _fit_predict(
        "mpiqe",
        "paper",
        demo_images,
        "cuda:0",
        tmp_path,
        pretrained="none",
        epochs=1,
        warmup_epochs=0,
        batch_size=8,
        amp="bf16",
    )
    seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**20
    total = torch.cuda.get_device_properties(0).total_memory / 2**20
    record(
        "mpiqe_vit_b16_bf16",
        {
            "images": len(demo_images),
            "fit_predict_s": round(seconds, 2),
            "peak_gpu_mib": round(peak, 1),
            "gpu_total_mib": round(total, 1),
            "gpu": torch.cuda.get_device_name(0),
        },
    )
    assert preds.shape == (len(demo_images),) and np.isfinite(preds).all()
    assert 0 < peak < total
    assert next(method.model.parameters()).is_cuda


def test_cpu_and_cuda_agree_on_the_tiny_config_in_fp32(demo_images, tmp_path):
    from scipy.stats import spearmanr

    torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32 (the patch embedding is a convolution)
    torch.backends.cuda.matmul.allow_tf32 = False
    _, cpu = _fit_predict("mpiqe", "ci", demo_images, "cpu", tmp_path / "cpu", amp="off")
    _, gpu = _fit_predict("mpiqe", "ci", demo_images, "cuda:0", tmp_path / "gpu", amp="off")
    diff = float(np.max(np.abs(cpu - gpu)))
    span = float(np.ptp(cpu)) or 1.0
    record(
        "cpu_vs_cuda_tiny_fp32",
        {"max_abs_diff": diff, "prediction_span": span, "spearman": float(spearmanr(cpu, gpu)[0])},
    )
    assert diff <= 5e-3 * span + 1e-4  # a few fp32 steps: reduction order differs, nothing more


def test_cuda_loader_gives_the_cpu_loaders_crops(demo_images, tmp_path):
    from bench.data.image_cache import ImageCache
    from bench.data.images import CropDataset, DeviceLoader, make_loader

    def epochs(loader, ds):
        out = []
        for e in range(2):
            ds.set_epoch(e)
            out.append([(b["index"].clone(), b["crops"].cpu().clone()) for b in loader])
        return out

    ds = CropDataset(
        demo_images.records, n_crops=8, crop_size=224, train=True, seed=1, cache=ImageCache(tmp_path / "c")
    )
    cuda = make_loader(ds, batch_size=4, shuffle=True, num_workers=2, seed=3, device="cuda:0")
    assert isinstance(cuda, DeviceLoader) and cuda.loader.pin_memory and cuda.loader.persistent_workers
    first = next(iter(cuda))
    assert first["crops"].is_cuda and not first["index"].is_cuda
    got = epochs(cuda, ds)
    ref = epochs(
        make_loader(
            CropDataset(demo_images.records, n_crops=8, crop_size=224, train=True, seed=1, cache=None),
            batch_size=4,
            shuffle=True,
            num_workers=0,
            seed=3,
        ),
        ds,
    )
    for e_got, e_ref in zip(got, ref):
        for (i1, c1), (i2, c2) in zip(e_got, e_ref):
            assert torch.equal(i1, i2) and torch.equal(c1, c2)


def _claim(claims: str, q) -> None:
    import time

    from bench.run.devices import claim_gpu

    q.put(claim_gpu(torch.cuda.device_count(), Path(claims)))
    time.sleep(3)  # stay alive while the other worker claims


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_two_workers_claim_two_gpus(tmp_path):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(str(tmp_path), q)) for _ in range(2)]
    for p in procs:
        p.start()
    gpus = sorted(q.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    record("two_workers_gpus", gpus)
    assert gpus == [0, 1]


def _tiny_baseline_cell(images, device, tmp_path, workers, cache):
    """A retrained baseline through the real engine (methods/retrained/engine.py) on a tiny conv net: the
    training inputs it saw (after the flips) and its predictions."""
    from methods.base import RunContext
    from methods.retrained.engine import TrainedRegressor, recipe_dataclass

    class TinyBaseline(TrainedRegressor):
        name = "tiny-baseline"
        Params = recipe_dataclass(
            "TinyBaselineParams",
            crop_size=64,
            batch_size=4,
            epochs=2,
            train_crops=2,
            test_crops=2,
            hflip=True,
            vflip=True,
            lr=1e-3,
        )
        seen: list = []

        def build(self):
            from tests.tiny_models import tiny_conv_trainable

            return tiny_conv_trainable()

        def loss_terms(self, net, x, y, y_std=None):
            assert x.device.type == torch.device(device).type
            self.seen.append(x.detach().cpu().clone())
            return super().loss_terms(net, x, y, y_std)

    m = TinyBaseline(
        TinyBaseline.Params(),
        RunContext(seed=0, device=device, workdir=tmp_path, num_workers=workers, image_cache=cache),
    )
    m.seen = []
    m.fit(images)
    return torch.cat(m.seen), m.predict(images)


def test_baseline_engine_on_cuda_sees_the_cpu_crops(demo_images, tmp_path):
    """PatchDataset through make_loader on CUDA (pinned, persistent workers, the image cache, non-blocking
    copies; the flips on the device): the same training inputs as on the CPU with 0 workers, no cache."""
    from bench.data.images import DeviceLoader, make_loader
    from methods.retrained.data import PatchDataset

    loader = make_loader(
        PatchDataset(demo_images.records, 64, 2, None, train=True, cache=tmp_path / "c"),
        batch_size=4,
        shuffle=True,
        num_workers=2,
        device="cuda:0",
    )
    assert isinstance(loader, DeviceLoader) and loader.loader.pin_memory and loader.loader.persistent_workers
    assert next(iter(loader))["x"].is_cuda
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    x_cpu, p_cpu = _tiny_baseline_cell(demo_images, "cpu", tmp_path / "cpu", 0, None)
    x_gpu, p_gpu = _tiny_baseline_cell(demo_images, "cuda:0", tmp_path / "gpu", 2, tmp_path / "images")
    assert torch.equal(x_cpu, x_gpu)
    diff = float(np.max(np.abs(p_cpu - p_gpu)))
    record("baseline_engine_cpu_vs_cuda", {"inputs_equal": True, "max_abs_pred_diff": diff})
    assert diff <= 1e-3 * (float(np.ptp(p_cpu)) or 1.0) + 1e-5


def test_deterministic_reruns_are_bit_identical(demo_images, tmp_path):
    """--deterministic (bench/core/numerics.py) on CUDA: MP-IQE's tiny config trained twice gives the same bits, and
    the flags and CUBLAS_WORKSPACE_CONFIG are in force during the cell. (Run in a fresh process the workspace
    variable is read when cuBLAS starts; here cuBLAS may have started already, which the comparison shows.)"""
    from bench.core.numerics import cell_numerics

    runs = []
    for k in range(2):
        with cell_numerics("auto", deterministic=True):
            assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
            assert not torch.backends.cudnn.benchmark and os.environ.get("CUBLAS_WORKSPACE_CONFIG")
            _, preds = _fit_predict("mpiqe", "ci", demo_images, "cuda:0", tmp_path / f"det{k}", amp="bf16")
        runs.append(preds)
    assert not torch.are_deterministic_algorithms_enabled()
    record("deterministic_rerun_max_abs_diff", float(np.max(np.abs(runs[0] - runs[1]))))
    assert np.array_equal(runs[0], runs[1])


def test_float64_on_cuda_matches_cpu_float64(demo_images, tmp_path):
    """--precision float64 on CUDA and on the CPU: the tiny MP-IQE within the CI regression's tolerance."""
    from bench.core.numerics import cell_numerics

    out = {}
    for device in ("cpu", "cuda:0"):
        with cell_numerics("float64"):
            _, out[device] = _fit_predict("mpiqe", "ci", demo_images, device, tmp_path / device.replace(":", ""))
    diff = float(np.max(np.abs(out["cpu"] - out["cuda:0"])))
    record("cpu_vs_cuda_tiny_float64_max_abs_diff", diff)
    assert diff <= 1e-6 * (float(np.ptp(out["cpu"])) or 1.0)
