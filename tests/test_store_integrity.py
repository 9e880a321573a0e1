"""Issue 24 items 4 and 6: a tamper-evident results store and decoded-image cache; `results export` names
the file of a record it cannot use."""

from __future__ import annotations

import csv
import hashlib
import json
import re

import numpy as np
import pytest

from bench.cli import main
from bench.results.store import ResultStore

RUN = [
    "run",
    "--protocol",
    "intra",
    "--method",
    "noop",
    "--data",
    "demo",
    "--datasets",
    "demo-a",
    "--splits",
    "1",
    "--no-progress",
]


@pytest.fixture()
def runs(tmp_path, demo_cache):
    out = tmp_path / "runs"
    assert main(RUN + ["--out", str(out)]) == 0
    (key,) = ResultStore(out).done_keys()
    return out, key


def cell_file(out, key):
    return ResultStore(out).cell_path(key)


def edit_json(path, change):
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record, indent=1))


def report(out, tmp_path, capsys):
    code = main(["report", "--runs", str(out), "--out", "-", "--format", "md", "--views", "none"])
    return code, capsys.readouterr()


def export(out, tmp_path, capsys, name="t.csv"):
    code = main(["results", "export", "--runs", str(out), "--to", str(tmp_path / name)])
    return code, capsys.readouterr()


def test_a_finished_cell_records_the_hashes_of_its_predictions_and_metrics(runs):
    out, key = runs
    store = ResultStore(out)
    record = store.load(key)
    assert record["schema"] == 3
    digest = hashlib.sha256(store.preds_path(key).read_bytes()).hexdigest()
    assert record["integrity"]["preds_sha256"] == digest
    canon = json.dumps(record["metrics"], sort_keys=True, separators=(",", ":")).encode()
    assert record["integrity"]["metrics_sha256"] == hashlib.sha256(canon).hexdigest()
    body = {k: v for k, v in record.items() if k != "integrity"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert record["integrity"]["record_sha256"] == hashlib.sha256(canon).hexdigest()


def _edit_metrics(out, key):
    edit_json(cell_file(out, key), lambda r: r["metrics"].update(srcc=0.810))


def _edit_predictions(out, key):
    path = ResultStore(out).preds_path(key)
    rows = list(csv.reader(path.read_text().splitlines()))
    rows[1][2] = "0.999"
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")


@pytest.mark.parametrize(
    "edit, what",
    [
        (_edit_metrics, "metrics block does not match"),
        (_edit_predictions, "predictions file .*preds.csv does not match"),
    ],
)
def test_an_edited_cell_is_refused_by_report_and_export_and_recomputed_on_resume(runs, tmp_path, capsys, edit, what):
    out, key = runs
    before = json.loads(cell_file(out, key).read_text())["metrics"]
    capsys.readouterr()
    edit(out, key)
    code, cap = report(out, tmp_path, capsys)
    assert code == 2 and str(cell_file(out, key)) in cap.err
    assert re.search(what, cap.err)
    code, cap = export(out, tmp_path, capsys)
    assert code == 2 and str(cell_file(out, key)) in cap.err and not (tmp_path / "t.csv").exists()
    assert main(RUN + ["--out", str(out), "--dry-run"]) == 0
    assert "damaged" in capsys.readouterr().out
    assert main(RUN + ["--out", str(out)]) == 0  # resume: recomputed, not trusted
    assert "damaged, not counted as done" in capsys.readouterr().err
    assert json.loads(cell_file(out, key).read_text())["metrics"] == before
    assert report(out, tmp_path, capsys)[0] == 0


def test_a_record_written_before_the_hashes_is_read_and_marked_unverified(runs, tmp_path, capsys):
    out, key = runs
    edit_json(cell_file(out, key), lambda r: (r.pop("integrity"), r.update(schema=1)))
    code, cap = report(out, tmp_path, capsys)
    assert code == 0 and "1 of 1 cell(s) were written before the store recorded integrity hashes" in cap.out
    assert export(out, tmp_path, capsys)[0] == 0
    (row,) = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert row["integrity"] == "unverified"
    mtime = cell_file(out, key).stat().st_mtime_ns
    assert main(RUN + ["--out", str(out)]) == 0  # resume keeps it: nothing to recompute
    assert cell_file(out, key).stat().st_mtime_ns == mtime


@pytest.mark.parametrize("field", ["metrics", "params", "test_dataset"])
def test_export_names_the_file_of_a_record_missing_a_field(runs, tmp_path, capsys, field):
    out, key = runs
    edit_json(cell_file(out, key), lambda r: r.pop(field))
    code, cap = export(out, tmp_path, capsys)
    assert code == 2 and "Traceback" not in cap.err
    assert f"{cell_file(out, key)} lacks field(s) ['{field}']" in cap.err


def test_a_junk_record_is_named_by_its_file(runs, tmp_path, capsys):
    out, key = runs
    cell_file(out, key).write_text("[1, 2]\n")
    code, cap = export(out, tmp_path, capsys)
    assert code == 2 and f"{cell_file(out, key)} is not a cell record" in cap.err
    code, cap = report(out, tmp_path, capsys)
    assert code == 2 and f"result {cell_file(out, key)} is not a cell record" in cap.err
    cell_file(out, key).write_text(json.dumps({"key": key, "status": "done"}))
    code, cap = report(out, tmp_path, capsys)
    assert code == 2 and f"result {cell_file(out, key)} lacks field(s)" in cap.err and "result ?" not in cap.err


def test_image_cache_entry_with_zeroed_pixels_is_rebuilt(tmp_path):
    from PIL import Image

    from bench.data.image_cache import ImageCache, file_digest
    from bench.data.images import decode_rgb

    path = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(path)
    ImageCache(tmp_path / "c").pixels(path)
    entry = ImageCache(tmp_path / "c").entry_path(file_digest(path), ())
    data = bytearray(entry.read_bytes())
    arr = np.load(entry, mmap_mode="r")
    start = arr.offset
    del arr
    data[start : start + 40 * 50 * 3] = bytes(40 * 50 * 3)  # pixels zeroed, the file size unchanged
    entry.write_bytes(bytes(data))
    fresh = ImageCache(tmp_path / "c")  # as a new process would: nothing memoised
    from bench.data import image_cache

    image_cache._VERIFIED.clear()
    assert np.array_equal(fresh.pixels(path), decode_rgb(path))
    assert fresh.stats["rebuilt_bad"] == 1 and fresh.stats["builds"] == 1
    again = ImageCache(tmp_path / "c")
    image_cache._VERIFIED.clear()
    assert np.array_equal(again.pixels(path), decode_rgb(path)) and again.stats["hits"] == 1
