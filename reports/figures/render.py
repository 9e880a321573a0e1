"""Saving a figure: PNG and/or PDF with its settings in the files' own metadata, plus a JSON sidecar."""

from __future__ import annotations

import json
from pathlib import Path

FORMATS = ("png", "pdf")


def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def save(fig, stem: Path, formats, metadata: dict) -> list[Path]:
    """``stem.png`` / ``stem.pdf`` (settings as a JSON string in PNG 'Description' / PDF 'Subject'
    and as 'key=value' PDF keywords) and ``stem.json`` with everything."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(metadata, sort_keys=True, default=str)
    flat = "; ".join(f"{k}={v}" for k, v in sorted(metadata.get("settings", {}).items()))
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        if fmt == "png":
            meta = {"Title": metadata.get("title", stem.name), "Description": text, "Software": "biqa-bench"}
        else:
            meta = {
                "Title": metadata.get("title", stem.name),
                "Subject": text,
                "Keywords": flat,
                "Creator": "biqa-bench",
            }
        fig.savefig(path, dpi=150, bbox_inches="tight", metadata=meta)
        paths.append(path)
    plt().close(fig)
    sidecar = stem.with_suffix(".json")
    sidecar.write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return paths + [sidecar]
