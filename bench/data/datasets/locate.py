"""Find a real dataset on disk, parse its layout, and build validated records.

Detection order: pyiqa layout (meta CSV present), then the authors' release layout, then
(BID only) LIQE's list as the index; the readers of each layout come from the table in layouts.py. LIQE label files, when found, add scenes and distortion
names. Everything read goes into the revision; so do exclusions made by ``skip_corrupt``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bench.core.errors import DatasetError
from bench.core.records import DatasetInfo, ImageRecord, ImageSet
from bench.data.datasets import layouts, liqe
from bench.data.datasets.common import DatasetNotFound, Revision, higher_is_better
from bench.data.datasets.distortions import distortion_class
from bench.data.datasets.ids import BadId, file_identity, normalise_id
from bench.data.datasets.meta import Meta, Row, opt_float, score_of
from bench.data.datasets.registry import DatasetSpec
from bench.data.datasets.scales import check_scales
from bench.data.image_modes import DECODER

LAYOUTS = ("pyiqa", "official", "liqe")
MAX_LISTED = 5


def dataset_folder(spec: DatasetSpec, data_root: Path, override: Path | None, layout: str) -> Path:
    if override is not None:
        return override
    if layout == "pyiqa":
        return data_root / spec.pyiqa_dir
    for name in (spec.official_dirs or ()) + ((spec.liqe_dir,) if spec.liqe_dir else ()):
        if (data_root / name).is_dir():
            return data_root / name
    return data_root / (spec.official_dirs[0] if spec.official_dirs else spec.name)


def detect(
    spec: DatasetSpec, data_root: Path, override: Path | None, labels_dir: Path | None, layout: str | None = None
) -> tuple[str, Path, Path | None]:
    """(layout, dataset folder, meta file or None); a DatasetError listing what was looked for."""
    if layout is not None and layout not in LAYOUTS:
        from bench.core.errors import did_you_mean

        raise DatasetError(did_you_mean(layout, LAYOUTS, "layout"))
    looked = []
    if spec.pyiqa_meta and layout in (None, "pyiqa"):
        folder = dataset_folder(spec, data_root, override, "pyiqa")
        cands = layouts.pyiqa_meta_candidates(spec, data_root, folder)
        for c in cands:
            if c.is_file():
                return "pyiqa", folder, c
        looked.append(f"pyiqa layout: {cands[0]} (+ images in {folder}/)")
    if layout in (None, "official") and spec.name in layouts.OFFICIAL_PARSERS:
        folder = dataset_folder(spec, data_root, override, "official")
        key = layouts.official_key_file(spec, folder)
        if key is not None:
            return "official", folder, key
        looked.append(f"official layout: {folder}/{' or '.join(layouts.OFFICIAL_KEY_FILES[spec.name])}")
    if layout in (None, "liqe") and spec.name == "bid":
        folder = dataset_folder(spec, data_root, override, "liqe")
        lab = liqe.locate(spec, labels_dir, data_root)
        if lab is not None:
            return "liqe", folder, lab
        looked.append(
            f"LIQE list: {(labels_dir or data_root / 'liqe')}/IQA_Database/{spec.liqe_dir}/splits2/"
            f"{spec.liqe_prefix}_all.txt (+ images in {folder}/)"
        )
    if not looked:
        raise DatasetError(f"{spec.title} has no {layout!r} layout; use one of: {', '.join(_layouts_of(spec))}.")
    raise DatasetNotFound(
        f"dataset {spec.name!r} ({spec.title}) not found. Looked for:\n  - "
        + "\n  - ".join(looked)
        + f"\nFix: put it under the data root ({data_root}; set with --data-root or $BENCH_DATA), point at its folder "
        f"with --dataset-dir {spec.name}=PATH, or download it with `python -m bench data fetch {spec.name}` "
        "(needs internet). docs/DATASETS.md lists the exact files each layout needs."
    )


def _layouts_of(spec: DatasetSpec) -> list[str]:
    out = ["pyiqa"] if spec.pyiqa_meta else []
    if spec.name in layouts.OFFICIAL_PARSERS:
        out.append("official")
    if spec.name == "bid":
        out.append("liqe")
    return out


def load_real(
    spec: DatasetSpec,
    data_root: Path,
    override: Path | None,
    labels_dir: Path | None,
    skip_corrupt: bool = False,
    layout: str | None = None,
    deep: bool = False,
    progress: bool = False,
    ground_truth: str | None = None,
) -> ImageSet:
    if ground_truth is not None:
        layout = layout_for_ground_truth(spec, ground_truth, layout)
    layout, folder, meta_path = detect(spec, data_root, override, labels_dir, layout)
    labels_folder = meta_path if layout == "liqe" else liqe.locate(spec, labels_dir, data_root)
    labels = liqe.read(spec, labels_folder) if labels_folder is not None else None
    if not folder.is_dir():
        raise DatasetError(
            f"{spec.title}: metadata found ({meta_path}) but the image folder {folder} does not exist. "
            f"Fix: put the images there or pass --dataset-dir {spec.name}=PATH."
        )
    if layout == "pyiqa":
        meta = layouts.parse_pyiqa(spec, meta_path, folder)
    elif layout == "official":
        meta = layouts.parse_official(spec, meta_path, folder, ground_truth)
    else:
        meta = _bid_from_liqe(spec, labels, folder)
    return build(spec, meta, labels, skip_corrupt=skip_corrupt, deep=deep, progress=progress)


def layout_for_ground_truth(spec: DatasetSpec, choice: str, layout: str | None) -> str | None:
    """A ground truth asked for by name (--ground-truth live=realigned) may fix the layout: pyiqa's LIVE CSV holds
    the original DMOS only, so the realigned one is read from the release files."""
    from bench.core.errors import did_you_mean
    from bench.data.datasets.ground_truth import CHOICES

    choices = CHOICES.get(spec.name)
    if not choices:
        raise DatasetError(f"--ground-truth {spec.name}={choice}: {spec.title} has one ground truth; drop the option.")
    if choice not in choices:
        raise DatasetError(did_you_mean(choice, choices, f"ground truth of {spec.name}"))
    if spec.name == "live" and choice == "realigned":
        if layout == "pyiqa":
            raise DatasetError(
                "--ground-truth live=realigned: pyiqa's meta_info_LIVEIQADataset.csv holds the original DMOS only. "
                "Put dmos_realigned.mat and refnames_all.mat of the LIVE release beside the images and use the "
                "release layout (--layout official)."
            )
        return "official"
    return layout


def _bid_from_liqe(spec: DatasetSpec, labels: liqe.LiqeLabels, folder: Path) -> Meta:
    """BID has no meta CSV: LIQE's list (all.txt, else the union of its labelled lists) is its index."""
    rows = [Row(rel, score, src, std=opt_float(std)) for rel, score, std, src in labels.all_list]
    if not rows:
        rows = [Row(e.rel, e.score, e.source) for e in labels.entries.values()]
    lo, hi = spec.raw_scale
    source = f"LIQE's {spec.liqe_prefix}_all.txt" if labels.all_list else f"LIQE's {spec.liqe_prefix}_*_clip.txt lists"
    return Meta(
        "liqe",
        folder,
        rows,
        [],
        spec.raw_scale,
        spec.raw_higher_is_better,
        ground_truth=f"{source}, second column: {spec.title} MOS on {lo:g}-{hi:g}, higher is better",
        std_source=f"{source}, third column" if labels.all_list else "",
    )


