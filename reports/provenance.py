"""Where every number comes from: the footer of each table, and the synthetic-data labels.

The demo sets (and any dataset the registry marks as generated) are synthetic and not human-rated:
their "MOS" is a pseudo-MOS, so every output that shows them says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from reports import names

SYNTHETIC_NOTE = (
    "synthetic and not human-rated (pseudo-MOS from SSIM plus simulated rater noise): "
    "their numbers test the pipeline, not quality prediction"
)


def not_human_rated(dataset: str) -> bool:
    from bench.data.datasets.registry import DEMO_NAMES

    return dataset in DEMO_NAMES


def synthetic_in(datasets: Iterable[str]) -> list[str]:
    return sorted({d for d in datasets if not_human_rated(d)}, key=names.dataset_sort_key)


def synthetic_sentence(datasets: Iterable[str]) -> str | None:
    found = synthetic_in(datasets)
    if not found:
        return None
    return (
        f"Synthetic data: {', '.join(names.dataset_title(d) for d in found)} "
        + ("is " if len(found) == 1 else "are ")
        + SYNTHETIC_NOTE
        + "."
    )


def _commit(results) -> str:
    commits = sorted(
        {(r.git_commit[:7] or "unknown") + ("+uncommitted changes" if r.git_dirty else "") for r in results}
    )
    return ", ".join(commits)


def footer(results: list, label: Callable | None = None) -> str:
    """'Provenance: harness 0.1.0 (commit 909c992); NSS-SVR v1, preset demo; datasets: demo-a rev 67c56b3c69
    (synthetic, not human-rated); split sets: default.'"""
    harness = defaultdict(list)
    for r in results:
        harness[r.harness_version or "(none)"].append(r)
    parts = ["harness " + ", ".join(f"{v} (commit {_commit(rs)})" for v, rs in sorted(harness.items()))]
    methods: dict[str, tuple[set, set]] = defaultdict(lambda: (set(), set()))
    for r in results:
        methods[r.method][0].add(r.method_version or "?")
        if r.preset:
            methods[r.method][1].add(r.preset)
    parts.append(
        "methods: "
        + ", ".join(
            f"{names.method_title(m)} v{'/'.join(sorted(vs))}" + (f" (preset {'/'.join(sorted(ps))})" if ps else "")
            for m, (vs, ps) in sorted(methods.items(), key=lambda kv: names.method_sort_key(kv[0]))
        )
    )
    revisions: dict[str, set] = defaultdict(set)
    for r in results:
        revisions[r.train].add(r.train_revision[:10] or "(none)")
        revisions[r.test].add(r.test_revision[:10] or "(none)")
    parts.append(
        "datasets: "
        + ", ".join(
            f"{names.dataset_title(d)} rev {'/'.join(sorted(revs))}"
            + (" (synthetic, not human-rated)" if not_human_rated(d) else "")
            for d, revs in sorted(revisions.items(), key=lambda kv: names.dataset_sort_key(kv[0]))
        )
    )
    truths: dict[str, set] = defaultdict(set)
    for r in results:
        if r.test_ground_truth:
            note = f" ({r.test_ground_truth_vs_paper})" if r.test_ground_truth_vs_paper else ""
            truths[r.test].add(r.test_ground_truth + note)
    if truths:
        parts.append(
            "ground truth: "
            + "; ".join(
                f"{names.dataset_title(d)}: {' / '.join(sorted(gts))}"
                for d, gts in sorted(truths.items(), key=lambda kv: names.dataset_sort_key(kv[0]))
            )
        )
    parts.append("split sets: " + ", ".join(sorted({r.split_set for r in results})))
    return "Provenance: " + "; ".join(parts) + "."
