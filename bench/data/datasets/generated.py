"""Layouts of PIPAL and the AI-generated-image sets AIGIQA-20K and AIGCIQA2023, as their authors release them.

    pipal       authors (NTIRE 2021 training release): PIPAL/Train_Label/A0001.txt ... (lines 'A0001_00_00.bmp,1520.0648':
                the distorted image and its Elo score) + Train_Ref/A0001.bmp + the distorted images in Distortion_1..4/
                (or any folder below PIPAL/: found by name). The validation and test releases carry no labels.
                pyiqa: meta_info/meta_info_PIPALDataset.csv (hq_name, dist_name, elo_score[, official_split]) +
                PIPAL/Dist_Imgs/ (training) and PIPAL/Val_Dist/ (validation rows of the newer meta file).
                A0001_GG_KK: reference A0001, distortion group GG (00-06), KK the distortion within it.
    aigiqa20k   authors (NTIRE 2024 AIGC quality track 1, AIGCQA-30K-Image): info_train.csv / info_val.csv /
                info_test.csv (name, prompt, mos) + train/ val/ test/. Names '<generator>_<NNNN>.png'.
                The three files are the split set 'official'; a file without MOS values is left out, noted.
    aigciqa2023 authors: DATA/MOS/mosz1.mat (variable MOSz: the quality MOS of the 2,400 images) + Image/<model>/
                <NNN-k>.png, in the order of the release's pic-index.xlsx: models Controlnet, DALLE, Glide, Lafite,
                stable-diffusion, Unidiffuser; prompts 000-099; 4 images each. mosz2 (authenticity) and mosz3
                (correspondence) are not used.

The generator (AI-generated sets) and PIPAL's distortion group go into each record's ``distortion``: the type the
per-type views group by. None of them maps to one of MP-IQE's distortion classes.
"""

from __future__ import annotations

from pathlib import Path

from bench.core.errors import DatasetError
from bench.data.datasets.meta import OFFICIAL_SPLIT, FileIndex, Meta, Row, column, read_csv, read_table
from bench.data.datasets.registry import DatasetSpec

PIPAL_LABEL_DIRS = ("Train_Label", "training/MOS_Scores_train", "MOS_Scores_train")
KEY_FILES = {
    "pipal": PIPAL_LABEL_DIRS,  # folders: one label file per reference
    "aigiqa20k": ("info_train.csv",),
    "aigciqa2023": ("DATA/MOS/mosz1.mat",),
}
# AIGCIQA2023's pic-index.xlsx order: the 2,400 entries of mosz1.mat
AIGCIQA2023_MODELS = ("Controlnet", "DALLE", "Glide", "Lafite", "stable-diffusion", "Unidiffuser")
AIGCIQA2023_PROMPTS, AIGCIQA2023_PER_PROMPT = 100, 4
AIGIQA20K_SETS = (
    ("info_train.csv", "train", "train"),
    ("info_val.csv", "val", "val"),
    ("info_test.csv", "test", "test"),
)


# --- PIPAL ------------------------------------------------------------------------------------------------------


def pipal_parts(name: str) -> tuple[str, str | None]:
    """(reference id, distortion group) of 'A0001_06_26.bmp' -> ('A0001', 'group 06')."""
    parts = Path(name).stem.split("_")
    return parts[0].upper(), (f"group {parts[1]}" if len(parts) >= 3 and parts[1].isdigit() else None)


def _pipal_row(rel: str, name: str, score, source: str) -> Row:
    ref, group = pipal_parts(name)
    return Row(rel, score, source, ref=ref, distortion=group)


def _pipal_image(index: FileIndex, name: str, dirs: tuple[str, ...]) -> str:
    """The distorted image's path: in one of ``dirs``, else the one file of that name below the folder."""
    return index.find([f"{d}/{name}" for d in dirs]) or index.find_name(name) or f"{dirs[0]}/{name}"


def _pipal(spec: DatasetSpec, key: Path, folder: Path) -> Meta:
    files = sorted(p for p in key.iterdir() if p.suffix.lower() == ".txt")
    if not files:
        raise DatasetError(f"{key} holds no label files (A0001.txt ...): restore PIPAL's Train_Label folder.")
    index = FileIndex(folder)
    dirs = ("Train_Dis", "Dist_Imgs", "Distortion_1", "Distortion_2", "Distortion_3", "Distortion_4")
    rows = []
    for f in files:
        for n, parts in read_table(f, 2, sep=","):
            name = parts[0].strip()
            rows.append(_pipal_row(_pipal_image(index, name, dirs), name, parts[1].strip(), f"{f}:{n}"))
    return Meta(
        "official",
        folder,
        rows,
        files,
        spec.raw_scale,
        True,
        notes=[f"PIPAL training release: {len(files)} label files in {key.name}/ (Elo scores, higher is better)"],
    )


