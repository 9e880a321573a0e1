"""Fake weight caches for offline tests: the exact file names pyiqa, torchvision and timm look
for, filled with random values of the right shapes.

Layout written under ``root`` (use it as TORCH_HOME, and ``root / 'hf'`` as HF_HOME; or pass
``root / 'hub'`` as --weights-dir)::

    hub/checkpoints/resnet50-0676ba61.pth                 torchvision
    hub/pyiqa/DBCNN_KonIQ10k-2de81c0a.pth ...              pyiqa release files
    hub/clip/RN50.pt, ViT-B-32.pt                          OpenAI CLIP for pyiqa's loader
    hf/hub/models--timm--resnet50.a1_in1k/snapshots/<rev>/pytorch_model.bin   timm

To keep files small, every large tensor is a strided view into one shared random buffer
(``torch.save`` stores the buffer once): full shapes, about 2 MB on disk. Shapes come from models
built on the meta device (no memory, no random init; integer buffers are only BatchNorm counters,
written as zeros); an architecture that cannot be built there (LIQE moves its CLIP) is built for
real. OpenAI CLIP files are
*tiny* CLIP models by default (pyiqa infers the CLIP architecture from the file), because a
full CLIP text tower over LIQE's 495 prompts costs minutes on CPU; ``full_clip=True`` writes
full-size ones.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

BUFFER = 1 << 19  # floats; the largest span (CLIP's 49408-token embedding) is ~346k
REVISION = "0" * 40
FORMAT = 3  # bump when the fake files change: part of the shared cache's name


def _strided(shape: tuple[int, ...], base, offset: int):
    import torch

    if len(shape) == 0:
        return base[offset % BUFFER].clone()
    # strides: last dim 1, others small primes -> overlapping windows of the buffer
    primes = [7, 13, 17, 19, 23]
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = primes[i % len(primes)]
    span = sum((s - 1) * st for s, st in zip(shape, strides)) + 1
    if span > BUFFER:
        raise ValueError(f"tensor of shape {shape} too large for the fake buffer")
    start = offset % (BUFFER - span + 1)
    return torch.as_strided(base, shape, strides, start)


def fake_state_dict(state_dict: dict, seed: int = 0) -> dict:
    """Same keys, shapes and dtypes; random values (small: scaled like a fan-in init)."""
    import torch

    # numpy's generator, not torch.randn: torch's normal fill runs other code per CPU capability (measured: another
    # buffer under ATEN_CPU_CAPABILITY=default than avx2), so the fake weights -- and the CI golden values -- would
    # depend on the CPU that wrote them. device="cpu" explicit: callers may be inside torch.device('meta').
    normal = np.random.default_rng(seed).standard_normal(BUFFER).astype(np.float32) * np.float32(0.05)
    base = torch.tensor(normal, device="cpu")
    out = {}
    rng = np.random.default_rng(seed)
    for k, v in state_dict.items():
        if not torch.is_tensor(v):
            out[k] = v
            continue
        if not v.is_floating_point():  # counters (num_batches_tracked): zeros when built on meta
            out[k] = torch.zeros(v.shape, dtype=v.dtype, device="cpu") if v.is_meta else v.clone()
            continue
        t = _strided(tuple(v.shape), base, int(rng.integers(0, BUFFER)))
        if k.endswith("running_var") or (k.endswith("weight") and v.ndim == 1):
            t = t + 1.0  # norm scales and running variances: positive, around 1 (small copies)
        out[k] = t.to(v.dtype)
    return out


def _save(obj, path: Path) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def torchvision_fakes(hub: Path, archs=("vgg16", "resnet18", "resnet34", "resnet50")) -> None:
    import torch
    import torchvision

    from methods.weights import TORCHVISION_FILES

    for arch in archs:
        with torch.device("meta"):
            sd = getattr(torchvision.models, arch)(weights=None).state_dict()
        _save(fake_state_dict(sd), hub / "checkpoints" / TORCHVISION_FILES[arch])


TIMM_MODELS = (
    "resnet50.a1_in1k",  # HyperIQA, TOPIQ
    "vit_base_patch16_224.augreg2_in21k_ft_in1k",  # ViT-BIQA
    "vit_base_patch8_224.augreg2_in21k_ft_in1k",  # MANIQA
)


def timm_fakes(hf_home: Path, models=TIMM_MODELS) -> None:
    import timm
    import torch

    for model in models:
        arch = model.split(".")[0]
        with torch.device("meta"):
            sd = timm.create_model(arch, pretrained=False).state_dict()
        repo = hf_home / "hub" / f"models--timm--{model}"
        _save(fake_state_dict(sd), repo / "snapshots" / REVISION / "pytorch_model.bin")
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(REVISION)


def clip_fakes(hub: Path, backbones=("RN50", "ViT-B/32"), full: bool = False) -> None:
    """OpenAI CLIP state dicts in pyiqa's format (it rebuilds the model from the shapes)."""
    from pyiqa.archs.clip_model import CLIP

    from methods.weights import PYIQA_CLIP_FILES

    for backbone in backbones:
        if backbone.startswith("RN"):
            cfg = (
                dict(embed_dim=1024, vision_layers=(3, 4, 6, 3), vision_width=64)
                if full
                else dict(embed_dim=64, vision_layers=(1, 1, 1, 1), vision_width=8)
            )
            cfg.update(vision_patch_size=None)
        else:
            patch = int(backbone.split("/")[1])
            cfg = (
                dict(embed_dim=512, vision_layers=12, vision_width=768)
                if full
                else dict(embed_dim=64, vision_layers=1, vision_width=64)
            )
            cfg.update(vision_patch_size=patch)
        width = 512 if full else 64
        model = CLIP(
            image_resolution=224,
            context_length=77,
            vocab_size=49408,
            transformer_width=width,
            transformer_heads=max(1, width // 64),
            transformer_layers=12 if full else 1,
            **cfg,
        )
        sd = fake_state_dict(model.state_dict())
        save_openai_archive(sd, hub / "clip" / PYIQA_CLIP_FILES[backbone])


def save_openai_archive(state_dict: dict, path: Path, share_storage: bool = False) -> Path:
    """A TorchScript archive whose state_dict() is ``state_dict``, as OpenAI ships CLIP. Each tensor is
    stored contiguously; ``share_storage=True`` registers them as they are (views of one buffer stay one
    storage on disk: a full-size RN50 is ~2.5 MB)."""
    import torch
    from torch import nn

    class Holder(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    root = Holder()
    for key, value in state_dict.items():
        *parents, leaf = key.split(".")
        mod = root
        for name in parents:
            if not hasattr(mod, name):
                mod.add_module(name, Holder())
            mod = getattr(mod, name)
        mod.register_buffer(leaf, value if share_storage else value.clone(memory_format=torch.contiguous_format))
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        torch.jit.save(torch.jit.script(root), str(path))
    return path


def pyiqa_fakes(hub: Path, names=None) -> None:
    """pyiqa release files, written from the architectures themselves (built on the fakes above)."""
    import torch
    from scipy.io import savemat

    from methods.weights import offline_weights

    names = set(names or PYIQA_FILES)
    pq = hub / "pyiqa"
    pq.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    def wanted(f):
        return f in names

    # classical: model parameter files with the keys pyiqa reads
    if wanted("niqe_modelparameters.mat"):
        a = rng.normal(size=(36, 36))
        savemat(
            pq / "niqe_modelparameters.mat",
            {"mu_prisparam": rng.normal(size=(1, 36)), "cov_prisparam": a @ a.T + np.eye(36)},
        )
    if wanted("ILNIQE_templateModel.mat"):
        # ILNIQE: mean/cov of 1+... features after PCA (pyiqa reads templateModel[0][0..3])
        d, raw = 430, 468  # PCA dimension, raw feature dimension
        a = rng.normal(size=(d, d)) * 0.1
        tm = np.empty((1, 4), dtype=object)
        tm[0, 0] = rng.normal(size=(1, d))
        tm[0, 1] = a @ a.T + np.eye(d)
        tm[0, 2] = rng.normal(size=(raw, 1))
        tm[0, 3] = rng.normal(size=(raw, d)) * 0.05
        savemat(pq / "ILNIQE_templateModel.mat", {"templateModel": tm})
    if wanted("brisque_svm_weights.pth"):
        torch.save((torch.randn(64, 1) * 0.1, torch.rand(64, 36)), pq / "brisque_svm_weights.pth")

    import pyiqa  # noqa: F401  (registers archs)
    from pyiqa.archs import build_network

    def build(filename, opts):
        if filename == "DBCNN_scnn-7ea73d75.pth":
            from pyiqa.archs.dbcnn_arch import SCNN

            return SCNN()
        if filename == "UNIQUE.pt":
            import pyiqa.archs.unique_arch as ua

            real, ua.load_pretrained_network = ua.load_pretrained_network, lambda *a, **k: None
            try:
                return ua.UNIQUE()
            finally:
                ua.load_pretrained_network = real
        return build_network(dict(opts))

    with offline_weights(hub):
        for filename, opts, key in ARCH_FILES:
            if not wanted(filename):
                continue
            try:  # shapes only: on the meta device, no memory and no random init
                with torch.device("meta"), warnings.catch_warnings():
                    # backbones loaded from the fakes above land in meta tensors: a no-op, said per tensor
                    warnings.filterwarnings("ignore", message=".*copying from a non-meta parameter.*")
                    sd = build(filename, opts).state_dict()
            except (NotImplementedError, RuntimeError):  # moves loaded weights around (LIQE's CLIP)
                sd = build(filename, opts).state_dict()
            sd = fake_state_dict(sd)
            _save({key: sd} if key else sd, pq / filename)
    if wanted(QUALICLIP):
        qualiclip_fake(hub)
    if wanted(CLIPIQA_PROMPTS):
        with offline_weights(hub):
            net = build_network(dict(type="CLIPIQA", model_type="clipiqa", backbone="RN50"))
            width = net.clip_model[0].ln_final.weight.shape[0]
            torch.save(torch.randn(2, 16, width) * 0.02, pq / CLIPIQA_PROMPTS)  # a bare tensor, like the release


def qualiclip_fake(hub: Path) -> Path:
    """pyiqa's QualiCLIP.pth as the release lays it out (miccunifi/QualiCLIP hubconf.py ``_load_checkpoint``):
    ``clip_model.<CLIP RN50 key>`` for every tensor of the CLIP model + ``prompts_features`` (the 14 antonym
    prompts' normalised text features), shaped after the (fake) RN50.pt already in ``hub/clip``; other values
    than RN50.pt's, so a test can tell which file a weight came from."""
    import torch
    from pyiqa.archs.clip_model import load

    from methods.weights import offline_weights

    with offline_weights(hub):
        clip = load("RN50", "cpu")
    sd = {f"clip_model.{k}": v for k, v in fake_state_dict(clip.state_dict(), seed=31).items()}
    g = torch.Generator().manual_seed(31)
    sd["prompts_features"] = torch.nn.functional.normalize(
        torch.randn(14, clip.text_projection.shape[1], generator=g), dim=-1
    )
    return _save(sd, hub / "pyiqa" / QUALICLIP)


# (file, build_network options for an architecture of the right shapes, top-level key or None)
ARCH_FILES = [
    ("DBCNN_scnn-7ea73d75.pth", {}, None),
    ("DBCNN_KonIQ10k-2de81c0a.pth", {"type": "DBCNN", "pretrained": False}, "params"),
    ("HyperIQA-resnet50-koniq10k-c96c41b1.pth", {"type": "HyperNet", "pretrained": False}, "params"),
    ("tres_koniq-f0502926.pth", {"type": "TReS", "pretrained": False}, None),
    ("musiq_koniq_ckpt-e95806b9.pth", {"type": "MUSIQ", "pretrained": False, "num_class": 1}, None),
    ("musiq_imagenet_pretrain-51d9b0a5.pth", {"type": "MUSIQ", "pretrained": False, "num_class": 1}, None),
    ("liqe_koniq.pt", {"type": "LIQE", "pretrained": False}, "params"),
    ("Metaiqa_prior.pth", {"type": "MetaIQA", "pretrained": False}, None),
    ("Metaiqa_livec.pth", {"type": "MetaIQA", "pretrained": False}, "params"),
    ("UNIQUE.pt", {}, None),
    ("P2P_RoIPoolModel-fit.10.bs.120-ca69882e.pth", {"type": "PAQ2PIQ", "pretrained": False}, None),
]
CLIPIQA_PROMPTS = "CLIP-IQA%2B_learned_prompts-603f3273.pth"  # pyiqa keeps the URL's quoting
QUALICLIP = "QualiCLIP.pth"  # QualiCLIP's self-supervised CLIP RN50 (pyiqa's copy of the release)
PYIQA_FILES = [
    "niqe_modelparameters.mat",
    "ILNIQE_templateModel.mat",
    "brisque_svm_weights.pth",
    CLIPIQA_PROMPTS,
    QUALICLIP,
] + [f for f, _, _ in ARCH_FILES]


def make_fake_cache(root: Path, pyiqa_files=None, full_clip: bool = False) -> Path:
    """Write every fake file under ``root`` (TORCH_HOME layout + HF cache in root/'hf'); returns root.

    Idempotent and safe to share between sessions: the files are built in a scratch folder and
    renamed into place once complete; a finished ``root`` is reused as is."""
    import os
    import shutil
    import tempfile

    root = Path(root)
    if (root / ".complete").is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=root.name + "-", dir=root.parent))
    hub = work / "hub"
    torchvision_fakes(hub)
    timm_fakes(work / "hf")
    clip_fakes(hub, full=full_clip)
    old = os.environ.get("HF_HOME")
    os.environ["HF_HOME"] = str(work / "hf")  # HyperIQA's timm backbone is read from there
    try:
        pyiqa_fakes(hub, pyiqa_files)
    finally:
        if old is None:
            os.environ.pop("HF_HOME")
        else:
            os.environ["HF_HOME"] = old
    (work / ".complete").write_text("ok")
    try:
        os.rename(work, root)
    except OSError:  # another session finished first: use theirs
        shutil.rmtree(work, ignore_errors=True)
    return root


