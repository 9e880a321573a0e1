"""The tables' specifications: which results each of the paper's tables takes, what its rows and columns are, how
rows are labelled, sorted and grouped (``Spec``, ``PAPER_SPECS``, ``generic_spec``). ``reports.tables.build_table``
turns any ``Spec`` into a ``model.Table`` the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reports import names
from reports.published import Published
from reports.source import Result

METRIC_TITLES = {
    "plcc": "PLCC",
    "srcc": "SRCC",
    "plcc_logistic": "PLCC (logistic)",
    "krcc": "KRCC",
    "rmse": "RMSE",
    # distances between predicted and human score distributions (bench/core/distribution.py): only in cells of a
    # method that predicts a distribution, on a dataset that publishes a per-image std; '–' elsewhere
    "kl": "KL",
    "js": "JS",
    "w1": "W1",
}
METRIC_ORDER = ("plcc", "plcc_logistic", "srcc", "krcc", "rmse", "kl", "js", "w1")
DISTRIBUTION_METRICS = ("kl", "js", "w1")
PAIR_METRICS = ("plcc", "srcc")
RowKey = tuple  # (method, variant, fraction, configuration label); the label is '' when a row has one


def metric_rank(metric: str) -> int:
    base = metric.rpartition(":")[2]  # per-distortion metrics are 'DISTORTION:srcc'
    return METRIC_ORDER.index(base) if base in METRIC_ORDER else len(METRIC_ORDER)


def metric_title(metric: str) -> str:
    base = metric.rpartition(":")[2]
    return METRIC_TITLES.get(base, base.upper())


def _is_default(variant: str) -> bool:
    return variant in ("default", "full", "")


def _method_label(key: RowKey) -> str:
    method, variant = key[0], key[1]
    label = names.method_title(method)
    return label if _is_default(variant) else f"{label} [{variant}]"


def _ablation_label(key: RowKey) -> str:
    method, variant = key[0], key[1]
    if method == "mpiqe":
        return names.ABLATION_TITLES.get(variant, variant)
    return f"{names.method_title(method)}: {variant}"  # other methods' variants are their own


def _sensitivity_label(key: RowKey) -> str:
    method, variant = key[0], key[1]
    _, value = names.parse_sensitivity(variant)
    shown = f"{value:g}" if isinstance(value, float) else (value or variant)
    return shown if method == "mpiqe" else f"{names.method_title(method)}: {shown}"


def _dataset_heads(train: str, test: str, metric: str, marks: dict[str, str], multi: bool = True) -> tuple[str, ...]:
    def t(ds: str) -> str:
        return names.dataset_title(ds) + marks.get(ds, "")

    where = t(test) if train == test else f"{t(train)} → {t(test)}"
    return (where, metric_title(metric))


def _cross_heads(train: str, test: str, metric: str, marks: dict[str, str], multi: bool = False) -> tuple[str, ...]:
    tested = names.dataset_title(test) + marks.get(test, "")
    return (names.dataset_title(train) + marks.get(train, ""), f"{tested} {metric_title(metric)}" if multi else tested)


def _dataset_col_sort(col: tuple) -> tuple:
    train, test, metric = col
    return (names.dataset_sort_key(test), names.dataset_sort_key(train), metric_rank(metric), metric)


_PAPER_PAIRS = (("livec", "koniq10k"), ("koniq10k", "livec"), ("live", "csiq"), ("csiq", "live"))


def _cross_col_sort(col: tuple) -> tuple:
    train, test, metric = col
    if (train, test) in _PAPER_PAIRS:
        return (0, _PAPER_PAIRS.index((train, test)), (), (), metric_rank(metric))
    return (1, 0, names.dataset_sort_key(train), names.dataset_sort_key(test), metric_rank(metric))


def _row_sort(key: RowKey) -> tuple:
    method, variant, fraction = key[:3]
    return (names.method_sort_key(method), not _is_default(variant), variant, fraction or 0.0)


@dataclass
class Spec:
    id: str
    title: str
    caption: str
    protocol: str
    stub: tuple[str, ...]
    metrics: tuple[str, ...] = PAIR_METRICS
    published_table: int | None = None
    keep: Callable[[Result], bool] = lambda r: True
    keep_published: Callable[[Published], bool] = lambda p: True
    variant_of: Callable[[str], str] = lambda v: "default" if v in ("", "full") else v
    row_label: Callable[[RowKey], str] = _method_label
    row_sort: Callable[[RowKey], tuple] = _row_sort
    group_of: Callable[[RowKey], Any] = lambda k: None
    group_label: Callable[[Any], str | None] = lambda g: None
    heads: Callable[..., tuple[str, ...]] = _dataset_heads
    col_sort: Callable[[tuple], tuple] = _dataset_col_sort

    metrics_fixed: bool = False  # the paper's metrics for this table even under --metrics
    published_label: str = "paper"  # the label of published rows: 'Method (paper)'

    def row_key(self, method: str, variant: str, fraction: float | None) -> RowKey:
        """The row before configurations split it (see ``_config_keys``)."""
        return (method, self.variant_of(variant), fraction)


def _table2_dataset(name: str) -> bool:
    """LIVEC and KonIQ; on demo data the synthetic sets stand in for them, as for every table's datasets."""
    from reports.provenance import not_human_rated

    return name in names.CLIP_DATASETS or not_human_rated(name)


