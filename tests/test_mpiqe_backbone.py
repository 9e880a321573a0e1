"""``methods.clip_backbone.create_clip``: random, local-file and tag weights, QuickGELU, clear errors."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

from bench.core.errors import WeightsMissing  # noqa: E402
from methods.clip_backbone import (  # noqa: E402
    TINY_BACKBONE,
    BackboneError,
    create_clip,
    describe_weights,
    weight_candidates,
)


def _acts(model):
    return {type(m).__name__ for m in model.visual.transformer.resblocks[0].mlp.modules()}


def test_random_weights_are_reproducible_and_use_quick_gelu():
    a, info = create_clip(TINY_BACKBONE, "none")
    b, _ = create_clip(TINY_BACKBONE, "none")
    assert info.pretrained == "none" and info.weights_file is None and info.quick_gelu
    assert info.image_size == 64 and info.embed_dim == 32
    assert "QuickGELU" in _acts(a)
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), k
    assert not a.training


def test_local_checkpoint_path_loads_those_weights(tmp_path):
    src, _ = create_clip(TINY_BACKBONE, "none")
    with torch.no_grad():
        src.visual.proj.add_(1.0)  # differ from the reproducible random init
    path = tmp_path / "tiny.pt"
    torch.save(src.state_dict(), path)
    model, info = create_clip(TINY_BACKBONE, str(path))
    assert info.weights_file == str(path)
    assert torch.equal(model.visual.proj, src.visual.proj)


def test_openai_tag_candidates_start_with_weights_dir(tmp_path):
    name, paths = weight_candidates("ViT-B-16", "openai", tmp_path)
    assert name == "ViT-B-16.pt" and paths[0] == tmp_path / "ViT-B-16.pt"
    assert describe_weights("ViT-B-16", "openai", tmp_path)[0] == "ViT-B-16.pt"
    assert describe_weights("ViT-B-16", "none", tmp_path) == ("", [], "")


def test_missing_openai_weights_offline_is_fast_and_names_the_file(tmp_path, monkeypatch):
    """Fast because nothing is tried on the network (a timed assertion would depend on the machine)."""
    import socket

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tried = []
    monkeypatch.setattr(
        socket.socket,
        "connect",
        lambda self, addr: tried.append(addr) or (_ for _ in ()).throw(OSError("test: no network")),
    )
    with pytest.raises(WeightsMissing) as exc:
        create_clip("ViT-B-16", "openai", weights_dir=tmp_path)
    assert tried == []
    msg = str(exc.value)
    assert "ViT-B-16.pt" in msg and str(tmp_path) in msg and "openaipublic" in msg and "'none'" in msg


def test_unknown_names_suggest_close_ones(tmp_path):
    with pytest.raises(BackboneError, match="Did you mean: ViT-B-16"):
        create_clip("ViT-B-61", "none")
    with pytest.raises(BackboneError, match="openai"):
        create_clip("ViT-B-16", "opneai")
    with pytest.raises(WeightsMissing, match="does not exist"):
        create_clip(TINY_BACKBONE, str(tmp_path / "nope.pt"))


@pytest.mark.slow
def test_openai_file_in_weights_dir_is_picked_up(tmp_path, monkeypatch):
    from bench.core.errors import BenchError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "ViT-B-16.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(BenchError, match="cannot load CLIP checkpoint .*ViT-B-16.pt"):
        create_clip("ViT-B-16", "openai", weights_dir=tmp_path)


@pytest.mark.slow
def test_vit_b16_random_has_quick_gelu_and_the_paper_shapes():
    model, info = create_clip("ViT-B-16", "none")
    assert info.quick_gelu and "QuickGELU" in _acts(model)
    assert model.visual.conv1.out_channels == 768 and info.embed_dim == 512
    assert len(model.visual.transformer.resblocks) == 12 and tuple(model.visual.grid_size) == (14, 14)
