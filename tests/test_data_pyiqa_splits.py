"""pyiqa's own split pickles, in the shapes of chaofengc/IQA-PyTorch's train_split_info/*.pkl (learned from the
real files; these tests build small files of the same shape):

* ``livechallenge_seed123.pkl``, ``spaq_seed123.pkl``: ``{1..10: {'train': [...], 'val': [...]}}`` (no 'test');
* ``live_123.pkl``, ``csiq_123.pkl``, ``tid2013_seed123.pkl``: ``{k: {'train', 'val', 'test': []}}``;
* ``koniq10k_official.pkl``: ``{1: {'train', 'val', 'test'}}``, the same split as the CSV's ``split`` column
  (pyiqa's scripts/process_koniq10k.py writes both from one loop);
* ``flive_official.pkl``: ``{1: {...}}`` indexing every row of the CSV, the patch rows included.

pyiqa evaluates on 'val' (options/train/*: ``phase: val`` with the same split_file), so a 'val' without a
'test' is the test part.
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest

from bench.core.errors import SplitError
from bench.data.datasets import load_dataset
from bench.data.datasets.fixtures import REFS, write_csv, write_fixture, write_image
from bench.data.splits import make_splits


def dump(path: Path, doc) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pickle.dump(doc, fh)


def test_train_val_pickle_loads_with_val_as_test(tmp_path):
    write_fixture(tmp_path, "livec")  # 20 rows; pyiqa drops t1-t7 before indexing: 13 indices
    rng = np.random.default_rng(123)
    doc = {}
    for k in range(1, 11):  # livechallenge_seed123.pkl: 10 splits of train + val only
        order = [int(i) for i in rng.permutation(13)]
        doc[k] = {"train": order[:10], "val": order[10:]}
    dump(tmp_path / "meta_info" / "livechallenge_seed123.pkl", doc)
    ds = load_dataset("livec", data_root=tmp_path)
    splits = make_splits(ds, split_set="pyiqa", cache_dir=tmp_path / "s")
    assert len(splits) == 10
    for s, k in zip(splits, range(1, 11)):
        assert (len(s.train), len(s.test), len(s.val)) == (10, 3, 0)
        assert "livechallenge_seed123.pkl[" in s.meta["source"] and "'val' part is the test part" in s.meta["source"]
        order = ds.ids
        assert sorted(s.test) == sorted(order[i] for i in doc[k]["val"])


def test_empty_test_list_pickle_loads_with_val_as_test(tmp_path):
    write_fixture(tmp_path, "live")  # rows: 3 folders x 4 references x 2 images, references in REFS order
    doc = {}
    for k, ref in enumerate(REFS, 1):  # live_123.pkl's shape: 'test': [] (an empty list)
        val = [i for i in range(24) if REFS[(i // 2) % 4] == ref]
        doc[k] = {"train": [i for i in range(24) if i not in val], "val": val, "test": []}
    dump(tmp_path / "meta_info" / "live_123.pkl", doc)
    ds = load_dataset("live", data_root=tmp_path)
    splits = make_splits(ds, split_set="pyiqa", cache_dir=tmp_path / "s")
    assert [len(s.test) for s in splits] == [6, 6, 6, 6] and all(len(s.train) == 18 for s in splits)
    assert [{ds.subset(s.test).records[0].ref_id} for s in splits] == [{r} for r in REFS]


def koniq_official_pickle(root: Path) -> None:
    """As pyiqa's scripts/process_koniq10k.py: the row indices of each 'split' value."""
    with open(root / "meta_info" / "meta_info_KonIQ10kDataset.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    parts = {"train": [], "val": [], "test": []}
    for i, r in enumerate(rows):
        parts[("train", "val", "test")[int(r["split"])]].append(i)
    dump(root / "meta_info" / "koniq10k_official.pkl", {1: parts})


def test_identical_splits_appear_once(tmp_path):
    write_fixture(tmp_path, "koniq10k")
    koniq_official_pickle(tmp_path)
    ds = load_dataset("koniq10k", data_root=tmp_path)
    splits = make_splits(ds, split_set="pyiqa", cache_dir=tmp_path / "s")
    assert len(splits) == 1 and splits[0].index == 0
    assert splits[0].meta["source"] == "column split"
    assert splits[0].meta["duplicates"] == ["koniq10k_official.pkl[1]"]
    # efficiency splits of the set: one base split, so one subset per fraction
    eff = make_splits(ds, protocol="efficiency", split_set="pyiqa", fractions=(0.5,), cache_dir=tmp_path / "s")
    assert len(eff) == 1 and eff[0].meta["duplicates"] == ["koniq10k_official.pkl[1]"]


def test_dry_run_and_data_splits_say_how_many_duplicates_were_dropped(tmp_path, capsys):
    from bench.cli import main

    write_fixture(tmp_path, "koniq10k")
    koniq_official_pickle(tmp_path)
    data = ["--data-root", str(tmp_path)]
    assert main(["data", "splits", "koniq10k", "--split-set", "pyiqa", *data]) == 0
    out = capsys.readouterr().out
    assert "1 splits" in out and "1 duplicate split dropped" in out and "koniq10k_official.pkl[1]" in out
    assert "(column split)" in out  # each imported split names its source
    run = ["run", "--protocol", "intra", "--method", "noop", "--datasets", "koniq10k", "--split-set", "pyiqa"]
    assert main([*run, "--out", str(tmp_path / "runs"), "--no-progress", "--dry-run", *data]) == 0
    text = "".join(capsys.readouterr())
    assert "split set 'pyiqa' of koniq10k: 1 duplicate split dropped" in text
    assert "koniq10k_official.pkl[1] (the same split as column split)" in text


def test_flive_pickle_indexes_the_patch_rows_too(tmp_path):
    rng = np.random.default_rng(0)
    db = tmp_path / "FLIVE_Database" / "database"
    images = [f"EE371R/{k}.jpg" for k in range(6)]
    for n in images:
        write_image(db / n, rng)
    rows = [(n, 50.0 + i) for i, n in enumerate(images)]
    rows += [(f"patches/{Path(n).stem}_patch_{p}.jpg", 50.0) for n in images for p in (1, 2, 3)]  # after the images
    write_csv(tmp_path / "meta_info" / "meta_info_FLIVEDataset.csv", ("img_name/patch_name", "mos"), rows)
    # flive_official.pkl: indices over all 24 rows; test = images 0, 1 (+ patch rows 6..11), val = image 2
    dump(
        tmp_path / "meta_info" / "flive_official.pkl",
        {1: {"train": [3, 4, 5, *range(12, 24)], "val": [2, 9, 10, 11], "test": [0, 1, 6, 7, 8]}},
    )
    ds = load_dataset("flive", data_root=tmp_path)
    (s,) = make_splits(ds, split_set="pyiqa", val_fraction=0.1, cache_dir=tmp_path / "s")
    assert sorted(s.test) == images[:2] and list(s.val) == images[2:3] and sorted(s.train) == images[3:]


def test_flive_names_the_one_missing_split_file(tmp_path):
    from tests.test_data_recent import flive_tree

    flive_tree(tmp_path, "official")
    (tmp_path / "FLIVE_Database" / "database" / "labels=640_padded.csv").unlink()
    ds = load_dataset("flive", data_root=tmp_path)
    note = next(n for n in ds.dataset.notes if "official split" in n)
    assert "labels=640_padded.csv (missing)" in note and "labels640.csv is there" in note
    with pytest.raises(SplitError, match=r"labels=640_padded\.csv \(missing\)"):
        make_splits(ds, split_set="official", cache_dir=tmp_path / "s")
