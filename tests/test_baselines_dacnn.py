"""DACNN (native): built through the real loading path from fake weight files of the exact names and formats
(torchvision's EfficientNet-B0, the official SDANet checkpoint in efficientnet_pytorch naming), its parts
checked against independent write-outs, its official recipe pinned, a ci cell trained on demo data."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from bench.core.errors import BenchError, WeightsMissing
from methods.base import RunContext
from tests.fake_weights import fake_state_dict, one_torch_thread, torchvision_fakes  # noqa: F401 (autouse)

SDANET_REL = "hub/dacnn/EffnetPretraining.pth"


def official_sdanet_state_dict(seed: int = 1) -> dict:
    """What pretrain_model/EfficientNet.py's effNet saves: efficientnet_pytorch's B0 under 'efficient.' plus the
    pre-training regressor fc1..fc3 (fake values)."""
    import torch

    ep = pytest.importorskip("efficientnet_pytorch")
    eff = ep.EfficientNet.from_name("efficientnet-b0")
    sd = {f"efficient.{k}": v for k, v in eff.state_dict().items()}
    for name, shape in (("fc1", (512, 1280)), ("fc2", (512, 512)), ("fc3", (1, 512))):
        sd[f"{name}.weight"], sd[f"{name}.bias"] = torch.zeros(shape), torch.zeros(shape[0])
    return fake_state_dict(sd, seed=seed)


@pytest.fixture(scope="module")
def dacnn_root(tmp_path_factory):
    import torch

    root = tmp_path_factory.mktemp("dacnn-torch-home")
    torchvision_fakes(root / "hub", archs=("efficientnet_b0",))
    (root / SDANET_REL).parent.mkdir(parents=True)
    torch.save(official_sdanet_state_dict(), root / SDANET_REL)
    return root


@pytest.fixture()
def dacnn_env(dacnn_root, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(dacnn_root))
    return dacnn_root


@pytest.fixture(scope="module")
def demo():
    from bench.data.datasets import load_dataset

    ds = load_dataset("demo-a")
    return ds.subset(ds.ids[:3]), ds.subset(ds.ids[3:5])


def dacnn(preset="ci", **params):
    from methods.registry import get_method

    cls = get_method("dacnn")
    return cls(cls.make_params(preset, **params), RunContext(seed=0))


# --- weights and construction -------------------------------------------------------------------------
def test_missing_files_are_named_before_and_at_build(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    m = dacnn()
    ok, why = m.availability(m.params)
    assert not ok and "efficientnet_b0_rwightman-7f5810bc.pth" in why and "EffnetPretraining.pth" in why
    torchvision_fakes(tmp_path / "empty" / "hub", archs=("efficientnet_b0",))
    start = time.monotonic()
    with pytest.raises(WeightsMissing, match="EffnetPretraining.pth") as exc:
        m._ensure_model()
    assert time.monotonic() - start < 20
    assert "github.com/NUIST-Videocoding/DACNN" in str(exc.value) and "sdanet=imagenet" in str(exc.value)


def test_builds_from_the_declared_files_with_both_streams_frozen(dacnn_env):
    import torch

    m = dacnn()
    assert m.availability(m.params) == (True, "ok") and m.kind == "native" and m.trains
    model = m._ensure_model()
    net = model.net
    tv = torch.load(dacnn_env / "hub/checkpoints/efficientnet_b0_rwightman-7f5810bc.pth", weights_only=True)
    np.testing.assert_array_equal(net.adanet.features[0][0].weight.detach().numpy(), tv["features.0.0.weight"].numpy())
    sd = torch.load(dacnn_env / SDANET_REL, weights_only=True)
    np.testing.assert_array_equal(
        net.sdanet.features[8][0].weight.detach().numpy(), sd["efficient._conv_head.weight"].numpy()
    )
    frozen = list(net.adanet.parameters()) + list(net.sdanet.parameters())
    assert not any(p.requires_grad for p in frozen)
    trained = {id(p) for p in model.head}
    assert model.backbone == [] and not any(id(p) in trained for p in frozen)
    assert len(model.head) == len([p for p in net.parameters() if p.requires_grad])


def test_sdanet_equals_efficientnet_pytorch_on_the_same_checkpoint(dacnn_env):
    """The renamed official checkpoint in a torchvision B0 with TF 'same' padding and eps 1e-3 computes the
    endpoints efficientnet_pytorch computes (strides 4, 8, 16 and the head), at 224 and at a non-square size."""
    import torch

    ep = pytest.importorskip("efficientnet_pytorch")
    sd = torch.load(dacnn_env / SDANET_REL, weights_only=True)
    ref = ep.EfficientNet.from_name("efficientnet-b0")
    ref.load_state_dict({k[len("efficient.") :]: v for k, v in sd.items() if k.startswith("efficient.")})
    ref.eval()
    ours = dacnn()._ensure_model().net.sdanet.eval()
    for shape in ((1, 3, 224, 224), (2, 3, 96, 136)):
        x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            if shape[-1] != 224:  # from_name builds static 'same' padding for 224 inputs; other sizes: dynamic
                ref = ep.EfficientNet.from_name("efficientnet-b0", image_size=None)
                ref.load_state_dict({k[len("efficient.") :]: v for k, v in sd.items() if k.startswith("efficient.")})
                ref.eval()
            want = ref.extract_endpoints(x)
            got = ours(x)
        # efficientnet_pytorch 0.7.0 (the official requirement) named the head output reduction_5 (network.py:
        # 1280 channels); 0.7.1 inserted the last block's output (320) as reduction_5 and calls the head reduction_6
        head = "reduction_6" if "reduction_6" in want else "reduction_5"
        for g, key in zip(got, ("reduction_2", "reduction_3", "reduction_4", head)):
            w = want[key]
            assert g.shape == w.shape, key
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-3, atol=1e-4 * float(w.abs().max()))


def test_a_foreign_checkpoint_is_a_clear_error(dacnn_root, tmp_path, monkeypatch):
    import shutil

    import torch

    home = tmp_path / "home"
    shutil.copytree(dacnn_root / "hub" / "checkpoints", home / "hub" / "checkpoints")
    (home / SDANET_REL).parent.mkdir(parents=True)
    torch.save(
        {"efficient._conv_stem.weight": torch.zeros(32, 3, 3, 3), "classifier.weight": torch.zeros(2)},
        home / SDANET_REL,
    )
    monkeypatch.setenv("TORCH_HOME", str(home))
    with pytest.raises(BenchError, match="classifier.weight"):
        dacnn()._ensure_model()


# --- the network's own parts against a NumPy write-out ---------------------------------------------------
def conv2d_np(x, w, b, stride, pad):
    """Plain cross-correlation: x [C, H, W], w [O, C, k, k] -> [O, H', W']."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    o, _, k, _ = w.shape
    h = (x.shape[1] - k) // stride + 1
    wd = (x.shape[2] - k) // stride + 1
    out = np.zeros((o, h, wd))
    for i in range(h):
        for j in range(wd):
            patch = x[:, i * stride : i * stride + k, j * stride : j * stride + k]
            out[:, i, j] = np.tensordot(w, patch, axes=([1, 2, 3], [0, 1, 2])) + b
    return out


