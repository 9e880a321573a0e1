"""Every dataset the harness knows: names, published sizes, score scales and where each layout keeps files."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # registry name (CLI, results)
    title: str
    synthetic: bool  # distorted references -> split by reference
    n_images: int | None  # published size (after the customary exclusions)
    raw_scale: tuple[float, float]  # scale of the score as the dataset's files give it
    raw_higher_is_better: bool
    pyiqa_meta: str | None = None  # <data-root>/meta_info/<this>
    pyiqa_dir: str | None = None  # <data-root>/<this>: the folder pyiqa's configs use by default
    pyiqa_image_dirs: tuple[str, ...] = ("",)  # image folders inside it, first that holds the files wins
    liqe_dir: str | None = None  # <labels>/IQA_Database/<this>/splits2 (LIQE repository)
    liqe_prefix: str | None = None  # file prefix of LIQE's lists, e.g. 'live' -> live_all_clip.txt
    official_dirs: tuple[str, ...] = ()  # folder names of the authors' release, probed under the data root
    aliases: tuple[str, ...] = ()
    notes: str = ""
    raw_scale_pyiqa: tuple[float, float] | None = None  # when pyiqa's CSV uses another scale
    extra: dict = field(default_factory=dict, hash=False, compare=False)


SPECS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec(
            "live",
            "LIVE (release 2)",
            True,
            779,
            (0.0, 100.0),
            False,
            pyiqa_meta="meta_info_LIVEIQADataset.csv",
            pyiqa_dir="LIVEIQA_release2",
            liqe_dir="databaserelease2",
            liqe_prefix="live",
            official_dirs=("databaserelease2", "LIVEIQA_release2", "live"),
            aliases=("live2", "liveiqa"),
            notes="DMOS (lower is better) in pyiqa's 'mos' column; the 29 reference images are not scored.",
        ),
        DatasetSpec(
            "csiq",
            "CSIQ",
            True,
            866,
            (0.0, 1.0),
            False,
            pyiqa_meta="meta_info_CSIQDataset.csv",
            pyiqa_dir="CSIQ",
            pyiqa_image_dirs=("dst_imgs", ""),
            liqe_dir="CSIQ",
            liqe_prefix="csiq",
            official_dirs=("CSIQ", "csiq"),
            notes="DMOS on 0-1 (lower is better).",
        ),
        DatasetSpec(
            "kadid10k",
            "KADID-10k",
            True,
            10125,
            (1.0, 5.0),
            True,
            pyiqa_meta="meta_info_KADID10kDataset.csv",
            pyiqa_dir="kadid10k",
            pyiqa_image_dirs=("images", ""),
            liqe_dir="kadid10k",
            liqe_prefix="kadid10k",
            official_dirs=("kadid10k", "KADID-10k", "kadid"),
            aliases=("kadid", "kadid-10k"),
            notes="MOS on 1-5 (higher is better) although pyiqa's column is named 'dmos'.",
        ),
        DatasetSpec(
            "livec",
            "LIVE Challenge (CLIVE)",
            False,
            1162,
            (0.0, 100.0),
            True,
            pyiqa_meta="meta_info_LIVEChallengeDataset.csv",
            pyiqa_dir="LIVEC",
            pyiqa_image_dirs=("", "Images"),
            liqe_dir="ChallengeDB_release",
            liqe_prefix="clive",
            official_dirs=("ChallengeDB_release", "LIVEC", "livec"),
            aliases=("clive", "livechallenge", "live-challenge"),
            notes="The 7 training images listed first are excluded (1162 remain), as in prior work.",
        ),
        DatasetSpec(
            "bid",
            "BID",
            False,
            586,
            (0.0, 5.0),
            True,
            liqe_dir="BID",
            liqe_prefix="bid",
            official_dirs=("BID", "bid"),
            notes="No pyiqa meta file: LIQE's list is the index (scores 0-5, higher is better).",
        ),
        DatasetSpec(
            "koniq10k",
            "KonIQ-10k",
            False,
            10073,
            (1.0, 100.0),
            True,
            pyiqa_meta="meta_info_KonIQ10kDataset.csv",
            pyiqa_dir="koniq10k",
            pyiqa_image_dirs=("1024x768", "512x384", ""),
            liqe_dir="koniq-10k",
            liqe_prefix="koniq10k",
            official_dirs=("koniq10k", "koniq-10k", "KonIQ-10k"),
            aliases=("koniq", "koniq-10k"),
            notes="MOS on 1-100 in pyiqa's CSV (1-5 in LIQE's lists and the authors' MOS column).",
        ),
        DatasetSpec(
            "tid2013",
            "TID2013",
            True,
            3000,
            (0.0, 9.0),
            True,
            pyiqa_meta="meta_info_TID2013Dataset.csv",
            pyiqa_dir="tid2013",
            pyiqa_image_dirs=("distorted_images", ""),
            official_dirs=("tid2013", "TID2013"),
            aliases=("tid",),
            notes="MOS on 0-9 (higher is better). No LIQE labels: distortion from the file name, no scenes.",
        ),
        DatasetSpec(
            "spaq",
            "SPAQ",
            False,
            11125,
            (0.0, 100.0),
            True,
            pyiqa_meta="meta_info_SPAQDataset.csv",
            pyiqa_dir="SPAQ",
            pyiqa_image_dirs=("TestImage", ""),
            official_dirs=("SPAQ", "spaq"),
            notes="MOS on 0-100. Scene labels from SPAQ's own scene columns; no distortion labels.",
        ),
        DatasetSpec(
            "flive",
            "FLIVE (PaQ-2-PiQ database)",
            False,
            39810,
            (0.0, 100.0),
            True,
            pyiqa_meta="meta_info_FLIVEDataset.csv",
            pyiqa_dir="FLIVE_Database/database",
            official_dirs=("FLIVE_Database", "FLIVE", "flive"),
            aliases=("paq2piq-db", "flive-database"),
            notes="MOS 0-100 (higher is better); images only (the patch rows are left out); official split "
            "(PaQ-2-PiQ's train/val/test) as split set 'official'.",
        ),
        DatasetSpec(
            "agiqa3k",
            "AGIQA-3K (AI-generated images)",
            False,
            2982,
            (0.0, 5.0),
            True,
            official_dirs=("AGIQA-3K", "AGIQA-3k", "agiqa3k", "agiqa-3k"),
            aliases=("agiqa-3k", "agiqa"),
            notes="Perceptual-quality MOS (mos_quality) on 0-5 from the authors' data.csv; alignment MOS not used. "
            "No official split.",
        ),
        DatasetSpec(
            "uhdiqa",
            "UHD-IQA",
            False,
            6073,
            (0.0, 1.0),
            True,
            official_dirs=("UHD-IQA-database", "UHD-IQA", "uhd-iqa", "uhdiqa"),
            aliases=("uhd-iqa", "uhd"),
            notes="Quality MOS on 0-1 from uhd-iqa-metadata.csv; its training/validation/test sets "
            "(4269/904/900) are split set 'official'.",
        ),
        DatasetSpec(
            "pipal",
            "PIPAL (perceptual IQA of image restoration, NTIRE 2021/2022)",
            True,
            23200,
            (0.0, 3000.0),
            True,
            pyiqa_meta="meta_info_PIPALDataset.csv",
            pyiqa_dir="PIPAL",
            pyiqa_image_dirs=("Dist_Imgs", "Train_Dis", ""),
            official_dirs=("PIPAL", "pipal"),
            notes="Elo scores (higher is better; Elo has no fixed range: 0-3000 only bounds them) of the public "
            "training release: 200 references x 116 distortions. The validation labels (1,000 images) are in "
            "pyiqa's newer meta file only; no test labels are public.",
            extra={"published_sizes": {23200: "training release", 24200: "training + validation (pyiqa's meta)"}},
        ),
        DatasetSpec(
            "aigiqa20k",
            "AIGIQA-20K (AI-generated images, NTIRE 2024)",
            False,
            20000,
            (0.0, 5.0),
            True,
            official_dirs=("AIGIQA-20K", "AIGCQA-30K-Image", "aigiqa20k", "aigiqa-20k"),
            aliases=("aigiqa-20k", "aigcqa-30k", "aigcqa30k"),
            notes="MOS 0-5 of 20,000 images from 15 text-to-image generators (the generator is each image's type); "
            "info_train/val/test.csv (14,000/2,000/4,000) are the split set 'official'.",
            extra={"published_sizes": {20000: "all three sets", 14000: "training set only (challenge release)"}},
        ),
        DatasetSpec(
            "aigciqa2023",
            "AIGCIQA2023 (AI-generated images)",
            False,
            2400,
            (0.0, 5.0),
            True,
            official_dirs=("AIGCIQA2023", "aigciqa2023", "AIGCIQA2023K"),
            aliases=("aigciqa-2023",),
            notes="Quality MOS (mosz1.mat, z-scores rescaled by the authors, 1.3-3.7 in the release; 0-5 only bounds "
            "them) of 2,400 images: 6 generators (each image's type) x 100 prompts x 4. No official split.",
        ),
        DatasetSpec(
            "demo-a",
            "Demo A (synthetic, not human-rated)",
            True,
            None,
            (1.0, 5.0),
            True,
            aliases=("demoa", "demo"),
            notes="Generated offline from scikit-image photos; pseudo-MOS from SSIM + simulated raters.",
        ),
        DatasetSpec(
            "demo-b",
            "Demo B (synthetic, not human-rated)",
            True,
            None,
            (0.0, 100.0),
            False,
            aliases=("demob",),
            notes="Generated offline from scikit-image photos; pseudo-DMOS from SSIM + simulated raters.",
        ),
    )
}

DEMO_NAMES = ("demo-a", "demo-b")
_ALIASES = {a: s.name for s in SPECS.values() for a in s.aliases}


BUILTIN_NAMES = frozenset(SPECS) | frozenset(_ALIASES)  # names a custom dataset may not take

# Custom datasets declared in spec files, registered per process by ``bench.data.datasets.custom.register_custom``
# (data root's datasets.toml, --dataset-spec): looked up after the built-in ones.
CUSTOM: dict[str, DatasetSpec] = {}


def all_specs() -> dict[str, DatasetSpec]:
    """Built-in datasets, then the custom ones registered in this process."""
    return {**SPECS, **CUSTOM}


def dataset_names(include_demo: bool = True) -> list[str]:
    return [n for n in all_specs() if include_demo or n not in DEMO_NAMES]


def get_spec(name: str) -> DatasetSpec:
    from bench.core.errors import DatasetError, did_you_mean

    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in SPECS:
        return SPECS[key]
    custom = {a: s.name for s in CUSTOM.values() for a in s.aliases}
    key = custom.get(key, key)
    if key not in CUSTOM:
        raise DatasetError(
            did_you_mean(name, all_specs(), "dataset") + " See `python -m bench data list`; "
            "a dataset of your own is declared in a spec file (docs/DATASETS.md, --dataset-spec)."
        )
    return CUSTOM[key]
