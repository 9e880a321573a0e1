"""``nss-svr``: natural-scene-statistics features + kernel ridge regression, trained per split.

The features are BRISQUE's (Mittal et al. 2012), computed natively: per scale, a
generalised Gaussian fitted to the MSCN coefficients (shape, variance) and an
asymmetric generalised Gaussian fitted to the four neighbour products (shape, mean,
left and right variance), i.e. 18 numbers per scale. The regressor is RBF kernel ridge
(the closed-form cousin of BRISQUE's RBF SVR: no solver tolerance, same result on
every machine) on standardised features. Seconds per split on a CPU, no weights, so
every protocol runs end to end without a GPU.

Features depend only on the image file and the feature parameters, so they are cached
per image under the run's cache folder and shared by all splits and protocols.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.core.records import ImageSet
from methods.base import Method


@dataclass
class NSSParams:
    n_scales: int = 2  # dyadic scales the statistics are taken at
    paired_products: bool = True  # the 16 neighbour-product features per scale (else 2 per scale)
    max_side: int = 512  # images are first shrunk so their longer side is at most this (0: keep)
    regressor: str = "krr"  # 'krr' (RBF kernel ridge) or 'ridge' (linear)
    alpha: float = 1.0  # ridge penalty
    gamma: float = 0.0  # RBF width; 0: the median heuristic (1 / median squared distance)


_MEMO: dict[str, np.ndarray] = {}  # per process: splits of one dataset share every image's features
_MEMO_MAX = 200_000


class NSSRegressor(Method):
    name = "nss-svr"
    version = "1"
    kind = "native"
    trains = True
    description = "BRISQUE-style natural scene statistics + RBF kernel ridge (fast CPU baseline)"
    Params = NSSParams
    presets = {
        "paper": {"max_side": 0},
        "demo": {"max_side": 256},
        "ci": {"max_side": 128},
    }

    def __init__(self, params=None, context=None):
        super().__init__(params, context)
        p = self.params
        if p.regressor not in ("krr", "ridge"):
            raise ValueError(f"nss-svr: regressor must be 'krr' or 'ridge', not {p.regressor!r}")
        if not 1 <= p.n_scales <= 5:
            raise ValueError(f"nss-svr: n_scales must be 1..5, not {p.n_scales}")
        if p.alpha <= 0:
            raise ValueError(f"nss-svr: alpha must be > 0, not {p.alpha}")
        self._state: dict | None = None

    # --- features ---------------------------------------------------------------------
    def features(self, images: ImageSet, desc: str = "features") -> np.ndarray:
        from tqdm.auto import tqdm

        rows = [
            self._cached_features(Path(r.path))
            for r in tqdm(images.records, desc=f"nss-svr {desc}", disable=not self.context.progress, leave=False)
        ]
        return np.vstack(rows) if rows else np.zeros((0, self.n_features))

    @property
    def n_features(self) -> int:
        return (18 if self.params.paired_products else 2) * self.params.n_scales

    def _cached_features(self, path: Path) -> np.ndarray:
        """Memory, then the disk cache (shared by processes and runs), then the image."""
        st = _stat(path)
        p = self.params
        from bench.data.image_modes import DECODER

        ident = (
            f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{p.n_scales}|{p.paired_products}|{p.max_side}"
            f"|v{self.version}|{DECODER}"
        )
        if ident in _MEMO:
            return _MEMO[ident]
        cache = self.context.cache_dir
        file = Path(cache) / "nss-svr" / f"{hashlib.sha256(ident.encode()).hexdigest()[:24]}.npy" if cache else None
        feats = None
        if file is not None and file.is_file():
            try:
                feats = np.load(file)
            except (ValueError, OSError):  # damaged cache entry: recompute and overwrite
                feats = None
        if feats is None:
            feats = image_features(path, p)
            if file is not None:
                from bench.core.files import atomic_write

                buf = io.BytesIO()
                np.save(buf, feats)
                atomic_write(file, buf.getvalue())
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        _MEMO[ident] = feats
        return feats

    # --- the work ---------------------------------------------------------------------
    def fit(self, train: ImageSet, val: ImageSet | None = None) -> None:
        if len(train) < 2:
            raise ValueError(f"nss-svr needs at least 2 training images, got {len(train)}")
        x = self.features(train, "train")
        y = train.scores
        mean, std = x.mean(0), x.std(0)
        std[std == 0] = 1.0
        z = (x - mean) / std
        state = {"mean": mean, "std": std, "y_mean": float(y.mean())}
        yc = y - state["y_mean"]
        with one_blas_thread():
            if self.params.regressor == "ridge":
                a = z.T @ z + self.params.alpha * np.eye(z.shape[1])
                state["w"] = np.linalg.solve(a, z.T @ yc)
            else:
                gamma = self.params.gamma or _median_gamma(z)
                k = _rbf(z, z, gamma)
                k[np.diag_indices_from(k)] += self.params.alpha  # in place: one n x n matrix, not three
                state["dual"] = np.linalg.solve(k, yc)
                state["z_train"], state["gamma"] = z, gamma
        self._state = state

    def predict(self, images: ImageSet) -> np.ndarray:
        if self._state is None:
            raise RuntimeError("nss-svr: predict() before fit()")
        s = self._state
        self.context.record("device", "cpu")  # whatever --device asked: this method is CPU-only
        z = (self.features(images, "test") - s["mean"]) / s["std"]
        with one_blas_thread():
            if "w" in s:
                return z @ s["w"] + s["y_mean"]
            return _rbf(z, s["z_train"], s["gamma"]) @ s["dual"] + s["y_mean"]

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:  # exactly at ``path`` (np.savez would append .npz to a name)
            np.savez(fh, **{k: np.asarray(v) for k, v in (self._state or {}).items()})

    def load(self, path: Path) -> None:
        with np.load(path) as data:
            self._state = {k: (data[k].item() if data[k].ndim == 0 else data[k]) for k in data.files}


def one_blas_thread():
    """All of the method's linear algebra on one BLAS thread, whatever --jobs, the backend and the
    cores: a multi-threaded BLAS sums in an order that depends on its thread count, so the same cell
    would differ in the last digits between --jobs 1 and --jobs 2. Costs little: a 8000-image kernel
    solve takes seconds on one core, and threads cost 100x on a busy machine."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _stat(path: Path) -> os.stat_result:
    try:
        return os.stat(path)
    except OSError as exc:
        from bench.core.errors import DatasetError

        raise DatasetError(
            f"image file missing: {path} ({exc.strerror}). Restore it, or pass --skip-corrupt to exclude it."
        ) from None


