"""How far a method's predicted score distribution is from the human one: KL, exact JS and Wasserstein-1.

Each image's human opinion is the Gaussian N(MOS, std²) of its ratings (the dataset's published per-image std);
a method that predicts a distribution hands a Gaussian per image too (``methods.base.ScoreDistribution``). Both
are put on one scale first, 1-5 (DeQA-Score's convention): the dataset's published score range and the method's
declared range are each mapped linearly onto [1, 5] (a DMOS set mirrored, so that higher is better), the std
scaled by the same factor. A method without a fixed scale (e.g. UNIQUE's Thurstone scale) declares none: its
means are mapped onto the human MOS by a least-squares line fitted on the test images (as the logistic before
PLCC is), its stds scaled by that line's slope, and the cell says so (flag ``dist_scale_fitted``).

Per image, then averaged over the images (as DeQA-Score averages):
  kl  KL(human || predicted) in nats, closed form for two Gaussians;
  js  the exact Jensen-Shannon divergence, ½ KL(P || M) + ½ KL(Q || M) with M = (P + Q) / 2 the mixture, in nats
      (0 to ln 2), by quadrature: two Gaussians have no closed form. DeQA-Score's "JS" replaces M by the Gaussian
      with M's mean and variance, which is an approximation of a different quantity;
  w1  the Wasserstein-1 distance ∫ |F_P - F_Q| dx on the 1-5 scale, in closed form (a folded normal's mean).
      (DeQA-Score's "WD", sqrt(Δμ² + Δσ²), is the Wasserstein-2 distance of two Gaussians.)
Images whose human or predicted std is not positive and finite have no density and are left out (flag
``dist_skipped:N``); every metric is None when no image is left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DIST_METRICS = ("kl", "js", "w1")


@dataclass(frozen=True)
class ScoreDistribution:
    """What ``Method.predict`` may return instead of an array of scores: a Gaussian N(mean, std²) per image.

    ``scale``: the (low, high) range ``mean`` and ``std`` are expressed on (Q-Align's 1-5 levels: (1, 5)); None
    when the method has no fixed scale (a latent one, e.g. UNIQUE's). It acts as the array of means wherever an
    array is expected (``np.asarray(prediction)``), so a caller that only wants scores needs no change.
    """

    mean: np.ndarray
    std: np.ndarray
    scale: tuple[float, float] | None = None

    def __post_init__(self):
        mean, std = np.asarray(self.mean, float).ravel(), np.asarray(self.std, float).ravel()
        if mean.shape != std.shape:
            raise ValueError(f"ScoreDistribution: {mean.size} means but {std.size} stds")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def __array__(self, dtype=None, copy=None):
        return np.array(self.mean, dtype=dtype) if copy else np.asarray(self.mean, dtype=dtype)

    def __len__(self) -> int:
        return len(self.mean)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.mean.shape

    def __getitem__(self, index):
        return self.mean[index]


COMMON_SCALE = (1.0, 5.0)
_SPAN = 12.0  # each Gaussian's quadrature nodes cover mean +- 12 std: the mass outside is below 1e-32
_NODES = 801  # nodes per Gaussian; the two sets are merged, so a narrow and a wide Gaussian are both resolved
_CHUNK = 512  # images per vectorised block of the JS quadrature (memory: CHUNK x 2 NODES floats per array)


def to_common_scale(mean, std, scale: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) on ``scale`` = (low, high) mapped linearly onto 1-5."""
    lo, hi = float(scale[0]), float(scale[1])
    if not hi > lo:
        raise ValueError(f"a score scale needs low < high, not {scale}")
    k = (COMMON_SCALE[1] - COMMON_SCALE[0]) / (hi - lo)
    return COMMON_SCALE[0] + (np.asarray(mean, float) - lo) * k, np.asarray(std, float) * k


def kl_gaussian(mu1, s1, mu2, s2) -> np.ndarray:
    """KL(N(mu1, s1²) || N(mu2, s2²)) in nats, elementwise."""
    mu1, s1, mu2, s2 = (np.asarray(a, float) for a in (mu1, s1, mu2, s2))
    return np.log(s2 / s1) + (s1**2 + (mu1 - mu2) ** 2) / (2.0 * s2**2) - 0.5


def _nodes(mu1, s1, mu2, s2) -> np.ndarray:
    """[n, 2 * NODES] sorted quadrature nodes: each row covers both Gaussians of its image."""
    t = np.linspace(-_SPAN, _SPAN, _NODES)
    x = np.concatenate([mu1[:, None] + s1[:, None] * t, mu2[:, None] + s2[:, None] * t], axis=1)
    return np.sort(x, axis=1)


def _blocks(*arrays):
    n = len(arrays[0])
    for start in range(0, n, _CHUNK):
        yield tuple(a[start : start + _CHUNK] for a in arrays)


def js_gaussian(mu1, s1, mu2, s2) -> np.ndarray:
    """The exact Jensen-Shannon divergence of N(mu1, s1²) and N(mu2, s2²) in nats, elementwise (trapezoid rule on
    nodes that resolve both Gaussians; relative error below 1e-6 against adaptive quadrature in the tests)."""
    from scipy.stats import norm

    mu1, s1, mu2, s2 = (np.atleast_1d(np.asarray(a, float)) for a in (mu1, s1, mu2, s2))
    out = []
    for a, b, c, d in _blocks(mu1, s1, mu2, s2):
        x = _nodes(a, b, c, d)
        # log densities: no underflow to 0 * log 0 in the tails
        lp, lq = norm.logpdf(x, a[:, None], b[:, None]), norm.logpdf(x, c[:, None], d[:, None])
        lm = np.logaddexp(lp, lq) - math.log(2.0)
        integrand = 0.5 * (np.exp(lp) * (lp - lm) + np.exp(lq) * (lq - lm))
        out.append(np.trapezoid(integrand, x, axis=1))
    return np.clip(np.concatenate(out), 0.0, math.log(2.0))


def w1_gaussian(mu1, s1, mu2, s2) -> np.ndarray:
    """The Wasserstein-1 distance of N(mu1, s1²) and N(mu2, s2²), elementwise, in closed form: in one dimension
    W1 = ∫_0^1 |F1⁻¹(u) - F2⁻¹(u)| du = E|a + bZ| with a = mu1 - mu2, b = s1 - s2, Z standard normal: the mean of
    a folded normal, |b| sqrt(2/π) exp(-a²/2b²) + a (1 - 2Φ(-a/|b|)) (= |a| when b = 0)."""
    from scipy.stats import norm

    a = np.asarray(mu1, float) - np.asarray(mu2, float)
    b = np.abs(np.asarray(s1, float) - np.asarray(s2, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        folded = b * math.sqrt(2.0 / math.pi) * np.exp(-(a**2) / (2.0 * b**2)) + a * (1.0 - 2.0 * norm.cdf(-a / b))
    return np.atleast_1d(np.where(b > 0, folded, np.abs(a)))


def fit_line(pred_mean: np.ndarray, human_mean: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line human ≈ slope * pred + intercept."""
    slope, intercept = np.polyfit(pred_mean, human_mean, 1)
    return float(slope), float(intercept)


def distribution_metrics(
    human_mean,
    human_std,
    human_scale: tuple[float, float],
    pred_mean,
    pred_std,
    pred_scale: tuple[float, float] | None,
) -> dict:
    """{'kl', 'js', 'w1': mean over images or None, 'n_dist': images used, 'dist_flags': [...]}.

    ``human_mean`` higher-is-better on ``human_scale``; ``pred_scale`` None: the method has no fixed scale (a
    line is fitted, see the module docstring)."""
    hm, hs = to_common_scale(human_mean, human_std, human_scale)
    pm, ps = np.asarray(pred_mean, float).ravel(), np.asarray(pred_std, float).ravel()
    if not (hm.shape == hs.shape == pm.shape == ps.shape):
        raise ValueError(f"{pm.size} predicted distributions for {hm.size} images")
    flags: list[str] = []
    ok = np.isfinite(hm) & np.isfinite(hs) & (hs > 0) & np.isfinite(pm) & np.isfinite(ps) & (ps > 0)
    if not ok.all():
        flags.append(f"dist_skipped:{int((~ok).sum())}")
    hm, hs, pm, ps = hm[ok], hs[ok], pm[ok], ps[ok]
    out: dict = {name: None for name in DIST_METRICS}
    out["n_dist"] = int(hm.size)
    if hm.size and pred_scale is None:
        if hm.size < 3 or np.ptp(pm) == 0:
            flags.append("dist_scale_fit_failed")
            out["dist_flags"] = flags
            return out
        slope, intercept = fit_line(pm, hm)
        pm, ps = slope * pm + intercept, abs(slope) * ps
        flags.append("dist_scale_fitted")
    elif hm.size:
        pm, ps = to_common_scale(pm, ps, pred_scale)
    if hm.size:
        out["kl"] = float(np.mean(kl_gaussian(hm, hs, pm, ps)))
        out["js"] = float(np.mean(js_gaussian(hm, hs, pm, ps)))
        out["w1"] = float(np.mean(w1_gaussian(hm, hs, pm, ps)))
    out["dist_flags"] = flags
    return out


def human_distribution(records, raw_scale: tuple[float, float], raw_higher_is_better: bool):
    """(mean higher-is-better, std) of the ratings per record on the dataset's scale; None when the dataset
    publishes no std for any of them (a DMOS set's mean is mirrored inside its scale; the std is unchanged)."""
    std = np.asarray([np.nan if r.std is None else float(r.std) for r in records], dtype=float)
    if not np.isfinite(std).any():
        return None
    raw = np.asarray([float(r.raw_score) for r in records], dtype=float)
    lo, hi = float(raw_scale[0]), float(raw_scale[1])
    return (raw if raw_higher_is_better else lo + hi - raw), std


def cell_distribution_metrics(images, prediction) -> dict:
    """The distribution metrics of one cell's test images (an ``ImageSet``): {} unless the method predicted a
    ``ScoreDistribution`` and the dataset publishes a per-image std, else the keys of ``distribution_metrics``."""
    if not isinstance(prediction, ScoreDistribution):
        return {}
    human = human_distribution(images.records, images.dataset.raw_scale, images.dataset.raw_higher_is_better)
    if human is None:
        return {}
    return distribution_metrics(
        human[0], human[1], images.dataset.raw_scale, prediction.mean, prediction.std, prediction.scale
    )