def pipal_pyiqa(meta: Meta, header, lines, path: Path, image_dir: str, index: FileIndex) -> None:
    """pyiqa's PIPAL CSV; the validation rows of the newer file (official_split 'val') are in Val_Dist/."""
    ci, cs = column(header, path, "dist_name"), column(header, path, "elo_score", "mos")
    low = [h.lower() for h in header]
    cp = low.index("official_split") if "official_split" in low else None
    for n, r in lines:
        name = r[ci].strip()
        val = cp is not None and r[cp].strip().lower() in ("val", "1", "1.0")
        dirs = ("Val_Dist", image_dir or "Dist_Imgs") if val else (image_dir or "Dist_Imgs", "Train_Dis")
        meta.rows.append(_pipal_row(_pipal_image(index, name, dirs), name, r[cs], f"{path}:{n}"))


# --- AIGIQA-20K -------------------------------------------------------------------------------------------------


def generator_of(name: str) -> str | None:
    """'SDXL_Turbo_0123.png' -> 'SDXL_Turbo' (AIGIQA-20K names end in _<number>)."""
    stem = Path(name).stem
    head, _, tail = stem.rpartition("_")
    return head if head and tail.isdigit() else None


def _aigiqa20k(spec: DatasetSpec, key: Path, folder: Path) -> Meta:
    index = FileIndex(folder)
    rows, files, notes = [], [], []
    for file_name, phase, subdir in AIGIQA20K_SETS:
        path = folder / file_name
        if not path.is_file():
            notes.append(f"no {file_name}: its images are not part of this dataset")
            continue
        header, lines = read_csv(path)
        ci = column(header, path, "name", "image", "img_name")
        low = [h.lower() for h in header]
        cs = next((low.index(c) for c in ("mos", "mos_quality", "score") if c in low), None)
        if cs is None or all(not r[cs].strip() for _, r in lines):
            notes.append(
                f"{file_name} carries no MOS (the challenge's hidden labels): its {len(lines)} images are left out"
            )
            continue
        files.append(path)
        for n, r in lines:
            name = r[ci].strip()
            rel = index.find([f"{subdir}/{name}", name]) or index.find_name(name) or f"{subdir}/{name}"
            row = Row(rel, r[cs], f"{path}:{n}", distortion=generator_of(name))
            row.splits[OFFICIAL_SPLIT] = phase
            rows.append(row)
    notes.insert(0, "AIGIQA-20K (NTIRE 2024 release): MOS 0-5; info_train/val/test are the split set 'official'")
    return Meta("official", folder, rows, files, spec.raw_scale, True, notes=notes)


# --- AIGCIQA2023 ------------------------------------------------------------------------------------------------


def aigciqa2023_names() -> list[str]:
    """'<model>/<NNN-k>.png' in the order of pic-index.xlsx (and so of mosz1.mat)."""
    return [
        f"{m}/{p:03d}-{k}.png"
        for m in AIGCIQA2023_MODELS
        for p in range(AIGCIQA2023_PROMPTS)
        for k in range(1, AIGCIQA2023_PER_PROMPT + 1)
    ]


def _aigciqa2023(spec: DatasetSpec, key: Path, folder: Path) -> Meta:
    import numpy as np
    import scipy.io

    try:
        mat = scipy.io.loadmat(key)
    except Exception as exc:  # scipy raises several types for bad files
        raise DatasetError(f"cannot read {key} ({exc}): restore it from the AIGCIQA2023 release.") from None
    if "MOSz" not in mat:
        have = ", ".join(k for k in mat if not k.startswith("__"))
        raise DatasetError(f"{key} holds no variable MOSz (has: {have}). Is it the release's mosz1.mat?")
    mos = np.asarray(mat["MOSz"], dtype=float).ravel()
    names = aigciqa2023_names()
    if len(mos) != len(names):
        raise DatasetError(
            f"{key}: {len(mos)} scores, but AIGCIQA2023 has {len(names)} images (6 models x 100 prompts x 4). "
            "Restore mosz1.mat from the release."
        )
    index = FileIndex(folder)
    image_dir = next(
        (d for d in ("Image", "Image/allimg", "allimg", "") if index.find([f"{d}/{names[0]}" if d else names[0]])),
        "Image",
    )
    rows = []
    for k, name in enumerate(names):
        rel = f"{image_dir}/{name}" if image_dir else name
        # a model folder spelled in another case ('Stable-diffusion') is the same folder
        rows.append(Row(index.find([rel]) or rel, float(mos[k]), f"{key}[{k}]", distortion=name.split("/")[0]))
    return Meta(
        "official",
        folder,
        rows,
        [key],
        spec.raw_scale,
        True,
        revision_parts=[f"image-dir:{image_dir}"],
        notes=["AIGCIQA2023: the quality MOS (mosz1.mat); authenticity (mosz2) and correspondence (mosz3) not used"],
    )


PARSERS = {"pipal": _pipal, "aigiqa20k": _aigiqa20k, "aigciqa2023": _aigciqa2023}
PYIQA_PARSERS = {"pipal": pipal_pyiqa}
