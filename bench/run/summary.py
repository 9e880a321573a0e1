"""The table ``bench run`` prints at the end: per (protocol, method, variant, train, test, fraction) the
medians of the finished cells' metrics, read back from the store."""

from __future__ import annotations

import numpy as np

from bench.core.metrics import dropped_predictions
from bench.results.cells import Task
from bench.results.store import ResultStore

TABLE_KEYS = ("protocol", "method", "variant", "train_dataset", "test_dataset", "fraction")


def median_table(tasks: list[Task], store: ResultStore) -> list[dict]:
    """One row per (protocol, method, variant, train, test, fraction): medians over its done cells."""
    groups: dict[tuple, dict] = {}
    for task in {t.key: t for t in tasks}.values():
        c = task.cell
        g = groups.setdefault(tuple(getattr(c, k) for k in TABLE_KEYS), {"cells": 0, "records": []})
        g["cells"] += 1
        if store.is_done(task.key):
            g["records"].append(store.load(task.key))
    rows = []
    for key, g in groups.items():
        row = dict(zip(TABLE_KEYS, key))
        row.update(done=len(g["records"]), cells=g["cells"])
        row["dropped"] = sum(dropped_predictions(r.get("metrics")) for r in g["records"])  # non-finite, left out
        row["tested"] = sum(int(r.get("n_test") or 0) for r in g["records"])
        for metric in ("srcc", "plcc", "plcc_logistic", "krcc", "rmse"):
            vals = [r["metrics"].get(metric) for r in g["records"]]
            vals = [v for v in vals if v is not None]
            row[metric] = float(np.median(vals)) if vals else None
        rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    """Aligned text; the variant and fraction columns only when some row has one."""
    fmt = lambda v: "-" if v is None else f"{v:.4f}"
    columns = [("protocol", lambda r: r["protocol"]), ("method", lambda r: r["method"])]
    if any(r["variant"] != "default" for r in rows):
        columns.append(("variant", lambda r: r["variant"]))
    columns += [("train", lambda r: r["train_dataset"]), ("test", lambda r: r["test_dataset"])]
    if any(r["fraction"] is not None for r in rows):
        columns.append(("frac", lambda r: "-" if r["fraction"] is None else f"{r['fraction']:g}"))
    columns.append(("done", lambda r: f"{r['done']}/{r['cells']}"))
    columns += [
        (title, lambda r, m=metric: fmt(r[m]))
        for title, metric in (
            ("SRCC", "srcc"),
            ("PLCC", "plcc"),
            ("PLCC*", "plcc_logistic"),
            ("KRCC", "krcc"),
            ("RMSE", "rmse"),
        )
    ]
    dropped = any(r.get("dropped") for r in rows)
    if dropped:
        columns.append(("dropped", lambda r: f"{r['dropped']}/{r['tested']}" if r.get("dropped") else "-"))
    lines = [[title for title, _ in columns]] + [[cell(r) for _, cell in columns] for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    out = ["  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    from bench.data.datasets.registry import DEMO_NAMES

    synthetic = sorted({r[k] for r in rows for k in ("train_dataset", "test_dataset")} & set(DEMO_NAMES))
    tail = (
        (
            f"\nSYNTHETIC DATA: {', '.join(synthetic)} {'is' if len(synthetic) == 1 else 'are'} synthetic and not "
            "human-rated (pseudo-MOS); these numbers test the pipeline, not quality prediction."
        )
        if synthetic
        else ""
    )
    over = (
        "median over seeds; every image scored once"
        if rows and all(r["protocol"] == "eval" for r in rows)
        else "median over splits"
    )  # eval has no splits (protocols/evaluation.py)
    if dropped:
        tail += (
            "\nDROPPED: non-finite predictions (NaN/inf) left out of the metrics (dropped/test images): those "
            "metrics describe part of the test set; `bench report` marks them and ranks none above 1 %."
        )
    return "\n".join(out) + f"\n({over}; PLCC* after the VQEG 4-parameter logistic)" + tail
