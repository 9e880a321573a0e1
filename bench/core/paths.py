"""Where the harness keeps what it makes: the cache root (demo data, persisted splits, decode checks, images).

At the bottom of the core: the demo generator, the dataset loaders and the image cache all find it here.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$BENCH_CACHE, else ~/.cache/biqa-bench (demo data and persisted splits live here).

    A $BENCH_CACHE that is (or lies under) a file is an error naming it, not a NotADirectoryError later."""
    env = os.environ.get("BENCH_CACHE")
    if not env:
        return Path.home() / ".cache" / "biqa-bench"
    root = Path(env).expanduser()
    probe = root
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        from bench.core.errors import BenchError

        where = "is a file" if probe == root else f"lies under the file {probe}"
        raise BenchError(
            f"BENCH_CACHE={env!r} {where}, not a folder: set BENCH_CACHE to a folder (made if missing), or unset "
            "it to use ~/.cache/biqa-bench."
        )
    return root
