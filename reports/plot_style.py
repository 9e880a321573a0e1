"""What every figure shares: matplotlib (Agg) with embeddable fonts, markers and line styles that read in
black and white, the atomic save, and the tag of synthetic data. ``plots`` and ``plot_curves`` build on it.
"""

from __future__ import annotations

from pathlib import Path

from reports import provenance

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
LINESTYLES = ("-", "--", ":", "-.")


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # TrueType (Type 42) fonts in PDF/PS: vector text that journals accept (never Type 3)
    plt.rcParams.update({"pdf.fonttype": 42, "ps.fonttype": 42})
    return plt


def save(fig, stem: Path, formats) -> list[Path]:
    """Each format to a temporary file beside its target, then renamed: a failed write leaves nothing."""
    from reports.output import atomic_path

    paths = []
    try:
        for fmt in formats:
            path = stem.with_suffix(f".{fmt}")
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=150, bbox_inches="tight")
            paths.append(path)
    finally:
        pyplot().close(fig)
    return paths


def synthetic_tag(datasets) -> str:
    """' [synthetic data, not human-rated]' when a plotted dataset is synthetic, else ''."""
    return " [synthetic data, not human-rated]" if provenance.synthetic_in(datasets) else ""
