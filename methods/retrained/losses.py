"""The losses of the retrained baselines (torch imported inside functions). Method-specific compositions
(TReS, UNIQUE) live in their method files and use these."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def plcc_loss(pred, target):
    """(1 - Pearson) / 2, as pyiqa's PLCCLoss; batch-level."""
    import torch

    p = pred - pred.mean()
    t = target - target.mean()
    r = (p * t).sum() / torch.sqrt((p * p).sum() * (t * t).sum() + 1e-12)  # eps inside: finite grad at 0
    return (1 - r) / 2


def nin_loss(pred, target, p: int = 1, q: int = 2):
    """Norm-in-norm loss (Li, Jiang and Jiang 2020) as pyiqa's NiNLoss (losses/iqa_losses.py
    norm_loss_with_normalization, p=1, q=2): || (x - mean x) / ||x - mean x||_q - (y - mean y) / ||.||_q ||_p
    / (2^p * n^max(0, 1 - p/q)) over the batch; L1 for a batch of one."""
    import torch
    import torch.nn.functional as F

    n = len(pred)
    if n < 2:
        return F.l1_loss(pred, target)
    scale = 2.0**p * n ** max(0.0, 1 - p / q)
    a = F.normalize(pred - pred.mean(), p=q, dim=0)
    b = F.normalize(target - target.mean(), p=q, dim=0)
    return torch.norm(a - b, p=p) / scale


def std_normal_cdf(x):
    import torch

    return 0.5 * (1 + torch.erf(x / np.sqrt(2.0)))


def fidelity_loss(pred, target, target_prob=None, pred_scale: float = float(np.sqrt(2.0))):
    """Pairwise fidelity loss (Tsai et al. 2007) over all pairs i < j of the batch, Thurstone's model:
    p_ij = Phi((s_i - s_j) / pred_scale) (sqrt(2): two unit-variance predictions);
    the target probability is ``target_prob`` [pairs] when given, else Phi((y_i - y_j) / sqrt(2))."""
    import torch

    i, j = torch.triu_indices(len(pred), len(pred), offset=1)
    if len(i) == 0:
        return (pred * 0).sum()
    p = std_normal_cdf((pred[i] - pred[j]) / pred_scale)
    q = target_prob if target_prob is not None else std_normal_cdf((target[i] - target[j]) / np.sqrt(2.0))
    eps = 1e-8
    return (1 - torch.sqrt(p * q + eps) - torch.sqrt((1 - p) * (1 - q) + eps)).mean()


def fidelity_binary_loss(pred, target):
    """LIQE's quality term (LIQE MNL_Loss.loss_m4): fidelity against g = (sign(y_i - y_j) + 1) / 2 with
    p = 0.5 * (1 + erf((s_i - s_j) / sqrt(2))) = Phi(s_i - s_j) -- no further 1/sqrt(2) on the difference."""
    import torch

    i, j = torch.triu_indices(len(pred), len(pred), offset=1)
    return fidelity_loss(pred, target, 0.5 * (torch.sign(target[i] - target[j]) + 1), pred_scale=1.0)


def make_loss(name: str) -> Callable:
    import torch.nn.functional as F

    table = {
        "mse": F.mse_loss,
        "l1": F.l1_loss,
        "plcc": plcc_loss,
        "mse+plcc": lambda p, t: F.mse_loss(p, t) + plcc_loss(p, t),
        "nin": nin_loss,
        "mse+nin": lambda p, t: F.mse_loss(p, t) + nin_loss(p, t),
        "fidelity": fidelity_loss,
        "fidelity-binary": fidelity_binary_loss,
    }
    if name not in table:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(table)}")
    return table[name]