def build(
    spec: DatasetSpec,
    meta: Meta,
    labels: liqe.LiqeLabels | None,
    skip_corrupt: bool = False,
    deep: bool = False,
    progress: bool = False,
) -> ImageSet:
    notes = list(meta.notes)
    if not meta.rows:
        raise DatasetError(
            f"{spec.title}: the metadata ({', '.join(map(str, meta.files[:1]))}) lists no images. "
            "Restore it from the dataset's release."
        )
    canonical_ids(meta)
    scores = {row.rel: score_of(row) for row in meta.rows}
    if not meta.ground_truth:
        lo, hi = meta.raw_scale
        kind = "MOS" if meta.raw_higher_is_better else "DMOS (lower is better)"
        meta.ground_truth = f"{meta.files[0].name if meta.files else meta.layout}: {kind} on {lo:g}-{hi:g}"
    check_scales(spec.title, meta, scores)

    # --skip-corrupt decodes every image (cached per file, so once): what it excludes must not depend
    # on whether --deep was given, or `data check --deep` and `run` would report different revisions
    bad, modes = _bad_images(meta, deep or skip_corrupt, progress)
    _one_file_one_id(meta, {rel for rel, _ in bad})
    excluded: list[str] = []
    if bad:
        if not skip_corrupt:
            listed = "\n  ".join(f"{rel}: {why}" for rel, why in bad[:MAX_LISTED])
            more = f"\n  ... and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
            raise DatasetError(
                f"{spec.title}: {len(bad)} of {len(meta.rows)} images missing or unreadable under {meta.folder}:\n  "
                f"{listed}{more}\nFix: restore them (or point --dataset-dir {spec.name}=PATH at the right folder), "
                "or pass --skip-corrupt to exclude them (recorded in the dataset revision)."
            )
        excluded = sorted(rel for rel, _ in bad)
        notes.append(f"excluded {len(excluded)} missing/corrupt image(s) (--skip-corrupt), e.g. {excluded[:3]}")

    label_of, label_notes = _match_labels(spec, meta, labels, set(excluded))
    notes.extend(label_notes)

    records = []
    skip = set(excluded)
    for row in meta.rows:
        if row.rel in skip:
            continue
        raw = scores[row.rel]
        lab = label_of.get(row.rel)
        dist = row.distortion or (lab.distortion if lab else None)
        scenes = row.scenes or (lab.scenes if lab else ())
        records.append(
            ImageRecord(
                id=row.rel,
                path=meta.folder / row.rel,
                score=higher_is_better(raw, meta.raw_scale, meta.raw_higher_is_better),
                raw_score=raw,
                std=row.std,
                ref_id=row.ref if spec.synthetic else None,
                distortion=dist,
                distortion_class=distortion_class(dist),
                scenes=tuple(scenes),
                level=row.level,
                label_columns=dict(row.label_columns),
            )
        )
    if spec.synthetic and any(r.ref_id is None for r in records):
        missing = next(r.id for r in records if r.ref_id is None)
        raise DatasetError(
            f"{spec.title}: no reference image known for {missing!r}; splits by reference need it. "
            "Restore the metadata file."
        )

    rev = Revision(meta.layout, spec.name)
    for f in meta.files:
        rev.add(f)
    for part in meta.revision_parts:
        rev.add(part)
    rev.add(f"ground-truth:{meta.ground_truth}|std:{meta.std_source}")  # another source is another revision
    if labels is not None:
        for f in labels.files:
            rev.add(f)
    rev.add({"excluded": excluded})
    rev.add([r.id for r in records])  # the ids themselves: the image folder found (or moved) changes them
    info = DatasetInfo(
        name=spec.name,
        title=spec.title,
        root=meta.folder,
        layout=meta.layout,
        synthetic=spec.synthetic,
        raw_scale=meta.raw_scale,
        raw_higher_is_better=meta.raw_higher_is_better,
        revision=rev.hexdigest(),
        has_scene_labels=any(r.scenes for r in records),
        has_distortion_labels=any(r.distortion_class is not None for r in records),
        notes=tuple(notes),
        ground_truth=meta.ground_truth,
        paper_note=meta.paper_note,
    )
    ds = ImageSet(info, records)
    ds.image_modes = modes  # (deep) pixel mode -> number of images, for `data check --deep`
    ds._split_sources = {
        "liqe": labels.splits if labels else {},
        "liqe_folder": labels.folder if labels else None,
        "pyiqa_rows": [r for r in meta.rows if r.rel not in skip],
        "pyiqa_order": meta.pyiqa_order,
        "split_pickles": meta.split_pickles,
        "official_missing": meta.official_missing,
    }
    return ds