def _is_clip_based(method: str) -> bool:
    return "clipiqa" in method or method == "mpiqe"


def _sensitivity_sort(key: RowKey) -> tuple:
    method, variant = key[0], key[1]
    param, value = names.parse_sensitivity(variant)
    return (names.method_sort_key(method), param, (0, value, "") if isinstance(value, float) else (1, 0, str(value)))


def _sensitivity_group(key: RowKey) -> tuple:
    param, _ = names.parse_sensitivity(key[1])
    order = list(names.SENSITIVITY_TITLES)
    return (order.index(param) if param in order else len(order), param)


PAPER_SPECS: tuple[Spec, ...] = (
    Spec(
        "table1",
        "Table 1",
        "Intra-dataset results: median PLCC and SRCC over random train/test splits of each dataset.",
        "intra",
        ("", "Method"),
        published_table=1,
    ),
    Spec(
        "table2",
        "Table 2",
        "CLIP-based methods on LIVEC and KonIQ (intra-dataset): median PLCC and SRCC.",
        "intra",
        ("", "Method"),
        published_table=2,
        keep=lambda r: _is_clip_based(r.method) and r.train == r.test and _table2_dataset(r.test),
    ),
    Spec(
        "table3",
        "Table 3",
        "Cross-dataset SRCC: trained on the first dataset, tested on the second.",
        "cross",
        ("Training", "Testing"),
        metrics=("srcc",),
        published_table=3,
        heads=_cross_heads,
        col_sort=_cross_col_sort,
    ),
    Spec(
        "table4",
        "Table 4",
        "Ablation study on each component: median PLCC and SRCC.",
        "ablation",
        ("", "Variant"),
        published_table=4,
        variant_of=names.canonical_ablation,
        row_label=_ablation_label,
        row_sort=lambda k: (names.method_sort_key(k[0]), names.ablation_sort_key(k[1])),
        # one group per method: variants compete only with their own method's
        group_of=lambda k: (k[0] != "mpiqe", names.method_sort_key(k[0])),
        group_label=lambda g: None if g[1][2] == "mpiqe" else f"{names.method_title(g[1][2])} variants",
    ),
    Spec(
        "table5",
        "Table 5",
        "Data-efficient learning: median PLCC and SRCC when training on a fraction of the data.",
        "efficiency",
        ("", "Method"),
        published_table=5,
        group_of=lambda k: k[2],
        group_label=lambda g: "training data: –" if g is None else f"training data: {g:.0%}",
    ),
    Spec(
        "table6",
        "Table 6",
        "Sensitivity: median PLCC and SRCC for each value of the swept parameter "
        "(for MP-IQE: (1) text prompt length, (2) visual prompt length).",
        "sensitivity",
        ("", "Setting"),
        published_table=6,
        variant_of=names.canonical_sensitivity,
        row_label=_sensitivity_label,
        row_sort=_sensitivity_sort,
        group_of=_sensitivity_group,
        group_label=lambda g: names.sensitivity_title(g[1]),
    ),
)


def generic_spec(protocol: str) -> Spec:
    """A table for a protocol the paper has no table for: rows method[variant], columns dataset x metric."""
    return Spec(
        f"protocol-{protocol}",
        f"Protocol {protocol}",
        f"Protocol '{protocol}': median PLCC and SRCC.",
        protocol,
        ("", "Method"),
    )
