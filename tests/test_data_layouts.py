"""Loaders on tiny fixture trees of every layout: orientation, grouping, labels, revisions, errors."""

from __future__ import annotations

import math
import pickle
import shutil

import numpy as np
import pytest

from bench.core.errors import DatasetError, SplitError
from bench.data.datasets import load_dataset
from bench.data.datasets.fixtures import FIXTURES, write_fixture
from bench.data.splits import make_splits

EXPECTED_N = {
    ("live", "pyiqa"): 24,
    ("csiq", "pyiqa"): 24,
    ("kadid10k", "pyiqa"): 24,
    ("livec", "pyiqa"): 13,
    ("koniq10k", "pyiqa"): 20,
    ("tid2013", "pyiqa"): 24,
    ("spaq", "pyiqa"): 20,
    ("bid", "liqe"): 20,
    ("live", "official"): 20,
    ("kadid10k", "official"): 24,
    ("livec", "official"): 13,
    ("koniq10k", "official"): 20,
    ("tid2013", "official"): 24,
}
DMOS = {"live", "csiq"}


@pytest.mark.parametrize("name,layout", FIXTURES)
def test_every_layout_loads(tmp_path, name, layout):
    write_fixture(tmp_path, name, layout)
    ds = load_dataset(name, data_root=tmp_path)
    info = ds.dataset
    assert info.layout == layout and len(ds) == EXPECTED_N[(name, layout)]
    assert len(set(ds.ids)) == len(ds)
    lo, hi = info.raw_scale
    for r in ds.records:
        assert r.path.is_file() and r.path == info.root / r.id
        assert math.isfinite(r.score)
        # orientation: DMOS sets are mirrored inside their scale, MOS sets kept as they are
        assert r.score == pytest.approx(lo + hi - r.raw_score if name in DMOS else r.raw_score)
        assert (r.ref_id is not None) == info.synthetic
    assert info.raw_higher_is_better == (name not in DMOS)
    again = load_dataset(name, data_root=tmp_path)
    assert again.dataset.revision == info.revision and again.ids == ds.ids


def test_synthetic_sets_group_by_reference(tmp_path):
    write_fixture(tmp_path, "kadid10k")
    ds = load_dataset("kadid10k", data_root=tmp_path)
    assert {r.ref_id for r in ds.records} == {"I01", "I02", "I03", "I04"}
    r = next(r for r in ds.records if r.id == "images/I02_16_02.png")
    assert (r.distortion, r.distortion_class, r.level) == ("brighten", 6, 2)
    for s in make_splits(ds, cache_dir=tmp_path / "splits", n_splits=3):
        assert not {r.ref_id for r in ds.subset(s.train)} & {r.ref_id for r in ds.subset(s.test)}


def test_live_dataset_names_beat_liqe_labels(tmp_path):
    write_fixture(tmp_path, "live")
    ds = load_dataset("live", data_root=tmp_path)
    ff = [r for r in ds.records if r.id.startswith("fastfading/")]
    assert ff and all(r.distortion == "fastfading" and r.distortion_class == 0 for r in ff)
    assert any("LIQE calls 8 'fastfading' image(s) 'white noise'" in n for n in ds.dataset.notes)
    assert all(r.scenes for r in ds.records) and ds.dataset.has_scene_labels


def test_csiq_labels_match_by_file_name(tmp_path):
    write_fixture(tmp_path, "csiq")
    ds = load_dataset("csiq", data_root=tmp_path)
    r = ds.records[0]
    assert r.id == "dst_imgs/bikes.AWGN.1.png" and r.scenes == (6,) and r.level == 1
    assert r.distortion == "white noise" and r.ref_id == "bikes"


def test_csiq_images_in_type_folders(tmp_path):
    write_fixture(tmp_path, "csiq")
    dst = tmp_path / "CSIQ" / "dst_imgs"
    for f in list(dst.glob("*.png")):
        sub = dst / f.name.split(".")[1].lower()
        sub.mkdir(exist_ok=True)
        f.rename(sub / f.name)
    ds = load_dataset("csiq", data_root=tmp_path)
    assert ds.records[0].id == "dst_imgs/awgn/bikes.AWGN.1.png" and ds.records[0].path.is_file()


def test_livec_drops_training_images(tmp_path):
    write_fixture(tmp_path, "livec")
    ds = load_dataset("livec", data_root=tmp_path)
    assert not any(r.id.startswith("t") for r in ds.records)
    assert any("t1-t7" in n for n in ds.dataset.notes)