def session_fake_root(pyiqa_files=None) -> Path:
    """A fake cache shared by test sessions on this machine (beside conftest's per-process caches),
    named after the library versions and the file set, so a stale one is never reused."""
    import hashlib
    import os
    from importlib.metadata import version

    what = ",".join(sorted(pyiqa_files or PYIQA_FILES))
    what += "|" + ",".join(version(p) for p in ("torch", "torchvision", "timm", "pyiqa")) + f"|format {FORMAT}"
    tag = hashlib.sha1(what.encode()).hexdigest()[:12]
    return Path(os.environ["BENCH_CACHE"]).parent.parent / f"fake-weights-{tag}"


def classical_fake_hub(root: Path) -> Path:
    """Only the cheap files (NIQE / IL-NIQE / BRISQUE parameters), in a TORCH_HOME layout."""
    hub = Path(root) / "hub"
    if not (hub / "pyiqa" / "brisque_svm_weights.pth").is_file():
        pyiqa_fakes(hub, ["niqe_modelparameters.mat", "ILNIQE_templateModel.mat", "brisque_svm_weights.pth"])
    return Path(root)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Autouse in the modules that import it. Tiny tensors: one intra-op thread is faster, and on a
    busy 2-core machine many times faster (no OpenMP spin-waits for a descheduled thread)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
