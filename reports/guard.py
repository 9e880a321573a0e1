"""Version guard: never mix results from different harness versions, method versions or
dataset revisions silently -- flag them in the table's footnotes.

Within one table the most common harness version (and, per method, the most common method
version) is the reference; a row holding any other gets a mark. A dataset whose cells come
from more than one revision gets a mark on its column header.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping

from reports.source import Result

HARNESS_MARK = "‡"
METHOD_MARK = "†"
DATASET_MARK = "§"


def _majority(values: Iterable[str]) -> str:
    counts = Counter(values)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


def _short(rev: str) -> str:
    return rev[:10] or "(none)"


def mixed_ground_truth(rows: Mapping[tuple, list[Result]], label: Callable[[tuple], str]) -> None:
    """One row's numbers on one test dataset must all be against one ground truth (LIVE's realigned or original
    DMOS): a median over both would mean neither. Refused, with the fix."""
    from reports.errors import ReportError

    for k, rs in rows.items():
        by_dataset: dict[str, set[str]] = defaultdict(set)
        for r in rs:  # records written before ground truths were named carry none
            if r.test_ground_truth:
                by_dataset[r.test].add(r.test_ground_truth)
            if r.train_ground_truth:  # trained on one ground truth, tested on another: also two in one row
                by_dataset[r.train].add(r.train_ground_truth)
        for ds, truths in sorted(by_dataset.items()):
            if len(truths) > 1:
                raise ReportError(
                    f"row {label(k)} mixes {len(truths)} ground truths of {ds}: {' | '.join(sorted(truths))}. "
                    "Report them from separate result stores (--runs), or rerun with one ground truth "
                    "(--ground-truth, docs/DATASETS.md)."
                )


def guard(
    rows: Mapping[tuple, list[Result]], label: Callable[[tuple], str], dataset_title: Callable[[str], str]
) -> tuple[dict[tuple, str], dict[str, str], list[str]]:
    """(row marks, dataset marks, footnotes) for one table's measured rows."""
    row_marks: dict[tuple, str] = defaultdict(str)
    notes: list[str] = []
    every = [r for rs in rows.values() for r in rs]
    if not every:
        return {}, {}, []

    harness_ref = _majority(r.harness_version for r in every)
    odd = {k: sorted({r.harness_version for r in rs} - {harness_ref}) for k, rs in rows.items()}
    odd = {k: v for k, v in odd.items() if v}
    if odd:
        for k in odd:
            row_marks[k] += HARNESS_MARK
        listed = "; ".join(f"{label(k)}: {', '.join(v or '(none)' for v in vs)}" for k, vs in odd.items())
        notes.append(
            f"{HARNESS_MARK} Harness version differs from this table's {harness_ref or '(none)'}: "
            f"{listed}. Rerun these rows to compare like with like."
        )

    by_method: dict[str, list[Result]] = defaultdict(list)
    for r in every:
        by_method[r.method].append(r)
    method_ref = {m: _majority(r.method_version for r in rs) for m, rs in by_method.items()}
    odd = {}
    for k, rs in rows.items():
        versions = sorted({r.method_version for r in rs} - {method_ref[rs[0].method]}) if rs else []
        if versions:
            odd[k] = (method_ref[rs[0].method], versions)
    if odd:
        for k in odd:
            row_marks[k] += METHOD_MARK
        listed = "; ".join(f"{label(k)}: version {', '.join(vs)} (others {ref})" for k, (ref, vs) in odd.items())
        notes.append(f"{METHOD_MARK} Method version differs within the table: {listed}.")

    split_sets: dict[str, set[str]] = defaultdict(set)
    for k, rs in rows.items():
        for r in rs:
            split_sets[r.split_set].add(label(k))
    if len(split_sets) > 1:
        listed = "; ".join(f"{name} ({', '.join(sorted(who))})" for name, who in sorted(split_sets.items()))
        notes.append(f"Rows come from different split sets: {listed}; only splits of the same set pair up.")

    mixed_ground_truth(rows, label)
    revisions: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for k, rs in rows.items():
        for r in rs:
            revisions[r.train][r.train_revision].add(label(k))
            revisions[r.test][r.test_revision].add(label(k))
    dataset_marks = {}
    for ds, revs in sorted(revisions.items()):
        if len(revs) > 1:
            dataset_marks[ds] = DATASET_MARK
            listed = "; ".join(f"{_short(rev)} ({', '.join(sorted(who))})" for rev, who in sorted(revs.items()))
            notes.append(f"{DATASET_MARK} {dataset_title(ds)}: results from {len(revs)} dataset revisions: {listed}.")
    return dict(row_marks), dataset_marks, notes