def test_tid2013_case_insensitive_names(tmp_path):
    write_fixture(tmp_path, "tid2013")
    ds = load_dataset("tid2013", data_root=tmp_path)
    assert "distorted_images/i01_01_1.bmp" in ds.ids  # CSV says I01_01_1.bmp
    assert not ds.dataset.has_scene_labels and ds.dataset.has_distortion_labels


def test_spaq_scene_columns(tmp_path):
    write_fixture(tmp_path, "spaq")
    ds = load_dataset("spaq", data_root=tmp_path)
    assert ds.records[0].scenes == (1, 5)  # image 1: columns 1 and 5 set
    assert not ds.dataset.has_distortion_labels


def test_dataset_dir_override_env_root_and_labels_dir(tmp_path, monkeypatch):
    write_fixture(tmp_path / "a", "live")
    moved = tmp_path / "elsewhere" / "live"
    shutil.move(tmp_path / "a" / "LIVEIQA_release2", moved)
    labels = tmp_path / "labels"
    shutil.move(tmp_path / "a" / "liqe", labels)
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "a"))
    ds = load_dataset("live", dataset_dirs={"live": moved}, labels_dir=labels)
    assert ds.dataset.root == moved and ds.dataset.has_scene_labels
    unlabelled = load_dataset("live", dataset_dirs={"LIVE": moved})
    assert not unlabelled.dataset.has_scene_labels
    assert unlabelled.dataset.revision != ds.dataset.revision  # labels are part of the revision


def test_revision_follows_the_metadata(tmp_path):
    write_fixture(tmp_path, "koniq10k")
    rev = load_dataset("koniq10k", data_root=tmp_path).dataset.revision
    meta = tmp_path / "meta_info" / "meta_info_KonIQ10kDataset.csv"
    lines = meta.read_text().splitlines()
    lines[1] = lines[1].replace(",0.5,", ",0.6,", 1)
    meta.write_text("\n".join(lines) + "\n")
    assert load_dataset("koniq10k", data_root=tmp_path).dataset.revision != rev


def test_revision_follows_the_image_ids(tmp_path):
    """Same metadata, images moved out of images/: other ids, so another revision (else cached splits go stale)."""
    import shutil

    write_fixture(tmp_path, "kadid10k", layout="official", labels=False)
    ds = load_dataset("kadid10k", data_root=tmp_path)
    make_splits(ds, cache_dir=tmp_path / "s", n_splits=2, test_fraction=0.25)
    folder = tmp_path / "kadid10k"
    for f in (folder / "images").iterdir():
        shutil.move(f, folder / f.name)
    (folder / "images").rmdir()
    moved = load_dataset("kadid10k", data_root=tmp_path)
    assert moved.ids != ds.ids and moved.dataset.revision != ds.dataset.revision
    s = make_splits(moved, cache_dir=tmp_path / "s", n_splits=2, test_fraction=0.25)[0]  # not the stale file
    assert set(s.train) | set(s.test) == set(moved.ids)


# --- errors ------------------------------------------------------------------------------------------


def test_missing_dataset_says_where_it_looked(tmp_path):
    with pytest.raises(DatasetError) as e:
        load_dataset("live", data_root=tmp_path)
    msg = str(e.value)
    assert "meta_info_LIVEIQADataset.csv" in msg and "dmos_realigned.mat" in msg
    assert "--dataset-dir live=PATH" in msg and "bench data fetch live" in msg


def test_missing_image_names_file_and_skip_corrupt(tmp_path):
    write_fixture(tmp_path, "kadid10k")
    gone = tmp_path / "kadid10k" / "images" / "I03_10_01.png"
    gone.unlink()
    with pytest.raises(DatasetError, match=r"I03_10_01\.png: missing[\s\S]*--skip-corrupt"):
        load_dataset("kadid10k", data_root=tmp_path)
    full_rev = None
    ds = load_dataset("kadid10k", data_root=tmp_path, skip_corrupt=True)
    assert len(ds) == 23 and "images/I03_10_01.png" not in ds.ids
    assert any("excluded 1" in n for n in ds.dataset.notes)
    write_fixture(tmp_path / "full", "kadid10k")
    full_rev = load_dataset("kadid10k", data_root=tmp_path / "full").dataset.revision
    assert ds.dataset.revision != full_rev


