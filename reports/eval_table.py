"""The ``eval`` protocol's table: one row per method (or checkpoint), SRCC / PLCC / KRCC per dataset.

The pyiqa-style no-reference benchmark: every image of each dataset scored once, no training, so each
number is one cell's (the median over seeds when several ran). Built with the paper tables' machinery
(``reports.tables.build_table``: configurations, ranks, version guard); hooked into ``reports.build``
as the view 'eval'.
"""

from __future__ import annotations

from reports.source import Result

EVAL_PROTOCOL = "eval"
EVAL_METRICS = ("srcc", "plcc", "krcc")


def eval_spec(extra_metrics: tuple[str, ...] = ()):
    """The eval table's spec: SRCC, PLCC, KRCC, + the distribution metrics asked for with --metrics."""
    from reports.published import PYIQA_NR_TABLE
    from reports.table_specs import Spec

    return Spec(
        "eval",
        "Zero-shot evaluation",
        "Every image of each dataset scored once by a method that was not trained on it "
        "(protocol eval): SRCC, PLCC and KRCC over the whole dataset.",
        EVAL_PROTOCOL,
        ("", "Method"),
        metrics=EVAL_METRICS + tuple(extra_metrics),
        metrics_fixed=True,
        published_table=PYIQA_NR_TABLE,
        published_label="pyiqa",
    )


def eval_tables(
    results: list[Result],
    *,
    metrics=None,
    spread: str = "none",
    aggregate: str = "median",
    plcc_key: str = "plcc",
    data_kwargs: dict | None = None,
):
    """([the eval table], report-wide notes); nothing when no eval cell is in the results."""
    from reports.tables import build_table

    chosen = [r for r in results if r.protocol == EVAL_PROTOCOL]
    if not chosen:
        return [], []
    from reports.published import PYIQA_NR_SOURCE, load_pyiqa_nr

    # pyiqa's published numbers join the rows and columns measured here (never ranked; '<method> (pyiqa)')
    measured = {r.method for r in chosen}  # pyiqa's rows of the methods measured here, not all 25
    published = [p for p in load_pyiqa_nr() if p.method in measured]
    from reports.table_specs import DISTRIBUTION_METRICS

    extra = tuple(m for m in (metrics or ()) if m in DISTRIBUTION_METRICS)  # optional columns (--metrics kl,js,w1)
    spec = eval_spec(extra)
    table = build_table(spec, chosen, published, spread_kind="none", plcc_key=plcc_key, aggregate=aggregate)
    if table is None:
        return [], []
    if any(r.published for r in table.rows):
        table.notes.append(
            f"(pyiqa): as published in {PYIQA_NR_SOURCE}, not measured here; pyiqa's KonIQ-10k "
            "numbers are its 1024x768 column. PLCC there is as pyiqa computes it."
        )
    seeds = {r.seed for r in chosen}
    if len(seeds) == 1:  # one number per cell: no pairs for a significance test
        for row in table.rows:
            for stat in row.cells.values():
                stat.mark, stat.n_paired, stat.p_value, stat.versus = "", None, None, None
    table.notes.insert(
        0,
        "The whole dataset is the test set of each cell (n = images scored); "
        + (f"{aggregate} over {len(seeds)} seeds." if len(seeds) > 1 else "one cell per number."),
    )
    if any(r.variant.startswith("ckpt-") for r in chosen):
        table.notes.append(
            "[ckpt-KEY-HASH]: the weights saved by cell KEY (file hash HASH), scored on datasets other "
            "than the one it was trained on."
        )
    return [table], []
