"""Issue 32 items 8 and 10 and the minor items: a BENCH_CACHE that is a file, a newline in a string --param in
Markdown, --cpu-threads bounded, `bench doctor` without the internal noop, scripts/synthetic-store records that
`results export` accepts, and a study plan that counts a repeated method or seed once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.data.pipeline import available_cores
from bench.run.jobs import OVERSUBSCRIBE

ROOT = Path(__file__).resolve().parents[1]
RUN = ["run", "--protocol", "intra", "--method", "noop", "--data", "demo", "--datasets", "demo-a", "--splits", "1"]


@pytest.mark.parametrize("below", [False, True])
def test_a_bench_cache_that_is_a_file_is_a_clear_error(tmp_path, capsys, monkeypatch, below):
    blocker = tmp_path / "cache.txt"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BENCH_CACHE", str(blocker / "sub" if below else blocker))
    assert main([*RUN, "--no-progress", "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "NotADirectoryError" not in err
    assert (
        "lies under the file" if below else "is a file, not a folder"
    ) in err and "set BENCH_CACHE to a folder" in err


def test_a_newline_in_a_string_param_keeps_the_markdown_row(tmp_path, capsys, demo_cache):
    out = tmp_path / "runs"
    for value in ("two\nlines", "one line"):  # two configurations: the row labels show fail_on
        assert main([*RUN, "--no-progress", "--out", str(out), "--param", f"noop.fail_on={value}"]) == 0
    capsys.readouterr()
    assert main(["report", "--runs", str(out), "--out", "-", "--format", "md", "--views", "none"]) == 0
    text = capsys.readouterr().out
    table = text[text.index("**Table 1.**") :].split("\n\n")[1].splitlines()
    assert all(line.startswith("|") and line.endswith("|") for line in table), table
    assert len(table) == 5  # header, rule, metric row, one row per configuration
    assert any(r"fail\_on=two\nlines" in line for line in table)


def test_cpu_threads_is_bounded(tmp_path, capsys):
    limit = OVERSUBSCRIBE * available_cores()
    with pytest.raises(SystemExit):
        main([*RUN, "--cpu-threads", "100000", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert f"--cpu-threads 100000 is more than {OVERSUBSCRIBE}x the" in err and f"give at most {limit}" in err
    assert main([*RUN, "--cpu-threads", str(limit), "--out", str(tmp_path / "runs"), "--dry-run"]) == 0


def test_doctor_does_not_offer_the_internal_test_method(capsys):
    main(["doctor", "--json"])
    names = [m["name"] for m in json.loads(capsys.readouterr().out)["methods"]]
    assert "noop" not in names and "nss-svr" in names
    main(["doctor", "--json", "--method", "noop"])  # named: shown
    assert [m["name"] for m in json.loads(capsys.readouterr().out)["methods"]] == ["noop"]


def test_the_synthetic_store_script_writes_records_export_accepts(tmp_path, demo_cache):
    out = tmp_path / "syn"
    done = subprocess.run([sys.executable, "scripts/synthetic-store", "20", str(out)], cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert main(["results", "export", "--runs", str(out), "--to", str(tmp_path / "t.csv")]) == 0
    rows = (tmp_path / "t.csv").read_text().splitlines()
    assert len(rows) == 21 and all(r.endswith(",verified") for r in rows[1:])


def test_a_study_listing_a_method_and_a_seed_twice_counts_each_cell_once(tmp_path, capsys):
    study = tmp_path / "rep.toml"
    study.write_text(
        '[study]\nname = "rep"\ntitle = "repeated"\n\n[[experiment]]\nname = "e"\nprotocol = "intra"\n'
        'methods = ["noop", "noop"]\nseeds = [0, 0]\nsplits = 2\ndatasets = ["demo-a"]\n'
    )
    assert main(["study", "plan", str(study), "--data", "demo", "--out", str(tmp_path / "runs"), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    (exp,) = plan["experiments"]
    assert exp["cells"] == exp["planned"] == plan["total"]["cells"] == 4  # 2 demo datasets x 2 splits, once each
    assert exp["repeated"] == "methods list noop 2 times; seeds list 0 2 times"
