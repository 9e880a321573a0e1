"""Building CLIP backbones with open_clip: one factory for every CLIP-based method.

``create_clip(backbone, pretrained, device)`` returns ``(model, info)``:

* ``pretrained='openai'`` (or any open_clip tag): the published weights. Files already on disk
  (``weights_dir``, open_clip's URL cache, the Hugging Face cache) are used first; online,
  open_clip downloads them; offline (``HF_HUB_OFFLINE=1``) a missing file is a fast
  :class:`~bench.core.errors.WeightsMissing` that names the file and where to put it.
* ``pretrained='/path/to/ViT-B-16.pt'``: a local checkpoint (OpenAI TorchScript archive,
  open_clip ``.bin``/``.pt`` state dict or ``.safetensors``).
* ``pretrained='none'``: random weights (offline smoke tests, ``bench perf``).

OpenAI's CLIP was trained with QuickGELU; open_clip's plain ``ViT-B-16`` config uses nn.GELU,
so the factory forces QuickGELU whenever the weights (or, for ``none``, the backbone's ``openai``
weights) were trained with it. ``quick_gelu`` overrides that choice.

``register_tiny_configs()`` adds the tiny test configs shipped in ``methods/clip_configs``
(2 layers, width 64, 64x64 input: milliseconds per batch on CPU) to open_clip's registry.
Nothing here imports torch or open_clip at module import time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from bench.core.errors import BenchError, WeightsMissing, did_you_mean

CONFIG_DIR = Path(__file__).with_name("clip_configs")
TINY_BACKBONE = "biqa-tiny-vit"
NO_WEIGHTS = ("none", "random", "")
RANDOM_INIT_SEED = 0  # pretrained='none' builds the same random weights every time


class BackboneError(BenchError):
    """An unknown backbone or pretrained tag."""


@dataclass(frozen=True)
class ClipInfo:
    backbone: str
    pretrained: str  # tag, file path, or 'none'
    weights_file: str | None  # the file actually loaded
    quick_gelu: bool
    image_size: int
    embed_dim: int  # joint image-text space width
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def register_tiny_configs() -> None:
    import open_clip

    if TINY_BACKBONE not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)


def local_config_names() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def hf_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it (1/true/yes/on, any case)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _url_cache_dir() -> Path:
    # open_clip's download_pretrained_from_url default
    return Path(os.path.expanduser("~/.cache/clip"))


def _hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
    )
    return Path(hf_home) / "hub"


# The weights the paper uses, known without importing open_clip (which imports torch), so that
# ``Method.availability`` stays cheap. Same values as open_clip.pretrained.
_KNOWN_TAGS = {
    ("ViT-B-16", "openai"): {
        "url": "https://openaipublic.azureedge.net/clip/models/"
        "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
        "hf_hub": "timm/vit_base_patch16_clip_224.openai/",
        "quick_gelu": True,
    },
    ("RN50", "openai"): {  # CLIP-IQA's backbone
        "url": "https://openaipublic.azureedge.net/clip/models/"
        "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
        "hf_hub": "timm/resnet50_clip.openai/",
        "quick_gelu": True,
    },
}


def tag_config(backbone: str, tag: str) -> dict:
    """open_clip's pretrained config for (backbone, tag), or {}."""
    if (backbone, tag) in _KNOWN_TAGS:
        return dict(_KNOWN_TAGS[(backbone, tag)])
    from open_clip.pretrained import get_pretrained_cfg

    return dict(get_pretrained_cfg(backbone, tag) or {})