def test_corrupt_image_found_by_deep_check(tmp_path):
    write_fixture(tmp_path, "koniq10k")
    bad = tmp_path / "koniq10k" / "1024x768" / "1000003.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    load_dataset("koniq10k", data_root=tmp_path)  # shallow: present, not empty
    with pytest.raises(DatasetError, match=r"1000003\.jpg: does not decode"):
        load_dataset("koniq10k", data_root=tmp_path, deep=True)
    ds = load_dataset("koniq10k", data_root=tmp_path, deep=True, skip_corrupt=True)
    assert len(ds) == 19
    (tmp_path / "koniq10k" / "1024x768" / "1000004.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match="empty file"):
        load_dataset("koniq10k", data_root=tmp_path)


@pytest.mark.parametrize("bad,match", [("nan", "is nan"), ("good", "not a number"), ("", "not a number")])
def test_bad_scores(tmp_path, bad, match):
    write_fixture(tmp_path, "livec")
    meta = tmp_path / "meta_info" / "meta_info_LIVEChallengeDataset.csv"
    lines = meta.read_text().splitlines()
    parts = lines[9].split(",")
    parts[1] = bad
    lines[9] = ",".join(parts)
    meta.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=rf"meta_info_LIVEChallengeDataset\.csv:10: score.*{match}"):
        load_dataset("livec", data_root=tmp_path)


@pytest.mark.parametrize(
    "name,layout,meta",
    [("live", "pyiqa", "meta_info/meta_info_LIVEIQADataset.csv"), ("kadid10k", "official", "kadid10k/dmos.csv")],
)
def test_truncated_line(tmp_path, name, layout, meta):
    write_fixture(tmp_path, name, layout=layout, labels=False)
    meta = tmp_path / meta
    lines = meta.read_text().splitlines()
    lines[3] = lines[3].split(",")[0]
    meta.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=rf"{meta.name}:4: 1 field\(s\) where the header has .*restore it"):
        load_dataset(name, data_root=tmp_path)


def test_duplicate_ids(tmp_path):
    write_fixture(tmp_path, "spaq")
    meta = tmp_path / "meta_info" / "meta_info_SPAQDataset.csv"
    lines = meta.read_text().splitlines()
    meta.write_text("\n".join(lines + [lines[3]]) + "\n")
    with pytest.raises(DatasetError, match=r"listed twice \(first at .*:4\)"):
        load_dataset("spaq", data_root=tmp_path)


def test_missing_column(tmp_path):
    write_fixture(tmp_path, "koniq10k")
    meta = tmp_path / "meta_info" / "meta_info_KonIQ10kDataset.csv"
    meta.write_text(meta.read_text().replace("img_name", "filename", 1))
    with pytest.raises(DatasetError, match="no column 'img_name'"):
        load_dataset("koniq10k", data_root=tmp_path)


def test_labels_matching_no_image(tmp_path):
    write_fixture(tmp_path, "koniq10k")
    f = tmp_path / "liqe" / "IQA_Database" / "koniq-10k" / "splits2" / "koniq10k_all_clip.txt"
    f.write_text(f.read_text() + "1024x768/999.jpg\t3.0\trealistic blur\thuman\tinvalid\tinvalid\n")
    with pytest.raises(DatasetError, match=r"1 LIQE label line\(s\) match no image.*999\.jpg.*--labels"):
        load_dataset("koniq10k", data_root=tmp_path)


def test_unknown_scene_in_labels(tmp_path):
    write_fixture(tmp_path, "livec")
    f = tmp_path / "liqe" / "IQA_Database" / "ChallengeDB_release" / "splits2" / "clive_all_clip.txt"
    f.write_text(f.read_text().replace("night", "beach", 1))
    with pytest.raises(DatasetError, match="unknown scene 'beach'"):
        load_dataset("livec", data_root=tmp_path)


def test_official_live_needs_refnames(tmp_path):
    write_fixture(tmp_path, "live", layout="official")
    (tmp_path / "databaserelease2" / "refnames_all.mat").unlink()
    with pytest.raises(DatasetError, match="missing file .*refnames_all.mat"):
        load_dataset("live", data_root=tmp_path)


def test_forced_layout_and_bad_layout(tmp_path):
    write_fixture(tmp_path, "kadid10k", layout="official")
    write_fixture(tmp_path, "kadid10k", layout="pyiqa")
    assert load_dataset("kadid10k", data_root=tmp_path).dataset.layout == "pyiqa"  # pyiqa first
    assert load_dataset("kadid10k", data_root=tmp_path, layout="official").dataset.layout == "official"
    with pytest.raises(DatasetError, match="official"):
        load_dataset("kadid10k", data_root=tmp_path, layout="oficial")
    with pytest.raises(DatasetError, match="no 'official' layout"):
        load_dataset("spaq", data_root=tmp_path, layout="official")


