"""Issue 32 items 3 and 4, and the schema-2 reading: the integrity hash covers every field that decides or labels
a reported number, a record's key must be its file name's wherever it is read (report, export, run), and older
records are read with a status that says what was verified."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from bench.cli import main
from bench.results.store import ResultStore
from tests.test_store_integrity import RUN, cell_file, edit_json, export, report


@pytest.fixture()
def two_cells(tmp_path, demo_cache):
    """Two finished noop cells (splits 0 and 1) of one run."""
    out = tmp_path / "runs"
    run = [a if a != "1" else "2" for a in RUN]  # --splits 2
    assert main(run + ["--out", str(out)]) == 0
    keys = sorted(ResultStore(out).done_keys())
    assert len(keys) == 2
    return out, keys, run


def _refused_everywhere(out, key, run, tmp_path, capsys, why):
    """report and export refuse naming the file and why; a dry run calls it damaged; a resume recomputes it."""
    capsys.readouterr()
    code, cap = report(out, tmp_path, capsys)
    assert code == 2 and str(cell_file(out, key)) in cap.err and why in cap.err, cap.err
    assert "Traceback" not in cap.err
    code, cap = export(out, tmp_path, capsys)
    assert code == 2 and str(cell_file(out, key)) in cap.err and not (tmp_path / "t.csv").exists()
    assert main(run + ["--out", str(out), "--dry-run"]) == 0
    assert "damaged" in capsys.readouterr().out
    assert main(run + ["--out", str(out)]) == 0
    assert "damaged, not counted as done" in capsys.readouterr().err
    assert report(out, tmp_path, capsys)[0] == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("method", "mpiqe"),
        ("test_revision", "0123456789"),
        ("split_index", 7),
        ("params", {"sleep_s": 1.0}),
        ("notes", ["a note added by hand"]),
    ],
)
def test_editing_any_field_of_a_finished_cell_fails_its_integrity_check(two_cells, tmp_path, capsys, field, value):
    out, (key, _), run = two_cells
    before = ResultStore(out).load(key)
    assert before.get(field) != value
    edit_json(cell_file(out, key), lambda r: r.update({field: value}))
    _refused_everywhere(out, key, run, tmp_path, capsys, "do not match the hash")
    assert ResultStore(out).load(key)[field] == before[field]  # recomputed: the cell's own value again


def test_a_record_copied_to_another_keys_file_is_refused_not_counted_twice(two_cells, tmp_path, capsys):
    out, (a, b), run = two_cells
    store = ResultStore(out)
    fake = "ff" + a[2:]  # a key of no planned cell: export would list the cell twice
    shutil.copy(
        store.cell_path(a), store.cell_path(fake).parent.mkdir(parents=True, exist_ok=True) or store.cell_path(fake)
    )
    shutil.copy(store.preds_path(a), store.preds_path(fake))
    capsys.readouterr()
    code, cap = export(out, tmp_path, capsys)
    assert code == 2 and str(store.cell_path(fake)) in cap.err and "is not its file name's" in cap.err
    code, cap = report(out, tmp_path, capsys)
    assert code == 2 and str(store.cell_path(fake)) in cap.err
    store.cell_path(fake).unlink()
    store.preds_path(fake).unlink()
    # copied over a real cell: refused (before: the report dropped that split as 'superseded by newer ones')
    shutil.copy(store.cell_path(a), store.cell_path(b))
    shutil.copy(store.preds_path(a), store.preds_path(b))
    _refused_everywhere(out, b, run, tmp_path, capsys, "is not its file name's")
    assert store.load(b)["key"] == b


def test_a_schema2_record_is_read_as_partially_verified(two_cells, tmp_path, capsys):
    out, (key, _), run = two_cells
    edit_json(cell_file(out, key), lambda r: (r["integrity"].pop("record_sha256"), r.update(schema=2)))
    code, cap = report(out, tmp_path, capsys)
    assert code == 0 and "1 of 2 cell(s) are schema-2 records" in cap.out
    assert export(out, tmp_path, capsys)[0] == 0
    rows = {r["key"]: r["integrity"] for r in csv.DictReader((tmp_path / "t.csv").open())}
    assert sorted(rows.values()) == ["partial", "verified"] and rows[key] == "partial"
    mtime = cell_file(out, key).stat().st_mtime_ns
    assert main(run + ["--out", str(out)]) == 0  # resume keeps it: its metrics and predictions verify
    assert cell_file(out, key).stat().st_mtime_ns == mtime
    # its metrics are still checked
    edit_json(cell_file(out, key), lambda r: r["metrics"].update(srcc=0.9))
    assert report(out, tmp_path, capsys)[0] == 2


@pytest.mark.parametrize("schema", [2, 3])
def test_a_hashed_schema_record_stripped_of_its_integrity_block_is_damaged_not_unverified(
    two_cells, tmp_path, capsys, schema
):
    out, (key, _), run = two_cells
    edit_json(cell_file(out, key), lambda r: (r.pop("integrity"), r.update(schema=schema)))
    _refused_everywhere(out, key, run, tmp_path, capsys, f"no 'integrity' block, which every schema-{schema}")
    assert json.loads(cell_file(out, key).read_text())["integrity"]["record_sha256"]
