"""Splits: sizes, determinism, reference-disjointness, nesting, persistence, leak check."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from bench.core.errors import SplitError
from bench.core.records import DatasetInfo, ImageRecord, ImageSet
from bench.data.datasets import load_dataset
from bench.data.splits import Split, check_leaks, load_splits, make_splits, save_splits


def synthetic_set(n_refs=10, per_ref=5, synthetic=True, name="toy") -> ImageSet:
    recs = [
        ImageRecord(
            id=f"d/r{r}_{k}.png",
            path=Path(f"/x/r{r}_{k}.png"),
            score=float(k),
            raw_score=float(k),
            ref_id=f"r{r}" if synthetic else None,
        )
        for r in range(n_refs)
        for k in range(per_ref)
    ]
    info = DatasetInfo(name, name, Path("/x"), "test", synthetic, (0.0, 5.0), True, f"rev{n_refs}{per_ref}")
    return ImageSet(info, recs)


def refs(ds, ids):
    g = {r.id: r.group for r in ds.records}
    return {g[i] for i in ids}


def test_intra_by_reference_sizes_and_no_leak(tmp_path):
    ds = synthetic_set()
    splits = make_splits(ds, cache_dir=tmp_path)
    assert len(splits) == 10 and [s.index for s in splits] == list(range(10))
    for s in splits:
        assert len(s.test) == 10 and len(s.train) == 40 and not s.val  # 2 of 10 references
        assert not refs(ds, s.train) & refs(ds, s.test)
        assert set(s.train) | set(s.test) == set(ds.ids)
        assert s.fraction is None and s.revision == ds.dataset.revision
    assert len({s.hash for s in splits}) > 5  # seeds differ


def test_seeded_splits_distinct_while_possible(tmp_path):
    """7 references, 1 tested per split: 7 distinct test sets, then a second round (all 7 before any repeat)."""
    ds = synthetic_set(n_refs=7, per_ref=3)
    splits = make_splits(ds, cache_dir=tmp_path / "a")
    tested = [frozenset(refs(ds, s.test)) for s in splits]
    assert all(len(t) == 1 for t in tested)
    assert len(set(tested[:7])) == 7 and len(set(tested[7:])) == 3
    for s in splits:
        assert not refs(ds, s.train) & refs(ds, s.test) and set(s.train) | set(s.test) == set(ds.ids)
    again = make_splits(ds, cache_dir=tmp_path / "b")  # reproducible, computed afresh
    assert [s.hash for s in again] == [s.hash for s in splits]
    assert make_splits(ds, cache_dir=tmp_path / "c", n_splits=4) == splits[:4]  # a prefix of the longer run
    # enough distinct test sets (C(12, 2) = 66): every split differs, the validation draw included
    ds12 = synthetic_set(n_refs=12, per_ref=2)
    many = make_splits(ds12, cache_dir=tmp_path / "d", val_fraction=0.1)
    assert len({frozenset(refs(ds12, s.test)) for s in many}) == 10 and all(s.val for s in many)


def test_by_image_on_authentic_sets(tmp_path):
    ds = synthetic_set(n_refs=50, per_ref=1, synthetic=False)
    s = make_splits(ds, cache_dir=tmp_path, n_splits=2)[0]
    assert len(s.test) == 10 and len(s.train) == 40


def test_validation_part(tmp_path):
    ds = synthetic_set(n_refs=10)
    for s in make_splits(ds, cache_dir=tmp_path, val_fraction=0.1, n_splits=3):
        assert len(s.val) == 5 and len(s.test) == 10 and len(s.train) == 35
        assert not refs(ds, s.val) & refs(ds, s.test) and not refs(ds, s.val) & refs(ds, s.train)


def test_deterministic_and_persisted(tmp_path):
    ds = synthetic_set()
    a = make_splits(ds, cache_dir=tmp_path / "a", seed=3)
    b = make_splits(ds, cache_dir=tmp_path / "b", seed=3)  # computed afresh elsewhere
    assert [s.hash for s in a] == [s.hash for s in b]
    files = list((tmp_path / "a").rglob("*.json"))
    assert len(files) == 1
    doc = json.loads(files[0].read_text())
    assert [d["hash"] for d in doc["splits"]] == [s.hash for s in a]
    # reloaded from the file, not recomputed: a changed file is noticed
    reloaded = make_splits(ds, cache_dir=tmp_path / "a", seed=3)
    assert reloaded == a
    c = make_splits(ds, cache_dir=tmp_path / "a", seed=4)
    assert [s.hash for s in c] != [s.hash for s in a]


def test_tampered_file_is_refused(tmp_path):
    ds = synthetic_set()
    make_splits(ds, cache_dir=tmp_path, n_splits=2)
    f = next(tmp_path.rglob("*.json"))
    doc = json.loads(f.read_text())
    doc["splits"][0]["test"].append(doc["splits"][0]["train"].pop())
    f.write_text(json.dumps(doc))
    with pytest.raises(SplitError, match="modified"):
        make_splits(ds, cache_dir=tmp_path, n_splits=2)


def test_efficiency_nested_of_whole_dataset(tmp_path):
    ds = synthetic_set(n_refs=20, per_ref=5)  # 100 images
    splits = make_splits(ds, protocol="efficiency", cache_dir=tmp_path, n_splits=3)
    assert len(splits) == 9
    for idx in range(3):
        per = sorted((s for s in splits if s.index == idx), key=lambda s: s.fraction)
        assert [s.fraction for s in per] == [0.2, 0.4, 0.6]
        assert [len(s.train) for s in per] == [20, 40, 60]  # of the WHOLE dataset
        assert len({s.test for s in per}) == 1 and len(per[0].test) == 20
        assert set(per[0].train) < set(per[1].train) < set(per[2].train)
        intra = make_splits(ds, cache_dir=tmp_path, n_splits=3)[idx]
        assert per[0].test == intra.test and set(per[2].train) <= set(intra.train)
        for s in per:
            assert not refs(ds, s.train) & refs(ds, s.test)


def test_efficiency_fraction_of_train(tmp_path):
    ds = synthetic_set(n_refs=20, per_ref=5)
    splits = make_splits(
        ds, protocol="efficiency", cache_dir=tmp_path, n_splits=1, fraction_of="train", fractions=(0.5, 1.0)
    )
    assert [len(s.train) for s in splits] == [40, 80]


def test_efficiency_fraction_too_large(tmp_path):
    ds = synthetic_set(n_refs=20, per_ref=5)
    with pytest.raises(SplitError, match="exceeds"):
        make_splits(ds, protocol="efficiency", cache_dir=tmp_path, fractions=(0.9,))


def test_bad_arguments(tmp_path):
    ds = synthetic_set()
    with pytest.raises(SplitError, match="intra"):
        make_splits(ds, protocol="intr", cache_dir=tmp_path)
    with pytest.raises(SplitError, match="liqe"):
        make_splits(ds, split_set="liq", cache_dir=tmp_path)
    with pytest.raises(SplitError, match="test_fraction"):
        make_splits(ds, test_fraction=0.0, cache_dir=tmp_path)
    with pytest.raises(SplitError, match="seed"):
        make_splits(ds, seed=-1, cache_dir=tmp_path)
    with pytest.raises(SplitError, match="too few"):
        make_splits(synthetic_set(n_refs=2), test_fraction=0.2, val_fraction=0.3, cache_dir=tmp_path)


def test_leak_check_refuses_shared_reference(tmp_path):
    ds = synthetic_set()
    bad = Split("toy", ds.dataset.revision, "default", 0, 0, train=("d/r0_0.png", "d/r1_0.png"), test=("d/r0_1.png",))
    with pytest.raises(SplitError, match="share 1 reference"):
        check_leaks([bad], ds)
    same = dataclasses.replace(bad, test=("d/r0_0.png",))
    with pytest.raises(SplitError, match="both train and test"):
        check_leaks([same])
    save_splits([bad], tmp_path / "bad.json")
    with pytest.raises(SplitError, match="reference"):
        load_splits(tmp_path / "bad.json", ds)


def test_wrong_revision_refused():
    ds = synthetic_set()
    s = Split("toy", "other", "default", 0, 0, train=("d/r0_0.png",), test=("d/r1_0.png",))
    with pytest.raises(SplitError, match="revision"):
        check_leaks([s], ds)


def test_demo_splits_are_reference_disjoint():
    ds = load_dataset("demo-a")
    for s in make_splits(ds, protocol="efficiency"):
        assert s.test and s.train and not refs(ds, s.train) & refs(ds, s.test)
    intra = make_splits(ds)  # 7 references, one tested per split: 7 distinct, then repeats
    assert len({s.hash for s in intra[:7]}) == 7 and len({s.hash for s in intra[7:]}) == 3
