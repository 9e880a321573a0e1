"""Conformance with the real files in ../shared/reference (skips when absent).

The real pyiqa meta CSVs and LIQE label files are read in place (never copied into the project).
The images themselves are not here: the per-image presence check is switched off for this module
(writing ~45k placeholder files takes minutes on slow disks); everything else is the real code path.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from scipy.stats import spearmanr

from bench.data.datasets import get_spec, load_dataset
from bench.data.datasets.distortions import LIQE_NAME_TO_CLASS
from bench.data.datasets.liqe import Matcher, locate, read
from bench.data.splits import make_splits

PYIQA_SETS = ("live", "csiq", "kadid10k", "livec", "koniq10k", "tid2013", "spaq")
LIQE_LABELLED = ("live", "csiq", "kadid10k", "livec", "koniq10k")


@pytest.fixture(scope="module")
def real_root(shared_dir, tmp_path_factory):
    import bench.data.datasets.locate as locate_mod

    ref = shared_dir / "reference"
    root = tmp_path_factory.mktemp("real")
    (root / "meta_info").mkdir()
    os.symlink(ref / "liqe-labels", root / "liqe")
    for name in PYIQA_SETS:
        spec = get_spec(name)
        os.symlink(ref / "pyiqa-meta-info" / spec.pyiqa_meta, root / "meta_info" / spec.pyiqa_meta)
        (root / spec.pyiqa_dir).mkdir()
    (root / "BID").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        # the images are not here: none is bad, and no pixel modes were read
        mp.setattr(locate_mod, "_bad_images", lambda meta, deep, progress: ([], Counter()))
        yield root


_LOADED: dict = {}


def loaded(name, root):
    """Each real dataset is parsed once per module (LIQE's 10 splits x 10k lines take a while)."""
    if (name, root) not in _LOADED:
        _LOADED[(name, root)] = load_dataset(name, data_root=root)
    return _LOADED[(name, root)]


@pytest.mark.parametrize("name", PYIQA_SETS + ("bid",))
def test_published_sizes(real_root, name):
    ds = loaded(name, real_root)
    assert len(ds) == get_spec(name).n_images


@pytest.mark.parametrize("name", LIQE_LABELLED + ("bid",))
def test_liqe_labels_cover_every_image_and_agree_in_orientation(real_root, name):
    spec = get_spec(name)
    ds = loaded(name, real_root)
    assert all(r.scenes for r in ds.records) and all(r.distortion_class is not None for r in ds.records)
    labels = read(spec, locate(spec, None, real_root))
    match, by_id = Matcher(ds.ids), {r.id: r for r in ds.records}
    pairs = [(by_id[match(e.rel)].score, e.score) for e in labels.entries.values()]
    assert len(pairs) == len(ds)
    assert spearmanr(*zip(*pairs))[0] > 0.9  # LIQE's scores are higher-is-better: ours must be too


def test_only_known_disagreement_is_live_fastfading(real_root):
    live = loaded("live", real_root)
    dis = [n for n in live.dataset.notes if n.startswith("label disagreement")]
    assert len(dis) == 1 and "145 'fastfading'" in dis[0] and "'white noise'" in dis[0]
    for name in ("csiq", "kadid10k"):
        assert not [n for n in loaded(name, real_root).dataset.notes if "disagreement" in n]


def test_distortion_mapping_matches_the_tsv(shared_dir):
    tsv = shared_dir / "reference" / "liqe-distortion-classes.tsv"
    expected = {}
    for line in tsv.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        idx, _, names = line.split("\t")
        for n in names.split(","):
            expected[n.strip()] = int(idx)
    assert LIQE_NAME_TO_CLASS == expected


def test_reference_counts(real_root):
    counts = {"live": 29, "csiq": 30, "kadid10k": 81, "tid2013": 25}
    for name, n in counts.items():
        ds = loaded(name, real_root)
        assert len({r.ref_id for r in ds.records}) == n, name


def test_real_liqe_splits_import_and_are_leak_free(real_root, tmp_path):
    for name in LIQE_LABELLED + ("bid",):
        ds = loaded(name, real_root)
        splits = make_splits(ds, split_set="liqe", cache_dir=tmp_path)
        assert len(splits) == 10
        for s in splits:
            assert len(s.train) + len(s.test) == len(ds)  # their train + val is our train


def test_koniq_official_split_column(real_root, tmp_path):
    ds = loaded("koniq10k", real_root)
    (s,) = make_splits(ds, split_set="pyiqa", val_fraction=0.1, cache_dir=tmp_path)
    assert (len(s.train), len(s.val), len(s.test)) == (7058, 1000, 2015)


def test_default_splits_on_real_lists(real_root, tmp_path):
    ds = loaded("kadid10k", real_root)
    for s in make_splits(ds, protocol="efficiency", n_splits=2, cache_dir=tmp_path):
        assert len(s.test) == 16 * 125  # 16 of 81 references, 125 images each
        assert abs(len(s.train) - s.fraction * len(ds)) <= 125 / 2 + 1


@pytest.mark.parametrize("name", PYIQA_SETS + ("bid",))
def test_scores_and_stds_on_their_declared_scale(real_root, name):
    """Loading checks it (bench/data/datasets/scales.py); here the real files pass it, each with a named ground truth."""
    ds = loaded(name, real_root)
    lo, hi = ds.dataset.raw_scale
    assert all(lo <= r.raw_score <= hi for r in ds.records)
    stds = [r.std for r in ds.records if r.std is not None]
    assert all(s <= (hi - lo) / 2 for s in stds) and (not stds or max(stds) > 0.02 * (hi - lo))
    assert ds.dataset.ground_truth


def test_real_koniq_mos_and_sd_follow_from_the_rating_distribution(real_root, shared_dir):
    import csv

    ds = loaded("koniq10k", real_root)
    with open(shared_dir / "reference" / "pyiqa-meta-info" / "meta_info_KonIQ10kDataset.csv", newline="") as fh:
        rows = {f"1024x768/{r['img_name']}": r for r in csv.DictReader(fh)}
    assert ds.dataset.raw_scale == (1.0, 5.0)
    assert min(ds.scores) == pytest.approx(1.0961538, abs=1e-6) and max(ds.scores) == pytest.approx(4.31, abs=1e-9)
    for r in ds.records:  # the SD from c1..c5 is the file's own 'std' (on 1-5), now beside a 1-5 score
        assert r.std == pytest.approx(float(rows[r.id]["std"]), abs=1e-9)
        assert r.label_columns["MOS_zscore"] == float(rows[r.id]["mos"])


def test_real_live_pyiqa_is_the_original_dmos(real_root):
    ds = loaded("live", real_root)
    assert "original DMOS" in ds.dataset.ground_truth and "realigned" in ds.dataset.paper_note
