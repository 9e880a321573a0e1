"""pyiqa layout: ``<data-root>/meta_info/meta_info_<X>Dataset.csv`` + the image folders of pyiqa's configs.

Orientation traps (see docs/DATASETS.md): LIVE's column is named 'mos' but holds DMOS; CSIQ
holds DMOS on 0-1; KADID's column is named 'dmos' but holds MOS on 1-5; LIVE Challenge lists
7 training images first that prior work excludes.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench.core.errors import DatasetError
from bench.core.labels import SCENE_PROMPTS
from bench.data.datasets.distortions import CSIQ_TYPES, KADID_TYPES, LIVE_FOLDERS, TID2013_TYPES
from bench.data.datasets.ground_truth import KONIQ_ZSCORE, LIVE_ORIGINAL, LIVE_ORIGINAL_NOTE
from bench.data.datasets.meta import LIVEC_TRAINING, FileIndex, Meta, Row, column, opt_float, read_csv, synthetic_codes
from bench.data.datasets.registry import DatasetSpec

PICKLE_PREFIX = {
    "live": "live_",
    "csiq": "csiq_",
    "kadid10k": "kadid10k_",
    "livec": "livechallenge_",
    "koniq10k": "koniq10k_",
    "tid2013": "tid2013_",
    "spaq": "spaq_",
    "flive": "flive_",
    "pipal": "pipal_",
}  # pyiqa's split pickles
_CSIQ_NAME = re.compile(r"^(.+)\.([a-z0-9]+)\.(\d+)\.\w+$", re.I)  # 1600.AWGN.1.png


def meta_candidates(spec: DatasetSpec, data_root: Path, folder: Path) -> list[Path]:
    """Where the meta CSV may be: <data-root>/meta_info/, or inside a --dataset-dir folder."""
    name = spec.pyiqa_meta
    return [
        data_root / "meta_info" / name,
        folder / "meta_info" / name,
        folder / name,
        folder.parent / "meta_info" / name,
    ]


def parse(spec: DatasetSpec, meta_file: Path, folder: Path, parser) -> Meta:
    """``parser``: the dataset's row reader (``ROW_READERS`` here or another module's; bench/data/datasets/layouts.py)."""
    header, lines = read_csv(meta_file)
    index = FileIndex(folder)
    image_dir = _image_dir(spec, folder, index, lines, header, meta_file)
    meta = Meta("pyiqa", folder, [], [meta_file], spec.raw_scale, spec.raw_higher_is_better)
    parser(meta, header, lines, meta_file, image_dir, index)
    if image_dir:
        meta.notes.append(f"images read from {image_dir}/")
    meta.revision_parts.append(f"image-dir:{image_dir}")  # another image folder is another revision
    _split_columns(meta, header, lines, meta_file)
    if meta.pyiqa_order is None:  # a reader that leaves rows out sets the order itself (FLIVE's patches)
        meta.pyiqa_order = [r.rel for r in meta.rows]
    meta.split_pickles = sorted(meta_file.parent.glob(f"{PICKLE_PREFIX[spec.name]}*.pkl"))
    meta.files.extend(meta.split_pickles)
    return meta


def _image_dir(spec, folder: Path, index: FileIndex, lines, header, meta_file) -> str:
    """The first of pyiqa's image folders that holds the first listed images."""
    col = 1 if spec.name in ("live", "csiq", "kadid10k", "tid2013", "pipal") else 0
    probe = [Path(r[col]).name for _, r in (lines[7:12] or lines[:5]) if len(r) > col]  # past LIVEC's t1-t7
    for d in spec.pyiqa_image_dirs:
        extra = _csiq_subdirs if spec.name == "csiq" else (lambda d, p: [])
        if probe and all(index.find([f"{d}/{p}" if d else p] + extra(d, p)) for p in probe):
            return d
    return spec.pyiqa_image_dirs[0]


def _csiq_subdirs(d: str, name: str) -> list[str]:
    """CSIQ images may sit in one folder per type (dst_imgs/awgn/1600.AWGN.1.png), as released."""
    m = _CSIQ_NAME.match(name)
    if not m:
        return []
    folder = m.group(2).lower()
    return [f"{d}/{folder}/{name}" if d else f"{folder}/{name}"]


def _rel(image_dir: str, name: str) -> str:
    name = name.strip().replace("\\", "/")
    return f"{image_dir}/{name}" if image_dir else name


