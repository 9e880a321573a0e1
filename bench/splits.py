"""Compatibility: ``bench.splits`` now lives in ``bench.data.splits`` (make, load and persist splits, leak check).
New code imports from ``bench.data.splits``."""

from bench.data.splits import *  # noqa: F403
from bench.data.splits import Split  # noqa: F401
