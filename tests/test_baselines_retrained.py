"""Retrained baselines (pyiqa architectures, native CLIP-IQA(+), ViT-BIQA): real construction from fake
weight files of the exact names and shapes the loaders look for, tiny training cells on demo data."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from bench.core.errors import WeightsMissing
from methods.base import RunContext
from tests.fake_weights import make_fake_cache, one_torch_thread, session_fake_root  # noqa: F401 (autouse)

RETRAINED = [
    "dbcnn",
    "hyperiqa",
    "tres",
    "musiq",
    "liqe",
    "clipiqa+-pyiqa",
    "metaiqa",
    "unique",
    "paq2piq",
    "topiq",
    "maniqa",
    "qualiclip",
]
HEAVY = {"dbcnn", "hyperiqa", "tres", "musiq", "topiq", "maniqa"}  # > 10 s per tiny cell on 2 CPU cores
TIMM_FILE = "hf/hub/models--timm--{}/snapshots/" + "0" * 40 + "/pytorch_model.bin"
FROZEN_CLIP = ("clipiqa+-pyiqa", "qualiclip")  # CLIP kept in a plain list (not a submodule): no get_parameter

# (method, parameter inside the built network, file under the fake root, key in that file): proves that
# the backbone really came from the file the method declares
LOADED_FROM = {
    "dbcnn": ("features1.0.weight", "hub/checkpoints/vgg16-397923af.pth", "features.0.weight"),
    "hyperiqa": (
        "base_model.conv1.weight",
        "hf/hub/models--timm--resnet50.a1_in1k/snapshots/" + "0" * 40 + "/pytorch_model.bin",
        "conv1.weight",
    ),
    "tres": ("model.conv1.weight", "hub/checkpoints/resnet50-0676ba61.pth", "conv1.weight"),
    "musiq": ("conv_root.weight", "hub/pyiqa/musiq_imagenet_pretrain-51d9b0a5.pth", "conv_root.weight"),
    "liqe": ("clip_model.visual.conv1.weight", "hub/clip/ViT-B-32.pt", "visual.conv1.weight"),
    "clipiqa+-pyiqa": (None, "hub/clip/RN50.pt", "visual.conv1.weight"),
    "metaiqa": ("resnet_layer.conv1.weight", "hub/pyiqa/Metaiqa_prior.pth", "resnet_layer.conv1.weight"),
    "unique": ("backbone.conv1.weight", "hub/checkpoints/resnet34-b627a593.pth", "conv1.weight"),
    "paq2piq": ("body.0.weight", "hub/checkpoints/resnet18-f37072fd.pth", "conv1.weight"),
    "vit-biqa": (
        "inner.patch_embed.proj.weight",
        "hf/hub/models--timm--vit_base_patch16_224.augreg2_in21k_ft_in1k/snapshots/" + "0" * 40 + "/pytorch_model.bin",
        "patch_embed.proj.weight",
    ),
    "topiq": ("semantic_model.conv1.weight", TIMM_FILE.format("resnet50.a1_in1k"), "conv1.weight"),
    "maniqa": (
        "vit.patch_embed.proj.weight",
        TIMM_FILE.format("vit_base_patch8_224.augreg2_in21k_ft_in1k"),
        "patch_embed.proj.weight",
    ),
    # QualiCLIP's self-supervised CLIP (QualiCLIP.pth), not OpenAI's RN50.pt it is first built from
    "qualiclip": (None, "hub/pyiqa/QualiCLIP.pth", "clip_model.visual.conv1.weight"),
}


# only the files these tests load (the released IQA checkpoints are for zero-shot use)
TEST_PYIQA_FILES = [
    "DBCNN_scnn-7ea73d75.pth",
    "musiq_imagenet_pretrain-51d9b0a5.pth",
    "Metaiqa_prior.pth",
    "UNIQUE.pt",
    "QualiCLIP.pth",
]


@pytest.fixture(scope="module")
def fake_root():
    return make_fake_cache(session_fake_root(TEST_PYIQA_FILES), pyiqa_files=TEST_PYIQA_FILES)


@pytest.fixture()
def fake_env(fake_root, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(fake_root))
    monkeypatch.setenv("HF_HOME", str(fake_root / "hf"))
    return fake_root


@pytest.fixture(scope="module")
def demo():
    from bench.data.datasets import load_dataset

    ds = load_dataset("demo-a")
    return ds.subset(ds.ids[:3]), ds.subset(ds.ids[3:5])


def method(name: str, preset: str = "ci", **ctx):
    from methods.registry import get_method

    cls = get_method(name)
    return cls(cls.make_params(preset), RunContext(seed=0, **ctx))


def file_tensor(path: Path, key: str):
    import torch

    try:
        sd = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # OpenAI CLIP files are TorchScript archives
        sd = torch.jit.load(str(path), map_location="cpu").state_dict()
    return sd.get("params", sd)[key] if isinstance(sd, dict) else sd.state_dict()[key]


def assert_backbone_trains(name, m):
    """The backbone loaded from the file is in the trainable backbone group (pyiqa freezes some at build)."""
    param = LOADED_FROM[name][0]
    if param is not None:  # None: frozen by the recipe (CLIP-IQA+)
        p = m.model.net.get_parameter(param)
        assert p.requires_grad and any(q is p for q in m.model.backbone), f"{param} would never be trained"


def assert_loaded_from_file(name, net, root: Path):
    param, rel, key = LOADED_FROM[name]
    got = net.clip_model[0].visual.conv1.weight if name in FROZEN_CLIP else net.get_parameter(param)
    expected = file_tensor(root / rel, key)
    if rel.startswith("hub/clip/"):  # pyiqa's CLIP loader rounds through fp16 (OpenAI's convert_weights)
        expected = expected.half()
    np.testing.assert_allclose(got.detach().numpy(), expected.float().numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(HEAVY) + ["vit-biqa"])
def test_builds_from_the_declared_weight_files(name, fake_env):
    """Heavy architectures: construction only (their training cell is a slow test)."""
    m = method(name)
    assert m.kind in ("pyiqa-retrained", "native") and m.trains
    assert m.availability(m.params) == (True, "ok")
    assert_loaded_from_file(name, m._ensure_model().net, fake_env)
    assert_backbone_trains(name, m)
    if name == "tres":  # pyiqa's TReS would upscale our 224 crops to 225 and re-crop them: built without that
        import torch
        from pyiqa.archs import tres_arch

        x = torch.rand(2, 3, 224, 224)
        assert torch.equal(tres_arch.random_crop(x, 224, 1), x) and torch.equal(tres_arch.uniform_crop(x, 224, 1), x)
        assert tres_arch.uniform_crop(torch.rand(1, 3, 300, 300), 224, 4).shape == (4, 3, 224, 224)
    if name == "maniqa":  # the same for MANIQA, whose forward re-crops too: our crop reaches the ViT as cut
        import torch
        from pyiqa.archs import maniqa_arch

        net = m.model.net
        assert net.test_sample == 1 and net.swintransformer1.scale == net.swintransformer2.scale == 0.8
        seen = []
        net.vit.patch_embed.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].detach().clone()))
        x = torch.rand(1, 3, 224, 224)
        for mode in (True, False):
            net.train(mode)
            with torch.no_grad():
                net(x)
        assert len(seen) == 2 and all(torch.equal(v, (x - 0.5) / 0.5) for v in seen)
        assert maniqa_arch.random_crop(torch.rand(1, 3, 300, 300), 224, 1).shape == (1, 3, 224, 224)
    if name == "topiq":  # pyiqa's CFANet freezes the backbone's BatchNorm: the rest of the ResNet-50 trains
        bn = [p for n, p in m.model.net.named_parameters() if n.startswith("semantic_model.bn1")]
        assert bn and not any(p.requires_grad or any(q is p for q in m.model.backbone) for p in bn)


def test_qualiclip_trains_prompts_on_its_frozen_self_supervised_clip(fake_env, demo, tmp_path):
    """QualiCLIP enters as its released weights (QualiCLIP.pth, not OpenAI's RN50.pt it is first built from),
    kept frozen; only the learned context of the 14 antonym prompts trains."""
    train, test = demo
    m = method("qualiclip", workdir=tmp_path)
    net = m._ensure_model().net
    clip = net.clip_model[0]
    before = {k: v.detach().clone() for k, v in clip.state_dict().items()}
    released = file_tensor(fake_env / "hub/pyiqa/QualiCLIP.pth", "clip_model.visual.conv1.weight")
    openai = file_tensor(fake_env / "hub/clip/RN50.pt", "visual.conv1.weight")
    assert not np.allclose(released.numpy(), openai.float().numpy())
    assert m.model.backbone == [] and [p.shape for p in m.model.head] == [net.prompt_learner.ctx.shape]
    assert net.prompt_learner.ctx.shape[:2] == (14, 16)  # prompt_specific_ctx, n_ctx 16
    ctx = net.prompt_learner.ctx.detach().clone()
    m.fit(train)
    assert all(np.array_equal(v.numpy(), clip.state_dict()[k].numpy()) for k, v in before.items())
    assert not np.array_equal(ctx.numpy(), net.prompt_learner.ctx.detach().numpy())
    assert np.array_equal(clip.visual.conv1.weight.detach().numpy(), released.numpy())


def test_hyperiqa_param_groups_follow_the_official_solver(fake_env):
    """SSL92/hyperIQA HyerIQASolver: 'res' = models.ResNetBackbone, which holds the LDA modules too, trains at
    lr; the rest (hyper network) at lr * lr_ratio. Review bug: pyiqa's lda_modules sat in the 'head' group."""
    m = method("hyperiqa")
    model = m._ensure_model()
    net = model.net
    in_group = lambda ps, group: all(any(q is p for q in group) for p in ps)  # noqa: E731
    assert in_group(list(net.base_model.parameters()) + list(net.lda_modules.parameters()), model.backbone)
    hyper = [p for n, p in net.named_parameters() if n.split(".")[0] in ("fc_w_modules", "fc_b_modules", "conv1")]
    assert hyper and in_group(hyper, model.head) and not any(any(q is p for q in model.backbone) for p in hyper)
    assert len(model.backbone) + len(model.head) == len([p for p in net.parameters() if p.requires_grad])


def test_timm_weights_from_weights_dir(fake_root, tmp_path, monkeypatch):
    """--weights-dir/<model>.pth is enough for a timm backbone: the HF cache is empty here."""
    import shutil

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    monkeypatch.setenv("TORCH_HOME", str(fake_root))
    rel, key = LOADED_FROM["hyperiqa"][1:]
    wd = tmp_path / "weights"
    wd.mkdir()
    shutil.copy(fake_root / rel, wd / "resnet50.a1_in1k.pth")
    m = method("hyperiqa", weights_dir=wd)
    assert not m.availability(m.params)[0] and m.availability(m.params, wd) == (True, "ok")
    net = m._ensure_model().net
    np.testing.assert_array_equal(
        net.base_model.conv1.weight.detach().numpy(), file_tensor(wd / "resnet50.a1_in1k.pth", key).numpy()
    )


def test_missing_backbone_is_a_fast_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    m = method("paq2piq")
    ok, why = m.availability(m.params)
    assert not ok and "resnet18-f37072fd.pth" in why
    start = time.monotonic()
    with pytest.raises(WeightsMissing, match="resnet18-f37072fd.pth") as exc:
        m._ensure_model()
    assert time.monotonic() - start < 10
    assert str(tmp_path / "empty" / "hub" / "checkpoints") in str(exc.value)


def _trainable_snapshot(m):
    return [p.detach().clone() for p in list(m.model.backbone) + list(m.model.head)]


@pytest.mark.parametrize("name", [n for n in RETRAINED if n not in HEAVY] + ["clipiqa+"])
def test_tiny_cell_trains_and_predicts(name, fake_env, demo, tmp_path):
    train, test = demo
    m = method(name, workdir=tmp_path)
    assert m.availability(m.params) == (True, "ok")
    m._ensure_model()
    if name in LOADED_FROM:
        assert_loaded_from_file(name, m.model.net, fake_env)
        assert_backbone_trains(name, m)
    if name == "unique":
        # pyiqa's UNIQUE class always loads UNIQUE.pt (trained on six IQA sets); the retrained one must not
        released = file_tensor(fake_env / "hub/pyiqa/UNIQUE.pt", "fc.weight")
        assert not np.allclose(m.model.net.fc.weight.detach().numpy(), released.numpy())
    before = _trainable_snapshot(m)
    m.fit(train)
    after = _trainable_snapshot(m)
    assert before and any(not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(before, after)), (
        "fit changed nothing"
    )
    pred = m.predict(test)
    assert pred.shape == (len(test),) and np.all(np.isfinite(pred))
    if name == "unique":  # its mean and std outputs: a distribution on its own scale
        from methods.base import ScoreDistribution

        assert isinstance(pred, ScoreDistribution) and pred.scale is None and np.all(pred.std > 0)
    # deterministic test crops, and an image's score does not depend on the rest of its batch
    np.testing.assert_allclose(pred[:1], m.predict(test.subset(test.ids[:1])), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HEAVY) + ["vit-biqa"])