def _live(meta, header, lines, path, image_dir, index):
    ci, cr, cs = (
        column(header, path, "dist_name"),
        column(header, path, "ref_name"),
        column(header, path, "mos", "dmos"),
    )
    meta.ground_truth = f"{path.name} column {header[cs]!r}: {LIVE_ORIGINAL}"
    meta.paper_note = LIVE_ORIGINAL_NOTE
    for n, r in lines:
        name = r[ci].strip()
        folder = name.split("/")[0].lower()
        meta.rows.append(
            Row(_rel(image_dir, name), r[cs], f"{path}:{n}", ref=Path(r[cr]).stem, distortion=LIVE_FOLDERS.get(folder))
        )


def _csiq(meta, header, lines, path, image_dir, index):
    ci, cr, cs = column(header, path, "dist_name"), column(header, path, "ref_name"), column(header, path, "dmos")
    name_source(meta, path, header, cs, None, "CSIQ DMOS on 0-1, lower is better")
    for n, r in lines:
        name = r[ci].strip()
        m = _CSIQ_NAME.match(Path(name).name)
        found = index.find([_rel(image_dir, name)] + _csiq_subdirs(image_dir, name))
        meta.rows.append(
            Row(
                found or _rel(image_dir, name),
                r[cs],
                f"{path}:{n}",
                ref=Path(r[cr]).stem.lower(),
                distortion=CSIQ_TYPES.get(m.group(2).lower()) if m else None,
                level=int(m.group(3)) if m else None,
            )
        )


def _kadid(meta, header, lines, path, image_dir, index):
    ci, cr = column(header, path, "dist_name", "dist_img"), column(header, path, "ref_name", "ref_img")
    cs, cd = column(header, path, "dmos", "mos"), _maybe(header, "std")
    name_source(meta, path, header, cs, cd, "KADID-10k MOS on 1-5 (named 'dmos'), higher is better")
    for n, r in lines:
        codes = synthetic_codes(r[ci])
        meta.rows.append(
            Row(
                _rel(image_dir, r[ci]),
                r[cs],
                f"{path}:{n}",
                std=opt_float(r[cd]) if cd is not None else None,
                ref=Path(r[cr]).stem.upper(),
                distortion=KADID_TYPES.get(codes[0]) if codes else None,
                level=codes[1] if codes else None,
            )
        )


def _tid2013(meta, header, lines, path, image_dir, index):
    ci, cr = column(header, path, "dist_name"), column(header, path, "ref_name")
    cs, cd = column(header, path, "mos"), _maybe(header, "std")
    name_source(meta, path, header, cs, cd, "TID2013 MOS on 0-9, higher is better")
    for n, r in lines:
        name = r[ci].strip()
        codes = synthetic_codes(name)
        found = index.find([_rel(image_dir, name)])  # TID2013 file names differ in case from the list
        t = TID2013_TYPES.get(codes[0]) if codes else None
        meta.rows.append(
            Row(
                found or _rel(image_dir, name),
                r[cs],
                f"{path}:{n}",
                std=opt_float(r[cd]) if cd is not None else None,
                ref=Path(r[cr]).stem.lower(),
                distortion=t[0] if t else None,
                level=codes[1] if codes else None,
            )
        )


def _livec(meta, header, lines, path, image_dir, index):
    ci, cs, cd = column(header, path, "img_name"), column(header, path, "mos"), _maybe(header, "std")
    name_source(meta, path, header, cs, cd, "LIVE Challenge MOS on 0-100, higher is better")
    dropped = 0
    for n, r in lines:
        name = r[ci].strip()
        if Path(name).name.lower() in LIVEC_TRAINING:
            dropped += 1
            continue
        meta.rows.append(
            Row(_rel(image_dir, name), r[cs], f"{path}:{n}", std=opt_float(r[cd]) if cd is not None else None)
        )
    if dropped:
        meta.notes.append(f"excluded LIVE Challenge's {dropped} training images t1-t7, as prior work does")


