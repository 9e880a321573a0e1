"""Issue 24 items 1 and 5: one id per image file, whatever the spelling; no path out of the image folder."""

from __future__ import annotations

import os

import pytest

from bench.cli import main
from bench.core.errors import DatasetError
from bench.data.datasets import load_dataset
from bench.data.datasets.custom import SpecError
from bench.data.datasets.ids import BadId, normalise_id
from tests.test_data_custom import images, write_spec

SPEC = """
[datasets.mine]
images = "mine/img"
scores = "mine/scores.csv"
image_column = "file"
score_column = "mos"
scale = [1, 5]
orientation = "mos"
"""


def tree(root, lines, names=("100.bmp", "146.bmp", "sub/7.png")):
    images(root / "mine" / "img", names)
    (root / "mine" / "scores.csv").write_text("file,mos\n" + "\n".join(lines) + "\n")
    write_spec(root, SPEC)
    return root


@pytest.mark.parametrize(
    "written, canonical",
    [
        ("100.bmp", "100.bmp"),
        ("./100.bmp", "100.bmp"),
        ("x/../100.bmp", "100.bmp"),
        ("sub//7.png", "sub/7.png"),
        ("sub\\7.png", "sub/7.png"),
        ("sub/./7.png", "sub/7.png"),
    ],
)
def test_spellings_normalise_to_one_id(written, canonical):
    assert normalise_id(written) == canonical


@pytest.mark.parametrize(
    "written, why",
    [
        ("/etc/passwd", "absolute"),
        ("C:/x.bmp", "absolute"),
        ("../x.bmp", "climbs out"),
        ("a/../../x.bmp", "climbs out"),
        (".", "folder itself"),
    ],
)
def test_bad_ids_are_refused(written, why):
    with pytest.raises(BadId, match=why):
        normalise_id(written)


@pytest.mark.parametrize("second", ["./100.bmp", "x/../100.bmp", "100.bmp"])
def test_one_image_under_two_spellings_names_both_lines(tmp_path, second):
    tree(tmp_path, ["100.bmp,3", "146.bmp,2", f"{second},4"])
    with pytest.raises(DatasetError, match=r"line 4: image '100\.bmp' is listed twice \(first at .*line 2"):
        load_dataset("mine", data_root=tmp_path)


def test_ids_are_stored_canonical(tmp_path):
    tree(tmp_path, ["./100.bmp,3", "x/../146.bmp,2", "sub//7.png,4"])
    ds = load_dataset("mine", data_root=tmp_path)
    assert sorted(ds.ids) == ["100.bmp", "146.bmp", "sub/7.png"]
    assert all(r.path == tmp_path / "mine" / "img" / r.id for r in ds.records)


def test_a_link_to_an_image_listed_too_is_one_image(tmp_path):
    tree(tmp_path, ["100.bmp,3", "146.bmp,2", "alias.bmp,4"])
    os.symlink("100.bmp", tmp_path / "mine" / "img" / "alias.bmp")
    with pytest.raises(DatasetError, match=r"line 4: image 'alias\.bmp' is the same file as '100\.bmp' at .*line 2"):
        load_dataset("mine", data_root=tmp_path)


def test_data_check_deep_refuses_the_duplicate(tmp_path, capsys):
    tree(tmp_path, ["100.bmp,3", "146.bmp,2", "./100.bmp,4"])
    assert main(["data", "check", "mine", "--deep", "--data-root", str(tmp_path)]) != 0
    assert "listed twice" in capsys.readouterr().err


@pytest.mark.parametrize(
    "written, why",
    [
        ("../outside.bmp", "climbs out of the image folder"),
        ("sub/../../outside.bmp", "climbs out of the image folder"),
        ("/abs/100.bmp", "is an absolute path"),
    ],
)
def test_custom_paths_outside_the_folder_are_spec_errors(tmp_path, written, why):
    tree(tmp_path, ["100.bmp,3", f"{written},2"])
    images(tmp_path / "mine", ["outside.bmp"])  # exists: the old code read it
    with pytest.raises(SpecError, match=rf"line 3: image '{written}' in column 'file' {why}"):
        load_dataset("mine", data_root=tmp_path)
