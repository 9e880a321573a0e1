"""The paper's five protocols with its defaults (MP-IQE paper, "Experiments")."""

from __future__ import annotations

from protocols.base import Protocol, Variant

# Dataset registry names (bench.data.datasets) of the paper's six sets.
LIVE, CSIQ, KADID, LIVEC, BID, KONIQ = "live", "csiq", "kadid10k", "livec", "bid", "koniq10k"

INTRA = Protocol(
    name="intra",
    description="each dataset, 10 random 80/20 splits (by reference on synthetic sets), median reported",
    paper="Table 1",
    datasets=(LIVE, CSIQ, KADID, LIVEC, BID, KONIQ),
)

CROSS = Protocol(
    name="cross",
    description="train on the training part of each of A's 10 splits, test on all of B, median over the 10",
    paper="Table 3",
    pairs=((LIVEC, KONIQ), (KONIQ, LIVEC), (LIVE, CSIQ), (CSIQ, LIVE)),
)

EFFICIENCY = Protocol(
    name="efficiency",
    description="train on 20/40/60 % of the dataset, 10 repeats each, test on the held-out 20 %, median",
    paper="Table 5",
    datasets=(LIVE, LIVEC),
    fractions=(0.2, 0.4, 0.6),
)

# Variants are parameter overrides on top of the preset (and of --param); the names
# are the methods' own parameter names.
_MPIQE_ABLATION = (
    Variant("full", {}, "MP-IQE as published"),
    Variant("no-scene-prompts", {"use_scene_prompts": False}, "w/o scene prompts"),
    Variant("no-distortion-prompts", {"use_distortion_prompts": False}, "w/o distortion prompts"),
    Variant("no-deep-visual-prompts", {"visual_prompts": "none"}, "w/o deep visual prompts"),
    Variant("shallow-visual-prompts", {"visual_prompts": "shallow"}, "visual prompts at the first layer only"),
)
_MPIQE_SENSITIVITY = tuple(
    Variant(f"text-len-{n}", {"text_prompt_len": n}, f"{n} learnable text prompt tokens") for n in (2, 4, 8, 16)
) + tuple(
    Variant(f"visual-len-{n}", {"visual_prompt_len": n}, f"{n} visual prompt tokens per layer") for n in (1, 2, 4, 8)
)
# The classical baseline has variants too, so both protocols run end to end without a GPU.
_NSS_ABLATION = (
    Variant("full", {}, "MSCN + paired-product features, 2 scales, kernel ridge"),
    Variant("no-paired-products", {"paired_products": False}, "MSCN statistics only"),
    Variant("single-scale", {"n_scales": 1}, "finest scale only"),
    Variant("linear-ridge", {"regressor": "ridge"}, "linear ridge instead of RBF kernel ridge"),
)
_NSS_SENSITIVITY = tuple(Variant(f"scales-{n}", {"n_scales": n}, f"{n} scales") for n in (1, 2, 3))

ABLATION = Protocol(
    name="ablation",
    description="method variants (components removed) on intra splits",
    paper="Table 4",
    datasets=(CSIQ, LIVEC),
    variants={"mpiqe": _MPIQE_ABLATION, "nss-svr": _NSS_ABLATION},
)

SENSITIVITY = Protocol(
    name="sensitivity",
    description="one parameter swept at a time (prompt lengths) on intra splits",
    paper="Table 6",
    datasets=(LIVE, CSIQ),
    variants={"mpiqe": _MPIQE_SENSITIVITY, "nss-svr": _NSS_SENSITIVITY},
)

PROTOCOLS = {p.name: p for p in (INTRA, CROSS, EFFICIENCY, ABLATION, SENSITIVITY)}
