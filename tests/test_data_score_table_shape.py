"""Issue 32 item 1 and minor items: a score table whose rows do not have the header's shape, a negative std and
a repeated column name are refused with the line, the counts and the likely cause -- never read shifted."""

from __future__ import annotations

import pytest

from bench.cli import main
from bench.core.errors import DatasetError
from bench.data.datasets import load_dataset
from tests.test_data_custom import images, write_spec

SPEC = """
[datasets.mine]
images = "img"
scores = "{table}"
image_column = "file"
score_column = "mos"
std_column = "sd"
scale = [1, 5]
orientation = "mos"
"""


def tree(tmp_path, lines, table="scores.csv", header="file,mos,sd"):
    names = [f"{i:02d}.bmp" for i in range(12)]
    images(tmp_path / "img", names)
    rows = [f"{n},{1 + i / 4:.2f},0.{i + 1}" for i, n in enumerate(names)]
    rows[10:10] = lines  # the odd rows sit after ten good ones
    (tmp_path / table).write_text(header + "\n" + "\n".join(rows[:12]) + "\n")
    write_spec(tmp_path, SPEC.format(table=table))
    return tmp_path


def test_a_decimal_comma_is_refused_naming_the_line_the_counts_and_the_cause(tmp_path, capsys):
    root = tree(tmp_path, ["10.bmp,3,5,0.5"])  # 3,5 meant 3.5: read before as score 3.0 and std 5.0
    with pytest.raises(DatasetError) as err:
        load_dataset("mine", data_root=root)
    msg = str(err.value)
    assert "scores.csv, line 12: 4 field(s) where the header has 3 columns" in msg
    assert "A decimal comma? '3,5' reads as two fields" in msg and "3.5" in msg
    # the CLI prints it without a traceback
    assert main(["data", "check", "mine", "--data-root", str(root)]) == 2
    cap = capsys.readouterr()
    assert "decimal comma" in cap.err and "Traceback" not in cap.err


def test_a_row_with_more_fields_is_refused_even_without_numbers(tmp_path):
    root = tree(tmp_path, ["10.bmp,3.5,0.5,extra"])
    with pytest.raises(DatasetError, match=r"line 12: 4 field\(s\) where the header has 3 columns.*separator"):
        load_dataset("mine", data_root=root)


def test_a_row_with_fewer_fields_still_names_the_line(tmp_path):
    root = tree(tmp_path, ["10.bmp,3.5"])
    with pytest.raises(DatasetError, match=r"line 12: 2 field\(s\) where the header has 3 columns"):
        load_dataset("mine", data_root=root)


def test_a_negative_std_is_refused(tmp_path):
    root = tree(tmp_path, ["10.bmp,3.5,-0.5"])
    with pytest.raises(DatasetError, match=r"std column 'sd' holds '-0.5'.*cannot be negative"):
        load_dataset("mine", data_root=root)


@pytest.mark.parametrize("header", ["file,mos,mos", "file,mos,MOS"])
def test_a_repeated_column_name_is_refused(tmp_path, header):
    root = tree(tmp_path, [], header=header)
    with pytest.raises(DatasetError, match=r"columns 2 and 3 are both named 'mos'"):
        load_dataset("mine", data_root=root)


def test_a_repeated_column_name_in_a_workbook_is_refused(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("openpyxl")
    names = [f"{i:02d}.bmp" for i in range(4)]
    images(tmp_path / "img", names)
    frame = pd.DataFrame([[n, 1.0 + i, 0.5, 0.7] for i, n in enumerate(names)], columns=["file", "mos", "sd", "sd"])
    frame.to_excel(tmp_path / "s.xlsx", index=False)  # pandas reads it back as sd, sd.1
    write_spec(tmp_path, SPEC.format(table="s.xlsx"))
    with pytest.raises(DatasetError, match=r"s.xlsx \(sheet 'Sheet1'\): columns 3 and 4 are both named 'sd'"):
        load_dataset("mine", data_root=tmp_path)
