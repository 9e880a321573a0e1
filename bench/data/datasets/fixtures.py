"""Tiny but complete dataset trees in every supported layout, for tests (ours and other layers').

    write_fixture(tmp_path, "live", layout="pyiqa", labels=True) -> data root
    load_dataset("live", data_root=tmp_path)

Images are real (16x16, random pixels, the dataset's own file format); metadata files follow
each layout's real columns, names and orientation (e.g. LIVE/CSIQ DMOS, KADID's 'dmos' MOS
column, LIVE Challenge's 7 leading training images, TID2013's mixed-case names). LIQE label
files cover each dataset that LIQE labels, with two reference-disjoint splits.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from bench.data.datasets.registry import get_spec

SIZE = 16


def write_image(path: Path, rng: np.random.Generator) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".bmp": "BMP", ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}[path.suffix.lower()]
    Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(path, fmt)


def write_csv(path: Path, header, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _liqe(
    root: Path,
    name: str,
    items: list[tuple[str, float, str, tuple[str, ...], str]],
    all_clip: bool = True,
    all_scores: bool = False,
) -> None:
    """items: (liqe relpath, score, distortion, scenes, group). Two splits, disjoint by group."""
    spec = get_spec(name)
    d = root / "liqe" / "IQA_Database" / spec.liqe_dir / "splits2"
    d.mkdir(parents=True, exist_ok=True)

    def line(it):
        scenes = list(it[3]) + ["invalid"] * (3 - len(it[3]))
        return "\t".join([it[0], f"{it[1]:.6f}", it[2]] + scenes) + "\n"

    groups = sorted({it[4] for it in items})
    for k in (1, 2):
        test_g = {groups[(k - 1) % len(groups)]}
        val_g = {groups[k % len(groups)]} if len(groups) > 2 else set()
        sd = d / str(k)
        sd.mkdir(exist_ok=True)
        # the lambdas run inside this iteration: binding test_g / val_g late is what is meant
        for phase, sel in (
            ("train", lambda g: g not in test_g and g not in val_g),  # noqa: B023
            ("val", lambda g: g in val_g),  # noqa: B023
            ("test", lambda g: g in test_g),  # noqa: B023
        ):
            (sd / f"{spec.liqe_prefix}_{phase}_clip.txt").write_text("".join(line(it) for it in items if sel(it[4])))
    if all_clip:
        (d / f"{spec.liqe_prefix}_all_clip.txt").write_text("".join(line(it) for it in items))
    if all_scores:
        (d / f"{spec.liqe_prefix}_all.txt").write_text("".join(f"{it[0]}\t{it[1]:.6f}\t0.5\n" for it in items))


def write_fixture(root: Path, name: str, layout: str = "pyiqa", labels: bool = True, seed: int = 0) -> Path:
    """Write one dataset's tree under ``root`` (the data root); returns ``root``."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    spec = get_spec(name)
    fn = _WRITERS.get((spec.name, layout))
    if fn is None:
        raise ValueError(f"no fixture for {spec.name!r} in layout {layout!r}")
    fn(root, rng, labels)
    return root


# --- pyiqa layout ----------------------------------------------------------------------------------

REFS = ("bikes", "caps", "house", "parrots")


def _live_pyiqa(root, rng, labels):
    rows, items, k = [], [], 0
    for folder, liqe_name in (("jp2k", "jpeg2000 compression"), ("wn", "white noise"), ("fastfading", "white noise")):
        for ref in REFS:
            for _ in range(2):
                k += 1
                rel = f"{folder}/img{k}.bmp"
                write_image(root / "LIVEIQA_release2" / rel, rng)
                dmos = float(rng.uniform(10, 80))
                rows.append((f"refimgs/{ref}.bmp", rel, dmos))
                items.append((rel, dmos, liqe_name, ("animal",) if ref == "parrots" else ("cityscape", "human"), ref))
    write_csv(root / "meta_info" / "meta_info_LIVEIQADataset.csv", ("ref_name", "dist_name", "mos"), rows)
    if labels:
        _liqe(root, "live", items)


def _csiq_pyiqa(root, rng, labels):
    rows, items = [], []
    for ref in REFS:
        for t, liqe_name in (("AWGN", "white noise"), ("JPEG", "jpeg compression"), ("fnoise", "fnoise")):
            for lvl in (1, 2):
                name = f"{ref}.{t}.{lvl}.png"
                write_image(root / "CSIQ" / "dst_imgs" / name, rng)
                dmos = float(rng.uniform(0, 1))
                rows.append((f"{ref}.png", name, dmos))
                # LIQE's CSIQ paths have a type folder the pyiqa tree lacks: matched by file name
                items.append((f"dst_imgs/{t.lower()}/{name}", 1 - dmos, liqe_name, ("plant",), ref))
    write_csv(root / "meta_info" / "meta_info_CSIQDataset.csv", ("ref_name", "dist_name", "dmos"), rows)
    if labels:
        _liqe(root, "csiq", items)


