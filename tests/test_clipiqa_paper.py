"""CLIP-IQA as its paper ran it: RN50 (OpenAI), the antonym prompts, the full image with the official
positional-embedding handling; checked against pyiqa's CLIP code (a copy of the official one) on the same
weights, and built through the real file-loading path from OpenAI-format TorchScript archives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.core.records import DatasetInfo, ImageRecord, ImageSet
from methods.base import RunContext
from tests.fake_weights import fake_state_dict, one_torch_thread, save_openai_archive  # noqa: F401 (autouse fixture)


def image_set(folder: Path, sizes) -> ImageSet:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    records = []
    for i, (w, h) in enumerate(sizes):
        path = folder / f"im{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
        records.append(ImageRecord(id=path.name, path=path, score=float(i), raw_score=float(i)))
    info = DatasetInfo("tmp", "tmp", folder, "demo", True, (0.0, 9.0), True, "rev")
    return ImageSet(info, records)


def clipiqa(preset="ci", **params):
    from methods.registry import get_method

    cls = get_method("clipiqa")
    return cls(cls.make_params(preset, **params), RunContext(seed=0))


@pytest.fixture()
def private_caches(tmp_path, monkeypatch):
    """Empty TORCH_HOME and HOME (~/.cache/clip is one of the places CLIP weights are looked for)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "torch"


@pytest.fixture(scope="module")
def pyiqa_tiny_rn(tmp_path_factory):
    """pyiqa's CLIP (the official CLIP-IQA model code) built from a tiny RN checkpoint, and that
    checkpoint as an OpenAI-format archive for our loader: the same weights on both sides."""
    from pyiqa.archs.clip_model import build_model

    from methods.clip_backbone import create_clip

    ours, _ = create_clip("biqa-tiny-rn", "none")
    theirs = build_model({k: v.clone() for k, v in ours.state_dict().items()}).float().eval()  # fp16-rounded
    path = save_openai_archive(
        theirs.state_dict(), tmp_path_factory.mktemp("clip") / "tiny-rn-openai.pt", share_storage=True
    )
    return theirs, path


def test_defaults_are_the_papers():
    m = clipiqa("paper")
    p = m.params
    assert (p.backbone, p.pretrained, p.test_input, p.pos_embedding, p.max_side) == (
        "RN50",
        "openai",
        "full",
        "none",
        0,
    )
    from methods.clipiqa import PROMPTS

    assert PROMPTS == ("Good photo.", "Bad photo.")
    assert m.version == "2" and m.kind == "native-zero-shot" and not m.trains


def test_rn50_builds_offline_at_random_and_from_the_openai_file_by_name(private_caches, tmp_path):
    """pretrained=none: no file needed. pretrained=openai: RN50.pt found under <torch hub>/clip by name,
    loaded through the TorchScript path, tensors equal to the file's."""
    import open_clip
    import torch

    rand = clipiqa("paper", pretrained="none")
    assert rand.required_weights(rand.params) == [] and rand.availability(rand.params) == (True, "ok")
    model, info, _ = rand.net()
    assert info.backbone == "RN50" and info.weights_file is None and hasattr(model.visual, "attnpool")

    m = clipiqa("paper")
    ok, why = m.availability(m.params)
    assert not ok and "RN50.pt" in why
    with torch.device("meta"):
        shapes = open_clip.create_model("RN50", pretrained=None, force_quick_gelu=True, device="meta").state_dict()
    sd = fake_state_dict(shapes, seed=3)
    path = save_openai_archive(sd, private_caches / "hub" / "clip" / "RN50.pt", share_storage=True)
    assert path.stat().st_size < 20e6
    assert m.availability(m.params) == (True, "ok")
    model, info, _ = m.net()
    assert info.weights_file == str(path) and info.quick_gelu
    np.testing.assert_array_equal(
        model.visual.attnpool.positional_embedding.detach().numpy(), sd["visual.attnpool.positional_embedding"].numpy()
    )
    np.testing.assert_array_equal(model.visual.conv1.weight.detach().numpy(), sd["visual.conv1.weight"].numpy())
    # the whole image, not a 224 square: a 96 x 160 image is scored as it is
    images = image_set(tmp_path / "img", [(160, 96)])
    pred = m.predict(images)
    assert pred.shape == (1,) and 0 < pred[0] < 1