def weight_candidates(backbone: str, tag: str, weights_dir: Path | None = None) -> tuple[str, list[Path]]:
    """(the file name to ask the user for, every place a usable copy may already be)."""
    cfg = tag_config(backbone, tag)
    url, hub = cfg.get("url", ""), cfg.get("hf_hub", "")
    url_name = os.path.basename(url) if url else ""
    hub_id, hub_file = os.path.split(hub) if hub else ("", "")
    names = [n for n in (url_name, hub_file) if n] or [f"{backbone}-{tag}.pt"]
    hub_names = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"] if hub and not hub_file else []
    paths: list[Path] = []
    # --weights-dir, open_clip's URL cache, pyiqa's OpenAI CLIP folder (<torch hub>/clip)
    from methods.base import torch_hub_dir

    for folder in ([Path(weights_dir)] if weights_dir else []) + [_url_cache_dir(), torch_hub_dir() / "clip"]:
        paths += [folder / n for n in names + hub_names]
    if hub_id:
        snap = _hf_cache_dir() / ("models--" + hub_id.replace("/", "--")) / "snapshots"
        if snap.is_dir():
            for n in [hub_file] if hub_file else hub_names:
                paths += sorted(snap.glob(f"*/{n}"))
    return names[0], paths


def _missing_message(backbone: str, tag: str, filename: str, weights_dir: Path | None, cause: str = "") -> str:
    cfg = tag_config(backbone, tag)
    where = f"{weights_dir}/{filename}" if weights_dir else f"--weights-dir DIR (as DIR/{filename})"
    src = cfg.get("url") or (
        f"https://huggingface.co/{os.path.split(cfg.get('hf_hub', ''))[0]}" if cfg.get("hf_hub") else ""
    )
    msg = (
        f"CLIP weights {backbone} ({tag}) are not on disk and cannot be downloaded here"
        f"{' (HF_HUB_OFFLINE=1)' if hf_offline() else ''}. Put the file {filename} at {where}"
        f"{f' (download it from {src})' if src else ''}, or pass --pretrained /path/to/{filename}; "
        "use pretrained 'none' for an offline smoke test with random weights."
    )
    return msg + (f" Cause: {cause}" if cause else "")


def check_backbone(backbone: str) -> None:
    import open_clip

    if backbone in local_config_names():
        register_tiny_configs()
    if backbone not in open_clip.list_models():
        raise BackboneError(
            did_you_mean(backbone, open_clip.list_models(), "CLIP backbone")
            + f" Tiny test configs live in {CONFIG_DIR}."
        )


def _default_quick_gelu(backbone: str, tag: str | None) -> bool:
    """QuickGELU when the weights were trained with it; for random/local weights, as the openai weights."""
    from open_clip import get_model_config

    cfg = get_model_config(backbone) or {}
    if cfg.get("quick_gelu"):
        return True
    if tag:
        return bool(tag_config(backbone, tag).get("quick_gelu", False))
    return bool(tag_config(backbone, "openai").get("quick_gelu", False))


@contextlib.contextmanager
def _quiet_random_init():
    """Drop open_clip's 'No pretrained weights loaded' warning: random weights were asked for."""

    class _Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "No pretrained weights loaded" not in record.getMessage()

    root, flt = logging.getLogger(), _Drop()
    root.addFilter(flt)
    try:
        yield
    finally:
        root.removeFilter(flt)


def _load_file(model, path: str) -> None:
    """open_clip's loader, plus OpenAI's TorchScript archives (which weights_only torch.load refuses)."""
    import warnings

    import open_clip
    import torch

    try:
        with warnings.catch_warnings():  # torch.load hands OpenAI's TorchScript archives to jit.load itself
            warnings.filterwarnings("ignore", message=".*looks like a TorchScript archive.*")
            open_clip.load_checkpoint(model, path)
        return
    except Exception as first:  # noqa: BLE001 -- fall back to TorchScript, re-raise the first if that fails too
        try:
            with warnings.catch_warnings():  # OpenAI ships TorchScript; jit.load's deprecation is not the user's to fix
                warnings.simplefilter("ignore", FutureWarning)
                sd = torch.jit.load(path, map_location="cpu").state_dict()
        except Exception:
            raise BenchError(f"cannot load CLIP checkpoint {path}: {first}") from first
    for key in ("input_resolution", "context_length", "vocab_size"):
        sd.pop(key, None)
    if "logit_scale" in sd and sd["logit_scale"].ndim != model.logit_scale.ndim:
        sd["logit_scale"] = sd["logit_scale"].reshape(model.logit_scale.shape)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise BenchError(
            f"CLIP checkpoint {path} does not fit this backbone ({exc}); "
            "pass the backbone it was trained for, e.g. --param backbone=ViT-B-16"
        ) from exc


