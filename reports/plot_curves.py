"""Training curves from the cells' ``history`` (``RunContext.log_epoch``): every loss term per epoch and
the validation SRCC where recorded, one panel per method/configuration and training dataset.

Each curve is the median over the cells (splits) of that panel at each epoch; the epoch the method
kept (``selected_epoch``, median over cells) is a dotted vertical line.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

from reports import configs, names
from reports.model import Report
from reports.plot_style import LINESTYLES, MARKERS, synthetic_tag
from reports.plot_style import pyplot as _plt
from reports.plot_style import save as _save

MAX_PANELS = 8


def curve_panels(report: Report) -> dict[tuple, dict]:
    """{(protocol, method, config label, train): {'terms': {name: {epoch: median}}, 'val': {...}, 'n': cells,
    'selected': epoch | None}} for cells with a history."""
    import numpy as np

    cells = [r for r in report.results if r.history]
    per_method: dict[str, set] = defaultdict(set)
    for r in cells:
        per_method[r.method].add(r.config)
    labels = {m: configs.config_labels(cs) for m, cs in per_method.items()}
    grouped: dict[tuple, list] = defaultdict(list)
    for r in cells:
        grouped[(r.protocol, r.method, labels[r.method][r.config], r.train)].append(r)
    panels = {}
    order = {p: i for i, p in enumerate(names.PROTOCOLS)}
    for key, rs in sorted(
        grouped.items(),
        key=lambda kv: (
            order.get(kv[0][0], 9),
            names.method_sort_key(kv[0][1]),
            kv[0][2],
            names.dataset_sort_key(kv[0][3]),
        ),
    ):
        series: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
        for r in rs:
            for row in r.history:
                epoch = row.get("epoch")
                for name, value in row.items():
                    if (
                        (name == "loss" or name.startswith("loss_") or name == "val_srcc")
                        and isinstance(value, (int, float))
                        and math.isfinite(value)
                    ):
                        series[name][int(epoch)].append(float(value))
        med = {name: {e: float(np.median(v)) for e, v in sorted(points.items())} for name, points in series.items()}
        selected = [r.selected_epoch for r in rs if r.selected_epoch is not None]
        panels[key] = {
            "terms": {k: v for k, v in med.items() if k != "val_srcc"},
            "val": med.get("val_srcc", {}),
            "n": len(rs),
            "selected": float(np.median(selected)) if selected else None,
        }
    return panels


def plot_training_curves(report: Report, stem: Path, formats) -> list[Path]:
    panels = curve_panels(report)
    if not panels:
        return []
    keys = list(panels)[:MAX_PANELS]
    plt = _plt()
    fig, axes = plt.subplots(1, len(keys), figsize=(3.8 * len(keys), 3.0), squeeze=False)
    for ax, key in zip(axes[0], keys):
        protocol, method, config, train = key
        panel = panels[key]
        for i, (name, points) in enumerate(sorted(panel["terms"].items(), key=lambda kv: (kv[0] != "loss", kv[0]))):
            ax.plot(
                list(points),
                list(points.values()),
                marker=MARKERS[i % len(MARKERS)],
                markersize=3,
                linestyle=LINESTYLES[i % len(LINESTYLES)],
                color="black" if name == "loss" else "0.4",
                label=name.removeprefix("loss_") if name != "loss" else "total loss",
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss (median over cells)")
        ax.grid(color="0.85", linewidth=0.5)
        handles, labels = ax.get_legend_handles_labels()
        if panel["val"]:
            twin = ax.twinx()
            twin.plot(
                list(panel["val"]),
                list(panel["val"].values()),
                marker="o",
                markerfacecolor="white",
                color="black",
                linestyle=":",
                label="val SRCC",
            )
            twin.set_ylabel("validation SRCC")
            h2, l2 = twin.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        if panel["selected"] is not None:
            ax.axvline(panel["selected"], color="0.3", linestyle=":", linewidth=0.8)
            labels.append(f"kept epoch {panel['selected']:g}")
            handles.append(ax.lines[-1])
        ax.legend(handles, labels, fontsize=6, frameon=False, loc="best")
        title = f"{names.method_title(method)}" + (f" ({config})" if config else "")
        ax.set_title(
            f"{title}\n{protocol}, trained on {names.dataset_title(train)}, n={panel['n']}"
            + synthetic_tag([train]).replace(" [", "\n["),
            fontsize=7,
        )
    return _save(fig, stem, formats)
