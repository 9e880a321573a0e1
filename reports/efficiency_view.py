"""The *Efficiency* view: `bench perf --methods ... --save RUNS` records (``RUNS/efficiency/*.json``) as one table per
device, with pyiqa's published latencies per 1080x800 image beside ours (``pyiqa_efficiency.csv``: another
machine's numbers, a V100 and a Xeon Gold 6150, marked so)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from reports import names
from reports.model import Column, Row, RowGroup, Stat, Table

PYIQA_CSV = Path(__file__).with_name("pyiqa_efficiency.csv")
COLUMNS = (
    ("params", "params (M)"),
    ("trainable", "trainable (M)"),
    ("gflops", "GFLOPs"),
    ("latency", "s / image (test mode)"),
    ("latency_ref", "s / 1080x800 image"),
    ("peak", "peak memory (MB)"),
    ("train", "train crops/s"),
    ("pyiqa_v100", "pyiqa V100 s / 1080x800 †"),
    ("pyiqa_cpu", "pyiqa Xeon 6150 s / 1080x800 †"),
)


def efficiency_dir(runs) -> Path:
    return Path(runs) / "efficiency"


def load_records(runs) -> list[dict]:
    out = []
    for path in sorted(efficiency_dir(runs).glob("*.json")):
        try:
            out += json.loads(path.read_text())["records"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def pyiqa_latencies() -> dict[str, dict]:
    lines = [ln for ln in PYIQA_CSV.read_text().splitlines() if ln and not ln.startswith("#")]
    return {row["method"]: row for row in csv.DictReader(lines)}


def _fmt(value, digits: str) -> str:
    return "–" if value in (None, "") else format(float(value), digits)


def efficiency_tables(runs) -> tuple[list[Table], list[str]]:
    records = [r for r in load_records(runs) if "params_total" in r]
    if not records:
        return [], []
    pyiqa = pyiqa_latencies()
    columns = [Column((k,), (t,)) for k, t in COLUMNS]
    tables = []
    for device in sorted({(r["device"], r.get("device_name", "")) for r in records}):
        rows = []
        mine = {r["method"]: r for r in records if (r["device"], r.get("device_name", "")) == device}  # newest wins
        for method in sorted(mine, key=names.method_sort_key):
            r, p = mine[method], pyiqa.get(method, {})
            text = {
                "params": _fmt(r["params_total"] / 1e6, ".2f"),
                "trainable": _fmt(r["params_trainable"] / 1e6, ".2f"),
                "gflops": _fmt(r["gflops"], ".2f"),
                "latency": _fmt(r["latency_s"], ".4f"),
                "latency_ref": _fmt(r["latency_1080x800_s"], ".4f"),
                "peak": _fmt(r["peak_mem_mb"], ".0f"),
                "train": _fmt(r.get("train_crops_per_s"), ".1f"),
                "pyiqa_v100": _fmt(p.get("cuda_v100_s"), ".4f"),
                "pyiqa_cpu": _fmt(p.get("cpu_xe6150_s"), ".4f"),
            }
            label = names.method_title(method) + ("" if r.get("weights") == "real" else " ‡")
            rows.append(
                Row(
                    (method,),
                    label,
                    method=method,
                    cells={c.key: Stat(None, kind="text", text=text[c.key[0]]) for c in columns},
                )
            )
        kind = mine[next(iter(mine))].get("peak_mem_kind", "")
        tables.append(
            Table(
                f"efficiency-{device[0]}",
                f"Efficiency ({device[0]})",
                f"Per method on {device[0]} ({device[1]}): parameters, GFLOPs of one test forward pass "
                "(torch FlopCounterMode: matmul and convolution only), median latency per image, peak "
                f"memory ({kind}), training crops/s (`bench perf --methods`).",
                ("Method",),
                columns,
                [RowGroup(None, rows)],
                ranked=False,
                notes=[
                    "† pyiqa's published numbers (IQA-PyTorch tests/Efficiency_benchmark.csv): another "
                    "machine's, measured with pyiqa's own test procedure; not comparable one to one.",
                    "‡ fake or random weight files of the real shapes (the real ones were missing): "
                    "sizes and speed do not depend on the values.",
                ],
            )
        )
    return tables, []
