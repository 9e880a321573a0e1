"""pyiqa zero-shot adapter: real pyiqa metrics on fake weight files, score orientation, the on-disk
score cache, and the missing-weights error."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.core.errors import BenchError, WeightsMissing
from bench.core.records import DatasetInfo, ImageRecord, ImageSet
from methods.base import RunContext
from tests.fake_weights import classical_fake_hub, one_torch_thread  # noqa: F401 (autouse fixture)

ROOT = Path(__file__).resolve().parents[1]


def make_images(folder: Path, n: int = 4, size: int = 48, seed: int = 0) -> ImageSet:
    """Small real PNG files: smooth gradients with increasing noise (distinct content per image)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx, yy, (xx + yy) // 2], -1) * (255.0 / (2 * size)) + 60
    records = []
    for i in range(n):
        img = np.clip(base + rng.normal(0, 4 + 12 * i, base.shape), 0, 255).astype(np.uint8)
        path = folder / f"img{i}.png"
        Image.fromarray(img).save(path)
        records.append(ImageRecord(id=path.name, path=path, score=float(n - i), raw_score=float(n - i)))
    info = DatasetInfo(
        name="tmp",
        title="tmp",
        root=folder,
        layout="demo",
        synthetic=False,
        raw_scale=(0.0, float(n)),
        raw_higher_is_better=True,
        revision="test",
    )
    return ImageSet(info, records)


@pytest.fixture()
def classical_home(tmp_path_factory, monkeypatch):
    """TORCH_HOME with fake NIQE / IL-NIQE / BRISQUE parameter files under hub/pyiqa."""
    root = classical_fake_hub(tmp_path_factory.getbasetemp() / "classical-torch-home")
    monkeypatch.setenv("TORCH_HOME", str(root))
    return root


def zero_shot(name: str, cache: Path | None, preset: str = "ci", **ctx):
    from methods.registry import get_method

    cls = get_method(name)
    return cls(cls.make_params(preset), RunContext(cache_dir=cache, **ctx))


