"""Scores and stds on the scale the dataset declares: refused on load when impossible, summarised by `data check`.

A score outside the declared raw scale is refused (file:line, the ground-truth source, the fix). A std cannot
exceed what values on that scale allow: any values in [lo, hi] have a (population) std of at most half the width,
(hi - lo) / 2; a sample std (n - 1) of few raters may exceed it a little, hence ``STD_SLACK``. (The tighter
Bhatia-Davis bound sqrt((hi - m)(m - lo)) holds for plain means of ratings only, not for DMOS or rescaled z-scores,
so it is not used to refuse.) A std on a 0-100 scale beside a 1-5 score is refused; a std that is implausibly
*small* for the scale (KonIQ-10k's 1-5 SD beside its 1-100 MOS_zscore in pyiqa's file) cannot be proven wrong:
`data check` flags it (``SMALL_STD_SHARE``).
"""

from __future__ import annotations

from bench.core.errors import DatasetError

STD_SLACK = 1.1  # n/(n-1) for n >= 6 raters stays below 1.1**2
SMALL_STD_SHARE = 0.02  # largest std below 2 % of the scale's width: probably on another scale


def std_bound(scale: tuple[float, float]) -> float:
    """The largest std values on ``scale`` can have (see the module docstring)."""
    return (float(scale[1]) - float(scale[0])) / 2


def check_scales(title: str, meta, scores: dict[str, float]) -> None:
    """Refuse the first score outside ``meta.raw_scale`` and the first std that cannot be on it."""
    lo, hi = (float(x) for x in meta.raw_scale)
    eps = 1e-9 * max(hi - lo, 1.0)
    source = meta.ground_truth or "the score column"
    for row in meta.rows:
        value = scores[row.rel]
        if not lo - eps <= value <= hi + eps:
            raise DatasetError(
                f"{row.source}: score {value:g} of {row.rel!r} ({source}) is outside {title}'s declared scale "
                f"{lo:g}-{hi:g}. The file is not the one this layout reads, or it was edited: restore it "
                "(a dataset of your own: correct its `scale`)."
            )
        if row.std is None:
            continue
        bound = std_bound((lo, hi))
        if row.std > STD_SLACK * bound + eps:
            raise DatasetError(
                f"{row.source}: std {row.std:g} of {row.rel!r} ({meta.std_source or 'the std column'}) cannot be "
                f"on the score's scale {lo:g}-{hi:g}: values there have a std of at most {bound:.3g}. The std column is "
                "on another scale than the score column: restore the file, or "
                "convert the stds to the score's scale (a dataset of your own: point std_column at the right column)."
            )


def scale_summary(records, scale: tuple[float, float]) -> dict:
    """Score range and std range against the declared scale, and what looks wrong (for `data check`)."""
    lo, hi = (float(x) for x in scale)
    raw = [r.raw_score for r in records]
    stds = [r.std for r in records if r.std is not None]
    width = (hi - lo) or 1.0
    out = {
        "declared_scale": [lo, hi],
        "score_range": [min(raw), max(raw)] if raw else None,
        "std_range": [min(stds), max(stds)] if stds else None,
        "std_max_share_of_scale": max(stds) / width if stds else None,
        "problems": [],
    }
    if stds and max(stds) < SMALL_STD_SHARE * width:
        out["problems"].append(
            f"every std is below {SMALL_STD_SHARE:.0%} of the score scale {lo:g}-{hi:g} (largest {max(stds):.3g}): "
            "the stds are probably on another (smaller) scale than the scores"
        )
    return out


__all__ = ["check_scales", "scale_summary", "std_bound", "STD_SLACK", "SMALL_STD_SHARE"]
