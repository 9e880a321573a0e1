"""Views beyond the paper's tables, one function each (``VIEWS`` in ``reports.build`` lists them):

- ``per_distortion_tables``: SRCC/PLCC per distortion type on datasets of synthetic distortions, from the
  stored predictions joined with the dataset's distortion labels (the one view that reads a dataset:
  its labels only, never an image; skipped with a note where the dataset is not found);
- ``runtime_table``: seconds and device per cell, CPU/GPU-hours per protocol, from ``fit_s``/``predict_s``.

Each returns tables built with the same machinery as the paper's (configurations, medians, ranks,
Wilcoxon, version guard, provenance), plus report-wide notes.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from typing import Any

from reports import names, provenance, stats
from reports.errors import ReportError
from reports.model import Column, Row, RowGroup, Stat, Table
from reports.source import Result, read_predictions

DISTORTION_PROTOCOLS = ("intra",)  # tested on a split of the dataset the method trained on


def _distortion_of(record) -> str | None:
    if record.distortion:
        return str(record.distortion)
    if record.distortion_class is not None:
        from bench.core.labels import DISTORTION_CLASSES

        return str(DISTORTION_CLASSES[record.distortion_class])
    return None


def _labels(dataset: str, data_kwargs: dict) -> dict[str, str]:
    """{image id: distortion type} of a dataset, from its loader (labels only; no image is decoded)."""
    from bench.data.datasets import load_dataset

    ds = load_dataset(dataset, **data_kwargs)
    return {r.id: d for r in ds.records if (d := _distortion_of(r)) is not None}


def _per_type_metrics(cells: list[tuple], labels: dict[str, str], wanted: dict[str, str]) -> list[dict]:
    """One {'TYPE:column': value} per cell (``cells``: (ids, mos, pred) each), every (cell, type) group at once:
    SRCC and PLCC in one vectorised pass (``reports.grouped_metrics``); other columns (KRCC, the logistic fit:
    slow, and shaky on a few images) per group, only when asked for. ``wanted`` maps each column to the metric
    it shows ('plcc' -> 'plcc_logistic' under --plcc logistic)."""
    import numpy as np

    from bench.core.metrics import MetricSettings, compute_metrics
    from reports.grouped_metrics import VECTORISED, grouped_srcc_plcc

    kinds = sorted(set(labels.values()))
    code = {k: i for i, k in enumerate(kinds)}
    type_of = [[code.get(labels.get(image), -1) for image in ids] for ids, _, _ in cells]
    cell_of = np.concatenate([np.full(len(t), c, dtype=np.int64) for c, t in enumerate(type_of)] or [np.zeros(0, int)])
    kind = np.concatenate([np.asarray(t, dtype=np.int64) for t in type_of] or [np.zeros(0, int)])
    mos = np.concatenate([np.asarray(m, dtype=np.float64) for _, m, _ in cells] or [np.zeros(0)])
    pred = np.concatenate([np.asarray(q, dtype=np.float64) for _, _, q in cells] or [np.zeros(0)])
    labelled = kind >= 0
    cell_of, kind, mos, pred = cell_of[labelled], kind[labelled], mos[labelled], pred[labelled]
    group = cell_of * max(1, len(kinds)) + kind
    n_groups = len(cells) * max(1, len(kinds))
    fast = grouped_srcc_plcc(group, mos, pred, n_groups)
    slow = {c: m for c, m in wanted.items() if m not in VECTORISED}
    needs_fit = bool({"plcc_logistic", "rmse"} & set(slow.values()))
    settings = MetricSettings(logistic="vqeg4" if needs_fit else "none", rmse_on="logistic" if needs_fit else "raw")
    present = np.bincount(group, minlength=n_groups) > 0
    if slow:
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    out: list[dict] = [{} for _ in cells]
    for g in np.flatnonzero(present):
        c, k = divmod(int(g), max(1, len(kinds)))
        row = out[c]
        m = {}
        if slow:
            idx = order[bounds[g] : bounds[g + 1]]
            m = compute_metrics(mos[idx], pred[idx], settings)
        for column, metric in wanted.items():
            value = fast[metric][g] if metric in VECTORISED else m.get(metric)
            row[f"{kinds[k]}:{column}"] = float(value) if value is not None and math.isfinite(value) else None
    return out


def per_distortion_tables(
    results: list[Result],
    *,
    metrics: tuple[str, ...],
    spread: str,
    aggregate: str,
    plcc_key: str,
    data_kwargs: dict | None = None,
) -> tuple[list[Table], list[str]]:
    from bench.core.errors import BenchError
    from bench.data.datasets.registry import SPECS
    from reports.table_specs import PAPER_SPECS, Spec, metric_rank, metric_title
    from reports.tables import build_table

    wanted = {m: plcc_key if m == "plcc" else m for m in metrics}
    candidates = [
        r
        for r in results
        if r.protocol in DISTORTION_PROTOCOLS
        and r.train == r.test
        and r.test in SPECS
        and SPECS[r.test].synthetic
        and r.preds_path
        and r.preds_path.is_file()
    ]
    tables, notes = [], []
    for dataset in sorted({r.test for r in candidates}, key=names.dataset_sort_key):
        try:
            labels = _labels(dataset, data_kwargs or {})
        except (BenchError, OSError) as exc:
            notes.append(
                f"No per-distortion table for {names.dataset_title(dataset)}: its distortion labels "
                f"could not be loaded ({str(exc).splitlines()[0]}); give --data-root."
            )
            continue
        if not labels:
            notes.append(f"No per-distortion table for {names.dataset_title(dataset)}: no distortion labels.")
            continue
        derived, damaged, unmatched, read = [], [], 0, []
        for r in (c for c in candidates if c.test == dataset):
            try:  # each cell's predictions read once; all cells' metrics in one pass below
                read.append((r, read_predictions(r.preds_path, r.n_test, with_ids=True)))
            except ReportError as exc:
                damaged.append(f"{r.key} ({exc})")
        for (r, _), per in zip(read, _per_type_metrics([p for _, p in read], labels, wanted)):
            if not per:  # no predicted image is in the dataset as loaded (another revision)
                unmatched += 1
                continue
            derived.append(dataclasses.replace(r, protocol="distortion", metrics=per))
        if unmatched:
            notes.append(
                f"Per-distortion table for {names.dataset_title(dataset)} leaves out {unmatched} cell(s) "
                "whose predicted images are not in the dataset as loaded now (another revision?)."
            )
        if damaged:
            notes.append(
                f"Per-distortion table for {names.dataset_title(dataset)} leaves out {len(damaged)} cell(s) "
                f"whose predictions cannot be used: {damaged[0]}" + (" …" if len(damaged) > 1 else "")
            )
        if not derived:
            continue
        kinds = sorted({k.rpartition(":")[0] for r in derived for k in r.metrics})
        table1 = PAPER_SPECS[0]
        spec = Spec(
            f"distortion-{dataset}",
            f"Per-distortion {names.dataset_title(dataset)}",
            f"{names.dataset_title(dataset)} (intra-dataset): {'/'.join(metric_title(m) for m in metrics)} "
            "per distortion type, median over splits of the metric on each split's test images of that "
            "type (from the stored predictions).",
            "distortion",
            ("", "Method"),
            metrics=tuple(f"{k}:{m}" for k in kinds for m in metrics),
            metrics_fixed=True,
            heads=lambda train, test, metric, marks, multi=True: (metric.rpartition(":")[0], metric_title(metric)),
            col_sort=lambda c: (c[2].rpartition(":")[0], metric_rank(c[2])),
            row_label=table1.row_label,
            row_sort=table1.row_sort,
        )
        table = build_table(spec, derived, None, spread_kind=spread, plcc_key=plcc_key, aggregate=aggregate)
        if table is not None:
            table.notes.insert(
                0,
                f"{len(kinds)} distortion types; each split tests only some images of each type, "
                f"so these numbers are noisier than the dataset-wide ones ({len(derived)} cells).",
            )
            tables.append(table)
    return tables, notes


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.3g}" if seconds else "0"


def runtime_table(results: list[Result]) -> Table | None:
    """Median fit/predict seconds and the device(s) per method and protocol; total CPU/GPU-hours per protocol."""
    timed = [r for r in results if r.fit_s is not None or r.predict_s is not None]
    if not timed:
        return None
    by_row: dict[tuple, list[Result]] = defaultdict(list)
    for r in timed:
        by_row[(r.protocol, r.method, r.variant, r.config)].append(r)
    from reports import configs

    labels = {}  # configurations named only where one method and variant ran several
    for (protocol, method, variant), cs in _configs_per(by_row).items():
        labels.update({(protocol, method, variant, c): t for c, t in configs.config_labels(cs).items()})
    columns = [
        Column(k, (t,))
        for k, t in (
            ("cells", "cells"),
            ("device", "device"),
            ("fit", "fit s (median)"),
            ("predict", "predict s (median)"),
            ("cpu_h", "CPU-hours"),
            ("gpu_h", "GPU-hours"),
        )
    ]
    groups = []
    order = {p: i for i, p in enumerate(names.PROTOCOLS)}
    for protocol in sorted({k[0] for k in by_row}, key=lambda p: (order.get(p, 9), p)):
        rows, total = [], defaultdict(float)
        keys = sorted(
            (k for k in by_row if k[0] == protocol),
            key=lambda k: (names.method_sort_key(k[1]), k[2] != "default", k[2], labels[k]),
        )
        for k in keys:
            rs = by_row[k]
            gpu = [r for r in rs if r.device.startswith("cuda")]
            seconds = lambda cells: sum((r.fit_s or 0.0) + (r.predict_s or 0.0) for r in cells)
            total["gpu"] += seconds(gpu)
            total["cpu"] += seconds(rs) - seconds(gpu)
            label = (
                names.method_title(k[1])
                + (f" [{k[2]}]" if k[2] not in ("default", "full") else "")
                + (f" ({labels[k]})" if labels[k] else "")
            )
            devices = sorted({r.device or "?" for r in rs})
            text = {
                "cells": str(len(rs)),
                "device": ", ".join(devices),
                "fit": _median_text([r.fit_s for r in rs]),
                "predict": _median_text([r.predict_s for r in rs]),
                "cpu_h": _hours(seconds(rs) - seconds(gpu)),
                "gpu_h": _hours(seconds(gpu)),
            }
            rows.append(
                Row(
                    k,
                    label,
                    method=k[1],
                    variant=k[2],
                    config=labels[k],
                    cells={
                        c.key: Stat(None, kind="text", text=text[c.key], cells={i: r.key for i, r in enumerate(rs)})
                        for c in columns
                    },
                )
            )
        groups.append(RowGroup(f"{protocol}: {_hours(total['cpu'])} CPU-hours, {_hours(total['gpu'])} GPU-hours", rows))
    notes = [
        (
            "Seconds per cell: fit (training; 0 for zero-shot methods) and predict (the test images), as the "
            "worker measured them; hours are the sums over cells (device 'cuda:N' counts as GPU). Queueing, data "
            "loading before the cell and the report are not included."
        ),
        provenance.footer(timed),
    ]
    return Table(
        "runtime",
        "Runtime",
        "Runtime per cell and compute per protocol.",
        ("Method",),
        columns,
        groups,
        notes,
        ranked=False,
    )


def _configs_per(by_row: dict[tuple, Any]) -> dict[tuple, set]:
    out: dict[tuple, set] = defaultdict(set)
    for protocol, method, variant, config in by_row:
        out[(protocol, method, variant)].add(config)
    return out


def _median_text(values) -> str:
    vs = [v for v in values if v is not None]
    return "–" if not vs else f"{stats.aggregate(vs, 'median'):.3g}"
