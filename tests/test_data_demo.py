"""Demo data: offline, deterministic, disjoint references, sensible pseudo-MOS."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.errors import DatasetError
from bench.core.labels import N_DISTORTIONS, N_SCENES
from bench.data import demo
from bench.data.datasets import dataset_names, load_dataset


@pytest.fixture(scope="module")
def demo_a():
    return load_dataset("demo-a")


@pytest.fixture(scope="module")
def demo_b():
    return load_dataset("demo-b")


def test_names_include_every_dataset_and_demo():
    names = dataset_names()
    for n in ("live", "csiq", "kadid10k", "livec", "bid", "koniq10k", "tid2013", "spaq", "demo-a", "demo-b"):
        assert n in names


def test_demo_shape_and_labels(demo_a, demo_b, demo_cache):
    for ds in (demo_a, demo_b):
        n_refs = len(demo.REFERENCES[ds.dataset.name])
        assert n_refs >= 6
        assert len(ds) == n_refs * sum(len(v) for v in demo.DISTORTIONS.values())
        assert len(demo.DISTORTIONS) >= 8 and all(len(v) >= 4 for v in demo.DISTORTIONS.values())
        assert ds.dataset.synthetic and ds.dataset.layout == "demo"
        assert ds.dataset.root.is_relative_to(demo_cache)  # generated into BENCH_CACHE
        assert "NOT human-rated" in " ".join(ds.dataset.notes)
        for r in ds.records:
            assert r.path.is_file() and r.ref_id and r.std is not None and r.std > 0
            assert r.distortion_class is not None and 0 <= r.distortion_class < N_DISTORTIONS
            assert r.scenes and all(0 <= s < N_SCENES for s in r.scenes)
            assert np.isfinite(r.score)
        classes = {r.distortion_class for r in ds.records}
        assert len(classes) >= 8  # most of the 11 classes
    refs_a = {r.ref_id for r in demo_a.records}
    refs_b = {r.ref_id for r in demo_b.records}
    assert len(refs_a | refs_b) >= 12 and not refs_a & refs_b  # disjoint references
    src_a = {r.name for r in demo.REFERENCES["demo-a"]}
    assert not src_a & {r.name for r in demo.REFERENCES["demo-b"]}


def test_images_are_small_rgb(demo_a):
    from PIL import Image

    with Image.open(demo_a.records[0].path) as im:
        assert im.mode == "RGB" and max(im.size) == demo.SIZE


def test_pseudo_mos_orientation_and_monotone_levels(demo_a, demo_b):
    # demo-a: MOS 1-5 higher better; demo-b: DMOS 0-100, normalised so higher is better
    assert demo_a.dataset.raw_higher_is_better and not demo_b.dataset.raw_higher_is_better
    for ds in (demo_a, demo_b):
        lo, hi = ds.dataset.raw_scale
        raw = np.array([r.raw_score for r in ds.records])
        assert raw.min() >= lo and raw.max() <= hi
        # stronger level -> lower normalised score, on average per distortion
        for d in ("gaussian blur", "white noise", "jpeg compression", "darken"):
            means = [
                np.mean([r.score for r in ds.records if r.distortion == d and r.level == lv]) for lv in (1, 2, 3, 4)
            ]
            assert means[0] > means[-1], (ds.dataset.name, d, means)
    b = demo_b.records[0]
    assert b.score == pytest.approx(100.0 - b.raw_score)


def test_demo_is_deterministic(tmp_path, demo_a):
    ref = demo.REFERENCES["demo-a"][0]
    img = demo._load_ref(ref)
    a = demo.apply_distortion(img, "white noise", 16.0, np.random.default_rng(3))
    b = demo.apply_distortion(img, "white noise", 16.0, np.random.default_rng(3))
    assert np.array_equal(a, b)
    # regenerating (the first reference) gives the same metadata rows and the same pixels
    demo.generate("demo-a", tmp_path, n_refs=1)
    new = (tmp_path / "meta.csv").read_text().splitlines()
    old = (demo_a.dataset.root / "meta.csv").read_text().splitlines()
    assert len(new) == 1 + len(demo.DISTORTIONS) * 4 and new == old[: len(new)]
    rel = new[5].split(",")[0]
    assert (tmp_path / rel).read_bytes() == (demo_a.dataset.root / rel).read_bytes()


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    img = demo._load_ref(demo.REFERENCES["demo-b"][0])
    dist = demo.apply_distortion(img, "gaussian blur", 2.0, np.random.default_rng(0))
    assert demo.ssim(img, dist) == pytest.approx(
        structural_similarity(img, dist, channel_axis=-1, data_range=255), abs=1e-4
    )


def test_unknown_dataset_suggests_close_name():
    with pytest.raises(DatasetError, match="demo-a"):
        load_dataset("demo-c")
    with pytest.raises(DatasetError, match="kadid10k"):
        load_dataset("kadid10")
