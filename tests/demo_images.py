"""A small real demo set for tests that train: one reference of demo-a (40 images, every distortion and
level), generated in seconds; and seeded random subsets of it. The session fixture is ``demo_small``
(tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.records import ImageSet


def one_reference_demo(cache: Path) -> ImageSet:
    from bench.data import demo
    from bench.data.datasets import get_spec
    from bench.data.datasets.demo_loader import load_demo

    demo.generate("demo-a", demo.demo_dir("demo-a", cache), n_refs=1)
    return load_demo(get_spec("demo-a"), cache_dir=cache)


def random_subset(images: ImageSet, n: int, seed: int = 0) -> ImageSet:
    """``n`` images drawn without replacement (seeded), in the set's order."""
    rng = np.random.default_rng(seed)
    return images.subset([images.records[i].id for i in sorted(rng.choice(len(images), n, replace=False))])
