"""PIPAL, AIGIQA-20K and AIGCIQA2023 in their authors' release layouts (and PIPAL in pyiqa's), from trees of
the real files' shapes: PIPAL's per-reference Elo label files, AIGIQA-20K's three info CSVs, AIGCIQA2023's
mosz1.mat in pic-index order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.core.errors import DatasetError, SplitError
from bench.data.datasets import load_dataset
from bench.data.datasets.fixtures import write_csv, write_image
from bench.data.datasets.generated import aigciqa2023_names
from bench.data.splits import make_splits

PIPAL_REFS = ("A0001", "A0002", "A0003", "A0006")
PIPAL_GROUPS = (("00", 2), ("03", 1), ("06", 2))  # (group, distortions in it) per reference


def pipal_names(ref: str) -> list[str]:
    return [f"{ref}_{g}_{k:02d}.bmp" for g, n in PIPAL_GROUPS for k in range(n)]


def pipal_authors_tree(root: Path) -> dict[str, float]:
    """PIPAL/Train_Label/<ref>.txt ('A0001_00_00.bmp,1520.0648' lines), Train_Ref/, Distortion_1..2/."""
    rng = np.random.default_rng(0)
    elo = {}
    for i, ref in enumerate(PIPAL_REFS):
        write_image(root / "PIPAL" / "Train_Ref" / f"{ref}.bmp", rng)
        lines = []
        for name in pipal_names(ref):
            write_image(root / "PIPAL" / f"Distortion_{1 + i // 2}" / name, rng)
            elo[name] = round(float(rng.uniform(1100, 1700)), 4)
            lines.append(f"{name},{elo[name]:.4f}\n")
        (root / "PIPAL" / "Train_Label").mkdir(parents=True, exist_ok=True)
        (root / "PIPAL" / "Train_Label" / f"{ref}.txt").write_text("".join(lines))
    return elo


def test_pipal_authors_training_release(tmp_path):
    elo = pipal_authors_tree(tmp_path)
    ds = load_dataset("pipal", data_root=tmp_path)
    assert ds.dataset.layout == "official" and ds.dataset.synthetic and len(ds) == 4 * 5
    r = next(r for r in ds.records if r.id.endswith("A0003_06_01.bmp"))
    assert r.id == "Distortion_2/A0003_06_01.bmp" and r.raw_score == elo["A0003_06_01.bmp"] == r.score
    assert r.ref_id == "A0003" and r.distortion == "group 06" and r.distortion_class is None
    assert {x.distortion for x in ds.records} == {"group 00", "group 03", "group 06"}
    for split in make_splits(ds, n_splits=3, test_fraction=0.25):  # by reference: 1 of 4 references tested
        test_refs = {ds.subset(split.test).records[0].ref_id}
        assert {x.ref_id for x in ds.subset(split.test)} == test_refs
        assert not test_refs & {x.ref_id for x in ds.subset(split.train)}


def test_pipal_as_its_repository_readme_arranges_it(tmp_path):
    """PIPAL-dataset's codes/data/README.md: training/MOS_Scores_train/, training/Distortion/Distortion_k/."""
    rng = np.random.default_rng(4)
    base = tmp_path / "PIPAL" / "training"
    for i, ref in enumerate(PIPAL_REFS[:2]):
        for name in pipal_names(ref):
            write_image(base / "Distortion" / f"Distortion_{i + 1}" / name, rng)
        (base / "MOS_Scores_train").mkdir(parents=True, exist_ok=True)
        (base / "MOS_Scores_train" / f"{ref}.txt").write_text(
            "".join(f"{n},{1400 + k}.5\n" for k, n in enumerate(pipal_names(ref)))
        )
    ds = load_dataset("pipal", data_root=tmp_path)
    assert len(ds) == 10 and "training/Distortion/Distortion_2/A0002_03_00.bmp" in ds.ids
    assert {r.ref_id for r in ds.records} == {"A0001", "A0002"}


def test_pipal_label_line_without_a_score_is_an_error(tmp_path):
    pipal_authors_tree(tmp_path)
    label = tmp_path / "PIPAL" / "Train_Label" / "A0002.txt"
    label.write_text(label.read_text() + "A0002_06_02.bmp\n")
    with pytest.raises(DatasetError, match=r"A0002.txt:6: expected at least 2 fields"):
        load_dataset("pipal", data_root=tmp_path)


def test_pipal_pyiqa_meta_with_the_validation_rows(tmp_path):
    rng = np.random.default_rng(1)
    rows = []
    for ref, phase in zip(PIPAL_REFS, ("train", "train", "train", "val"), strict=True):
        for name in pipal_names(ref):
            write_image(tmp_path / "PIPAL" / ("Val_Dist" if phase == "val" else "Dist_Imgs") / name, rng)
            rows.append((f"{ref}.bmp", name, float(rng.uniform(1100, 1700)), phase))
    write_csv(
        tmp_path / "meta_info" / "meta_info_PIPALDataset.csv",
        ("hq_name", "dist_name", "elo_score", "official_split"),
        rows,
    )
    ds = load_dataset("pipal", data_root=tmp_path)
    assert ds.dataset.layout == "pyiqa" and len(ds) == 20
    assert sum(i.startswith("Val_Dist/") for i in ds.ids) == 5 and sum(i.startswith("Dist_Imgs/") for i in ds.ids) == 15
    # the validation rows are the official 'val' part; PIPAL's test labels are not public: no official split
    with pytest.raises(SplitError, match="empty train or test part"):
        make_splits(ds, split_set="official")
    assert {x.ref_id for x in ds.records} == set(PIPAL_REFS)