def canonical_ids(meta: Meta) -> None:
    """Every row's id normalised (``./a.bmp`` -> ``a.bmp``); an id listed twice, under any spelling, is an
    error naming both lines: two spellings of one image could land on both sides of a split."""
    seen: dict[str, Row] = {}
    written, renamed = {}, {}
    for row in meta.rows:
        try:
            rel = normalise_id(row.rel)
        except BadId as why:
            raise DatasetError(
                f"{row.source}: image path {row.rel!r} {why}. Fix that line of the metadata file."
            ) from None
        if rel in seen:
            first = seen[rel]
            spelt = "" if written[rel] == row.rel else f", written {written[rel]!r} there and {row.rel!r} here"
            raise DatasetError(
                f"{row.source}: image {rel!r} is listed twice (first at {first.source}{spelt}). "
                "Remove the duplicate line from the metadata file."
            )
        seen[rel], written[rel], renamed[row.rel] = row, row.rel, rel
        row.rel = rel
    if meta.pyiqa_order is not None:
        meta.pyiqa_order = [renamed.get(r, r) for r in meta.pyiqa_order]


def _one_file_one_id(meta: Meta, skip: set[str]) -> None:
    """Two ids that reach one file (symlink, hard link, case-insensitive disk) are one image listed twice."""
    owner: dict[tuple[int, int], Row] = {}
    for row in meta.rows:
        if row.rel in skip:
            continue
        try:
            ident = file_identity((meta.folder / row.rel).stat())
        except OSError:
            continue
        first = owner.setdefault(ident, row)
        if first is not row:
            raise DatasetError(
                f"{row.source}: image {row.rel!r} is the same file as {first.rel!r} at {first.source} "
                "(a link, or a case-insensitive disk). Remove one of the two lines."
            )


