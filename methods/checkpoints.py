"""Checkpoint files are loaded as tensors only, never unpickled as code; release files are checked by hash.

``torch.load(..., weights_only=True)`` reads tensors, plain containers and numbers and refuses anything else,
so a weight file replaced in the cache cannot run code in the workers. ``load_tensors`` is the one call our
methods use; inside ``methods.weights.offline_weights`` (where every pyiqa, torchvision and timm model is
built) ``torch.load`` itself is this guarded version, so pyiqa's own loaders (which pass ``weights_only=False``)
are held to it too. ``SAFE_GLOBALS`` is torch's allow-list for further types a genuine release needs; it is
empty because no release we load needs one -- a refusal names the type, for a maintainer to judge.

A release file with a published SHA-256 (``methods/weight_sha256.csv``; torchvision's ``resnet50-0676ba61.pth``
names carry its first hex digits) is checked against it once per process; a mismatch is noted in the cell
(as OpenAI's CLIP hashes are, ``methods/weights.py``). pyiqa publishes no digests, so its files are not checked.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.core.errors import BenchError

SAFE_GLOBALS: tuple = ()  # torch.serialization.add_safe_globals entries a genuine release needs


class CheckpointRefused(BenchError):
    """A checkpoint holding more than tensors and plain data: not loaded."""


def load_tensors(source, map_location="cpu", **kwargs):
    """``torch.load`` with ``weights_only=True`` (``SAFE_GLOBALS`` allowed); CheckpointRefused naming the file
    and the type when it holds anything else."""
    import pickle

    import torch

    kwargs.pop("weights_only", None)
    kwargs.pop("pickle_module", None)  # torch refuses a pickle module with weights_only
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return _real_torch_load()(source, map_location=map_location, weights_only=True, **kwargs)
    except pickle.UnpicklingError as exc:
        name = getattr(source, "name", source)
        why = str(exc).strip().splitlines()
        found = next((line.strip() for line in why if "GLOBAL" in line or "Unsupported" in line), why[0] if why else "")
        raise CheckpointRefused(
            f"checkpoint {name} holds Python objects beyond tensors and plain data ({found}); it is not loaded, "
            "because unpickling them could run code. If the file is the genuine release, add that type to "
            "SAFE_GLOBALS in methods/checkpoints.py (after checking it is plain data); otherwise replace the file "
            "with the release."
        ) from None


_TORCH_LOAD: list = []  # the real torch.load, kept while offline_weights has replaced it


def _real_torch_load():
    import torch

    if not _TORCH_LOAD:  # taken before any replacement: guarded_torch_load calls this first
        _TORCH_LOAD.append(torch.load)
    return _TORCH_LOAD[0]


def guarded_torch_load():
    """A stand-in for ``torch.load`` that always loads tensors only (see the module doc)."""
    _real_torch_load()

    def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **kwargs):
        return load_tensors(f, map_location=map_location, **({"mmap": mmap} if mmap is not None else {}), **kwargs)

    return load


def release_mismatch(path: Path, sub: str, sha256) -> str | None:
    """A note when ``path`` (found for the loader's ``sub`` folder: 'checkpoints', 'pyiqa', 'clip') is a release
    with a published SHA-256 (``methods/weight_sha256.csv``, or torchvision's name-<prefix>.pth rule, as
    ``bench weights fetch`` pins them: ``methods.weight_fetch.digests_for``) that its bytes do not match.
    ``sha256``: the function that hashes the file (``methods.weights.weight_file_sha256``, once per process)."""
    from methods.weight_fetch import digests_for, sha_table

    name = os.path.basename(path)
    full, prefix, source = digests_for(name, Path(sub) / name, sha_table())
    if not (full or prefix):
        return None  # pyiqa publishes no digests: nothing to compare with
    digest = sha256(Path(path))
    if digest == full or (prefix and digest.startswith(prefix)):
        return None
    return (
        f"{name}: its SHA-256 ({digest[:12]}...) is not the published {full[:12] or prefix}... ({source}): "
        f"not the released file (damaged or replaced); used as found ({path})"
    )