def _np(conv):
    return conv.weight.detach().double().numpy(), conv.bias.detach().double().numpy()


def msfb_np(m, x):
    """MSFB as the paper / official network.py: concat(1x1 s2, 3x3 s2, 3x3 s1 after 3x3 s2)."""
    return np.concatenate(
        [
            conv2d_np(x, *_np(m.conv1_s2), 2, 0),
            conv2d_np(x, *_np(m.conv3_s2), 2, 1),
            conv2d_np(conv2d_np(x, *_np(m.conv3_s2_b), 2, 1), *_np(m.conv3_s1_b), 1, 1),
        ]
    )


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def test_fusion_stage_equals_the_written_out_msfb_wgb():
    import torch

    from methods.retrained.dacnn_model import FusionStage

    torch.manual_seed(0)
    stage = FusionStage(5).double()
    a = torch.randn(1, 5, 7, 9, dtype=torch.float64)
    s = torch.randn(1, 5, 7, 9, dtype=torch.float64)
    with torch.no_grad():
        got = stage(a, s)[0].numpy()
    fa, fs = msfb_np(stage.msfb_a, a[0].numpy()), msfb_np(stage.msfb_s, s[0].numpy())
    assert fa.shape == (72, 4, 5)
    z = np.concatenate([fa, fs])
    gated = np.concatenate(
        [
            fa * sigmoid(conv2d_np(z, *_np(stage.wgb.gate_a), 1, 1)),
            fs * sigmoid(conv2d_np(z, *_np(stage.wgb.gate_s), 1, 1)),
        ]
    )
    expected = msfb_np(stage.msfb_out, gated).mean(axis=(1, 2))
    assert expected.shape == (72,)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_feature_sizes_follow_the_official_comments(dacnn_env):
    """network.py's shape comments for a 224 crop: fused maps 14, 7, 4, 2; 4 x 72 = 288 into fc1."""
    import torch

    net = dacnn()._ensure_model().net.eval()
    x = torch.rand(1, 3, 224, 224)
    sizes = []
    with torch.no_grad():
        a, s = net.adanet(x), net.sdanet(x)
        assert [t.shape[1:] for t in a] == [(24, 56, 56), (40, 28, 28), (112, 14, 14), (1280, 7, 7)]
        for stage, fa, fs in zip(net.stages, a, s):
            sizes.append(tuple(stage.msfb_out(stage.wgb(stage.msfb_a(fa), stage.msfb_s(fs))).shape[1:]))
    assert sizes == [(72, 14, 14), (72, 7, 7), (72, 4, 4), (72, 2, 2)] and net.fc1.in_features == 288


