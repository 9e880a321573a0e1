"""Where the harness keeps what it makes: the cache root (demo data, persisted splits, decode checks, images).

At the bottom of the core: the demo generator, the dataset loaders and the image cache all find it here.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$BENCH_CACHE, else ~/.cache/biqa-bench (demo data and persisted splits live here)."""
    env = os.environ.get("BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "biqa-bench"
