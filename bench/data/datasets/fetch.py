"""``bench data fetch``: download through pyiqa's Hugging Face dataset hub (users with internet only).

Offline it fails within seconds: HF_HUB_OFFLINE=1 is refused at once, and a 3-second TCP probe of
the hub runs before any download starts.
"""

from __future__ import annotations

import os
import socket
import tarfile
from pathlib import Path

from bench.core.errors import BenchError
from bench.data.datasets.common import resolve_data_root
from bench.data.datasets.registry import get_spec

HUB_HOST = "huggingface.co"
DATASETS_REPO = "chaofengc/IQA-PyTorch-Datasets"
META_REPO = "chaofengc/IQA-PyTorch-Datasets-metainfo"
# archive names in pyiqa's hub (pyiqa.data.dataset_api.dataset_download_name)
ARCHIVES = {
    "live": "live.tgz",
    "csiq": "csiq.tgz",
    "kadid10k": "kadid10k.tgz",
    "livec": "live_challenge.tgz",
    "koniq10k": "koniq10k.tgz",
    "tid2013": "tid2013.tgz",
    "spaq": "spaq.tgz",
    "flive": "flive.tgz",
}


class FetchError(BenchError):
    """A download cannot be done here."""


def fetch(name: str, data_root=None, timeout: float = 3.0) -> Path:
    spec = get_spec(name)
    if spec.name.startswith("demo-"):
        raise FetchError(f"{spec.name} needs no download: it is generated offline on first use.")
    if spec.name not in ARCHIVES:
        labels = " and its labels from the LIQE repository (IQA_Database/BID)" if spec.name == "bid" else ""
        raise FetchError(
            f"{spec.title} is not in pyiqa's dataset hub. Download it from its authors{labels}; "
            "docs/DATASETS.md says where each file goes."
        )
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise FetchError(
            f"cannot fetch {spec.name}: HF_HUB_OFFLINE is set (offline mode). On a machine with "
            f"internet, unset it and rerun; or copy the dataset there by hand (docs/DATASETS.md)."
        )
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
    except OSError as exc:
        raise FetchError(
            f"cannot fetch {spec.name}: {HUB_HOST} is unreachable ({exc}). This machine looks offline; "
            "download on a machine with internet and copy the data root here (docs/DATASETS.md)."
        ) from None
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise FetchError("fetch needs huggingface_hub: pip install huggingface_hub (comes with pyiqa).") from None
    root = resolve_data_root(data_root)
    root.mkdir(parents=True, exist_ok=True)
    snapshot_download(META_REPO, repo_type="dataset", local_dir=str(root / "meta_info"))
    snapshot_download(DATASETS_REPO, repo_type="dataset", local_dir=str(root), allow_patterns=ARCHIVES[spec.name])
    archive = root / ARCHIVES[spec.name]
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")  # refuses absolute paths and links out of the root
    return root