# --- the recipe ---------------------------------------------------------------------------------------
OFFICIAL_LR = [2e-4] + [1.8e-4] * 10 + [1.8e-5] * 10 + [1.8e-6] * 9  # IQASolver, lr 2e-5, lr_ratio 10


def test_paper_recipe_on_livec():
    from methods.registry import get_method

    cls = get_method("dacnn")
    r = cls.recipe(cls.make_params("paper"), "livec", 930)
    lrs = [ph["lr_per_epoch"]["head"][0] for ph in r["schedule"]]
    np.testing.assert_allclose(lrs, OFFICIAL_LR, rtol=1e-12)
    assert all(o["reset_on_lr_change"] and o["frozen"] == ["backbone"] for o in r["optimizer"])
    assert (r["train_crops_per_image"], r["crop_size"], r["batch_size"], r["epochs"]) == (25, 224, 16, 30)
    # dataLoder.py DataLoader(shuffle=True) keeps the last batch: 1454 batches per epoch, the last of 2 crops
    assert r["optimizer_steps"] == 30 * math.ceil(930 * 25 / 16) and r["samples_seen"] == 30 * 930 * 25
    assert r["test"] == {"mode": "crops", "n_crops": 25, "resize": None} and r["resize"] is None
    assert r["loss"]["name"] == "l1" and r["target"] == "score"
    assert r["optimizer"][0]["type"] == "adam" and r["optimizer"][0]["weight_decay"] == 0.0
    assert "NUIST-Videocoding/DACNN" in r["sources"]["schedule"]
    koniq = cls.recipe(cls.make_params("paper"), "koniq10k", 8058)
    assert koniq["resize"] == {"kind": "fixed", "hw": [512, 384]} and koniq["test"]["resize"] == koniq["resize"]
    assert cls.recipe(cls.make_params("paper"), "spaq", 100)["resize"]["hw"] == [512, 384]