def _median_gamma(z: np.ndarray) -> float:
    """The median heuristic: 1 / median squared distance between training points."""
    d2 = _sq_dists(z, z)[np.triu_indices(len(z), 1)]
    med = float(np.median(d2)) if d2.size else 0.0
    return 1.0 / med if med > 0 else 1.0 / z.shape[1]


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


def _rbf(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    return np.exp(-gamma * _sq_dists(a, b))


# --- natural scene statistics -----------------------------------------------------------
_ALPHAS = np.arange(0.2, 10.0, 0.001)


def _gamma_tables():
    """Moment ratios of the (A)GGD on the shape grid; the second one increases with the shape."""
    from scipy.special import gamma as g

    ggd = g(1.0 / _ALPHAS) * g(3.0 / _ALPHAS) / g(2.0 / _ALPHAS) ** 2
    aggd = g(2.0 / _ALPHAS) ** 2 / (g(1.0 / _ALPHAS) * g(3.0 / _ALPHAS))
    assert np.all(np.diff(aggd) > 0)
    return ggd, aggd


_TABLES: tuple[np.ndarray, np.ndarray] | None = None


def _tables():
    global _TABLES
    if _TABLES is None:
        _TABLES = _gamma_tables()
    return _TABLES


def _nearest_alpha(table: np.ndarray, value: float) -> float:
    """The grid shape whose moment ratio is nearest ``value`` (``table`` increases with the shape)."""
    i = int(np.clip(np.searchsorted(table, value), 1, len(table) - 1))
    return float(_ALPHAS[i - 1] if value - table[i - 1] <= table[i] - value else _ALPHAS[i])


def ggd_fit(x: np.ndarray) -> tuple[float, float]:
    """Shape and variance of a zero-mean generalised Gaussian, by moment matching."""
    x = x.ravel()
    var = float(np.mean(x * x))
    mean_abs = float(np.mean(np.abs(x)))
    if var <= 0 or mean_abs <= 0:
        return 0.0, 0.0
    rho = var / mean_abs**2
    alpha = _nearest_alpha(_tables()[1], 1.0 / rho)  # 1/rho is the increasing aggd table
    return alpha, var


def aggd_fit(x: np.ndarray) -> tuple[float, float, float, float]:
    """Shape, mean, left and right variance of an asymmetric generalised Gaussian."""
    from scipy.special import gamma as g

    x = x.ravel()
    left, right = x[x < 0], x[x >= 0]
    left_var = float(np.mean(left * left)) if left.size else 0.0
    right_var = float(np.mean(right * right)) if right.size else 0.0
    if left_var <= 0 or right_var <= 0:
        return 0.0, 0.0, left_var, right_var
    gamma_hat = np.sqrt(left_var) / np.sqrt(right_var)
    r_hat = float(np.mean(np.abs(x))) ** 2 / float(np.mean(x * x))
    rhat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    alpha = _nearest_alpha(_tables()[1], rhat_norm)
    beta_l = np.sqrt(left_var) * np.sqrt(g(1 / alpha) / g(3 / alpha))
    beta_r = np.sqrt(right_var) * np.sqrt(g(1 / alpha) / g(3 / alpha))
    mean = float((beta_r - beta_l) * g(2 / alpha) / g(1 / alpha))
    return alpha, mean, left_var, right_var


def mscn(img: np.ndarray, sigma: float = 7.0 / 6.0, c: float = 1.0) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients of a grey image on 0..255."""
    from scipy.ndimage import gaussian_filter

    mu = gaussian_filter(img, sigma, truncate=3.0)
    var = gaussian_filter(img * img, sigma, truncate=3.0) - mu * mu
    return (img - mu) / (np.sqrt(np.abs(var)) + c)


def nss_features(img: np.ndarray, n_scales: int = 2, paired_products: bool = True) -> np.ndarray:
    feats: list[float] = []
    for scale in range(n_scales):
        if min(img.shape) < 8:
            raise ValueError(f"image too small for {n_scales} scales (scale {scale} is {img.shape})")
        m = mscn(img)
        feats.extend(ggd_fit(m))
        if paired_products:
            for shifted in (
                m[:, 1:] * m[:, :-1],
                m[1:, :] * m[:-1, :],
                m[1:, 1:] * m[:-1, :-1],
                m[1:, :-1] * m[:-1, 1:],
            ):
                feats.extend(aggd_fit(shifted))
        img = _half(img)
    return np.asarray(feats, dtype=np.float64)


def _half(img: np.ndarray) -> np.ndarray:
    """2x2 box average: the anti-aliased half-size image."""
    h, w = (img.shape[0] // 2) * 2, (img.shape[1] // 2) * 2
    im = img[:h, :w]
    return 0.25 * (im[0::2, 0::2] + im[1::2, 0::2] + im[0::2, 1::2] + im[1::2, 1::2])


def load_grey(path: os.PathLike, max_side: int = 0) -> np.ndarray:
    from PIL import Image

    from bench.data.image_modes import to_grey8

    with Image.open(path) as im:
        im.load()
        im = to_grey8(im, path)  # 16-bit and float greyscale scaled, not clipped at 255
        if max_side and max(im.size) > max_side:
            scale = max_side / max(im.size)
            im = im.resize((max(8, round(im.width * scale)), max(8, round(im.height * scale))), Image.BICUBIC)
        return np.asarray(im, dtype=np.float64)


def image_features(path: os.PathLike, params: NSSParams) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    from bench.core.errors import DatasetError

    try:
        grey = load_grey(path, params.max_side)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(
            f"cannot decode image {path} ({type(exc).__name__}: {exc}). Re-download it, "
            "or pass --skip-corrupt to exclude it."
        ) from None
    try:
        return nss_features(grey, params.n_scales, params.paired_products)
    except ValueError as exc:  # too small for the scales: name the image, not only the shape
        raise DatasetError(
            f"image {path} ({grey.shape[1]}x{grey.shape[0]}): {exc}. Exclude it, or lower --param n_scales."
        ) from None
