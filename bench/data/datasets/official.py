"""The authors' release layouts (the files each dataset's authors distribute).

live      databaserelease2/  dmos_realigned.mat (or dmos.mat) + refnames_all.mat, jp2k/ jpeg/ wn/ gblur/ fastfading/
kadid10k  kadid10k/          dmos.csv (dist_img,ref_img,dmos,var) + images/
livec     ChallengeDB_release/  Data/AllMOS_release.mat, Data/AllImages_release.mat
                             (+ Data/AllStdDev_release.mat) + Images/
koniq10k  koniq10k/          koniq10k_scores_and_distributions.csv + 1024x768/ (or 512x384/)
                             (+ koniq10k_distributions_sets.csv: the authors' sets, split set 'official')
tid2013   tid2013/           mos_with_names.txt (+ mos_std.txt) + distorted_images/
flive, agiqa3k, uhdiqa: bench/data/datasets/recent.py (bench/data/datasets/layouts.py joins the two tables)
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.core.errors import DatasetError
from bench.data.datasets.distortions import KADID_TYPES, LIVE_FOLDERS, TID2013_TYPES
from bench.data.datasets.ground_truth import (
    KONIQ_ZSCORE,
    LIVE_ORIGINAL,
    LIVE_ORIGINAL_NOTE,
    LIVE_REALIGNED,
    LIVE_REALIGNED_SCALE,
)
from bench.data.datasets.meta import (
    LIVEC_TRAINING,
    OFFICIAL_SPLIT,
    SET_NAMES,
    FileIndex,
    Meta,
    Row,
    column,
    opt_float,
    read_csv,
    read_table,
    synthetic_codes,
)

KEY_FILES = {
    "live": ("dmos_realigned.mat", "dmos.mat"),
    "kadid10k": ("dmos.csv",),
    "livec": ("Data/AllMOS_release.mat",),
    "koniq10k": ("koniq10k_scores_and_distributions.csv",),
    "tid2013": ("mos_with_names.txt",),
}
# LIVE release 2: the order of the 982 entries of dmos*.mat / refnames_all.mat
LIVE_ORDER = (("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174))


def _readmat(path: Path) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several types for bad files
        raise DatasetError(f"cannot read {path} ({exc}): restore it from the dataset's release.") from None


def _loadmat(path: Path, *names: str, mat: dict | None = None):
    """The first of ``names`` in the .mat file (``mat``: the file already read)."""
    mat = _readmat(path) if mat is None else mat
    for n in names:
        if n in mat:
            return mat[n]
    raise DatasetError(
        f"{path} holds no variable {' or '.join(names)} "
        f"(has: {', '.join(k for k in mat if not k.startswith('__'))}). Is it the original file?"
    )


def _cellstr(arr) -> list[str]:
    import numpy as np

    out = []
    for x in np.asarray(arr, dtype=object).ravel():
        while isinstance(x, np.ndarray):
            x = x.ravel()[0] if x.size else ""
        out.append(str(x).strip())
    return out


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DatasetError(f"missing file {path}: the authors' release includes it; restore it.")
    return path


def _live(spec, key, folder, choice: str | None = None):
    """The realigned DMOS (dmos_realigned.mat 'dmos_new', what the official baselines read) unless ``choice`` is
    'original' (dmos.mat 'dmos'): which one is a choice, never the accident of which file is there."""
    import numpy as np

    choice = choice or "realigned"
    key = folder / ("dmos_realigned.mat" if choice == "realigned" else "dmos.mat")
    if not key.is_file():
        other = "original" if choice == "realigned" else "realigned"
        raise DatasetError(
            f"LIVE: missing {key} ({LIVE_REALIGNED if choice == 'realigned' else LIVE_ORIGINAL}), the ground truth "
            f"{'read by default' if choice == 'realigned' else 'asked for'}. Restore it from the LIVE release 2, "
            f"or ask for the {other} DMOS with --ground-truth live={other} (docs/DATASETS.md)."
        )
    mat = _readmat(key)
    dmos = np.asarray(_loadmat(key, "dmos_new" if choice == "realigned" else "dmos", mat=mat), dtype=float).ravel()
    orgs = np.asarray(_loadmat(key, "orgs_new", "orgs", mat=mat), dtype=float).ravel()
    std = np.asarray(mat["dmos_std"], dtype=float).ravel() if "dmos_std" in mat else None  # realigned only
    refs_file = _need(folder / "refnames_all.mat")
    refs = _cellstr(_loadmat(refs_file, "refnames_all"))
    total = sum(n for _, n in LIVE_ORDER)
    for what, arr in (("DMOS", dmos), ("orgs", orgs), ("refnames_all", refs)):
        if len(arr) != total:
            raise DatasetError(
                f"LIVE: {what} has {len(arr)} entries, expected {total} "
                f"(jp2k 227, jpeg 233, wn 174, gblur 174, fastfading 174). Restore {key.name}."
            )
    rows, k = [], 0
    for sub, n in LIVE_ORDER:
        for i in range(1, n + 1):
            if not orgs[k]:  # orgs == 1: the entry is a reference image, not scored
                rows.append(
                    Row(
                        f"{sub}/img{i}.bmp",
                        dmos[k],
                        f"{key}[{k}]",
                        std=float(std[k]) if std is not None else None,
                        ref=Path(refs[k]).stem,
                        distortion=LIVE_FOLDERS[sub],
                    )
                )
            k += 1
    realigned = choice == "realigned"
    return Meta(
        "official",
        folder,
        rows,
        [key, refs_file],
        LIVE_REALIGNED_SCALE if realigned else (0.0, 100.0),
        False,
        notes=[f"official LIVE release: {key.name} (DMOS, lower is better)"],
        ground_truth=f"{key.name} {'dmos_new' if realigned else 'dmos'}: "
        + (
            f"{LIVE_REALIGNED}, declared {LIVE_REALIGNED_SCALE[0]:g}-{LIVE_REALIGNED_SCALE[1]:g}"
            if realigned
            else LIVE_ORIGINAL
        ),
        std_source=f"{key.name} dmos_std" if std is not None else "",
        paper_note="" if realigned else LIVE_ORIGINAL_NOTE.split("; for that one")[0],
    )


def _kadid(spec, key, folder):
    header, lines = read_csv(key)
    ci, cr = column(header, key, "dist_img"), column(header, key, "ref_img")
    cs, cv = column(header, key, "dmos"), column(header, key, "var")
    index = FileIndex(folder)
    img_dir = "images" if (folder / "images").is_dir() else ""
    rows = []
    for n, r in lines:
        codes = synthetic_codes(r[ci])
        var = opt_float(r[cv])
        rel = f"{img_dir}/{r[ci].strip()}" if img_dir else r[ci].strip()
        rows.append(
            Row(
                index.find([rel]) or rel,
                r[cs],
                f"{key}:{n}",
                std=math.sqrt(var) if var is not None and var >= 0 else None,
                ref=Path(r[cr]).stem.upper(),
                distortion=KADID_TYPES.get(codes[0]) if codes else None,
                level=codes[1] if codes else None,
            )
        )
    return Meta(
        "official",
        folder,
        rows,
        [key],
        (1.0, 5.0),
        True,
        notes=["official KADID-10k release: dmos.csv holds MOS on 1-5 (higher is better)"],
        ground_truth=f"{key.name} column 'dmos': KADID-10k MOS on 1-5 (named 'dmos'), higher is better",
        std_source=f"{key.name} column 'var' (its square root, on the score's scale)",
    )


def _livec(spec, key, folder):
    import numpy as np

    mos = np.asarray(_loadmat(key, "AllMOS_release"), dtype=float).ravel()
    names_file = _need(folder / "Data" / "AllImages_release.mat")
    names = _cellstr(_loadmat(names_file, "AllImages_release"))
    std_file = folder / "Data" / "AllStdDev_release.mat"
    std = np.asarray(_loadmat(std_file, "AllStdDev_release"), dtype=float).ravel() if std_file.is_file() else None
    if len(names) != len(mos) or (std is not None and len(std) != len(mos)):
        raise DatasetError(
            f"LIVE Challenge: {names_file.name} lists {len(names)} images but {key.name} "
            f"{len(mos)} scores. Restore the Data/ folder."
        )
    index = FileIndex(folder)
    rows, files = [], [key, names_file] + ([std_file] if std is not None else [])
    for k, name in enumerate(names):
        if name.lower() in LIVEC_TRAINING:
            continue
        rel = index.find([f"Images/{name}", f"Images/trainingImages/{name}", name]) or f"Images/{name}"
        rows.append(Row(rel, mos[k], f"{key}[{k}]", std=float(std[k]) if std is not None else None))
    return Meta(
        "official",
        folder,
        rows,
        files,
        (0.0, 100.0),
        True,
        notes=[f"excluded the {len(names) - len(rows)} training images t1-t7, as prior work does"],
        ground_truth=f"{key.name} AllMOS_release: LIVE Challenge MOS on 0-100, higher is better",
        std_source=f"{std_file.name} AllStdDev_release" if std is not None else "",
    )


def _koniq(spec, key, folder):
    header, lines = read_csv(key)
    ci, cs, cd = column(header, key, "image_name"), column(header, key, "MOS"), column(header, key, "SD")
    img_dir = next((d for d in ("1024x768", "512x384") if (folder / d).is_dir()), "1024x768")
    low = [h.lower() for h in header]
    cz = low.index(KONIQ_ZSCORE.lower()) if KONIQ_ZSCORE.lower() in low else None
    rows = [Row(f"{img_dir}/{r[ci].strip()}", r[cs], f"{key}:{n}", std=opt_float(r[cd])) for n, r in lines]
    for row, (_, r) in zip(rows, lines):  # MOS_zscore (1-100): a label column a method's recipe may train on
        if cz is not None and opt_float(r[cz]) is not None:
            row.label_columns[KONIQ_ZSCORE] = opt_float(r[cz])
    files = [key]
    _koniq_official_sets(folder, rows, files)  # the authors' training/validation/test sets
    return Meta(
        "official",
        folder,
        rows,
        files,
        (1.0, 5.0),
        True,
        notes=[f"official KonIQ-10k release: MOS on 1-5, images from {img_dir}/"],
        revision_parts=[f"image-dir:{img_dir}"],
        ground_truth=f"{key.name} column {header[cs]!r}: KonIQ-10k MOS on 1-5 (the authors' MOS), higher is better",
        std_source=f"{key.name} column {header[cd]!r} (on 1-5)",
    )


def _koniq_official_sets(folder: Path, rows: list[Row], files: list[Path]) -> None:
    """KonIQ-10k's own 7058/1000/2015 sets from koniq10k_distributions_sets.csv, when it is there."""
    sets = folder / "koniq10k_distributions_sets.csv"
    if not sets.is_file():
        return
    header, lines = read_csv(sets)
    ci, cset = column(header, sets, "image_name"), column(header, sets, "set")
    phase_of = {}
    for n, r in lines:
        phase = SET_NAMES.get(r[cset].strip().lower())
        if phase is None:
            raise DatasetError(f"{sets}:{n}: set {r[cset]!r} is not training/validation/test. Restore the file.")
        phase_of[r[ci].strip()] = phase
    for row in rows:
        phase = phase_of.get(Path(row.rel).name)
        if phase is None:
            raise DatasetError(
                f"{sets} does not list {Path(row.rel).name}, which the scores file has: the two files "
                "are from different releases. Restore them."
            )
        row.splits[OFFICIAL_SPLIT] = phase
    files.append(sets)


