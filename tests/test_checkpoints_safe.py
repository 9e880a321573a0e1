"""Issue 24 item 9: checkpoints are read as tensors only (no unpickled code), release files checked by hash."""

from __future__ import annotations

import pytest

from methods.checkpoints import CheckpointRefused, load_tensors


class _RunsCode:
    """What a replaced weight file can hold: unpickling it calls os.system / writes a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_checkpoint(path, marker):
    import torch

    torch.save({"params": {"w": torch.zeros(2)}, "payload": _RunsCode(str(marker))}, path)


def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    import torch

    marker = tmp_path / "ran"
    _evil_checkpoint(tmp_path / "Metaiqa_prior.pth", marker)
    with pytest.raises(CheckpointRefused, match=r"Metaiqa_prior\.pth holds Python objects beyond tensors"):
        load_tensors(tmp_path / "Metaiqa_prior.pth")
    assert not marker.exists()
    torch.save({"params": {"w": torch.ones(3)}, "epoch": 3}, tmp_path / "ok.pth")
    assert load_tensors(tmp_path / "ok.pth")["params"]["w"].sum().item() == 3.0


def test_pyiqa_loaders_inside_offline_weights_load_tensors_only(tmp_path):
    """pyiqa's own load_pretrained_network passes weights_only=False; inside offline_weights it cannot."""
    import torch
    from pyiqa.archs.arch_util import load_pretrained_network

    from methods.weights import offline_weights

    marker = tmp_path / "ran"
    _evil_checkpoint(tmp_path / "evil.pth", marker)
    net = torch.nn.Linear(2, 1)
    with offline_weights(None):
        with pytest.raises(CheckpointRefused):
            load_pretrained_network(net, str(tmp_path / "evil.pth"), weight_keys="params")
    assert not marker.exists()
    assert torch.load is not None and getattr(torch.load, "__module__", "").startswith("torch")  # restored


def test_metaiqa_refuses_a_replaced_prior(tmp_path, monkeypatch):
    pytest.importorskip("pyiqa")
    from methods.retrained.metaiqa import load_prior_strictly

    hub = tmp_path / "hub"
    (hub / "pyiqa").mkdir(parents=True)
    marker = tmp_path / "ran"
    _evil_checkpoint(hub / "pyiqa" / "Metaiqa_prior.pth", marker)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    from methods import weights as W

    with W.offline_weights(None):
        with pytest.raises(CheckpointRefused, match="Metaiqa_prior.pth"):
            load_prior_strictly(object(), W.pyiqa_url("Metaiqa_prior.pth"))
    assert not marker.exists()


def test_a_release_file_whose_bytes_do_not_match_its_hash_tag_is_noted(tmp_path, monkeypatch):
    import torch
    import torchvision

    from methods import weights as W

    with torch.device("meta"):
        sd = torchvision.models.resnet18(weights=None).state_dict()
    from tests.fake_weights import fake_state_dict

    hub = tmp_path / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(fake_state_dict(sd), hub / W.TORCHVISION_FILES["resnet18"])  # not the released bytes
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    notes: list[str] = []
    with W.offline_weights(None, notes):
        torchvision.models.resnet18(weights="IMAGENET1K_V1")
    assert any("resnet18-f37072fd.pth: its SHA-256" in n and "is not the published f37072fd" in n for n in notes)


def test_published_digests_are_checked_where_there_are_any(tmp_path):
    import hashlib

    from methods.checkpoints import release_mismatch
    from methods.weights import weight_file_sha256

    data = b"weights"
    tag = hashlib.sha256(data).hexdigest()[:8]
    good = tmp_path / f"net-{tag}.pth"
    good.write_bytes(data)
    assert release_mismatch(good, "checkpoints", weight_file_sha256) is None  # torchvision's naming rule
    bad = tmp_path / "net-00000000.pth"
    bad.write_bytes(data)
    assert "is not the published 00000000" in release_mismatch(bad, "checkpoints", weight_file_sha256)
    assert release_mismatch(bad, "pyiqa", weight_file_sha256) is None  # pyiqa publishes no digests
    clip = tmp_path / "RN50.pt"  # a full digest in methods/weight_sha256.csv
    clip.write_bytes(data)
    assert "is not the published afeb0e10f9e5" in release_mismatch(clip, "clip", weight_file_sha256)
