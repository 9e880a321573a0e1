"""Native distortion names -> MP-IQE's 11 distortion classes (``bench.core.labels.DISTORTION_CLASSES``).

The LIQE names follow the LIQE repository's mapping (the label files' own vocabulary);
the dataset-native names (LIVE folders, CSIQ/KADID/TID2013 type codes) map the same way,
so a loader can label synthetic images from the dataset itself, which beats a label file.
"""

from __future__ import annotations

from bench.core.labels import DISTORTION_CLASSES

# class index -> LIQE native names (as written in the LIQE label files)
_LIQE_NAMES: dict[int, tuple[str, ...]] = {
    0: ("jpeg2000 compression", "fastfading"),
    1: ("jpeg compression",),
    2: (
        "white noise",
        "fnoise",
        "white with color",
        "impulse",
        "multiplicative",
        "white noise with denoise",
        "realistic noise",
    ),
    3: ("gaussian blur", "lens", "motion", "shifting", "realistic blur"),
    4: ("diffusion", "oversaturation", "desaturation"),
    5: ("contrast", "sharpness", "realistic contrast change"),
    6: ("brighten", "overexposure"),
    7: ("darken", "underexposure"),
    8: ("jitter", "noneccentricity patch", "pixelate", "color blocking"),
    9: ("color quantization", "quantization"),
    10: ("shifting the mean", "other realistic"),
}

LIQE_NAME_TO_CLASS: dict[str, int] = {n: c for c, names in _LIQE_NAMES.items() for n in names}

# LIVE release 2: image folders
LIVE_FOLDERS = {
    "jp2k": "jpeg2000 compression",
    "jpeg": "jpeg compression",
    "wn": "white noise",
    "gblur": "gaussian blur",
    "fastfading": "fastfading",
}

# CSIQ: type token in file names (pyiqa: 1600.AWGN.1.png) and folders (official: awgn/, jpeg2000/ ...)
CSIQ_TYPES = {
    "awgn": "white noise",
    "blur": "gaussian blur",
    "contrast": "contrast",
    "fnoise": "fnoise",
    "jpeg": "jpeg compression",
    "jpeg2000": "jpeg2000 compression",
}

# KADID-10k: the 25 types, by the 2-digit code in I01_<code>_<level>.png (KADID-10k paper, Table 1;
# names and the order of the colour types 6-8 as LIQE's label files give them)
KADID_TYPES = {
    1: "gaussian blur",
    2: "lens",
    3: "motion",
    4: "diffusion",
    5: "shifting",
    6: "color quantization",
    7: "oversaturation",
    8: "desaturation",
    9: "jpeg2000 compression",
    10: "jpeg compression",
    11: "white noise",
    12: "white with color",
    13: "impulse",
    14: "multiplicative",
    15: "white noise with denoise",
    16: "brighten",
    17: "darken",
    18: "shifting the mean",
    19: "jitter",
    20: "noneccentricity patch",
    21: "pixelate",
    22: "quantization",
    23: "color blocking",
    24: "sharpness",
    25: "contrast",
}

# TID2013: the 24 types by code in i01_<code>_<level>.bmp (TID2013 readme), with their MP-IQE class.
# LIQE ships no TID2013 labels; classes follow the nearest LIQE/KADID type.
TID2013_TYPES: dict[int, tuple[str, int]] = {
    1: ("additive gaussian noise", 2),
    2: ("additive noise in color components", 2),
    3: ("spatially correlated noise", 2),
    4: ("masked noise", 2),
    5: ("high frequency noise", 2),
    6: ("impulse noise", 2),
    7: ("quantization noise", 9),
    8: ("gaussian blur", 3),
    9: ("image denoising", 2),
    10: ("jpeg compression", 1),
    11: ("jpeg2000 compression", 0),
    12: ("jpeg transmission errors", 1),
    13: ("jpeg2000 transmission errors", 0),
    14: ("non eccentricity pattern noise", 8),
    15: ("local block-wise distortions", 8),
    16: ("mean shift", 10),
    17: ("contrast change", 5),
    18: ("change of color saturation", 4),
    19: ("multiplicative gaussian noise", 2),
    20: ("comfort noise", 2),
    21: ("lossy compression of noisy images", 1),
    22: ("image color quantization with dither", 9),
    23: ("chromatic aberrations", 3),
    24: ("sparse sampling and reconstruction", 0),
}

NAME_TO_CLASS: dict[str, int] = dict(LIQE_NAME_TO_CLASS)
NAME_TO_CLASS.update({name: cls for name, cls in TID2013_TYPES.values()})


def distortion_class(name: str | None) -> int | None:
    """The class index of a native distortion name; None when unknown or for authentic sets."""
    if not name:
        return None
    return NAME_TO_CLASS.get(name.strip().lower())


def class_name(index: int | None) -> str | None:
    return None if index is None else DISTORTION_CLASSES[index]
