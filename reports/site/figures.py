"""Plotly figures of the site, as plain figure dicts (``{"data": [...], "layout": {...}}``) that the page hands
to ``Plotly.newPlot`` (assets/site.js). Dicts rather than ``plotly.graph_objects`` because a site has one figure
per cell (thousands): building and validating an object per figure costs more than the rest of the page;
``tests/test_reports_site.py`` validates every kind through ``plotly.graph_objects.Figure``."""

from __future__ import annotations

import math


def _layout(title: str, x: str, y: str, **extra) -> dict:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "xaxis": {"title": {"text": x}, "zeroline": False},
        "yaxis": {"title": {"text": y}, "zeroline": False},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "hovermode": "closest",
        "template": "plotly_white",
        **extra,
    }


def scatter(ids: list[str], mos: list[float], pred: list[float], title: str) -> dict:
    """One point per prediction; hovering names the image."""
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": mos,
                "y": pred,
                "text": ids,
                "name": "test images",
                "marker": {"size": 7, "opacity": 0.75},
                "hovertemplate": "%{text}<br>MOS %{x:.4g}<br>prediction %{y:.4g}<extra></extra>",
            }
        ],
        "layout": _layout(title, "MOS (ground truth)", "prediction"),
    }


def curves(history: list[dict], selected_epoch: int | None, title: str) -> dict | None:
    """Loss terms per epoch (left axis) and validation SRCC (right axis), as the cell logged them."""
    series: dict[str, tuple[list, list]] = {}
    for row in history:
        epoch = row.get("epoch")
        for name, value in row.items():
            if (name == "loss" or name.startswith("loss_") or name == "val_srcc") and isinstance(value, (int, float)):
                if epoch is not None and math.isfinite(value):
                    xs, ys = series.setdefault(name, ([], []))
                    xs.append(epoch)
                    ys.append(value)
    if not series:
        return None
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": xs,
            "y": ys,
            "name": name,
            **({"yaxis": "y2", "line": {"dash": "dot"}} if name == "val_srcc" else {}),
        }
        for name, (xs, ys) in sorted(series.items())
    ]
    extra = {
        "yaxis2": {"title": {"text": "validation SRCC"}, "overlaying": "y", "side": "right", "tickformat": ".3f"},
        "legend": {"orientation": "h", "y": -0.2},
        "margin": {"l": 60, "r": 70, "t": 40, "b": 50},  # room for the right axis' labels
    }
    if selected_epoch is not None:
        extra["shapes"] = [
            {
                "type": "line",
                "x0": selected_epoch,
                "x1": selected_epoch,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"dash": "dot", "color": "grey"},
            }
        ]
    return {"data": data, "layout": _layout(title, "epoch", "loss", **extra)}


def bars(labels: list[str], values: list[float], title: str, axis: str) -> dict:
    return {
        "data": [{"type": "bar", "x": labels, "y": values, "hovertemplate": "%{x}: %{y:.4g}<extra></extra>"}],
        "layout": _layout(title, "", axis),
    }


def median_curves(panel: dict, title: str) -> dict | None:
    """A ``reports.plot_curves.curve_panels`` panel (medians over a method's cells per epoch) as a curves figure."""
    epochs = sorted({e for points in (*panel["terms"].values(), panel["val"]) for e in points})
    history = [
        {"epoch": e, **{name: points[e] for name, points in panel["terms"].items() if e in points}}
        | ({"val_srcc": panel["val"][e]} if e in panel["val"] else {})
        for e in epochs
    ]
    return curves(history, panel["selected"], title)