def test_tiny_cell_heavy(name, fake_env, demo, tmp_path):
    train, test = demo
    m = method(name, workdir=tmp_path)
    m.fit(train)
    pred = m.predict(test)
    assert pred.shape == (len(test),) and np.all(np.isfinite(pred))


# CLIP-IQA (zero-shot): tests/test_clipiqa_paper.py


def test_method_rows_kinds(demo):
    from bench.cli.commands.methods import method_rows

    rows = {r["name"]: r for r in method_rows()}
    assert rows["dacnn"]["kind"] == "native" and rows["dacnn"]["trains"] != "no"  # tests/test_baselines_dacnn.py
    assert rows["paq2piq"]["kind"] == "pyiqa-retrained" and "NOT exactly" in rows["paq2piq"]["description"]
    assert rows["ilniqe"]["kind"] == "pyiqa-zero-shot" and rows["ilniqe"]["trains"] == "no"


def test_clipiqa_plus_prompts_encode_like_clip_text(demo, tmp_path):
    """CLIP-IQA+'s prompt is the authors' template (coopclipiqa.py): 'X X Good photo..' tokenised, the class's
    3 tokens ('good', 'photo', '..': the double period is one token) moved between the context halves. Its learned
    context, set to the embeddings of real words, gives exactly CLIP's text features of that sentence; and the
    trained context survives save / load."""
    import open_clip
    import torch

    m = method("clipiqa+")
    m.params.n_ctx = 2
    net = m._ensure_model().net
    clip = net.clip[0]
    tok = open_clip.get_tokenizer("biqa-tiny-rn")
    with torch.no_grad():
        net.prompts.ctx["quality"].copy_(clip.token_embedding(tok(["a very"]))[0, 1:3])
        expected = clip.encode_text(tok(["a Good photo.. very", "a Bad photo.. very"]))
        np.testing.assert_allclose(net.text_features().numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
        net.prompts.ctx["quality"].add_(0.1)
    m.save(tmp_path / "ctx.pt")
    other = method("clipiqa+")
    other.params.n_ctx = 2
    other.load(tmp_path / "ctx.pt")
    np.testing.assert_allclose(other.predict(demo[1]), m.predict(demo[1]), rtol=1e-5)


# --- the data path: the decoded-image cache and loader workers (methods/retrained/data.py) -----------------
@pytest.fixture()
def odd_images(tmp_path):
    """Sizes for every resize branch: larger and smaller than the resize, one below the crop, a JPEG."""
    from PIL import Image

    from bench.core.records import ImageRecord

    rng = np.random.default_rng(1)
    recs = []
    for k, (w, h) in enumerate([(120, 90), (40, 70), (90, 90), (161, 61)]):
        p = tmp_path / f"odd{k}.{'jpg' if k == 3 else 'png'}"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        recs.append(ImageRecord(id=p.name, path=p, score=float(k), raw_score=float(k)))
    return recs


class DecodeCounter:
    """Counts real decodes (bench.data.images.open_rgb: the cache's misses and the uncached path both call it)."""

    def __init__(self, monkeypatch, when=lambda: None):
        import bench.data.images

        self.calls, real = [], bench.data.images.open_rgb

        def counting(path):
            self.calls.append(when())
            return real(path)

        monkeypatch.setattr(bench.data.images, "open_rgb", counting)


def torchvision_resize(path, spec) -> np.ndarray:
    """torchvision's own transforms.Resize((h, w)) / Resize(s) of a PIL image (bilinear), only_if_larger as
    UNIQUE's AdaptiveResize: the official loaders' resize, independent of ours."""
    from PIL import Image
    from torchvision import transforms

    img = Image.open(path).convert("RGB")
    w, h = img.size
    if spec is None or (spec["kind"] == "short_side" and spec["only_if_larger"] and min(w, h) < spec["size"]):
        return np.asarray(img)
    size = tuple(spec["hw"]) if spec["kind"] == "fixed" else spec["size"]
    return np.asarray(transforms.Resize(size, interpolation=transforms.InterpolationMode.BILINEAR)(img))


RESIZES = [
    None,
    {"kind": "fixed", "hw": [80, 100]},
    {"kind": "short_side", "size": 64, "only_if_larger": True},
    {"kind": "short_side", "size": 64, "only_if_larger": False},
]


@pytest.mark.parametrize("resize", RESIZES, ids=["none", "fixed", "short-if-larger", "short"])
def test_patch_crops_are_identical_from_the_cache(resize, odd_images, tmp_path, monkeypatch):
    """Train (per-sample and pooled), test and full-image items: the same bytes from the cache as from a
    fresh decode, for two epochs; a second pass over the cached data decodes nothing."""
    import torch

    from bench.data.device_input import to_unit
    from bench.data.image_cache import ImageCache
    from methods.retrained.data import PatchDataset

    cache = ImageCache(tmp_path / "cache")
    for crop, n, train, pool in [
        (48, 3, True, False),
        (48, 2, True, True),
        (48, 2, False, False),
        (0, 1, False, False),
    ]:
        plain = PatchDataset(odd_images, crop, n, resize, train=train, seed=4, pool=pool)
        cached = PatchDataset(odd_images, crop, n, resize, train=train, seed=4, pool=pool, cache=cache)
        for epoch in (0, 1):
            for i in range(len(plain)):
                a, b = plain[(epoch, i)], cached[(epoch, i)]
                assert a["x"].shape == b["x"].shape and a["x"].numpy().tobytes() == b["x"].numpy().tobytes()
        if train:
            assert not np.array_equal(plain[(0, 0)]["x"], plain[(1, 0)]["x"])  # new crops each epoch
        if not crop:  # the whole image: torchvision's Resize on a PIL image, written out independently
            for i, r in enumerate(odd_images):
                want = torchvision_resize(r.path, resize).transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255)
                # uint8 items; make_loader's conversion divides for the whole image, as the float items did
                assert cached.unit_exact and cached[i]["x"].dtype == torch.uint8
                assert to_unit(cached[i]["x"], exact=True).numpy().tobytes() == want.tobytes()
    assert cache.size_bytes()[0] > 0
    decodes = DecodeCounter(monkeypatch)
    again = PatchDataset(odd_images, 48, 3, resize, train=True, seed=4, cache=ImageCache(tmp_path / "cache"))
    assert [again[(2, i)]["x"].shape[-1] for i in range(len(again))] == [48] * len(again)
    assert decodes.calls == []


