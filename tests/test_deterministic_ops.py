"""scripts/deterministic-ops: the ops of a real training step that have no deterministic CUDA kernel, found by
recording the step on the CPU (PaQ-2-PiQ from fake weights: ResNet-18 at 64 px, seconds)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from tests.fake_weights import make_fake_cache, one_torch_thread, session_fake_root  # noqa: F401 (autouse)
from tests.test_baselines_retrained import TEST_PYIQA_FILES

SCRIPT = runpy.run_path(
    str(Path(__file__).resolve().parents[1] / "scripts" / "deterministic-ops"), run_name="deterministic_ops"
)


@pytest.fixture()
def fake_env(monkeypatch):
    root = make_fake_cache(session_fake_root(TEST_PYIQA_FILES), pyiqa_files=TEST_PYIQA_FILES)
    monkeypatch.setenv("TORCH_HOME", str(root))
    monkeypatch.setenv("HF_HOME", str(root / "hf"))


def test_paq2piq_raises_only_once_its_backbone_trains(fake_env):
    """With a head-only warm-up phase: the head phase records no alerting op (no gradient reaches the RoI pool
    or the adaptive max pool); the backbone phase records torchvision's roi_pool backward and the head's
    AdaptiveMaxPool2d backward. Its AdaptiveAvgPool2d(1) is a mean (aten's 1x1 shortcut): never listed."""
    rows = SCRIPT["trace_method"]("paq2piq", "ci", head_epochs=1)
    assert [(r["phase"], r["trains"]) for r in rows] == [("head", "head"), ("all", "backbone + head")]
    head, full = rows
    assert head["raises"] == []
    assert any("`torchvision::_roi_pool_backward`" in op for op in full["raises"])
    assert any("`aten::adaptive_max_pool2d_backward`" in op for op in full["raises"])
    assert not any("AdaptiveAvgPool2d" in op for op in full["raises"])


def test_recorder_applies_the_conditions():
    """Ops that alert only in some calls: bincount with weights, NLLLoss over pixels with a reduction."""
    import torch
    import torch.nn.functional as F

    with SCRIPT["recorder"]() as rec:
        torch.bincount(torch.tensor([0, 1, 1]))
        F.nll_loss(torch.randn(2, 3, 4, 4).log_softmax(1), torch.zeros(2, 4, 4, dtype=torch.long), reduction="none")
        F.nll_loss(torch.randn(2, 3).log_softmax(1), torch.zeros(2, dtype=torch.long))
    assert rec.raises == set()
    with SCRIPT["recorder"]() as rec:
        torch.bincount(torch.tensor([0, 1, 1]), weights=torch.ones(3))
        F.nll_loss(torch.randn(2, 3, 4, 4).log_softmax(1), torch.zeros(2, 4, 4, dtype=torch.long))
    assert {op.split(" (`")[0] for op in rec.raises} == {"bincount with weights", "NLLLoss (2-d target, mean/sum)"}
