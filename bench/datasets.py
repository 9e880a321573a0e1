"""Compatibility: ``bench.datasets`` now lives in ``bench.data.datasets`` (``load_dataset``, ``dataset_names``, ...).
Only the package's public names are re-exported here; its modules are under ``bench.data.datasets``."""

from bench.data.datasets import *  # noqa: F403
from bench.data.datasets import load_dataset  # noqa: F401
