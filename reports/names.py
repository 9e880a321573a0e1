"""Names as the paper prints them, and the orders its tables use.

The harness's own names stay the keys everywhere; these maps only change what a
reader sees. Anything not listed falls back to its harness name.
"""

from __future__ import annotations

import re

PROTOCOLS = ("intra", "cross", "ablation", "efficiency", "sensitivity")

DATASET_TITLES = {
    "live": "LIVE",
    "csiq": "CSIQ",
    "kadid10k": "KADID",
    "livec": "LIVEC",
    "bid": "BID",
    "koniq10k": "KonIQ",
    "tid2013": "TID2013",
    "spaq": "SPAQ",
    "demo-a": "demo-a",
    "demo-b": "demo-b",
}
DATASET_ORDER = tuple(DATASET_TITLES)

METHOD_TITLES = {
    "ilniqe": "ILNIQE",
    "unique": "UNIQUE",
    "dbcnn": "DBCNN",
    "metaiqa": "MetaIQA",
    "hyperiqa": "HyperIQA",
    "tres": "TReS",
    "musiq": "MUSIQ",
    "dacnn": "DACNN",
    "liqe": "LIQE",
    "clipiqa": "CLIP-IQA",
    "clipiqa+": "CLIP-IQA+",
    "clipiqa+-pyiqa": "CLIP-IQA+ (pyiqa)",
    "paq2piq": "PaQ-2-PiQ",
    "topiq": "TOPIQ",
    "maniqa": "MANIQA",
    "qualiclip": "QualiCLIP",
    "vit-biqa": "ViT-BIQA",
    "visual-only": "Visual-only",
    "nss-svr": "NSS-SVR",
    "niqe": "NIQE",
    "brisque": "BRISQUE",
    "mpiqe": "MP-IQE",
}
# Table 1's row order; methods it does not list go before MP-IQE, alphabetically.
METHOD_ORDER = (
    "ilniqe",
    "niqe",
    "brisque",
    "nss-svr",
    "unique",
    "dbcnn",
    "metaiqa",
    "hyperiqa",
    "tres",
    "musiq",
    "paq2piq",
    "vit-biqa",
    "dacnn",
    "liqe",
    "clipiqa",
    "clipiqa+",
    "clipiqa+-pyiqa",
    "visual-only",
)
LAST_METHOD = "mpiqe"

# Table 2 compares the CLIP-based methods on these two in-the-wild sets.
CLIP_DATASETS = ("livec", "koniq10k")

# Table 4's variants, canonical name -> row title; aliases are matched loosely.
ABLATION_TITLES = {
    "full": "MP-IQE",
    "no-scene": "w/o Scene prompts",
    "no-distortion": "w/o Distortion prompts",
    "no-visual": "w/o Deep visual prompts",
    "shallow-visual": "Shallow visual prompts",
}
_ABLATION_ALIASES = {  # after normalising: lower case, '-' separators, 'w/o'/'without' -> 'no', no '-prompts'
    "default": "full",
    "all": "full",
    "mpiqe": "full",
    "noscene": "no-scene",
    "nodistortion": "no-distortion",
    "no-dist": "no-distortion",
    "no-deep-visual": "no-visual",
    "novisual": "no-visual",
    "no-vpt": "no-visual",
    "no-deep-vpt": "no-visual",
    "shallow": "shallow-visual",
    "shallow-vpt": "shallow-visual",
}

SENSITIVITY_TITLES = {"text_prompt_len": "(1) text prompt length", "visual_prompt_len": "(2) visual prompt length"}
# the protocol's variant names ('text-len-4') -> the parameter they sweep
_SENSITIVITY_ALIASES = {
    "text-len": "text_prompt_len",
    "text-prompt-len": "text_prompt_len",
    "text-prompts": "text_prompt_len",
    "visual-len": "visual_prompt_len",
    "visual-prompt-len": "visual_prompt_len",
    "visual-prompts": "visual_prompt_len",
}


def method_title(name: str) -> str:
    if name.startswith("pyiqa:"):
        return f"{name[len('pyiqa:') :].upper()} (pyiqa)"
    return METHOD_TITLES.get(name, name)


def dataset_title(name: str) -> str:
    return DATASET_TITLES.get(name, name)


def method_sort_key(name: str) -> tuple:
    if name == LAST_METHOD:
        return (2, 0, name)
    if name in METHOD_ORDER:
        return (0, METHOD_ORDER.index(name), name)
    return (1, 0, name)


def dataset_sort_key(name: str) -> tuple:
    return (DATASET_ORDER.index(name), name) if name in DATASET_ORDER else (len(DATASET_ORDER), name)


def canonical_ablation(variant: str) -> str:
    """'w/o_scene', 'No Scene', 'no_scene' -> 'no-scene'; unknown names pass through normalised."""
    v = re.sub(r"[\s_/]+", "-", variant.strip().lower()).strip("-")
    v = re.sub(r"^(w-o|wo|without)-", "no-", v)
    v = re.sub(r"-prompts?$", "", v)
    return v if v in ABLATION_TITLES else _ABLATION_ALIASES.get(v, v)


def ablation_sort_key(variant: str) -> tuple:
    order = list(ABLATION_TITLES)
    return (order.index(variant), variant) if variant in order else (len(order), variant)


def canonical_sensitivity(variant: str) -> str:
    """'text-len-4', 'text_prompt_len=4', 'text_prompt_len = 4' -> 'text_prompt_len=4'; others unchanged."""
    v = re.sub(r"\s+", "", variant)
    m = re.fullmatch(r"(.+?)(?:=|[-_:])?(\d+(?:\.\d+)?)", v)
    if not m:
        return v
    key = m.group(1).rstrip("-_=:")
    key = _SENSITIVITY_ALIASES.get(key.lower().replace("_", "-"), key)
    return f"{key}={m.group(2)}"


def parse_sensitivity(variant: str) -> tuple[str, float | str]:
    """'text_prompt_len=4' -> ('text_prompt_len', 4.0); a bare label -> (label, '')."""
    key, sep, value = variant.partition("=")
    if not sep:
        return variant, ""
    try:
        return key.strip(), float(value)
    except ValueError:
        return key.strip(), value.strip()


def sensitivity_title(key: str) -> str:
    return SENSITIVITY_TITLES.get(key, key)