def _tid2013(spec, key, folder):
    lines = read_table(key, 2)
    std_file = folder / "mos_std.txt"
    stds = [p[0] for _, p in read_table(std_file, 1)] if std_file.is_file() else None
    if stds is not None and len(stds) != len(lines):
        raise DatasetError(f"TID2013: {std_file} has {len(stds)} lines but {key.name} {len(lines)}. Restore them.")
    index = FileIndex(folder)
    rows = []
    for k, (n, parts) in enumerate(lines):
        name = parts[1]
        codes = synthetic_codes(name)
        t = TID2013_TYPES.get(codes[0]) if codes else None
        rel = index.find([f"distorted_images/{name}"]) or f"distorted_images/{name}"
        rows.append(
            Row(
                rel,
                parts[0],
                f"{key}:{n}",
                std=opt_float(stds[k]) if stds else None,
                ref=name.split("_")[0].lower(),
                distortion=t[0] if t else None,
                level=codes[1] if codes else None,
            )
        )
    return Meta(
        "official",
        folder,
        rows,
        [key] + ([std_file] if stds else []),
        (0.0, 9.0),
        True,
        notes=["official TID2013 release: MOS on 0-9 (higher is better)"],
        ground_truth=f"{key.name} first column: TID2013 MOS on 0-9, higher is better",
        std_source=f"{std_file.name} (on the score's scale)" if stds else "",
    )


PARSERS = {"live": _live, "kadid10k": _kadid, "livec": _livec, "koniq10k": _koniq, "tid2013": _tid2013}
