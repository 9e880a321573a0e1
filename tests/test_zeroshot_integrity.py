"""Zero-shot integrity: the score cache is keyed by the weights actually loaded and the adapter version,
and a checkpoint tested on a dataset it was trained on is recorded (cell fact + note)."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import methods.weights as W
from bench.core.records import ImageSet
from methods.base import RunContext
from tests.fake_weights import classical_fake_hub, one_torch_thread  # noqa: F401 (autouse fixture)
from tests.test_baselines_zeroshot import make_images, zero_shot


@pytest.fixture()
def private_home(tmp_path, tmp_path_factory, monkeypatch):
    """A private TORCH_HOME holding copies of the cheap fake parameter files (tests replace them)."""
    import shutil

    shared = classical_fake_hub(tmp_path_factory.getbasetemp() / "integrity-classical-home")
    root = tmp_path / "torch-home"
    shutil.copytree(shared / "hub", root / "hub")
    monkeypatch.setenv("TORCH_HOME", str(root))
    return root


def as_dataset(images: ImageSet, name: str) -> ImageSet:
    return ImageSet(replace(images.dataset, name=name), images.records)


def _rewrite_brisque(path: Path, seed: int) -> None:
    """Another BRISQUE SVR of the same shapes (what a different release would be)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    torch.save((torch.randn(64, 1, generator=g) * 0.1, torch.rand(64, 36, generator=g)), path)


def test_swapping_a_weight_file_rescores_and_restoring_it_hits_the_cache(private_home, tmp_path):
    images = make_images(tmp_path / "img", n=3, size=128)
    cache = tmp_path / "cache"
    first = zero_shot("brisque", cache)
    a = first.predict(images)
    assert first.inferences == 3
    weights_file = private_home / "hub" / "pyiqa" / "brisque_svm_weights.pth"
    assert first.context.facts["weights_sha256"] == [
        {"file": "brisque_svm_weights.pth", "sha256": W.file_sha256(weights_file)}
    ]

    again = zero_shot("brisque", cache)
    np.testing.assert_array_equal(again.predict(images), a)
    assert again.inferences == 0 and again._model is None

    original = weights_file.read_bytes()
    _rewrite_brisque(weights_file, seed=1)
    swapped = zero_shot("brisque", cache)
    b = swapped.predict(images)
    assert swapped.inferences == 3, "a new weight file must be scored afresh, never served old scores"
    assert not np.allclose(a, b)

    weights_file.write_bytes(original)  # the old file back (new mtime, same content): its scores return
    restored = zero_shot("brisque", cache)
    np.testing.assert_array_equal(restored.predict(images), a)
    assert restored.inferences == 0


def test_adapter_version_is_part_of_the_key(private_home, tmp_path):
    from methods.registry import get_method

    images = make_images(tmp_path / "img", n=2, size=128)
    cache = tmp_path / "cache"
    zero_shot("brisque", cache).predict(images)
    cls = get_method("brisque")
    bumped = type("BrisqueV2", (cls,), {"version": str(int(cls.version) + 1)})
    m = bumped(bumped.make_params("ci"), RunContext(cache_dir=cache))
    m.predict(images)
    assert m.inferences == 2
    assert m.cache_key([])[2] == bumped.version != zero_shot("brisque", cache).cache_key([])[2]


def test_weight_digest_is_computed_once_per_file_version(tmp_path, monkeypatch):
    calls = []
    real = W.file_sha256
    monkeypatch.setattr(W, "file_sha256", lambda p: calls.append(Path(p)) or real(p))
    f = tmp_path / "w.pth"
    f.write_bytes(b"a" * 1000)
    link = tmp_path / "link.pth"
    link.symlink_to(f)
    d1, d2, d3 = W.weight_file_sha256(f), W.weight_file_sha256(f), W.weight_file_sha256(link)
    assert d1 == d2 == d3 == real(f) and len(calls) == 1
    f.write_bytes(b"b" * 1000)  # same size, new content and mtime
    os.utime(f, ns=(1, 1))
    assert W.weight_file_sha256(f) == real(f) != d1 and len(calls) == 2


@pytest.mark.parametrize("name", ["brisque", "niqe"])
def test_declared_weight_files_are_the_ones_loaded(name, private_home):
    """METRIC_WEIGHTS lets a cache hit skip loading: what it declares must be what the loaders are handed."""
    m = zero_shot(name, None)
    declared = m.declared_weight_files()
    assert declared, f"{name} declares no file"
    m.load_model()
    assert m.loaded_weights, "the resolver saw no file"
    assert m.weight_digests(m.loaded_weights) == m.weight_digests(declared)


def test_undeclared_metric_is_keyed_by_what_it_loaded(private_home, tmp_path, monkeypatch):
    """A metric missing from METRIC_WEIGHTS is loaded first; its key still holds the file's digest."""
    import methods.pyiqa_zeroshot as Z

    monkeypatch.delitem(Z.METRIC_WEIGHTS, "brisque")
    images = make_images(tmp_path / "img", n=2, size=128)
    m = zero_shot("brisque", tmp_path / "cache")
    assert m.declared_weight_files() is None
    m.predict(images)
    assert [d["file"] for d in m.context.facts["weights_sha256"]] == ["brisque_svm_weights.pth"]


