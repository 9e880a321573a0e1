"""FLIVE, AGIQA-3K, UHD-IQA in their authors' (and pyiqa's) layouts, and the 'official' split set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.core.errors import DatasetError, SplitError
from bench.data.datasets import load_dataset
from bench.data.datasets.fixtures import write_csv, write_fixture, write_image
from bench.data.splits import make_splits

FLIVE_IMAGES = [f"{src}/{k}.jpg" for src in ("EE371R", "voc_emotic_ava", "blur_dataset") for k in range(4)]


def flive_tree(root: Path, layout: str) -> None:
    rng = np.random.default_rng(0)
    db = root / "FLIVE_Database" / "database"
    for name in FLIVE_IMAGES:
        write_image(db / name, rng)
    moss = {n: float(rng.uniform(40, 90)) for n in FLIVE_IMAGES}
    phase = {n: ("test" if i % 6 == 0 else "val" if i % 6 == 1 else "train") for i, n in enumerate(FLIVE_IMAGES)}
    if layout == "pyiqa":
        rows = [(n, moss[n], {"train": 0, "val": 1, "test": 2}[phase[n]]) for n in FLIVE_IMAGES]
        rows += [(f"patches/{Path(n).stem}_patch_{p}.jpg", 50.0, 0) for n in FLIVE_IMAGES[:3] for p in (1, 2, 3)]
        write_csv(root / "meta_info" / "meta_info_FLIVEDataset.csv", ("img_name/patch_name", "mos", "split"), rows)
    else:
        write_csv(db / "labels_image.csv", ("name", "mos", "left", "top"), [(n, moss[n], 0, 0) for n in FLIVE_IMAGES])
        write_csv(
            db / "labels640.csv",
            ("name_image", "mos_image"),
            [(n, moss[n]) for n in FLIVE_IMAGES if phase[n] == "test"],
        )
        write_csv(
            db / "labels=640_padded.csv",
            ("name_image", "mos_image", "is_valid"),
            [(n, moss[n], phase[n] == "val") for n in FLIVE_IMAGES if phase[n] != "test"],
        )


@pytest.mark.parametrize("layout", ["pyiqa", "official"])
def test_flive_images_only_and_its_official_split(tmp_path, layout):
    flive_tree(tmp_path, layout)
    ds = load_dataset("flive", data_root=tmp_path)
    assert ds.dataset.layout == layout and len(ds) == 12 and not ds.dataset.synthetic
    assert sorted(ds.ids) == sorted(FLIVE_IMAGES) and ds.dataset.root == tmp_path / "FLIVE_Database" / "database"
    if layout == "pyiqa":
        assert any("9 patch rows" in n for n in ds.dataset.notes)
    (s,) = make_splits(ds, split_set="official")
    assert sorted(s.test) == sorted(FLIVE_IMAGES[0::6])
    assert len(s.train) == 10 and not s.val and set(FLIVE_IMAGES[1::6]) <= set(s.train)  # val is ours to train on
    (s,) = make_splits(ds, split_set="official", val_fraction=0.1)
    assert sorted(s.val) == sorted(FLIVE_IMAGES[1::6])


def test_agiqa3k_authors_layout(tmp_path):
    rng = np.random.default_rng(1)
    names = [f"{g}_normal_{k:03d}.jpg" for g in ("AttnGAN", "midjourney", "sd1.5") for k in range(3)]
    for n in names:
        write_image(tmp_path / "AGIQA-3K" / n, rng)
    write_csv(
        tmp_path / "AGIQA-3K" / "data.csv",
        ("name", "prompt", "adj1", "adj2", "style", "mos_quality", "std_quality", "mos_align", "std_align"),
        [
            (n, "a cat, anime style", "", "", "anime style", 0.5 * i, 0.3, 4.0 - 0.1 * i, 0.2)
            for i, n in enumerate(names)
        ],
    )
    ds = load_dataset("agiqa", data_root=tmp_path)  # an alias
    assert ds.dataset.name == "agiqa3k" and ds.dataset.layout == "official" and len(ds) == 9
    r = next(r for r in ds.records if r.id == names[4])
    assert r.raw_score == 2.0 and r.score == 2.0 and r.std == 0.3 and ds.dataset.raw_scale == (0.0, 5.0)
    with pytest.raises(SplitError, match="defines no official split"):
        make_splits(ds, split_set="official")
    assert len(make_splits(ds, n_splits=2)) == 2


def test_uhdiqa_authors_layout_with_its_sets(tmp_path):
    rng = np.random.default_rng(2)
    root = tmp_path / "UHD-IQA-database"
    rows = []
    for i in range(9):
        phase = ("training", "validation", "test")[i % 3]
        write_image(root / phase / f"{i}.jpg", rng)
        rows.append((f"{i}.jpg", 0.1 * i, phase, "", 3840, 2160))
    write_csv(
        root / "uhd-iqa-metadata.csv", ("image_name", "quality_mos", "set", "subset", "orig_width", "orig_height"), rows
    )
    ds = load_dataset("uhdiqa", data_root=tmp_path)
    assert len(ds) == 9 and "test/2.jpg" in ds.ids and "training/0.jpg" in ds.ids
    (s,) = make_splits(ds, split_set="official")
    assert sorted(s.test) == ["test/2.jpg", "test/5.jpg", "test/8.jpg"] and len(s.train) == 6
    # a set name that is not one of the three is an error naming the file and line
    rows[4] = rows[4][:2] + ("holdout",) + rows[4][3:]
    write_csv(
        root / "uhd-iqa-metadata.csv", ("image_name", "quality_mos", "set", "subset", "orig_width", "orig_height"), rows
    )
    with pytest.raises(DatasetError, match=r"uhd-iqa-metadata.csv:6: set 'holdout'"):
        load_dataset("uhdiqa", data_root=tmp_path)


def test_koniq_official_split_in_both_layouts(tmp_path):
    write_fixture(tmp_path / "p", "koniq10k", "pyiqa")
    ds = load_dataset("koniq10k", data_root=tmp_path / "p")
    (s,) = make_splits(ds, split_set="official")  # pyiqa's 'split' column (0/1/2)
    assert (len(s.train), len(s.test)) == (16, 4)
    write_fixture(tmp_path / "o", "koniq10k", "official")
    folder = tmp_path / "o" / "koniq10k"
    with pytest.raises(SplitError, match="defines no official split"):
        make_splits(load_dataset("koniq10k", data_root=tmp_path / "o"), split_set="official")
    names = sorted(p.name for p in (folder / "1024x768").iterdir())
    write_csv(
        folder / "koniq10k_distributions_sets.csv",
        ("image_name", "MOS", "SD", "set"),
        [(n, 50, 1, ("training", "training", "validation", "test")[i % 4]) for i, n in enumerate(names)],
    )
    (s,) = make_splits(load_dataset("koniq10k", data_root=tmp_path / "o"), split_set="official")
    assert (len(s.train), len(s.test)) == (15, 5)


def test_spaq_has_no_official_split(tmp_path):
    write_fixture(tmp_path, "spaq", "pyiqa")
    with pytest.raises(SplitError, match="defines no official split"):
        make_splits(load_dataset("spaq", data_root=tmp_path), split_set="official")


def test_new_datasets_listed_as_missing(tmp_path, capsys):
    import json

    from bench.cli import main

    assert main(["data", "list", "--data-root", str(tmp_path), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {n: rows[n]["published"] for n in ("flive", "agiqa3k", "uhdiqa")} == {
        "flive": 39810,
        "agiqa3k": 2982,
        "uhdiqa": 6073,
    }
    assert all(rows[n]["status"] == "missing" for n in ("flive", "agiqa3k", "uhdiqa"))