def create_clip(
    backbone: str = "ViT-B-16",
    pretrained: str = "openai",
    device: str = "cpu",
    weights_dir: Path | str | None = None,
    quick_gelu: bool | None = None,
):
    """Build an open_clip CLIP model in eval mode. Returns ``(model, ClipInfo)``."""
    check_backbone(backbone)
    import open_clip

    weights_dir = Path(weights_dir) if weights_dir else None
    pretrained = (pretrained or "none").strip()
    tag: str | None = None
    weights_file: str | None = None
    if pretrained.lower() in NO_WEIGHTS:
        pretrained = "none"
    elif os.path.sep in pretrained or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors")):
        if not Path(pretrained).is_file():
            raise WeightsMissing(
                f"CLIP checkpoint {pretrained} does not exist; pass an existing file, "
                "a pretrained tag such as 'openai', or 'none'."
            )
        weights_file = pretrained
    else:
        tags = open_clip.list_pretrained_tags_by_model(backbone)
        if pretrained not in tags:
            raise BackboneError(
                did_you_mean(pretrained, tags or ["none"], f"pretrained tag for {backbone}")
                + " Or pass a checkpoint path, or 'none'."
            )
        tag = pretrained
        filename, candidates = weight_candidates(backbone, tag, weights_dir)
        found = next((p for p in candidates if p.is_file()), None)
        if found is not None:
            weights_file = str(found)
        elif hf_offline():
            raise WeightsMissing(_missing_message(backbone, tag, filename, weights_dir))
    if quick_gelu is None:
        quick_gelu = _default_quick_gelu(backbone, tag)

    try:
        if tag is not None and weights_file is None:  # online: let open_clip download into its caches
            model = open_clip.create_model(backbone, pretrained=tag, force_quick_gelu=quick_gelu, device="cpu")
        elif weights_file:
            with _quiet_random_init():  # the file's weights replace the random ones right after
                model = open_clip.create_model(
                    backbone, pretrained=None, force_quick_gelu=quick_gelu, device="cpu", pretrained_text=False
                )
            _load_file(model, weights_file)
        else:
            # random weights, but the same ones every time: a checkpoint of the trainable parts
            # saved on top of them reloads to identical predictions
            import torch

            with torch.random.fork_rng(devices=[]), _quiet_random_init():
                torch.manual_seed(RANDOM_INIT_SEED)
                model = open_clip.create_model(
                    backbone, pretrained=None, force_quick_gelu=quick_gelu, device="cpu", pretrained_text=False
                )
    except BenchError:
        raise
    except RuntimeError as exc:
        if tag is not None and "download" in str(exc).lower():
            filename, _ = weight_candidates(backbone, tag, weights_dir)
            raise WeightsMissing(_missing_message(backbone, tag, filename, weights_dir, cause=str(exc))) from exc
        raise
    model = model.to(device).eval()
    cfg = tag_config(backbone, tag) if tag else {}
    mean = tuple(cfg.get("mean") or getattr(model.visual, "image_mean", None) or open_clip.OPENAI_DATASET_MEAN)
    std = tuple(cfg.get("std") or getattr(model.visual, "image_std", None) or open_clip.OPENAI_DATASET_STD)
    size = model.visual.image_size
    info = ClipInfo(
        backbone=backbone,
        pretrained=tag or pretrained,
        weights_file=weights_file,
        quick_gelu=bool(quick_gelu),
        image_size=int(size[0] if isinstance(size, (tuple, list)) else size),
        embed_dim=int(
            model.text_projection.shape[-1]
            if hasattr(model, "text_projection") and model.text_projection is not None
            else model.visual.output_dim
        ),
        mean=mean,
        std=std,
    )
    return model, info