# --- imported split sets -------------------------------------------------------------------------------


def test_liqe_split_set(tmp_path):
    write_fixture(tmp_path, "live")
    ds = load_dataset("live", data_root=tmp_path)
    splits = make_splits(ds, split_set="liqe", cache_dir=tmp_path / "s")
    assert len(splits) == 2 and all(s.split_set == "liqe" for s in splits)
    s = splits[0]
    refs_test = {r.ref_id for r in ds.subset(s.test)}
    assert refs_test == {"bikes"} and len(s.train) == 18 and not s.val  # their train+val is our train
    with_val = make_splits(ds, split_set="liqe", val_fraction=0.1, cache_dir=tmp_path / "s")[0]
    assert len(with_val.val) == 6 and len(with_val.train) == 12
    eff = make_splits(ds, protocol="efficiency", split_set="liqe", fractions=(0.25,), cache_dir=tmp_path / "s")
    assert len(eff) == 2 and all(len(e.train) == 6 for e in eff)


def test_liqe_split_set_needs_labels(tmp_path):
    write_fixture(tmp_path, "live", labels=False)
    ds = load_dataset("live", data_root=tmp_path)
    with pytest.raises(SplitError, match="--labels"):
        make_splits(ds, split_set="liqe", cache_dir=tmp_path / "s")


def test_leaky_liqe_split_refused(tmp_path):
    write_fixture(tmp_path, "live")
    d = tmp_path / "liqe" / "IQA_Database" / "databaserelease2" / "splits2" / "1"
    train, test = d / "live_train_clip.txt", d / "live_test_clip.txt"
    lines = train.read_text().splitlines()
    moved = next(line for line in lines if "cityscape" in line)  # an image of a training reference
    train.write_text("\n".join(x for x in lines if x != moved) + "\n")
    test.write_text(test.read_text() + moved + "\n")
    ds = load_dataset("live", data_root=tmp_path)
    with pytest.raises(SplitError, match="leaks content: train and test share 1 reference"):
        make_splits(ds, split_set="liqe", cache_dir=tmp_path / "s")


def test_pyiqa_split_columns_and_pickles(tmp_path):
    write_fixture(tmp_path, "koniq10k")
    ds = load_dataset("koniq10k", data_root=tmp_path)
    s = make_splits(ds, split_set="pyiqa", cache_dir=tmp_path / "s")
    assert len(s) == 1 and (len(s[0].train), len(s[0].test)) == (16, 4)  # 0/1 -> train+val, 2 -> test
    write_fixture(tmp_path, "tid2013")
    with open(tmp_path / "meta_info" / "tid2013_seed123.pkl", "wb") as fh:
        pickle.dump({1: {"train": list(range(0, 18)), "val": [18, 19], "test": list(range(20, 24))}}, fh)
    tid = load_dataset("tid2013", data_root=tmp_path)
    with pytest.raises(SplitError, match="share .* reference"):  # pyiqa's row split leaks references
        make_splits(tid, split_set="pyiqa", cache_dir=tmp_path / "s")
    with open(tmp_path / "meta_info" / "tid2013_seed123.pkl", "wb") as fh:
        pickle.dump({1: {"train": list(range(0, 18)), "val": [], "test": list(range(18, 24))}}, fh)
    tid = load_dataset("tid2013", data_root=tmp_path)
    t = make_splits(tid, split_set="pyiqa", cache_dir=tmp_path / "s")
    assert len(t) == 1 and len(t[0].test) == 6 and {r.ref_id for r in tid.subset(t[0].test)} == {"i04"}


def test_pyiqa_split_set_absent(tmp_path):
    write_fixture(tmp_path, "spaq")
    with pytest.raises(SplitError, match="no split columns"):
        make_splits(load_dataset("spaq", data_root=tmp_path), split_set="pyiqa", cache_dir=tmp_path / "s")


def test_fixture_images_decode(tmp_path):
    from bench.data.images import CropDataset

    write_fixture(tmp_path, "bid", layout="liqe")
    ds = load_dataset("bid", data_root=tmp_path, deep=True)
    item = CropDataset(ds.records[:1], n_crops=2, crop_size=32, train=False)[0]
    assert tuple(item["crops"].shape) == (2, 3, 32, 32) and item["distortion"] == 3
    assert np.isclose(float(item["scene"].sum()), 1.0)