def _kadid_rows(root, rng, folder):
    rows, items = [], []
    for r in range(1, 5):
        for t, liqe_name in ((1, "gaussian blur"), (10, "jpeg compression"), (16, "brighten")):
            for lvl in (1, 2):
                name = f"I{r:02d}_{t:02d}_{lvl:02d}.png"
                write_image(root / folder / "images" / name, rng)
                mos = float(rng.uniform(1, 5))
                # a std that ratings on 1-5 can have around this mean
                std = float(rng.uniform(0.2, 0.9)) * float(np.sqrt((5 - mos) * (mos - 1)))
                rows.append((name, f"I{r:02d}.png", mos, std))
                items.append((f"images/{name}", mos, liqe_name, ("landscape",), f"I{r:02d}"))
    return rows, items


def _kadid_pyiqa(root, rng, labels):
    rows, items = _kadid_rows(root, rng, "kadid10k")
    write_csv(
        root / "meta_info" / "meta_info_KADID10kDataset.csv",
        ("ref_name", "dist_name", "dmos", "std"),
        [(r[1], r[0], r[2], r[3]) for r in rows],
    )
    if labels:
        _liqe(root, "kadid10k", items, all_clip=False)  # like LIQE's KADID: only split lists


def _livec_pyiqa(root, rng, labels):
    rows, items = [], []
    names = [f"t{i}.bmp" for i in range(1, 8)] + [f"{i}.bmp" for i in range(100, 112)] + ["611.JPG"]
    for n in names:
        write_image(root / "LIVEC" / n, rng)
        mos = float(rng.uniform(5, 95))
        rows.append((n, mos, float(rng.uniform(10, 20))))
        if not n.startswith("t"):
            items.append((f"Images/{n}", mos, "realistic blur", ("night",), n))
    write_csv(root / "meta_info" / "meta_info_LIVEChallengeDataset.csv", ("img_name", "mos", "std"), rows)
    if labels:
        _liqe(root, "livec", items)


def _koniq_pyiqa(root, rng, labels):
    rows, items = [], []
    for i in range(20):
        n = f"{1000000 + i}.jpg"
        write_image(root / "koniq10k" / "1024x768" / n, rng)
        # as pyiqa's file: 'mos' is MOS_zscore (1-100), 'std' the SD on 1-5, c1..c5 the fractions of c_total ratings
        total = int(rng.integers(90, 160))
        counts = rng.multinomial(total, rng.dirichlet([1, 2, 4, 4, 1]))
        frac = counts / total
        mos5 = float((frac * np.arange(1, 6)).sum())
        sd = float(np.sqrt((frac * (np.arange(1, 6) - mos5) ** 2).sum() * total / (total - 1)))
        zscore = float(np.clip(1 + (mos5 - 1) * 99 / 4 + rng.normal(0, 3), 1, 100))
        rows.append((n, zscore, sd, (0, 0, 0, 1, 2)[i % 5], *frac.tolist(), total))
        items.append((f"1024x768/{n}", mos5, "other realistic", ("human", "indoor"), n))
    write_csv(
        root / "meta_info" / "meta_info_KonIQ10kDataset.csv",
        ("img_name", "mos", "std", "split", "c1", "c2", "c3", "c4", "c5", "c_total"),
        rows,
    )
    if labels:
        _liqe(root, "koniq10k", items)


def _tid_pyiqa(root, rng, labels):
    rows = []
    for r in range(1, 5):
        for t in (1, 8, 10):
            for lvl in (1, 2):
                listed = f"{'I' if lvl == 1 else 'i'}{r:02d}_{t:02d}_{lvl}.bmp"  # case differs from the files
                write_image(root / "tid2013" / "distorted_images" / listed.lower(), rng)
                rows.append((f"I{r:02d}.BMP", listed, float(rng.uniform(0.5, 8.5)), 0.1))
    write_csv(root / "meta_info" / "meta_info_TID2013Dataset.csv", ("ref_name", "dist_name", "mos", "std"), rows)


def _spaq_pyiqa(root, rng, labels):
    header = (
        "Image name",
        "MOS",
        "Brightness",
        "Animal",
        "Cityscape",
        "Human",
        "Indoor scene",
        "Landscape",
        "Night scene",
        "Plant",
        "Still-life",
        "Others",
    )
    rows = []
    for i in range(1, 21):
        n = f"{i:05d}.jpg"
        write_image(root / "SPAQ" / "TestImage" / n, rng)
        scenes = [0.0] * 9
        scenes[i % 9] = 0.5
        scenes[(i + 4) % 9] = 0.5
        rows.append((n, float(rng.uniform(1, 99)), 50.0, *scenes))
    write_csv(root / "meta_info" / "meta_info_SPAQDataset.csv", header, rows)