def test_trained_on_test_dataset_is_recorded_and_noted(private_home, tmp_path):
    """BRISQUE's released SVR was fitted on LIVE: on LIVE it is not zero-shot; on CSIQ it is."""
    images = make_images(tmp_path / "img", n=2, size=128)
    on_live = zero_shot("brisque", tmp_path / "cache")
    on_live.predict(as_dataset(images, "live"))
    assert on_live.context.facts["trained_on_test_dataset"] is True
    assert any("trained on live" in n and "not zero-shot" in n for n in on_live.context.notes)

    on_csiq = zero_shot("brisque", tmp_path / "cache")
    on_csiq.predict(as_dataset(images, "csiq"))
    assert on_csiq.context.facts["trained_on_test_dataset"] is False
    assert not any("zero-shot" in n for n in on_csiq.context.notes)


@pytest.mark.parametrize("name", ["piqe", "entropy"])
def test_training_free_metrics_are_zero_shot_everywhere_and_say_nothing(name, tmp_path):
    """PIQE and entropy are formulas (no checkpoint): false on every dataset, and no 'not listed' note."""
    images = make_images(tmp_path / "img", n=2, size=64)
    for dataset in ("live", "koniq10k"):
        m = zero_shot(f"pyiqa:{name}", tmp_path / "cache")
        m.predict(as_dataset(images, dataset))
        assert m.context.facts["trained_on_test_dataset"] is False
        assert m.context.notes == [], m.context.notes


def test_the_fact_reaches_the_cell_json(private_home, demo_cache, tmp_path):
    from bench.results.store import ResultStore
    from bench.run.backends import run_tasks
    from bench.run.execute import WorkerConfig
    from bench.run.planning import plan
    from protocols import Options

    tasks = plan(
        "intra", ["brisque"], Options(data="demo", n_splits=1, datasets=("demo-a",)), preset="ci", param_overrides={}
    )
    out = tmp_path / "runs"
    run_tasks(tasks, ResultStore(out), WorkerConfig(out=str(out), cache_dir=str(tmp_path / "cache")), progress=False)
    stored = next(ResultStore(out).iter_results())
    assert stored["trained_on_test_dataset"] is False
    assert stored["weights_sha256"][0]["file"] == "brisque_svm_weights.pth"


# --- the table of training sets ------------------------------------------------------------
# pyiqa's own spelling of the datasets its configs name -> the table's
PYIQA_DATASET_NAMES = {
    "koniq": "koniq10k",
    "koniq10k": "koniq10k",
    "kadid": "kadid10k",
    "clive": "livec",
    "tid": "tid2013",
    "live": "live",
    "csiq": "csiq",
    "spaq": "spaq",
    "flive": "flive",
    "paq2piq": "flive",
    "ava": "ava",
    "pipal": "pipal",
}


def test_every_checkpoint_the_harness_declares_is_in_the_table():
    from methods.pyiqa_training_sets import HARNESS_DATASETS, TRAINING_SETS
    from methods.pyiqa_zeroshot import METRIC_WEIGHTS, weight_specs

    assert set(METRIC_WEIGHTS) <= set(TRAINING_SETS)
    others = {"ava", "lsvq", "flive", "ma-sr"}  # ma-sr: NRQM's own rated super-resolution set
    for metric, entry in TRAINING_SETS.items():
        assert entry.source, metric
        assert set(entry.datasets) <= set(HARNESS_DATASETS) | others, (metric, entry.datasets)
        declared = [w.filename for w in weight_specs(METRIC_WEIGHTS.get(metric, []), None)]
        if entry.checkpoint and declared:
            assert entry.checkpoint in declared, f"{metric}: table names {entry.checkpoint}, harness loads {declared}"


def test_table_agrees_with_the_dataset_pyiqa_configs_name():
    """Where pyiqa's config picks the checkpoint by a dataset name, the table lists that dataset."""
    from methods.pyiqa_training_sets import TRAINING_SETS
    from methods.pyiqa_zeroshot import pyiqa_configs

    configs = pyiqa_configs()
    checked = 0
    for metric, entry in TRAINING_SETS.items():
        opts = configs[metric]["metric_opts"]
        named = (
            opts.get("train_dataset")
            or opts.get("regressor_dataset")
            or (opts["pretrained"] if isinstance(opts.get("pretrained"), str) else None)
        )
        if named is None and isinstance(opts.get("model_name"), str):
            m = re.search(r"_(koniq|flive|spaq)_", opts["model_name"] + "_")
            named = m.group(1) if m else None
        if named is None or named == "mix":
            continue
        checked += 1
        assert PYIQA_DATASET_NAMES[named] in entry.datasets, (metric, named, entry.datasets)
    assert checked >= 20