def aigiqa20k_tree(root: Path, test_labels: bool = True) -> None:
    rng = np.random.default_rng(2)
    folder = root / "AIGIQA-20K"
    gens = ("SD1.5", "LCM_SDXL", "SDXL_Turbo", "DALLE3", "MJ")
    for file_name, subdir, count in (
        ("info_train.csv", "train", 10),
        ("info_val.csv", "val", 5),
        ("info_test.csv", "test", 5),
    ):
        rows = []
        for k in range(count):
            name = f"{gens[k % 5]}_{k + (0 if subdir == 'train' else 100 if subdir == 'val' else 200):04d}.png"
            write_image(folder / subdir / name, rng)
            mos = f"{rng.uniform(0.1, 4.9):.10f}" if (test_labels or subdir != "test") else ""
            rows.append((name, "a cyberpunk street, highly detailed", mos))
        write_csv(folder / file_name, ("name", "prompt", "mos"), rows)


def test_aigiqa20k_release_with_its_three_sets(tmp_path):
    aigiqa20k_tree(tmp_path)
    ds = load_dataset("aigiqa-20k", data_root=tmp_path)  # an alias
    assert ds.dataset.name == "aigiqa20k" and ds.dataset.layout == "official" and len(ds) == 20
    assert not ds.dataset.synthetic and ds.dataset.raw_scale == (0.0, 5.0)
    r = next(r for r in ds.records if r.id == "train/SDXL_Turbo_0002.png")
    assert r.distortion == "SDXL_Turbo" and 0.1 <= r.score <= 4.9
    assert {x.distortion for x in ds.records} == {"SD1.5", "LCM_SDXL", "SDXL_Turbo", "DALLE3", "MJ"}
    (s,) = make_splits(ds, split_set="official")
    assert len(s.train) == 15 and len(s.test) == 5 and all(i.startswith("test/") for i in s.test)


def test_aigiqa20k_hidden_test_labels_are_left_out_and_said(tmp_path):
    aigiqa20k_tree(tmp_path, test_labels=False)
    ds = load_dataset("aigiqa20k", data_root=tmp_path)
    assert len(ds) == 15 and not any(i.startswith("test/") for i in ds.ids)
    assert any("info_test.csv carries no MOS" in n and "5 images are left out" in n for n in ds.dataset.notes)


def aigciqa2023_tree(
    root: Path, n_scores: int | None = None, variable: str = "MOSz", images: bool = True
) -> np.ndarray:
    import io

    import scipy.io
    from PIL import Image

    rng = np.random.default_rng(3)
    names = aigciqa2023_names()
    folder = root / "AIGCIQA2023"
    if images:  # 2,400 files: one small PNG's bytes written to each (separate files, so separate images)
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(buf, "PNG")
        for name in names:
            on_disk = name.replace("Lafite/", "LAFITE/")  # a folder in another case is found too
            (folder / "Image" / on_disk).parent.mkdir(parents=True, exist_ok=True)
            (folder / "Image" / on_disk).write_bytes(buf.getvalue())
    mos = rng.uniform(1.3, 3.7, (n_scores or len(names), 1))  # a column, as MATLAB saves it
    (folder / "DATA" / "MOS").mkdir(parents=True, exist_ok=True)
    for k in (1, 2, 3):
        scipy.io.savemat(folder / "DATA" / "MOS" / f"mosz{k}.mat", {variable: mos + (k - 1)})
    return mos.ravel()


def test_aigciqa2023_release_in_pic_index_order(tmp_path, capsys):
    mos = aigciqa2023_tree(tmp_path)
    ds = load_dataset("aigciqa2023", data_root=tmp_path)
    assert ds.dataset.layout == "official" and len(ds) == 2400 and not ds.dataset.synthetic
    assert ds.ids[0] == "Image/Controlnet/000-1.png" and ds.ids[-1] == "Image/Unidiffuser/099-4.png"
    k = aigciqa2023_names().index("Glide/042-3.png")
    r = ds.records[k]
    assert r.id == "Image/Glide/042-3.png" and r.raw_score == pytest.approx(mos[k]) and r.distortion == "Glide"
    assert ds.records[aigciqa2023_names().index("Lafite/007-2.png")].id == "Image/LAFITE/007-2.png"
    counts = {g: sum(x.distortion == g for x in ds.records) for g in {x.distortion for x in ds.records}}
    assert counts == dict.fromkeys(("Controlnet", "DALLE", "Glide", "Lafite", "stable-diffusion", "Unidiffuser"), 400)
    with pytest.raises(SplitError, match="defines no official split"):
        make_splits(ds, split_set="official")
    from bench.cli import main

    assert main(["data", "check", "aigciqa2023", "--data-root", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["n_images"] == 2400 and not out["problems"]


def test_aigciqa2023_wrong_mat_files_are_named(tmp_path):
    aigciqa2023_tree(tmp_path, n_scores=2399, images=False)
    with pytest.raises(DatasetError, match=r"mosz1.mat: 2399 scores, but AIGCIQA2023 has 2400 images"):
        load_dataset("aigciqa2023", data_root=tmp_path)
    aigciqa2023_tree(tmp_path / "b", variable="MOS", images=False)
    with pytest.raises(DatasetError, match=r"holds no variable MOSz \(has: MOS\)"):
        load_dataset("aigciqa2023", data_root=tmp_path / "b")


def test_data_check_compares_with_the_published_sizes(tmp_path, capsys):
    from bench.cli import main

    aigiqa20k_tree(tmp_path, test_labels=False)
    assert main(["data", "check", "aigiqa20k", "--data-root", str(tmp_path), "--json"]) in (0, 1)
    out = json.loads(capsys.readouterr().out)
    assert out["n_images"] == 15 and not out["ok"]
    assert any("published" in p and "20000" in p for p in out["problems"])
