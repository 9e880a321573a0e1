"""Custom datasets from a spec file (TOML / YAML; CSV / TSV / XLSX score tables) in tmp_path trees."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from bench.cli import main
from bench.core.errors import DatasetError
from bench.core.labels import DISTORTION_CLASSES, SCENE_CLASSES
from bench.data.datasets import load_dataset
from bench.data.datasets.custom import SpecError

BLUR, JPEG = DISTORTION_CLASSES.index("blur"), DISTORTION_CLASSES.index("jpeg compression")
HUMAN, NIGHT = SCENE_CLASSES.index("human"), SCENE_CLASSES.index("night")


def images(folder, names, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(folder / n)


def synthetic_tree(root, n_refs=5, sep=",", table="scores.csv"):
    """A synthetic set: references x (blur, jpg) x 2 levels, MOS 1-5, scene and distortion columns."""
    rng = np.random.default_rng(1)
    names, lines = [], []
    for r in range(n_refs):
        for d in ("blur", "jpg"):
            for lvl in (1, 2):
                n = f"sub/r{r}_{d}_{lvl}.png"
                names.append(n)
                scene = "people;night" if r % 2 else "people"
                lines.append(sep.join([n, f"ref{r}", f"{rng.uniform(1, 5):.4f}", d, scene]))
    images(root / "mine" / "img", names)
    header = sep.join(["file", "ref", "mos", "type", "scene"])
    (root / "mine" / table).write_text(header + "\n" + "\n".join(lines) + "\n")
    return names


SYNTH_SPEC = """
[datasets.mine]
title = "Mine"
images = "mine/img"
scores = "mine/scores.csv"
image_column = "file"
score_column = "mos"
scale = [1, 5]
orientation = "mos"
reference_column = "ref"
distortion_column = "type"
distortion_classes = { blur = "blur", jpg = "jpeg compression" }
scene_column = "scene"
scene_classes = { people = "human", night = "night" }
published_size = 20
"""


def write_spec(root, text, name="datasets.toml"):
    (root / name).write_text(text)
    return root / name


@pytest.fixture()
def synth(tmp_path):
    synthetic_tree(tmp_path)
    write_spec(tmp_path, SYNTH_SPEC)
    return tmp_path


def test_synthetic_csv_with_references_and_label_maps(synth):
    ds = load_dataset("mine", data_root=synth)
    assert len(ds) == 20 and ds.dataset.layout == "custom" and ds.dataset.synthetic
    assert ds.dataset.title == "Mine" and ds.dataset.has_distortion_labels and ds.dataset.has_scene_labels
    by_id = {r.id: r for r in ds.records}
    r = by_id["sub/r1_blur_1.png"]
    assert r.ref_id == "ref1" and r.distortion == "blur" and r.distortion_class == BLUR
    assert r.scenes == (HUMAN, NIGHT) and by_id["sub/r0_jpg_2.png"].scenes == (HUMAN,)
    assert by_id["sub/r0_jpg_2.png"].distortion_class == JPEG
    assert r.score == r.raw_score and r.path == synth / "mine" / "img" / "sub" / "r1_blur_1.png"
    # splits by reference: no reference on both sides
    from bench.data.splits import make_splits

    for s in make_splits(ds, n_splits=3):
        assert not {by_id[i].ref_id for i in s.train} & {by_id[i].ref_id for i in s.test}


def test_revision_follows_the_table_and_the_spec(synth):
    rev = load_dataset("mine", data_root=synth).dataset.revision
    spec = synth / "datasets.toml"
    spec.write_text(SYNTH_SPEC.replace('title = "Mine"', 'title = "Mine 2"'))
    os.utime(spec, (1, 1))  # a new mtime even within the file system's granularity
    rev2 = load_dataset("mine", data_root=synth).dataset.revision
    assert rev2 != rev
    table = synth / "mine" / "scores.csv"
    table.write_text(table.read_text().replace("people;night", "night"))
    assert load_dataset("mine", data_root=synth).dataset.revision not in (rev, rev2)


def test_dmos_tsv_without_references_with_std_and_explicit_spec(tmp_path):
    names = [f"{i:03d}.png" for i in range(12)]
    images(tmp_path / "pics", names)
    rows = [f"{n}\t{10 + 5 * i}\t{1 + i / 10}\t{'train' if i < 8 else 'test'}" for i, n in enumerate(names)]
    (tmp_path / "dmos.tsv").write_text("name\tDMOS\tsd\tset\n" + "\n".join(rows) + "\n")
    spec = write_spec(
        tmp_path,
        """
