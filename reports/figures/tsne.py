"""Paper Figure 4: t-SNE of a cell's test-set features, coloured by distortion class, scene and MOS.

scikit-learn's ``TSNE`` (2-D, learning rate 'auto', ``random_state`` = the seed). Initialisation 'pca'
(default: keeps the global layout, Kobak & Berens 2019) makes the embedding independent of the seed;
'random' makes the seed matter. The perplexity is capped at (N - 1) / 3 so that small test sets still
embed; the value used, the seed and the initialisation are recorded in the figure.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from reports.figures.cells import FigureError

MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p")
GREYS = ("0.0", "0.55", "1.0", "0.3", "0.8", "0.15", "0.65", "0.45", "0.9", "0.2", "0.7", "0.35")


def effective_perplexity(perplexity: float, n: int) -> float:
    if n < 4:
        raise FigureError(f"t-SNE needs at least 4 images, the cell's test set has {n}.")
    return float(min(perplexity, (n - 1) / 3.0))


INITS = ("pca", "random")


def embed(x: np.ndarray, *, perplexity: float = 30.0, seed: int = 0, init: str = "pca") -> tuple[np.ndarray, dict]:
    """[N, D] -> ([N, 2], facts: perplexity used, seed, KL divergence, seconds)."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise FigureError("the t-SNE figure needs scikit-learn: pip install -e '.[figures]'") from None

    if init not in INITS:
        raise FigureError(f"--init {init!r}: choose {' or '.join(INITS)}")
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise FigureError("the features hold NaN or inf values; t-SNE cannot embed them (is the checkpoint sound?)")
    used = effective_perplexity(perplexity, len(x))
    start = time.perf_counter()
    tsne = TSNE(n_components=2, perplexity=used, init=init, learning_rate="auto", random_state=int(seed))
    y = tsne.fit_transform(x)
    return y, {
        "perplexity": used,
        "perplexity_asked": float(perplexity),
        "seed": int(seed),
        "init": init,
        "kl_divergence": float(tsne.kl_divergence_),
        "seconds": time.perf_counter() - start,
    }


def labels_of(images) -> dict[str, list[str]]:
    """Per image: its distortion class and its first scene (the primary one) by name, 'unlabelled' else."""
    from bench.core.labels import DISTORTION_CLASSES, SCENE_CLASSES

    dist = [
        DISTORTION_CLASSES[r.distortion_class] if r.distortion_class is not None else "unlabelled"
        for r in images.records
    ]
    scene = [SCENE_CLASSES[r.scenes[0]] if r.scenes else "unlabelled" for r in images.records]
    return {"distortion": dist, "scene": scene}


def _categorical(ax, y: np.ndarray, labels: list[str], title: str) -> None:
    names = sorted(set(labels), key=lambda s: (s == "unlabelled", s))
    for i, name in enumerate(names):
        keep = np.array([lab == name for lab in labels])
        ax.scatter(
            y[keep, 0],
            y[keep, 1],
            s=18,
            marker=MARKERS[i % len(MARKERS)],
            c=GREYS[i % len(GREYS)],
            edgecolors="black",
            linewidths=0.5,
            label=f"{name} ({int(keep.sum())})",
        )
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.set_title(title, fontsize=9)


def plot(embeddings: dict[str, np.ndarray], images, stem: Path, formats, metadata: dict, title: str) -> list[Path]:
    """One row per feature set: coloured by distortion class | by scene | by MOS (grey ramp)."""
    from reports.figures.render import plt, save

    labels = labels_of(images)
    mos = images.scores
    fig, axes = plt().subplots(len(embeddings), 3, figsize=(13, 3.6 * len(embeddings)), squeeze=False)
    for i, (name, y) in enumerate(embeddings.items()):
        _categorical(axes[i][0], y, labels["distortion"], f"{name}: distortion class")
        _categorical(axes[i][1], y, labels["scene"], f"{name}: scene")
        sc = axes[i][2].scatter(y[:, 0], y[:, 1], s=18, c=mos, cmap="Greys", edgecolors="black", linewidths=0.4)
        fig.colorbar(sc, ax=axes[i][2], fraction=0.05).set_label("MOS", fontsize=8)
        axes[i][2].set_title(f"{name}: MOS", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, stem, formats, metadata)