def test_patch_loader_gives_the_same_batches_for_0_and_2_persistent_workers(odd_images, tmp_path):
    from bench.data.image_cache import ImageCache
    from bench.data.images import make_loader
    from methods.retrained.data import PatchDataset

    def epochs(workers, cache):
        data = PatchDataset(odd_images, 48, 2, RESIZES[2], train=True, seed=4, cache=cache)
        loader = make_loader(data, batch_size=3, shuffle=True, num_workers=workers, seed=9)
        if workers:
            assert loader.persistent_workers and loader.num_workers == workers
        out = []
        for e in range(2):
            data.set_epoch(e)
            out.append([(b["index"].tolist(), b["x"].numpy().tobytes()) for b in loader])
        return out

    ref = epochs(0, None)
    assert ref[0] != ref[1]
    assert epochs(2, ImageCache(tmp_path / "cache")) == ref and epochs(2, None) == ref


def _ci_method(name, tmp_path, **ctx):
    """A ci-preset cell's method, with two epochs so that the second one can hit the cache."""
    from dataclasses import replace

    from methods.registry import get_method

    cls = get_method(name)
    return cls(replace(cls.make_params("ci"), epochs=2, max_steps=0), RunContext(seed=0, workdir=tmp_path, **ctx))


def test_ci_cell_is_byte_identical_with_the_cache_and_workers_and_hits_it(fake_env, demo, tmp_path, monkeypatch):
    train, test = demo
    cache = tmp_path / "images"
    m = _ci_method("paq2piq", tmp_path)
    assert m.params.train_crops == 2 and not m.params.pool_train_crops
    decodes = DecodeCounter(monkeypatch, when=lambda: len(m.context.history))  # epochs done at each decode
    m.fit(train)
    ref = m.predict(test)
    # uncached: every sample decodes its image (2 epochs x 2 crops per image), then every test image
    assert len(decodes.calls) == 2 * 2 * len(train) + len(test)
    decodes.calls.clear()
    m = _ci_method("paq2piq", tmp_path, image_cache=cache)
    m.fit(train)
    # cached: each training image decoded once, all in the first epoch; the second epoch decodes nothing
    assert decodes.calls == [0] * len(train) and len(m.context.history) == 2
    pred = m.predict(test)
    assert len(decodes.calls) == len(train) + len(test)
    assert len(list(cache.glob("*/*.npy"))) == len(train) + len(test)  # 256-pixel images: raw entries
    assert pred.tobytes() == ref.tobytes()
    # 2 persistent loader workers, with and without the cache: the same bytes, no new entries
    for c in (cache, None):
        m = _ci_method("paq2piq", tmp_path, image_cache=c, num_workers=2)
        m.fit(train)
        assert m.predict(test).tobytes() == ref.tobytes()
    assert len(list(cache.glob("*/*.npy"))) == len(train) + len(test)
