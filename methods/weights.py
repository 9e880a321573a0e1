"""Where baseline weight files live, and loading them offline with clear errors.

Three loaders fetch weights behind our back: pyiqa (``<torch hub>/pyiqa/<file>``, plus
OpenAI CLIP files in ``<torch hub>/clip``), torchvision (``<torch hub>/checkpoints/<file>``)
and timm (the Hugging Face cache, ``models--timm--<model>/snapshots/*/<file>``).
``WeightSpec`` builders below describe those files without importing torch, so
``bench methods`` can say found/missing cheaply.

``offline_weights(weights_dir)`` is the context every pyiqa/torchvision/timm model is built
in: it intercepts the four download functions so that a file is taken from ``--weights-dir``
first, then the usual cache, and a missing file raises ``WeightsMissing`` at once (naming
the file, where to put it and where to get it) instead of a network timeout. Nothing is
written into the user's caches: files found elsewhere are linked into a private folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from bench.core.errors import WeightsMissing
from methods.base import WeightSpec, torch_hub_dir
from methods.checkpoints import guarded_torch_load, release_mismatch
from methods.weight_fetch import HF_SNAPSHOT

PYIQA_HF_REPO = "chaofengc/IQA-PyTorch-Weights"
# pyiqa's OpenAI CLIP loader: backbone -> file name in <torch hub>/clip
PYIQA_CLIP_FILES = {"RN50": "RN50.pt", "ViT-B/32": "ViT-B-32.pt", "ViT-B/16": "ViT-B-16.pt", "ViT-L/14": "ViT-L-14.pt"}
# where OpenAI releases them (openai/CLIP clip/clip.py _MODELS, as pyiqa 0.1.16 archs/clip_model.py copies it)
_OPENAI_CLIP = "https://openaipublic.azureedge.net/clip/models/"
OPENAI_CLIP_URLS = {
    "RN50": _OPENAI_CLIP + "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
    "ViT-B/32": _OPENAI_CLIP + "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    "ViT-B/16": _OPENAI_CLIP + "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
    "ViT-L/14": _OPENAI_CLIP + "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
}
# torchvision ImageNet checkpoints (IMAGENET1K_V1) the pyiqa architectures build on
TORCHVISION_FILES = {
    "vgg16": "vgg16-397923af.pth",
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth",
    "efficientnet_b0": "efficientnet_b0_rwightman-7f5810bc.pth",  # DACNN's two streams
}


def downloads_allowed() -> bool:
    """Offline unless the user opted in: HF_HUB_OFFLINE=1 (our default in tests/CI) forbids downloads."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() not in ("1", "true", "yes", "on")


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache, computed from the environment now (like huggingface_hub does at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return Path(xdg) / "huggingface" / "hub"


def _candidates(filename: str, sub: str, weights_dir: Path | None) -> tuple[Path, ...]:
    """--weights-dir first (flat or with the cache's sub-folder), then the torch hub cache.

    pyiqa keeps URL-quoted names ('CLIP-IQA%2B_...'); the unquoted spelling is accepted too."""
    from urllib.parse import unquote

    names = dict.fromkeys([filename, unquote(filename)])
    paths: list[Path] = []
    for name in names:
        if weights_dir is not None:
            paths += [Path(weights_dir) / name, Path(weights_dir) / sub / name]
        paths.append(torch_hub_dir() / sub / name)
    return tuple(paths)


def pyiqa_url(filename: str) -> str:
    """Where pyiqa downloads its release file ``filename`` from."""
    return f"https://huggingface.co/{PYIQA_HF_REPO}/resolve/main/{filename}"


def pyiqa_weight(filename: str, weights_dir: Path | None = None, name: str | None = None) -> WeightSpec:
    return WeightSpec(
        name=name or f"pyiqa {filename}",
        filename=filename,
        search_paths=_candidates(filename, "pyiqa", weights_dir),
        hint=f"{pyiqa_url(filename)} -> {torch_hub_dir() / 'pyiqa'}/",
        url=pyiqa_url(filename),
    )


def torchvision_weight(arch: str, weights_dir: Path | None = None) -> WeightSpec:
    filename = TORCHVISION_FILES[arch]
    return WeightSpec(
        name=f"torchvision {arch} ImageNet",
        filename=filename,
        search_paths=_candidates(filename, "checkpoints", weights_dir),
        hint=f"https://download.pytorch.org/models/{filename} -> {torch_hub_dir() / 'checkpoints'}/",
        url=f"https://download.pytorch.org/models/{filename}",
    )


def pyiqa_clip_weight(backbone: str, weights_dir: Path | None = None) -> WeightSpec:
    filename = PYIQA_CLIP_FILES[backbone]
    return WeightSpec(
        name=f"OpenAI CLIP {backbone} (pyiqa loader)",
        filename=filename,
        search_paths=_candidates(filename, "clip", weights_dir),
        hint=f"{OPENAI_CLIP_URLS[backbone]} -> {torch_hub_dir() / 'clip'}/",
        url=OPENAI_CLIP_URLS[backbone],
    )


def hf_snapshot_files(repo_id: str, filenames: tuple[str, ...]) -> list[Path]:
    """Existing files of a repo in the HF cache (any snapshot), in preference order."""
    folder = hf_hub_cache() / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    found: list[Path] = []
    for filename in filenames:
        found += sorted(folder.glob(f"*/{filename}"))
    return found


def hf_repo_weight(repo_id: str, weights_dir: Path | None = None) -> WeightSpec:
    """A whole Hugging Face model repository that transformers loads with ``from_pretrained`` from the HF cache
    (Q-Align's OneAlign): present when a snapshot of it holds ``config.json``. Its file list (weight shards,
    tokenizer, processor) is the hub's, so ``bench weights fetch`` downloads it with huggingface_hub's
    ``snapshot_download``; ``--weights-dir`` does not apply (transformers reads the HF cache, $HF_HUB_CACHE)."""
    found = hf_snapshot_files(repo_id, ("config.json",))
    default = hf_hub_cache() / ("models--" + repo_id.replace("/", "--")) / "snapshots" / "<revision>" / "config.json"
    return WeightSpec(
        name=f"Hugging Face repository {repo_id}",
        filename="config.json",
        search_paths=tuple(found or [default]),
        hint=f"the whole repository: `python -m bench weights fetch` or `huggingface-cli download {repo_id}` "
        f"(HF cache {hf_hub_cache()})",
        url=HF_SNAPSHOT + repo_id,
    )


TIMM_FILES = ("model.safetensors", "pytorch_model.bin")


def timm_weight(hf_repo: str, weights_dir: Path | None = None) -> WeightSpec:
    """A timm checkpoint from the HF hub ('timm/resnet50.a1_in1k')."""
    model = hf_repo.split("/", 1)[-1]
    paths: list[Path] = []
    if weights_dir is not None:
        for f in TIMM_FILES:
            paths += [Path(weights_dir) / hf_repo / f, Path(weights_dir) / model / f]
        paths += [Path(weights_dir) / f"{model}.safetensors", Path(weights_dir) / f"{model}.pth"]
    snapshots = hf_snapshot_files(hf_repo, TIMM_FILES)
    default = hf_hub_cache() / ("models--" + hf_repo.replace("/", "--")) / "snapshots" / "<revision>" / TIMM_FILES[0]
    paths += snapshots or [default]
    return WeightSpec(
        name=f"timm {model}",
        filename=TIMM_FILES[0],
        search_paths=tuple(paths),
        hint=f"`huggingface-cli download {hf_repo}` (HF cache {hf_hub_cache()}) or {weights_dir or '<weights-dir>'}/{hf_repo}/model.safetensors",
        url=f"https://huggingface.co/{hf_repo}/resolve/main/{TIMM_FILES[0]}",
    )


def _missing(filename: str, where: Path, weights_dir: Path | None, url: str) -> WeightsMissing:
    wd = f" or into --weights-dir ({weights_dir})" if weights_dir else " or into a folder passed as --weights-dir"
    return WeightsMissing(
        f"weight file {filename!r} is not on disk and downloads are off (HF_HUB_OFFLINE=1). "
        f"Put it at {where / filename}{wd}; get it from {url}, or with `python -m bench weights fetch METHOD` "
        "(every file a method needs, SHA-256 checked; --to DIR makes a folder for an offline machine)"
    )


class _Resolver:
    """Finds weight files for the intercepted downloaders; links them where the loader expects them."""

    def __init__(self, weights_dir: Path | None, notes: list[str] | None = None):
        self.weights_dir = Path(weights_dir) if weights_dir else None
        self.notes = notes
        self.real_hub = torch_hub_dir()
        self.requested: list[str] = []
        self.loaded: list[Path] = []  # the files handed to the loaders (score cache keys hash them)

    def find(self, filename: str, sub: str) -> Path | None:
        return next((p for p in _candidates(filename, sub, self.weights_dir) if p.is_file()), None)

    def provide(self, url: str, dst: str, sub: str, original) -> None:
        filename = os.path.basename(dst)
        self.requested.append(filename)
        src = self.find(filename, sub)
        if src is None:
            if not downloads_allowed():
                raise _missing(filename, self.real_hub / sub, self.weights_dir, url)
            target = self.real_hub / sub / filename
            target.parent.mkdir(parents=True, exist_ok=True)
            original(url, str(target), None, True)  # the user's own cache, as pyiqa would
            src = target
        self.loaded.append(Path(src))
        mismatch = release_mismatch(Path(src), sub, weight_file_sha256)  # a release with a published SHA-256
        if mismatch and self.notes is not None and mismatch not in self.notes:
            self.notes.append(mismatch)
        Path(dst).parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(dst):
            os.remove(dst)
        os.symlink(src, dst)


@contextlib.contextmanager
def offline_weights(
    weights_dir: Path | None = None, notes: list[str] | None = None, quiet: bool = True
) -> Iterator[_Resolver]:
    """Build pyiqa / torchvision / timm models inside this block (see module docstring)."""
    import torch.hub

    view = Path(tempfile.mkdtemp(prefix="biqa-weights-"))
    for sub in ("pyiqa", "checkpoints", "clip"):
        (view / sub).mkdir()
    res = _Resolver(weights_dir, notes)
    patches: list[tuple[object, str, object]] = []

    def patch(obj, attr, value):
        patches.append((obj, attr, getattr(obj, attr)))
        setattr(obj, attr, value)

    old_hub = torch.hub.get_dir()
    torch_dl = torch.hub.download_url_to_file

    def torch_download(url, dst, hash_prefix=None, progress=True):
        sub = Path(dst).parent.name  # 'checkpoints' for torchvision
        res.provide(url, dst, sub, torch_dl)

    patch(torch.hub, "download_url_to_file", torch_download)
    patch(torch, "load", guarded_torch_load())  # pyiqa's loaders too: tensors only (methods/checkpoints.py)
    torch.hub.set_dir(str(view))
    try:
        _patch_pyiqa(patch, res, view, notes)
        _patch_timm(patch, res)
        out = io.StringIO()
        with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
            yield res
    except WeightsMissing:
        raise
    except (OSError, ConnectionError) as exc:
        # a loader we do not intercept (transformers, open_clip, a metric's own code) tried the network
        if downloads_allowed():
            raise
        names = f" (files asked for so far: {', '.join(res.requested)})" if res.requested else ""
        raise WeightsMissing(
            f"a weight file is missing and downloads are off (HF_HUB_OFFLINE=1){names}: {exc}. "
            f"Put the file into {torch_hub_dir()} (pyiqa/, checkpoints/ or clip/), the Hugging Face cache "
            f"({hf_hub_cache()}) or --weights-dir, or run once with downloads allowed."
        ) from exc
    finally:
        torch.hub.set_dir(old_hub)
        for obj, attr, value in reversed(patches):
            setattr(obj, attr, value)
        shutil.rmtree(view, ignore_errors=True)


def _patch_pyiqa(patch, res: _Resolver, view: Path, notes) -> None:
    try:
        import pyiqa.archs.clip_model as cm
        import pyiqa.utils.download_util as du
    except ImportError:
        return
    pyiqa_dl = du.download_url_to_file

    def pyiqa_download(url, dst, hash_prefix=None, progress=True):
        res.provide(url, dst, "pyiqa", pyiqa_dl)

    patch(du, "download_url_to_file", pyiqa_download)
    patch(du, "DEFAULT_CACHE_DIR", str(view / "pyiqa"))
    # modules that copied the constant at import; LIQE also caches text features derived from the
    # CLIP weights there -- kept in the private view so they never go stale against other weights
    import importlib

    for modname in ("pyiqa.archs.liqe_arch", "pyiqa.archs.topiq_arch"):
        try:
            patch(importlib.import_module(modname), "DEFAULT_CACHE_DIR", str(view / "pyiqa"))
        except ImportError:
            pass

    def clip_loader(original, real_root):
        """pyiqa's OpenAI CLIP downloaders: found files are used in place, a missing one is named at once."""

        def clip_download(url: str, root: str):
            filename = os.path.basename(urlparse(url).path)
            res.requested.append(filename)
            src = res.find(filename, "clip")
            if src is None:
                if not downloads_allowed():
                    raise _missing(filename, res.real_hub / "clip", res.weights_dir, url)
                path = original(url, real_root or root)
                res.loaded.append(Path(path))
                return path
            res.loaded.append(Path(src))
            expected = url.split("/")[-2]
            if notes is not None and file_sha256(src) != expected:
                notes.append(f"{filename}: sha256 differs from OpenAI's published hash; used as found ({src})")
            return str(src)

        return clip_download

    # clip_model's default root is <torch hub>/clip, which points into our view here: use the real one
    patch(cm, "_download", clip_loader(cm._download, str(res.real_hub / "clip")))
    try:  # A-FINE has its own copy of the loader (default root ~/.cache/clip)
        import pyiqa.archs.afineclip_model as acm
    except ImportError:
        return
    patch(acm, "_download", clip_loader(acm._download, None))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_DIGESTS: dict[tuple[str, int, int], str] = {}


def weight_file_sha256(path: Path) -> str:
    """SHA-256 of a weight file, hashed once per process: cached by (real path, size, mtime), so a file
    replaced in place (another size or modification time) is hashed again."""
    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_sha256(Path(real))
    return _DIGESTS[key]


def _patch_timm(patch, res: _Resolver) -> None:
    try:
        import timm.models._hub as th
    except ImportError:
        return
    original = th.hf_hub_download

    def hf_download(repo_id, filename, *args, **kwargs):
        from huggingface_hub.errors import LocalEntryNotFoundError

        spec = timm_weight(repo_id, res.weights_dir)
        wants_safe = filename.endswith(".safetensors")
        for p in spec.search_paths:
            if p.is_file() and p.name.endswith(".safetensors") == wants_safe:  # .bin / .pth: torch pickles
                res.requested.append(f"{repo_id}/{p.name}")
                res.loaded.append(p)
                return str(p)
        if downloads_allowed():
            path = original(repo_id, filename, *args, **kwargs)
            res.loaded.append(Path(path))
            return path
        if filename.endswith(".safetensors"):
            # timm falls back to pytorch_model.bin on this error
            raise LocalEntryNotFoundError(f"{repo_id}/{filename} not cached")
        raise WeightsMissing(
            f"timm weights for {repo_id!r} are not on disk and downloads are off (HF_HUB_OFFLINE=1). "
            f"Fetch them with `huggingface-cli download {repo_id}` into the HF cache ({hf_hub_cache()}), "
            f"or put model.safetensors at {res.weights_dir or '<weights-dir>'}/{repo_id}/model.safetensors"
        )

    patch(th, "hf_hub_download", hf_download)