def test_training_runs_the_official_table_with_a_fresh_adam_every_epoch(dacnn_env, demo, monkeypatch):
    import methods.retrained.engine as E

    made = []
    real = E.make_optimizer
    monkeypatch.setattr(E, "make_optimizer", lambda *a, **k: made.append(real(*a, **k)) or made[-1])
    m = dacnn(epochs=3, max_steps=0, train_crops=1, batch_size=2, lr=1e-5, lr_ratio=10.0)
    m.fit(demo[0])
    assert [row["lr"] for row in m.context.history] == pytest.approx([1e-4, 9e-5, 9e-5])
    assert len(made) == 3 and len({id(o) for o in made}) == 3
    assert all(not o.state or all(s["step"] <= 2 for s in o.state.values()) for o in made)


def test_ci_cell_trains_the_head_only_and_predicts(dacnn_env, demo):
    import torch

    train, test = demo
    m = dacnn()
    net = m._ensure_model().net
    frozen = {k: v.clone() for k, v in net.adanet.state_dict().items()}
    head = [p.detach().clone() for p in m.model.head]
    start = time.process_time()
    m.fit(train)
    cpu_s = time.process_time() - start
    print(f"dacnn ci fit: {cpu_s:.2f} CPU s")
    after = net.adanet.state_dict()
    for k, v in frozen.items():
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(v, after[k]), f"{k} of the frozen stream changed"
    # official: model.train(True) leaves the frozen streams' BatchNorm in training mode (running stats move)
    assert not torch.equal(frozen["features.0.1.running_mean"], after["features.0.1.running_mean"])
    assert any(not torch.equal(a, b) for a, b in zip(head, m.model.head)), "fit changed nothing"
    assert m.context.facts["optimizer_steps"] == 2
    pred = m.predict(test)
    assert pred.shape == (2,) and np.isfinite(pred).all()
    np.testing.assert_allclose(m.predict(test.subset(test.ids[:1])), pred[:1], rtol=1e-5)


def test_frozen_bn_keeps_the_streams_statistics(dacnn_env, demo):
    import torch

    m = dacnn(frozen_bn=True)
    net = m._ensure_model().net
    before = net.sdanet.state_dict()["features.0.1.running_mean"].clone()
    m.fit(demo[0])
    assert torch.equal(before, net.sdanet.state_dict()["features.0.1.running_mean"])


def test_imagenet_sdanet_option_needs_no_released_file(dacnn_root, tmp_path, monkeypatch):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(dacnn_root / "hub" / "checkpoints", home / "hub" / "checkpoints")
    monkeypatch.setenv("TORCH_HOME", str(home))
    m = dacnn(sdanet="imagenet")
    assert m.availability(m.params) == (True, "ok")
    net = m._ensure_model().net
    assert any("not the paper's model" in n for n in m.context.notes)
    np.testing.assert_array_equal(
        net.sdanet.features[0][0].weight.detach().numpy(), net.adanet.features[0][0].weight.detach().numpy()
    )


@pytest.mark.parametrize("bad", [{"sdanet": "random"}, {"dropout": 1.5}])
def test_bad_parameters_fail_when_the_run_is_planned(bad):
    from bench.core.errors import RunError
    from bench.run.planning import resolve_params
    from methods.registry import get_method

    with pytest.raises(RunError, match=list(bad)[0]):
        resolve_params(get_method("dacnn"), "ci", bad, {})


def test_table1_keeps_the_reproduced_mark():
    """DACNN's BID numbers are marked reproduced (*) in the paper: the published table keeps that."""
    from reports.published import load_published

    rows = [p for p in load_published() if p.method == "dacnn" and p.test == "bid"]
    assert rows and all(p.reproduced for p in rows)