[datasets.auth]
images = "pics"
scores = "dmos.tsv"
image_column = "name"
score_column = "dmos"          # matched ignoring case
std_column = "sd"
split_column = "set"
scale = [0, 100]
orientation = "dmos"
""",
        "elsewhere.toml",
    )
    ds = load_dataset("auth", data_root=tmp_path / "none", dataset_specs=[spec])
    r = next(r for r in ds.records if r.id == "003.png")
    assert not ds.dataset.synthetic and r.ref_id is None and r.raw_score == 25.0 and r.score == 75.0
    assert r.std == pytest.approx(1.3) and not ds.dataset.has_distortion_labels
    from bench.data.splits import make_splits

    (official,) = make_splits(ds, split_set="official")
    assert sorted(official.test) == names[8:] and len(official.train) == 8


def test_yaml_spec_and_xlsx_table(tmp_path):
    pytest.importorskip("openpyxl")
    import pandas as pd

    names = [f"img{i}.png" for i in range(10)]
    images(tmp_path / "x", names)
    frame = pd.DataFrame({"Image": names, "MOS": np.linspace(1, 9, 10), "Scene": ["human"] * 5 + ["plant"] * 5})
    with pd.ExcelWriter(tmp_path / "s.xlsx") as xl:
        pd.DataFrame({"junk": [1]}).to_excel(xl, sheet_name="readme", index=False)
        frame.to_excel(xl, sheet_name="scores", index=False)
    write_spec(
        tmp_path,
        """
datasets:
  xl:
    images: x
    scores: s.xlsx
    sheet: scores
    image_column: Image
    score_column: MOS
    scene_column: Scene          # values are scene class names already
    scale: [1, 9]
    orientation: mos