def _koniq(meta, header, lines, path, image_dir, index):
    """pyiqa's 'mos' is KonIQ's MOS_zscore (1-100) but its 'std' the SD of the 1-5 ratings: two scales. The
    rating distribution c1..c5 (fractions) over c_total raters gives the authors' MOS and SD, both on 1-5,
    exactly (scripts/process_koniq10k.py copies them from koniq10k_distributions_sets.csv)."""
    ci, cs = column(header, path, "img_name", "image_name"), column(header, path, "mos")
    counts, ct = [_maybe(header, f"c{k}") for k in range(1, 6)], _maybe(header, "c_total")
    if None in counts or ct is None:  # no distribution: the 1-100 score alone (its std is on another scale)
        meta.raw_scale = (1.0, 100.0)
        meta.ground_truth = f"{path.name} column {header[cs]!r}: KonIQ-10k MOS_zscore on 1-100"
        meta.notes.append(f"{path.name} has no c1..c5/c_total columns: its 'std' (on 1-5) is left out")
        for n, r in lines:
            meta.rows.append(Row(_rel(image_dir, r[ci]), r[cs], f"{path}:{n}"))
        return
    meta.raw_scale = (1.0, 5.0)
    meta.ground_truth = f"{path.name} columns c1..c5: KonIQ-10k MOS on 1-5 (the authors' MOS), higher is better"
    meta.std_source = f"{path.name} columns c1..c5, c_total: SD of the ratings on 1-5 (n - 1)"
    for n, r in lines:
        mos, sd = rating_moments([r[c] for c in counts], r[ct], f"{path}:{n}")
        row = Row(_rel(image_dir, r[ci]), mos, f"{path}:{n}", std=sd)
        zscore = opt_float(r[cs])
        if zscore is not None:
            row.label_columns[KONIQ_ZSCORE] = zscore
        meta.rows.append(row)


def rating_moments(fractions: list[str], total: str, where: str) -> tuple[float, float | None]:
    """(mean, sample std) of ratings 1..5 given as fractions (pyiqa) or counts of ``total`` raters."""
    try:
        c = [float(x) for x in fractions]
        n = float(total)
    except ValueError:
        raise DatasetError(
            f"{where}: the rating distribution c1..c5, c_total holds a non-number "
            f"({', '.join(fractions)}, {total}). Restore the meta file."
        ) from None
    s = sum(c)
    if not s > 0 or min(c) < 0:
        raise DatasetError(f"{where}: the rating distribution c1..c5 ({', '.join(fractions)}) is empty or negative.")
    p = [x / s for x in c]  # fractions (pyiqa) or counts alike
    mean = sum(k * q for k, q in enumerate(p, 1))
    var = sum(q * (k - mean) ** 2 for k, q in enumerate(p, 1))
    return mean, (var * n / (n - 1)) ** 0.5 if n > 1 else None


def _spaq(meta, header, lines, path, image_dir, index):
    ci, cs = column(header, path, "image name", "img_name"), column(header, path, "mos")
    name_source(meta, path, header, cs, None, "SPAQ MOS on 0-100, higher is better")
    low = [h.lower() for h in header]
    scene_cols = [low.index(p.lower()) if p.lower() in low else None for p in SCENE_PROMPTS]
    for n, r in lines:
        scenes = tuple(k for k, c in enumerate(scene_cols) if c is not None and (opt_float(r[c]) or 0) > 0)
        meta.rows.append(Row(_rel(image_dir, r[ci]), r[cs], f"{path}:{n}", scenes=scenes))
    if any(c is not None for c in scene_cols):
        meta.notes.append("scene labels from SPAQ's own scene columns")


def name_source(meta: Meta, path: Path, header, score: int, std: int | None, what: str) -> None:
    """The ground truth and std source as ``DatasetInfo.ground_truth`` shows them: file, column, meaning."""
    meta.ground_truth = f"{path.name} column {header[score]!r}: {what}"
    if std is not None:
        meta.std_source = f"{path.name} column {header[std]!r} (on the score's scale)"


def _maybe(header, name):
    low = [h.lower() for h in header]
    return low.index(name) if name in low else None


_PHASES = {"0": "train", "1": "val", "2": "test", "train": "train", "val": "val", "test": "test"}


def _split_columns(meta: Meta, header, lines, path) -> None:
    """pyiqa's split columns ('split', 'official_split', 'ratio802_seed123_split_01' ...) per row."""
    cols = [(i, h) for i, h in enumerate(header) if "split" in h.lower()]
    if not cols:
        return
    by_line = {r.source: r for r in meta.rows}
    for n, r in lines:
        row = by_line.get(f"{path}:{n}")
        if row is None:
            continue
        for i, h in cols:
            v = r[i].strip().lower() if i < len(r) else ""
            v = v[:-2] if v.endswith(".0") else v
            if v not in _PHASES:
                raise DatasetError(
                    f"{path}:{n}: split column {h!r} holds {r[i]!r}; expected train/val/test "
                    "(or 0/1/2). Restore the meta file."
                )
            row.splits[h] = _PHASES[v]


# dataset -> reader of the rows of its pyiqa meta CSV (FLIVE's: bench/data/datasets/recent.py)
ROW_READERS = {
    "live": _live,
    "csiq": _csiq,
    "kadid10k": _kadid,
    "livec": _livec,
    "koniq10k": _koniq,
    "tid2013": _tid2013,
    "spaq": _spaq,
}
