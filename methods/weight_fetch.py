"""Which weight files methods need, where they come from, and their published SHA-256 (torch-free).

``bench weights fetch`` downloads with ``bench.core.download.fetch_file``; this module only lists the files.
The digests come from ``weight_sha256.csv`` beside this file (one row per file, with its source), and
for torchvision checkpoints from the file name: torch.hub's naming rule ``name-<first 8+ hex digits of
the SHA-256>.pth``, which torchvision's release files follow. pyiqa publishes no digest for its release
files (its loader passes ``hash_prefix=None``): those are fetched *unpinned*, and their SHA-256 is
printed and written to ``SHA256SUMS`` so a second machine can compare.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHA_TABLE = Path(__file__).with_name("weight_sha256.csv")
URL_ENV = "BENCH_WEIGHTS_URL"  # a mirror: every file is fetched from <base>/<file name>
GENERIC_NAMES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors")
FETCHED_REVISION = "fetched-by-biqa-bench"
HF_SNAPSHOT = "hf-snapshot://"  # the address of a whole Hugging Face model repository (``methods.weights``)
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")


@dataclass
class WeightFile:
    filename: str
    rel: str  # path under --to DIR / a mirror (timm: <repo>/model.safetensors)
    url: str  # '' : no direct address (e.g. the Hugging Face cache of timm)
    cache_path: Path | None  # where the harness looks first when no --weights-dir is given
    found: Path | None
    sha256: str = ""
    sha256_prefix: str = ""
    hash_source: str = ""
    hint: str = ""
    methods: list[str] = field(default_factory=list)

    @property
    def pin(self) -> str:
        return "sha256" if self.sha256 else "sha256-prefix" if self.sha256_prefix else "unpinned"


def weight_label(spec) -> str:
    """The file name, or the spec's name where the file name is generic (timm's model.safetensors) or the spec is a
    whole Hugging Face repository."""
    return spec.name if spec.filename in GENERIC_NAMES or is_hf_snapshot(spec.url) else spec.filename


def is_hf_snapshot(url: str) -> bool:
    return url.startswith(HF_SNAPSHOT)


def sha_table(path: Path = SHA_TABLE) -> dict[str, tuple[str, str]]:
    """file name -> (sha256, source)."""
    with open(path, newline="") as fh:
        return {row["filename"]: (row["sha256"].strip().lower(), row["source"]) for row in csv.DictReader(fh)}


def digests_for(filename: str, cache_path: Path | None, table: dict[str, tuple[str, str]]) -> tuple[str, str, str]:
    """(sha256, sha256 prefix, source) of a file; empty strings where nothing is published."""
    if filename in table:
        sha, source = table[filename]
        return sha, "", source
    m = _HASH_IN_NAME.search(filename)
    if m and cache_path is not None and cache_path.parent.name == "checkpoints":
        return "", m.group(1), "torch.hub naming rule (name-<sha256 prefix>.pth) of torchvision's release files"
    return "", "", ""


def _hf_repo(url: str) -> str:
    """'timm/resnet50.a1_in1k' of https://huggingface.co/timm/resnet50.a1_in1k/resolve/main/model.safetensors."""
    return url.split("huggingface.co/", 1)[-1].split("/resolve/", 1)[0]


def download_url(wf: WeightFile, base_url: str | None = None) -> str:
    """The address to fetch from: the mirror (``--base-url`` / $BENCH_WEIGHTS_URL) when given, else the source."""
    base = base_url if base_url is not None else os.environ.get(URL_ENV, "")
    if base:
        return base.rstrip("/") + "/" + wf.rel
    return wf.url


def files_for(methods: Iterable[tuple[str, Any]], weights_dir: Path | None = None) -> list[WeightFile]:
    """The weight files of (method name, params) pairs, once each, in first-seen order."""
    from methods import registry

    table = sha_table()
    out: dict[str, WeightFile] = {}
    for name, params in methods:
        _, cls, _ = registry.resolve(name)
        params = params if params is not None else cls.make_params()
        for spec in cls.required_weights(params, weights_dir):
            label = weight_label(spec)
            wf = out.get(label)
            if wf is None:
                cache = next(
                    (p for p in spec.search_paths if weights_dir is None or Path(weights_dir) not in p.parents), None
                )
                if cache is not None and "<revision>" in cache.parts:
                    # an HF cache snapshot folder of our own: found by the harness (any snapshot), not by HF's refs
                    cache = Path(str(cache).replace("<revision>", FETCHED_REVISION))
                sha, prefix, source = digests_for(spec.filename, cache, table)
                if is_hf_snapshot(spec.url):  # a repository: --to DIR gets an HF cache folder, DIR/hf
                    rel = "hf"
                elif spec.filename in GENERIC_NAMES:
                    rel = _hf_repo(spec.url) + "/" + spec.filename
                else:
                    rel = spec.filename
                wf = out[label] = WeightFile(
                    spec.filename, rel, spec.url, cache, spec.found, sha, prefix, source, spec.hint
                )
            if cls.name not in wf.methods:
                wf.methods.append(cls.name)
    return list(out.values())


def method_params(names: Iterable[str], preset: str | None = "paper") -> list[tuple[str, Any]]:
    """(name, params under ``preset`` when the method has it, else its defaults)."""
    from methods import registry

    out = []
    for name in names:
        _, cls, _ = registry.resolve(name)
        out.append((name, cls.make_params(preset if preset in cls.presets else None)))
    return out
