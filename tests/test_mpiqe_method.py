"""MP-IQE and VisualOnly as Methods: parameters, training on real demo images, checkpoints, labels."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time

import numpy as np
import pytest

from methods.base import RunContext
from methods.mpiqe import MPIQE, MPIQEConfigError, VisualOnly
from tests.demo_images import random_subset as _subset  # demo_small: tests/conftest.py


def test_package_imports_without_torch_and_is_registered():
    code = (
        "import sys; import methods.mpiqe as m; from methods.registry import get_method; "
        "assert get_method('mpiqe') is m.MPIQE and get_method('visual-only') is m.VisualOnly; "
        "m.MPIQE.availability(m.MPIQE.make_params('paper')); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_presets_and_parameter_contract():
    paper = MPIQE.make_params("paper")
    assert (paper.backbone, paper.pretrained, paper.epochs, paper.warmup_epochs, paper.lr) == (
        "ViT-B-16",
        "openai",
        30,
        5,
        3e-5,
    )
    assert (paper.n_crops, paper.crop_size, paper.decoder_layers, paper.lambda1) == (8, 224, 3, 1.0)
    assert paper.batch_size is None and paper.lambda2 is None  # per-dataset rules
    assert (paper.use_scene_prompts, paper.use_distortion_prompts, paper.visual_prompts) == (True, True, "deep")
    assert (paper.text_prompt_len, paper.visual_prompt_len) == (8, 4)
    demo, ci = MPIQE.make_params("demo"), MPIQE.make_params("ci")
    assert demo.backbone == ci.backbone == "biqa-tiny-vit" and demo.pretrained == "none"
    assert ci.epochs <= demo.epochs
    v = MPIQE.make_params("paper", visual_prompts="shallow", text_prompt_len=2)
    assert (v.visual_prompts, v.text_prompt_len) == ("shallow", 2)
    with pytest.raises(ValueError, match="no parameter"):
        MPIQE.make_params("paper", visual_prompt="deep")
    with pytest.raises(MPIQEConfigError, match="visual_prompts"):
        MPIQE(MPIQE.make_params("ci", visual_prompts="deeper"))
    with pytest.raises(MPIQEConfigError, match="warmup_epochs"):
        MPIQE(MPIQE.make_params("ci", epochs=2, warmup_epochs=3))
    # VisualOnly has no text or visual-prompt knobs: asking for them is an error, not a silent no-op
    with pytest.raises(ValueError, match="no parameter"):
        VisualOnly.make_params("paper", use_scene_prompts=True)
    assert VisualOnly.make_params("paper").decoder_layers == 1


def test_availability_names_the_weight_file(tmp_path):
    params = MPIQE.make_params("paper")
    ok, why = MPIQE.availability(params, tmp_path)
    assert not ok and "ViT-B-16.pt" in why
    (tmp_path / "ViT-B-16.pt").write_bytes(b"x")
    assert MPIQE.availability(params, tmp_path) == (True, "ok")
    assert MPIQE.availability(MPIQE.make_params("demo")) == (True, "ok")


@pytest.mark.parametrize("value", ["1", "TRUE", "yes", "On"])
def test_offline_availability_reads_hf_hub_offline_like_huggingface_hub(tmp_path, monkeypatch, value):
    """Offline (any spelling huggingface_hub accepts) missing weights are unavailable, not 'will download'."""
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    ok, why = MPIQE.availability(MPIQE.make_params("paper"), tmp_path)
    assert not ok and "ViT-B-16.pt" in why and "will download" not in why
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    ok, why = MPIQE.availability(MPIQE.make_params("paper"), tmp_path)
    assert ok and "will download" in why


def test_missing_weights_fail_fast_and_clearly(tmp_path, monkeypatch):
    """Fast because nothing is tried on the network (checked, not timed: a timing depends on the machine)."""
    import socket

    pytest.importorskip("open_clip")
    from bench.core.errors import WeightsMissing

    tried = []
    monkeypatch.setattr(
        socket.socket,
        "connect",
        lambda self, addr: tried.append(addr) or (_ for _ in ()).throw(OSError("test: no network")),
    )
    m = MPIQE(MPIQE.make_params("paper"), RunContext(weights_dir=tmp_path))
    with pytest.raises(WeightsMissing) as exc:
        m.build()
    assert tried == []
    msg = str(exc.value)
    assert "ViT-B-16.pt" in msg and str(tmp_path) in msg and "HF_HUB_OFFLINE" in msg


# --- training on real demo images ------------------------------------------------------------

torch = pytest.importorskip("torch")


def test_loss_falls_within_50_steps_and_checkpoint_round_trips(demo_small, tmp_path):
    train = _subset(demo_small, 8)
    ctx = RunContext(seed=0, workdir=tmp_path)
    m = MPIQE(MPIQE.make_params("ci", epochs=25, warmup_epochs=1, batch_size=8), ctx)  # 16 crops: 2 steps/epoch
    m.fit(train)
    losses = m.history.step_loss
    assert len(losses) == 50
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses
    assert ctx.notes == []  # demo sets carry both label kinds
    test = _subset(demo_small, 6, seed=1)
    pred = m.predict(test)
    assert pred.shape == (6,) and np.all(np.isfinite(pred))
    assert np.array_equal(pred, m.predict(test))  # deterministic test crops

    ckpt = tmp_path / "ckpt" / "cell"  # the runner's layout: no suffix, folders made
    m.save(ckpt)
    assert ckpt.is_file() and ckpt.stat().st_size < 2_000_000
    blob = torch.load(ckpt, weights_only=True)
    assert not any(k.startswith("clip.") for k in blob["state"])
    assert set(blob["state"]) == set(m.model.trainable_parameters())
    fresh = MPIQE(MPIQE.make_params("paper"), RunContext(seed=0))  # config comes from the checkpoint
    fresh.load(ckpt)
    assert fresh.params == m.params
    assert np.array_equal(fresh.predict(test), pred)


def test_missing_labels_switch_alignment_terms_off_with_notes(demo_small):
    base = _subset(demo_small, 4)
    info = dataclasses.replace(base.dataset, has_scene_labels=False)
    records = [dataclasses.replace(r, distortion_class=None) if i % 2 else r for i, r in enumerate(base.records)]
    ctx = RunContext(seed=0)
    m = MPIQE(MPIQE.make_params("ci", epochs=1), ctx)
    m.fit(type(base)(info, records))
    assert any("scene" in n and "off" in n for n in ctx.notes), ctx.notes
    assert any("2 training image(s) without distortion class" in n for n in ctx.notes), ctx.notes

    info = dataclasses.replace(base.dataset, has_scene_labels=False, has_distortion_labels=False)
    ctx = RunContext(seed=0)
    m = MPIQE(MPIQE.make_params("ci", epochs=1), ctx)
    m.fit(type(base)(info, base.records))
    assert sum("off" in n for n in ctx.notes) == 2, ctx.notes


def test_ablation_variants_train(demo_small):
    train = _subset(demo_small, 4)
    for over in (
        {"use_scene_prompts": False},
        {"use_distortion_prompts": False},
        {"visual_prompts": "none"},
        {"visual_prompts": "shallow", "text_prompt_len": 2, "visual_prompt_len": 1},
    ):
        m = MPIQE(MPIQE.make_params("ci", epochs=1, **over))
        m.fit(train)
        assert np.all(np.isfinite(m.predict(train))), over
        if over.get("use_scene_prompts") is False:
            assert m.model.text.branches == ["distortion"]


def test_visual_only_is_clip_plus_one_decoder_layer(demo_small):
    train = _subset(demo_small, 4)
    m = VisualOnly(VisualOnly.make_params("ci", epochs=2))
    m.fit(train)
    model = m.model
    assert model.text is None and model.visual.prompts is None and len(model.decoder.layers) == 1
    assert set(model.trainable_parameters()) == {"query"} | {
        f"decoder.{k}" for k, _ in model.decoder.named_parameters()
    }
    assert np.all(np.isfinite(m.predict(train)))


def test_predict_before_fit_is_an_error():
    with pytest.raises(MPIQEConfigError, match="before fit"):
        MPIQE(MPIQE.make_params("ci")).predict(None)


def test_crop_size_must_match_the_backbone():
    with pytest.raises(MPIQEConfigError, match="crop_size=64"):
        MPIQE(MPIQE.make_params("ci", crop_size=96)).build()


@pytest.mark.slow
def test_demo_cross_protocol_end_to_end(tmp_path):
    """The demo preset runs the whole cross protocol (2 pairs x 10 splits) on CPU in a few minutes."""
    from bench.results.store import ResultStore

    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "run",
            "--protocol",
            "cross",
            "--method",
            "mpiqe",
            "--data",
            "demo",
            "--jobs",
            "2",
            "--out",
            str(tmp_path / "runs"),
            "--no-progress",
        ],
        check=True,
    )
    wall = time.perf_counter() - t0
    rows = list(ResultStore(tmp_path / "runs").iter_results())
    assert len(rows) == 20 and all(r["status"] == "done" and r["preset"] == "demo" for r in rows)
    assert {(r["train_dataset"], r["test_dataset"]) for r in rows} == {("demo-a", "demo-b"), ("demo-b", "demo-a")}
    assert all(np.isfinite(r["metrics"]["srcc"]) for r in rows)
    print(f"demo cross protocol, 20 cells, --jobs 2: {wall:.0f} s")  # a figure, not a timed assertion
