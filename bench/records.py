"""Compatibility: ``bench.records`` now lives in ``bench.core.records`` (ImageRecord, DatasetInfo, ImageSet, Split).
Plug-ins may keep importing from here; new code imports from ``bench.core.records``."""

from bench.core.records import *  # noqa: F403
from bench.core.records import DatasetInfo, ImageRecord, ImageSet, Split  # noqa: F401