def test_registry_resolves_every_nr_metric_without_torch():
    code = (
        "import sys; from methods.registry import get_method; from methods.pyiqa_zeroshot import nr_metric_names, "
        "NOT_PER_IMAGE\n"
        "names = [n for n in nr_metric_names() if n not in NOT_PER_IMAGE]\n"
        "classes = [get_method('pyiqa:' + n) for n in names]\n"
        "assert all(c.kind == 'pyiqa-zero-shot' and not c.trains for c in classes)\n"
        "assert 'torch' not in sys.modules and 'pyiqa.archs' not in sys.modules, 'heavy import'\n"
        "print(len(classes))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 50  # pyiqa 0.1.16 has ~70 NR metrics


def test_class_modules_import_without_torch():
    mods = [
        "methods.weights",
        "methods.pyiqa_zeroshot",
        "methods.retrained.engine",
        "methods.retrained.dbcnn",
        "methods.retrained.hyperiqa",
        "methods.retrained.tres",
        "methods.retrained.musiq",
        "methods.retrained.liqe",
        "methods.retrained.metaiqa",
        "methods.retrained.unique",
        "methods.retrained.paq2piq",
        "methods.retrained.clipiqa_plus_pyiqa",
        "methods.clipiqa",
        "methods.vit_biqa",
        "methods.retrained.dacnn",
    ]
    code = (
        "import sys, importlib\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "heavy = [m for m in ('torch', 'pyiqa', 'open_clip', 'timm', 'pandas') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_generated_classes_pickle_for_worker_processes():
    import pickle

    from methods.registry import get_method

    cls = get_method("pyiqa:musiq-ava")
    assert pickle.loads(pickle.dumps(cls)) is cls
    method = cls(cls.make_params("demo"))
    assert type(pickle.loads(pickle.dumps(method))) is cls


def test_unknown_full_reference_and_set_metrics_are_clear_errors():
    from methods.registry import get_method

    with pytest.raises(BenchError, match="Did you mean: musiq") as exc:
        get_method("pyiqa:musik")
    assert "Did you mean" in str(exc.value)
    with pytest.raises(BenchError, match="full-reference"):
        get_method("pyiqa:ssim")
    with pytest.raises(BenchError, match="no per-image score"):
        get_method("pyiqa:fid")


@pytest.mark.parametrize("name,flipped", [("pyiqa:brisque", True), ("niqe", True)])
def test_scores_are_higher_is_better(name, flipped, classical_home, tmp_path):
    """Lower-is-better metrics come back negated: compare with pyiqa's own raw output."""
    import pyiqa
    import torch

    from methods.weights import offline_weights

    images = make_images(tmp_path / "img", n=3, size=128)  # NIQE needs 96x96 blocks
    method = zero_shot(name, None, preset="paper")
    pred = method.predict(images)
    with offline_weights(None):
        metric = pyiqa.create_metric(method.metric, device="cpu")
    from bench.data.images import decode_rgb

    raw = []
    for r in images:
        x = torch.from_numpy(np.array(decode_rgb(r.path))).permute(2, 0, 1)[None].float() / 255
        raw.append(float(metric(x).mean()))
    assert method.lower_better() is flipped
    np.testing.assert_allclose(pred, -np.asarray(raw) if flipped else np.asarray(raw), rtol=1e-5)
    assert len(set(np.round(pred, 6))) == 3  # distinct images, distinct scores


def test_cache_second_run_does_no_inference(classical_home, tmp_path):
    images = make_images(tmp_path / "img", n=4, size=128)
    cache = tmp_path / "cache"
    first = zero_shot("brisque", cache)
    a = first.predict(images)
    assert first.inferences == 4
    assert (cache / "pyiqa-scores.sqlite").is_file()

    second = zero_shot("brisque", cache)
    b = second.predict(images)
    assert second.inferences == 0 and second._model is None  # not even loaded
    np.testing.assert_array_equal(a, b)

    # the key is the file content: a changed image is scored again, the others come from the cache
    from PIL import Image

    Image.fromarray(np.zeros((40, 40, 3), np.uint8) + 90).save(images.records[0].path)
    third = zero_shot("brisque", cache)
    c = third.predict(images)
    assert third.inferences == 1
    np.testing.assert_array_equal(b[1:], c[1:])

    # another metric, or another input transform, does not reuse these scores
    other = zero_shot("niqe", cache, preset="paper")
    other.predict(images.subset(images.ids[1:2]))
    assert other.inferences == 1
    bigger = zero_shot("brisque", cache, preset="paper")
    bigger.predict(images.subset(images.ids[1:2]))
    assert bigger.inferences == 1


def test_missing_weights_error_names_file_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    images = make_images(tmp_path / "img", n=1)
    method = zero_shot("ilniqe", None)
    ok, why = method.availability(method.params)
    assert not ok and "ILNIQE_templateModel.mat" in why
    start = time.monotonic()
    with pytest.raises(WeightsMissing) as exc:
        method.predict(images)
    assert time.monotonic() - start < 10
    msg = str(exc.value)
    assert "ILNIQE_templateModel.mat" in msg
    assert str(tmp_path / "empty-torch-home" / "hub" / "pyiqa") in msg
    assert "--weights-dir" in msg and "huggingface.co" in msg
    assert not (tmp_path / "empty-torch-home" / "hub" / "pyiqa" / "ILNIQE_templateModel.mat").exists()


def test_afine_clip_file_is_named_and_home_untouched(tmp_path, monkeypatch):
    """A-FINE loads OpenAI CLIP through its own copy of pyiqa's downloader (into ~/.cache/clip):
    offline, it must be the same fast error naming the file, and nothing is created in the home cache."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    method = zero_shot("pyiqa:afine_nr", None)
    start = time.monotonic()
    with pytest.raises(WeightsMissing, match="ViT-B-32.pt") as exc:
        method.load_model()
    assert time.monotonic() - start < 10
    assert str(tmp_path / "empty-torch-home" / "hub" / "clip") in str(exc.value)
    assert not (tmp_path / "home" / ".cache").exists()


def test_weights_dir_is_searched_first(classical_home, tmp_path, monkeypatch):
    """--weights-dir alone is enough (TORCH_HOME empty); the user's cache is never written to."""
    empty = tmp_path / "empty-torch-home"
    monkeypatch.setenv("TORCH_HOME", str(empty))
    images = make_images(tmp_path / "img", n=2)
    method = zero_shot("pyiqa:brisque", None, weights_dir=classical_home / "hub" / "pyiqa")
    assert method.availability(method.params, classical_home / "hub" / "pyiqa") == (True, "ok")
    assert np.all(np.isfinite(method.predict(images)))
    assert not empty.exists()


def test_ilniqe_loads_its_template(classical_home):
    method = zero_shot("ilniqe", None)
    net = method.load_model().net
    assert method.kind == "pyiqa-zero-shot" and not method.trains and method.lower_better()
    assert tuple(net.mu_pris_param.shape) == (430,) and tuple(net.principleVectors.shape) == (468, 430)


@pytest.mark.slow
def test_ilniqe_runs_on_fake_template(classical_home, tmp_path):  # IL-NIQE: ~1 min per image on CPU
    images = make_images(tmp_path / "img", n=2, size=96)
    method = zero_shot("ilniqe", tmp_path / "cache")
    pred = method.predict(images)
    assert method.kind == "pyiqa-zero-shot" and not method.trains
    assert pred.shape == (2,) and np.all(np.isfinite(pred))
