"""Compatibility: ``bench.errors`` now lives in ``bench.core.errors`` (BenchError, DatasetError, SplitError,
WeightsMissing, RunError). New code imports from ``bench.core.errors``."""

from bench.core.errors import *  # noqa: F403