def _bad_images(meta: Meta, deep: bool, progress: bool) -> tuple[list[tuple[str, str]], Counter]:
    """(id, reason) of images that are missing, empty, or (deep) do not decode or have a pixel mode that
    cannot be read; and (deep) how many images have each pixel mode."""
    from tqdm import tqdm

    bad, modes = [], Counter()
    checked = DecodeChecks(meta.folder) if deep else None
    for row in tqdm(meta.rows, desc="checking images", disable=not progress, leave=False):
        p = meta.folder / row.rel
        try:
            st = p.stat()
        except OSError:
            bad.append((row.rel, "missing"))
            continue
        if st.st_size == 0:
            bad.append((row.rel, "empty file"))
        elif checked is not None:
            why, mode = checked.error(row.rel, p, st)
            modes[mode] += 1
            if why:
                bad.append((row.rel, why))
    if checked is not None:
        checked.save()
    return bad, modes


class DecodeChecks:
    """Decode results per image file, remembered under the cache by (size, mtime): a deep check or
    --skip-corrupt decodes each file once, not in every command and every worker."""

    def __init__(self, folder: Path):
        import hashlib
        import json

        from bench.data.datasets.common import cache_root

        digest = hashlib.sha256(str(Path(folder).absolute()).encode()).hexdigest()[:16]
        self.path = cache_root() / "decode-checks" / f"{digest}.json"
        try:
            self.known = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.known = {}
        self.changed = False

    def error(self, rel: str, path: Path, st) -> tuple[str | None, str]:
        """(why the image cannot be used or None, its pixel mode)."""
        stamp = [st.st_size, st.st_mtime_ns, DECODER]
        entry = self.known.get(rel)
        if isinstance(entry, list) and len(entry) == 5 and entry[:3] == stamp:
            return entry[3], entry[4]
        why, mode = _decode_error(path)
        self.known[rel] = stamp + [why, mode]
        self.changed = True
        return why, mode

    def save(self) -> None:
        import json

        from bench.core.files import atomic_write

        if self.changed:
            try:
                atomic_write(self.path, json.dumps(self.known))
            except OSError:  # a read-only cache: the next command decodes again
                pass


def _decode_error(path: Path) -> tuple[str | None, str]:
    from PIL import Image

    from bench.data.image_modes import ImageModeError, check, describe

    mode = "?"
    try:
        with Image.open(path) as im:
            mode = describe(im)
            im.load()
            check(im, path)
    except ImageModeError as exc:
        return f"pixel mode cannot be read ({exc})", mode
    except Exception as exc:  # any decoder failure makes the file unusable
        return f"does not decode ({type(exc).__name__}: {exc})", mode
    return None, mode


def _match_labels(spec: DatasetSpec, meta: Meta, labels: liqe.LiqeLabels | None, excluded: set[str]):
    """LIQE labels per record id, and notes (coverage, disagreements with the dataset's own names)."""
    if labels is None:
        return {}, []
    match = liqe.Matcher(r.rel for r in meta.rows)
    out, unmatched = {}, []
    for rel, entry in labels.entries.items():
        rid = match(rel)
        if rid is None:
            unmatched.append(entry)
        else:
            out[rid] = entry
    unmatched = [e for e in unmatched if Path(e.rel).name not in {Path(x).name for x in excluded}]
    if unmatched:
        ex = "; ".join(f"{e.rel} ({e.source})" for e in unmatched[:3])
        raise DatasetError(
            f"{spec.title}: {len(unmatched)} LIQE label line(s) match no image of the dataset, e.g. {ex}. "
            f"Fix: point --labels at the LIQE files of this dataset (the folder holding IQA_Database/), "
            "or check that the dataset is complete."
        )
    notes = [f"LIQE labels from {labels.folder}: {len(out)}/{len(meta.rows)} images labelled"]
    if spec.synthetic:
        disagree = Counter(
            (row.distortion, out[row.rel].distortion)
            for row in meta.rows
            if row.rel in out
            and row.distortion
            and out[row.rel].distortion
            and row.distortion != out[row.rel].distortion
        )
        for (own, theirs), n in sorted(disagree.items(), key=lambda kv: -kv[1]):
            notes.append(
                f"label disagreement: LIQE calls {n} '{own}' image(s) '{theirs}'; kept the dataset's own "
                f"name '{own}' (class {distortion_class(own)})"
            )
    return out, notes
