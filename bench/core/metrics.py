"""Agreement between predictions and human scores: SRCC, PLCC, KRCC, RMSE.

PLCC is given twice: on the raw predictions, and after the 4-parameter logistic
mapping of the VQEG report (predictions live on each method's own scale, the
logistic puts them on the MOS scale first). RMSE is taken after that same mapping
(raw predictions are not on the MOS scale). The settings are part of every cell key,
so changing them re-runs the cells.

Bad predictions never crash the run: NaN/inf values are dropped and flagged, constant
predictions give NaN correlations and a flag, a logistic fit that does not converge
falls back to the raw PLCC and is flagged.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

# scipy is imported inside the functions: `bench run --dry-run` and every worker start stay ~1 s faster.


@dataclass(frozen=True)
class MetricSettings:
    logistic: str = "vqeg4"  # 'vqeg4': PLCC/RMSE also after the VQEG 4-parameter logistic; 'none': raw only
    rmse_on: str = "logistic"  # 'logistic' (mapped predictions, when logistic='vqeg4') or 'raw'
    version: int = 1  # bump when the computation changes: it is part of every cell key

    def __post_init__(self):
        if self.logistic not in ("vqeg4", "none"):
            raise ValueError(f"MetricSettings.logistic must be 'vqeg4' or 'none', not {self.logistic!r}")
        if self.rmse_on not in ("logistic", "raw"):
            raise ValueError(f"MetricSettings.rmse_on must be 'logistic' or 'raw', not {self.rmse_on!r}")

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_SETTINGS = MetricSettings()
METRIC_NAMES = ("srcc", "plcc", "plcc_logistic", "krcc", "rmse")
MIN_SAMPLES = 3


NON_FINITE_FLAG = "non_finite_predictions"  # 'non_finite_predictions:N': N predictions left out as NaN/inf


def dropped_predictions(metrics) -> int:
    """N of a metrics block's flag 'non_finite_predictions:N' (0 when absent): predictions left out of it."""
    flags = metrics.get("flags") if isinstance(metrics, dict) else None
    for flag in flags or ():
        name, _, count = str(flag).partition(":")
        if name == NON_FINITE_FLAG and count.isdigit():
            return int(count)
    return 0


def logistic4(x, b1, b2, b3, b4):
    """VQEG (2000) 4-parameter logistic: b2 + (b1 - b2) / (1 + exp(-(x - b3) / |b4|))."""
    z = np.clip(-(x - b3) / max(abs(b4), 1e-12), -500, 500)  # clip: no overflow warnings on outliers
    return b2 + (b1 - b2) / (1.0 + np.exp(z))


def _logistic4_jac(x, b1, b2, b3, b4):
    """Analytic Jacobian of ``logistic4``: 5x fewer evaluations than finite differences."""
    scale = max(abs(b4), 1e-12)
    u = np.clip(-(x - b3) / scale, -500, 500)
    s = 1.0 / (1.0 + np.exp(u))
    ds = -(b1 - b2) * s * (1.0 - s)  # d f / d u
    return np.column_stack([s, 1.0 - s, ds / scale, ds * (x - b3) / scale**2 * np.sign(b4 or 1.0)])


def fit_logistic4(pred: np.ndarray, mos: np.ndarray) -> np.ndarray | None:
    """Parameters of the logistic mapping pred -> mos, or None when the fit fails.

    The fit runs on standardised predictions (start: centre 0, slope 1) so that it does
    not depend on a method's output scale; the parameters are returned in pred's units.
    """
    from scipy import optimize

    mu, sd = float(np.mean(pred)), float(np.std(pred))
    if sd == 0:
        return None
    z = (pred - mu) / sd
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            beta, _ = optimize.curve_fit(
                logistic4, z, mos, p0=[mos.max(), mos.min(), 0.0, 1.0], jac=_logistic4_jac, maxfev=20000
            )
    except (RuntimeError, ValueError, optimize.OptimizeWarning):
        return None
    if not np.all(np.isfinite(beta)):
        return None
    return np.array([beta[0], beta[1], mu + sd * beta[2], sd * abs(beta[3])])


def _corr(fn, a, b) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(fn(a, b)[0])
    return value if math.isfinite(value) else float("nan")


def compute_metrics(mos, pred, settings: MetricSettings = DEFAULT_SETTINGS) -> dict:
    """{'srcc','plcc','plcc_logistic','krcc','rmse': float or NaN, 'flags': [...], 'n': int}."""
    from scipy import stats

    mos = np.asarray(mos, dtype=np.float64).ravel()
    pred = np.asarray(pred, dtype=np.float64).ravel()
    if mos.shape != pred.shape:
        raise ValueError(f"{pred.size} predictions for {mos.size} scores: a method must predict one score per image")
    flags: list[str] = []
    finite = np.isfinite(pred) & np.isfinite(mos)
    if not finite.all():
        flags.append(f"{NON_FINITE_FLAG}:{int((~finite).sum())}")
        mos, pred = mos[finite], pred[finite]
    out = {name: float("nan") for name in METRIC_NAMES}
    out["n"] = int(mos.size)
    if mos.size < MIN_SAMPLES:
        flags.append(f"too_few_samples:{mos.size}")
        out["flags"] = flags
        return out
    if np.ptp(pred) == 0:
        flags.append("constant_predictions")
        out["rmse"] = (
            float(np.sqrt(np.mean((mos - mos.mean()) ** 2)))
            if settings.rmse_on == "logistic"
            else float(np.sqrt(np.mean((pred - mos) ** 2)))
        )
        out["flags"] = flags
        return out
    if np.ptp(mos) == 0:
        flags.append("constant_scores")
    out["srcc"] = _corr(stats.spearmanr, pred, mos)
    out["krcc"] = _corr(stats.kendalltau, pred, mos)
    out["plcc"] = _corr(stats.pearsonr, pred, mos)
    mapped = pred
    if settings.logistic == "vqeg4":
        beta = fit_logistic4(pred, mos)
        if beta is None:
            flags.append("logistic_fit_failed:raw_plcc_used")
            out["plcc_logistic"] = out["plcc"]
        else:
            mapped = logistic4(pred, *beta)
            out["plcc_logistic"] = _corr(stats.pearsonr, mapped, mos) if np.ptp(mapped) > 0 else out["plcc"]
    else:
        out["plcc_logistic"] = None
    rmse_pred = mapped if settings.rmse_on == "logistic" else pred
    out["rmse"] = float(np.sqrt(np.mean((rmse_pred - mos) ** 2)))
    out["flags"] = flags
    return out
