"""The paper's two non-table figures from saved checkpoints (``python -m bench figures``).

* ``gradcam`` (paper Figure 3): Grad-CAM maps of chosen test images, one row per method
  (visual-only and MP-IQE by default), computed with the ``grad-cam`` package.
* ``tsne`` (paper Figure 4): a cell's test-set features embedded with scikit-learn's t-SNE,
  coloured by distortion class, scene and MOS.

Both write ``<out>/figures/<name>.png|pdf`` plus ``<name>.json`` (what was drawn, from which
cells, with which settings); ``bench report`` links whatever it finds there (``found_figures``).
Nothing heavy is imported here: ``bench report`` imports this module for its links.
"""

from __future__ import annotations

import json
from pathlib import Path

FIGURE_DIR = "figures"


def found_figures(out: str | Path) -> list[tuple[str, str]]:
    """(path relative to ``out``, caption) of every figure under ``<out>/figures/`` (PNG and PDF), for
    ``bench report``'s documents; the caption is the sidecar JSON's title (the file name without one)."""
    folder = Path(out) / FIGURE_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(p for p in folder.iterdir() if p.suffix in (".png", ".pdf")):
        caption = path.stem
        try:
            caption = json.loads(path.with_suffix(".json").read_text(encoding="utf-8")).get("title", caption)
        except (OSError, ValueError):
            pass  # a figure without its sidecar is still linked, by file name
        found.append((f"{FIGURE_DIR}/{path.name}", caption))
    return found
