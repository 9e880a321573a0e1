"""Building CLIP backbones with open_clip: one factory for every CLIP-based method.

``register_tiny_configs()`` adds the tiny test configs shipped in ``methods/clip_configs``
(2 layers, width 64, 64x64 input: milliseconds per batch on CPU) to open_clip's registry.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).with_name("clip_configs")
TINY_BACKBONE = "biqa-tiny-vit"


def register_tiny_configs() -> None:
    import open_clip

    if TINY_BACKBONE not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)