def describe_weights(backbone: str, pretrained: str, weights_dir: Path | None = None) -> tuple[str, list[Path], str]:
    """(file name, candidate paths, hint) for ``Method.required_weights``; ([] when nothing is needed)."""
    p = (pretrained or "none").strip()
    if p.lower() in NO_WEIGHTS:
        return "", [], ""
    if os.path.sep in p or p.endswith((".pt", ".pth", ".bin", ".safetensors")):
        return os.path.basename(p), [Path(p)], "the checkpoint path given as pretrained"
    try:
        filename, paths = weight_candidates(backbone, p, weights_dir)
        cfg = tag_config(backbone, p)
    except Exception:  # open_clip missing: report the generic name
        return f"{backbone}-{p}.pt", [], "install open_clip_torch"
    src = cfg.get("url") or cfg.get("hf_hub", "")
    return filename, paths, (f"download {src} into --weights-dir" if src else "")


def weight_url(backbone: str, pretrained: str) -> str:
    """The direct download address of an open_clip tag's file ('' when it has none: a path, 'none')."""
    p = (pretrained or "none").strip()
    if p.lower() in NO_WEIGHTS or os.path.sep in p or p.endswith((".pt", ".pth", ".bin", ".safetensors")):
        return ""
    try:
        return tag_config(backbone, p).get("url", "")
    except Exception:  # open_clip missing
        return ""


def config_json(name: str) -> dict:
    return json.loads((CONFIG_DIR / f"{name}.json").read_text())


# --- image features at any input size (CLIP-IQA scores the full image) ----------------------------
POS_EMBEDDING_MODES = ("none", "interpolate")


def positional_table(table, n_tokens: int, mode: str):
    """The positional embedding used for ``n_tokens`` tokens (class/mean token first), as the official
    CLIP-IQA code (IceClear/CLIP-IQA, mmedit/models/components/clip/model.py) handles other input sizes:
    'none' leaves it out (its CLIPIQAFixed default, pos_embedding=False); 'interpolate' resizes the
    (tokens x width) table bicubically to (n_tokens x width) -- a resampling of the flattened token
    sequence, not of the 2-D grid, exactly as the original does. At the trained size 'interpolate'
    returns the table unchanged."""
    import torch
    import torch.nn.functional as F

    if mode == "none":
        return torch.zeros(n_tokens, table.shape[1], dtype=table.dtype, device=table.device)
    if mode == "interpolate":
        if n_tokens == table.shape[0]:
            return table
        return F.interpolate(table[None, None], size=(n_tokens, table.shape[1]), mode="bicubic", align_corners=False)[
            0, 0
        ]
    raise BackboneError(f"pos_embedding={mode!r}: choose one of {', '.join(POS_EMBEDDING_MODES)}")


def min_input_side(model) -> int:
    """The smallest input side the image tower gives one feature cell for (RN: stride 32; ViT: a patch)."""
    visual = model.visual
    if hasattr(visual, "attnpool"):
        return 32
    return int(max(visual.patch_size))


def encode_image_any_size(model, x, pos_embedding: str = "none"):
    """open_clip image features of ``x`` [B, 3, H, W] (normalised) at its own size, with the positional
    embedding handled by ``positional_table``: the ResNet's attention pool (RN50) or the ViT's token
    embedding gets a table for this input's token count. The tower's own code does the rest
    (``torch.func.functional_call`` swaps the one tensor for the call)."""
    from torch.func import functional_call

    visual = model.visual
    if hasattr(visual, "attnpool"):  # open_clip ModifiedResNet
        feats = visual.layer4(visual.layer3(visual.layer2(visual.layer1(visual.stem(x)))))
        pool = visual.attnpool
        table = positional_table(pool.positional_embedding, feats.shape[2] * feats.shape[3] + 1, pos_embedding)
        return functional_call(pool, {"positional_embedding": table}, (feats,))
    if hasattr(visual, "positional_embedding") and hasattr(visual, "patch_size"):  # open_clip VisionTransformer
        ph, pw = visual.patch_size
        n = (x.shape[-2] // ph) * (x.shape[-1] // pw) + 1
        table = positional_table(visual.positional_embedding, n, pos_embedding)
        return functional_call(visual, {"positional_embedding": table}, (x,))
    raise BackboneError(
        f"{type(visual).__name__} image towers cannot encode arbitrary input sizes here; "
        "use an RN or ViT CLIP backbone, or test_input=crops"
    )