def _bid_liqe(root, rng, labels):
    items = []
    for i in range(1, 21):
        rel = f"ImageDatabase/DatabaseImage{i:04d}.JPG"
        write_image(root / "BID" / rel, rng)
        items.append((rel, float(rng.uniform(0.5, 4.5)), "realistic blur", ("still_life",), rel))
    _liqe(root, "bid", items, all_clip=False, all_scores=True)


# --- official layouts -----------------------------------------------------------------------------------


def _live_official(root, rng, labels):
    import scipy.io

    from bench.data.datasets.official import LIVE_ORDER

    d = root / "databaserelease2"
    dmos, orgs, refs = [], [], []
    for folder, n in LIVE_ORDER:
        for i in range(1, n + 1):
            ref = REFS[i % len(REFS)]
            scored = i <= 4  # the rest are marked as reference entries (orgs = 1)
            if scored:
                write_image(d / folder / f"img{i}.bmp", rng)
            dmos.append(float(rng.uniform(10, 80)) if scored else 0.0)
            orgs.append(0 if scored else 1)
            refs.append(f"{ref}.bmp")
    scipy.io.savemat(
        d / "dmos_realigned.mat",
        {"dmos_new": np.array([dmos]), "orgs": np.array([orgs]), "dmos_std": np.full((1, len(dmos)), 5.0)},
    )
    scipy.io.savemat(d / "refnames_all.mat", {"refnames_all": np.array([refs], dtype=object)})


def _kadid_official(root, rng, labels):
    rows, items = _kadid_rows(root, rng, "kadid10k")
    write_csv(
        root / "kadid10k" / "dmos.csv",
        ("dist_img", "ref_img", "dmos", "var"),
        [(r[0], r[1], r[2], r[3] ** 2) for r in rows],
    )
    if labels:
        _liqe(root, "kadid10k", items, all_clip=False)


def _livec_official(root, rng, labels):
    import scipy.io

    d = root / "ChallengeDB_release"
    names = [f"t{i}.bmp" for i in range(1, 8)] + [f"{i}.bmp" for i in range(100, 113)]
    for n in names:
        write_image(d / "Images" / ("trainingImages" if n.startswith("t") else "") / n, rng)
    (d / "Data").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(d / "Data" / "AllMOS_release.mat", {"AllMOS_release": rng.uniform(5, 95, (1, len(names)))})
    scipy.io.savemat(d / "Data" / "AllStdDev_release.mat", {"AllStdDev_release": rng.uniform(10, 20, (1, len(names)))})
    scipy.io.savemat(
        d / "Data" / "AllImages_release.mat", {"AllImages_release": np.array([[n] for n in names], dtype=object)}
    )


def _koniq_official(root, rng, labels):
    rows = []
    for i in range(20):
        n = f"{2000000 + i}.jpg"
        write_image(root / "koniq10k" / "1024x768" / n, rng)
        total = int(rng.integers(90, 160))  # the release's c1..c5 are counts of c_total ratings
        counts = rng.multinomial(total, rng.dirichlet([1, 2, 4, 4, 1]))
        mos = float((counts * np.arange(1, 6)).sum() / total)
        sd = float(np.sqrt((counts * (np.arange(1, 6) - mos) ** 2).sum() / (total - 1)))
        zscore = float(np.clip(1 + (mos - 1) * 99 / 4 + rng.normal(0, 3), 1, 100))
        rows.append((n, *counts.tolist(), total, mos, sd, zscore))
    write_csv(
        root / "koniq10k" / "koniq10k_scores_and_distributions.csv",
        ("image_name", "c1", "c2", "c3", "c4", "c5", "c_total", "MOS", "SD", "MOS_zscore"),
        rows,
    )


def _tid_official(root, rng, labels):
    d = root / "tid2013"
    lines, stds = [], []
    for r in range(1, 5):
        for t in (1, 8, 10):
            for lvl in (1, 2):
                n = f"i{r:02d}_{t:02d}_{lvl}.bmp"
                write_image(d / "distorted_images" / n, rng)
                lines.append(f"{rng.uniform(0.5, 8.5):.5f} {n}\n")
                stds.append("0.12\n")
    (d / "mos_with_names.txt").write_text("".join(lines))
    (d / "mos_std.txt").write_text("".join(stds))


_WRITERS = {
    ("live", "pyiqa"): _live_pyiqa,
    ("csiq", "pyiqa"): _csiq_pyiqa,
    ("kadid10k", "pyiqa"): _kadid_pyiqa,
    ("livec", "pyiqa"): _livec_pyiqa,
    ("koniq10k", "pyiqa"): _koniq_pyiqa,
    ("tid2013", "pyiqa"): _tid_pyiqa,
    ("spaq", "pyiqa"): _spaq_pyiqa,
    ("bid", "liqe"): _bid_liqe,
    ("live", "official"): _live_official,
    ("kadid10k", "official"): _kadid_official,
    ("livec", "official"): _livec_official,
    ("koniq10k", "official"): _koniq_official,
    ("tid2013", "official"): _tid_official,
}
FIXTURES = tuple(_WRITERS)
