"""The label vocabularies MP-IQE aligns images with (paper, "Preliminaries").

Index order follows the LIQE label mapping (``liqe-distortion-classes.tsv``), so
class indices read from LIQE files and from our own loaders agree. ``*_PROMPTS``
are the class names as the paper writes them, used verbatim in text prompts.
"""

SCENE_CLASSES = (
    "animal",
    "cityscape",
    "human",
    "indoor",
    "landscape",
    "night",
    "plant",
    "still_life",
    "others",
)
SCENE_PROMPTS = (
    "animal",
    "cityscape",
    "human",
    "indoor scene",
    "landscape",
    "night scene",
    "plant",
    "still-life",
    "others",
)

DISTORTION_CLASSES = (
    "jpeg2000 compression",
    "jpeg compression",
    "noise",
    "blur",
    "color",
    "contrast",
    "overexposure",
    "underexposure",
    "spatial",
    "quantization",
    "other",
)
DISTORTION_PROMPTS = (
    "JPEG2000 compression",
    "JPEG compression",
    "noise",
    "blur",
    "color-related",
    "contrast",
    "over-exposure",
    "under-exposure",
    "spatially-localized",
    "quantization",
    "others",
)

N_SCENES = len(SCENE_CLASSES)
N_DISTORTIONS = len(DISTORTION_CLASSES)