@pytest.mark.parametrize("mode,official", [("none", False), ("interpolate", True)])
def test_full_image_score_equals_the_official_code(mode, official, pyiqa_tiny_rn, tmp_path):
    """softmax(logit_scale * cos(image, ['Good photo.', 'Bad photo.']))[good] with pyiqa's CLIP
    forward (IceClear's AttentionPool2d with pos_embedding on / off) at a non-square, non-native size."""
    import torch
    from pyiqa.archs.clip_imports import clip as pyiqa_clip

    theirs, path = pyiqa_tiny_rn
    m = clipiqa(pretrained=str(path), pos_embedding=mode, max_side=0)
    images = image_set(tmp_path / "img", [(112, 80), (64, 64), (112, 80)])
    pred = m.predict(images)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    tokens = pyiqa_clip.tokenize(["Good photo.", "Bad photo."])
    expected = []
    from PIL import Image

    for r in images.records:
        x = torch.from_numpy(np.asarray(Image.open(r.path), dtype=np.float32) / 255).permute(2, 0, 1)[None]
        with torch.no_grad():
            logits, _ = theirs((x - mean) / std, tokens, pos_embedding=official)
        expected.append(logits.softmax(-1)[0, 0].item())
    np.testing.assert_allclose(pred, expected, rtol=1e-4, atol=1e-6)
    # one image alone gives the same score as inside a batch of equal sizes
    np.testing.assert_allclose(m.predict(images.subset([images.ids[2]])), pred[2:], rtol=1e-5)


def test_modes_differ_off_size_and_interpolate_is_the_trained_table_at_size(pyiqa_tiny_rn):
    import torch

    from methods.clip_backbone import encode_image_any_size, positional_table

    m = clipiqa(pretrained=str(pyiqa_tiny_rn[1]))
    model, _, _ = m.net()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        own = model.encode_image(x)
        np.testing.assert_allclose(encode_image_any_size(model, x, "interpolate").numpy(), own.numpy(), rtol=1e-6)
        assert not np.allclose(encode_image_any_size(model, x, "none").numpy(), own.numpy())
    table = model.visual.attnpool.positional_embedding.detach()
    assert positional_table(table, table.shape[0], "interpolate") is table
    assert positional_table(table, 7, "interpolate").shape == (7, table.shape[1])
    assert float(positional_table(table, 7, "none").abs().sum()) == 0.0


def test_vit_variant_handles_any_size_too():
    import torch

    from methods.clip_backbone import create_clip, encode_image_any_size

    model, _ = create_clip("biqa-tiny-vit", "none")
    with torch.no_grad():
        x = torch.rand(1, 3, 64, 64)
        np.testing.assert_allclose(
            encode_image_any_size(model, x, "interpolate").numpy(), model.encode_image(x).numpy(), rtol=1e-5, atol=1e-6
        )
        assert encode_image_any_size(model, torch.rand(2, 3, 80, 112), "none").shape == (2, 32)


def test_crops_variant_is_the_mean_over_resized_crops(tmp_path):
    """test_input=crops (the v1 ViT-B/16 setting): mean P(good) over deterministic crops resized to the
    backbone's input, with CLIP's trained positional embedding."""
    import open_clip
    import torch
    import torch.nn.functional as F

    from bench.data.device_input import to_unit
    from bench.data.images import CropDataset

    m = clipiqa(backbone="biqa-tiny-vit", test_input="crops", crop_size=48, test_crops=3, pos_embedding="interpolate")
    images = image_set(tmp_path / "img", [(100, 90)])
    pred = m.predict(images)
    model, info, _ = m.net()
    crops = to_unit(CropDataset(images.records, n_crops=3, crop_size=48, train=False, seed=0)[0]["crops"])
    x = F.interpolate(crops, size=(64, 64), mode="bicubic", align_corners=False).clamp(0, 1)
    x = (x - torch.tensor(info.mean).view(1, 3, 1, 1)) / torch.tensor(info.std).view(1, 3, 1, 1)
    with torch.no_grad():
        img = model.encode_image(x, normalize=True)
        txt = model.encode_text(open_clip.get_tokenizer("biqa-tiny-vit")(["Good photo.", "Bad photo."]), normalize=True)
        expected = (model.logit_scale.exp() * img @ txt.t()).softmax(-1)[:, 0].mean().item()
    assert pred[0] == pytest.approx(expected, rel=1e-5)


def test_tiny_images_are_upscaled_with_a_note(tmp_path):
    m = clipiqa()
    pred = m.predict(image_set(tmp_path / "img", [(20, 40)]))
    assert np.isfinite(pred).all() and any("upscaled to 32" in n for n in m.context.notes)


@pytest.mark.parametrize("bad", [{"test_input": "crop"}, {"pos_embedding": "2d"}, {"max_side": -1}])
def test_bad_parameters_fail_when_the_run_is_planned(bad):
    from bench.core.errors import RunError
    from bench.run.planning import resolve_params
    from methods.registry import get_method

    with pytest.raises(RunError, match=list(bad)[0]):
        resolve_params(get_method("clipiqa"), "ci", bad, {})