""",
        "datasets.yaml",
    )
    ds = load_dataset("xl", data_root=tmp_path)
    assert len(ds) == 10 and ds.records[9].raw_score == 9.0
    assert ds.records[0].scenes == (HUMAN,) and ds.records[9].scenes == (SCENE_CLASSES.index("plant"),)


# --- every mistake names the file and the key or column -------------------------------------------


def _replace(old, new):
    return lambda s: s.replace(old, new)


SPEC_ERRORS = [
    ("unknown key", _replace("title =", "titel ="), ["datasets.toml", "[datasets.mine]", "'titel'", "title"]),
    ("missing key", _replace('orientation = "mos"\n', ""), ["[datasets.mine]", "missing key 'orientation'"]),
    ("bad orientation", _replace('orientation = "mos"', 'orientation = "higher"'), ["orientation", "dmos"]),
    ("bad scale", _replace("scale = [1, 5]", "scale = [5, 1]"), ["scale", "min < max"]),
    ("scale too small", _replace("scale = [1, 5]", "scale = [1, 3]"), ["scores.csv", "outside scale", "scale"]),
    (
        "missing column",
        _replace('score_column = "mos"', 'score_column = "score"'),
        ["score_column = 'score'", "scores.csv", "'mos'"],
    ),
    ("folder missing", _replace('images = "mine/img"', 'images = "mine/imgs"'), ["images", "mine/imgs", "not found"]),
    ("table missing", _replace('scores = "mine/scores.csv"', 'scores = "mine/s.csv"'), ["scores", "mine/s.csv"]),
    (
        "bad class",
        _replace('jpg = "jpeg compression"', 'jpg = "jpeg"'),
        ["distortion_classes", "'jpeg'", "not a class"],
    ),
    ("unmapped value", _replace(', jpg = "jpeg compression"', ""), ["distortion_classes", "'type'", "'jpg'"]),
    ("unmapped scene", _replace(', night = "night"', ""), ["scene_classes", "'scene'", "'night'"]),
    ("built-in name", _replace("[datasets.mine]", "[datasets.live]"), ["[datasets.live]", "built-in"]),
    ("bad name", _replace("[datasets.mine]", '[datasets."My Set"]'), ["My Set", "lower-case"]),
    ("map without column", _replace('distortion_column = "type"\n', ""), ["distortion_classes", "distortion_column"]),
    ("not toml", lambda s: s + "\nthis is not toml\n", ["datasets.toml", "not valid TOML"]),
    ("top level", lambda s: "name = 1\n" + s, ["datasets.toml", "'name'"]),
]


@pytest.mark.parametrize("what, edit, expected", SPEC_ERRORS, ids=[e[0] for e in SPEC_ERRORS])
def test_spec_errors_name_the_file_and_key(synth, what, edit, expected):
    write_spec(synth, edit(SYNTH_SPEC))
    with pytest.raises(SpecError) as err:
        load_dataset("mine", data_root=synth)
    for text in expected:
        assert text in str(err.value), (what, str(err.value))


def _score_na(table: str) -> str:
    lines = table.splitlines(keepends=True)
    parts = lines[3].split(",")
    parts[2] = "n/a"
    lines[3] = ",".join(parts)
    return "".join(lines)


TABLE_ERRORS = [
    ("score not numeric", _score_na, ["scores.csv, line 4", "score column 'mos'", "'n/a'", "not a number"]),
    ("empty reference", lambda t: t.replace(",ref3,", ",,", 1), ["reference column 'ref'", "line"]),
    ("duplicate image", lambda t: t + t.splitlines()[1] + "\n", ["listed twice"]),
]


@pytest.mark.parametrize("what, edit, expected", TABLE_ERRORS, ids=[e[0] for e in TABLE_ERRORS])
def test_table_errors_name_the_table_row_and_column(synth, what, edit, expected):
    table = synth / "mine" / "scores.csv"
    table.write_text(edit(table.read_text()))
    with pytest.raises(DatasetError) as err:
        load_dataset("mine", data_root=synth)
    for text in expected:
        assert text in str(err.value), (what, str(err.value))


def test_missing_image_and_skip_corrupt(synth):
    (synth / "mine" / "img" / "sub" / "r0_blur_1.png").unlink()
    with pytest.raises(DatasetError, match="1 of 20 images missing"):
        load_dataset("mine", data_root=synth)
    assert len(load_dataset("mine", data_root=synth, skip_corrupt=True)) == 19


def test_name_declared_in_two_files(synth, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    spec = write_spec(other, SYNTH_SPEC.replace('"mine/', f'"{synth}/mine/'))
    with pytest.raises(SpecError, match="declared twice"):
        load_dataset("mine", data_root=synth, dataset_specs=[spec])


def test_missing_sheet_is_named(tmp_path):
    pytest.importorskip("openpyxl")
    import pandas as pd

    images(tmp_path / "x", ["a.png"])
    pd.DataFrame({"f": ["a.png"], "m": [1.0]}).to_excel(tmp_path / "s.xlsx", sheet_name="one", index=False)
    write_spec(
        tmp_path,
        '[datasets.xl]\nimages = "x"\nscores = "s.xlsx"\nsheet = "two"\nimage_column = "f"\n'
        'score_column = "m"\nscale = [0, 1]\norientation = "mos"\n',
    )
    with pytest.raises(DatasetError, match=r"sheet = 'two' does not exist; sheets: 'one'"):
        load_dataset("xl", data_root=tmp_path)


# --- everywhere a built-in dataset is ---------------------------------------------------------------


def cli(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_custom_dataset_through_bench_data_and_an_intra_cell(synth, tmp_path_factory, capsys):
    root = str(synth)
    rc, out, _ = cli(capsys, "data", "list", "--data-root", root, "--json")
    row = {r["name"]: r for r in json.loads(out)}["mine"]
    assert rc == 0 and row["status"] == "found" and row["layout"] == "custom" and row["n_images"] == 20
    rc, out, _ = cli(capsys, "data", "check", "mine", "--data-root", root, "--deep", "--json")
    d = json.loads(out)
    assert rc == 0 and d["ok"] and d["label_coverage"] == {"scene": 1.0, "distortion": 1.0}
    rc, out, _ = cli(capsys, "data", "describe", "mine", "--data-root", root, "--json")
    d = json.loads(out)
    assert rc == 0 and d["n_references"] == 5 and d["layout"] == "custom"
    rc, out, _ = cli(capsys, "data", "splits", "mine", "--data-root", root, "--n-splits", "2")
    assert rc == 0 and "2 splits" in out and "train 16 test 4" in out
    rc, _, err = cli(capsys, "data", "check", "mien", "--data-root", root)
    assert rc == 2 and "Did you mean: mine" in err

    runs = tmp_path_factory.mktemp("runs")
    rc, out, err = cli(
        capsys,
        "run",
        "--protocol",
        "intra",
        "--method",
        "nss-svr",
        "--datasets",
        "mine",
        "--data-root",
        root,
        "--splits",
        "1",
        "--preset",
        "ci",
        "--out",
        str(runs),
        "--no-progress",
    )
    assert rc == 0, err
    from bench.results.store import ResultStore

    (rec,) = list(ResultStore(runs).iter_results())
    assert (
        rec["train_dataset"] == "mine"
        and rec["n_test"] == 4
        and rec["test_revision"] == load_dataset("mine", data_root=synth).dataset.revision
    )
