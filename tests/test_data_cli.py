"""`python -m bench data ...` end to end (in-process through bench.cli.main, plus one real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.data.datasets.fixtures import write_fixture

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    rc = main(["data", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_list_found_and_missing(tmp_path, capsys):
    write_fixture(tmp_path, "live")
    write_fixture(tmp_path, "kadid10k")
    (tmp_path / "kadid10k" / "images" / "I01_01_01.png").unlink()
    rc, out, _ = run(capsys, "list", "--data-root", str(tmp_path), "--json")
    assert rc == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["live"]["status"] == "found" and rows["live"]["n_images"] == 24 and rows["live"]["layout"] == "pyiqa"
    assert rows["kadid10k"]["status"] == "incomplete" and "1 of 24 images missing" in rows["kadid10k"]["problem"]
    assert rows["csiq"]["status"] == "missing" and rows["csiq"]["published"] == 866
    rc, out, _ = run(capsys, "list", "--data-root", str(tmp_path))
    assert "live" in out and "missing" in out


def test_check_reports_count_mismatch_and_errors(tmp_path, capsys):
    write_fixture(tmp_path, "csiq")
    rc, out, _ = run(capsys, "check", "csiq", "--data-root", str(tmp_path), "--deep", "--json")
    d = json.loads(out)
    assert rc == 1 and not d["ok"] and "866" in d["problems"][0] and d["images_decoded"]
    assert d["label_coverage"] == {"scene": 1.0, "distortion": 1.0}
    (tmp_path / "CSIQ" / "dst_imgs" / "caps.JPEG.2.png").write_bytes(b"junk")
    rc, out, err = run(capsys, "check", "csiq", "--data-root", str(tmp_path), "--deep")
    assert rc == 2 and "caps.JPEG.2.png: does not decode" in err and "--skip-corrupt" in err
    rc, out, err = run(capsys, "check", "csiq", "--data-root", str(tmp_path), "--deep", "--skip-corrupt")
    assert rc == 1 and "excluded 1" in out
    rc, _, err = run(capsys, "check", "csiqq")
    assert rc == 2 and "Did you mean: csiq" in err


def test_describe_json(tmp_path, capsys):
    write_fixture(tmp_path, "live")
    rc, out, _ = run(capsys, "describe", "live", "--data-root", str(tmp_path), "--json")
    d = json.loads(out)
    assert rc == 0 and d["name"] == "live" and d["layout"] == "pyiqa" and d["n_images"] == 24
    assert d["n_references"] == 4 and d["higher_is_better"] and not d["raw_higher_is_better"]
    lo, hi = d["score_range"]
    assert 0 <= lo < hi <= 100 and d["label_coverage"]["scene"] == 1.0 and len(d["revision"]) == 16


def test_describe_demo_says_synthetic(capsys):
    rc, out, _ = run(capsys, "describe", "demo-a")
    assert rc == 0 and "NOT human-rated" in out


def test_splits_json(tmp_path, capsys):
    write_fixture(tmp_path, "kadid10k")
    rc, out, _ = run(
        capsys,
        "splits",
        "kadid10k",
        "--data-root",
        str(tmp_path),
        "--protocol",
        "efficiency",
        "--n-splits",
        "2",
        "--fractions",
        "0.2,0.4",
        "--test-fraction",
        "0.25",
        "--json",
    )
    splits = json.loads(out)
    assert rc == 0 and len(splits) == 4
    assert set(splits[0]) == {"index", "seed", "fraction", "hash", "train", "test"}
    assert [s["fraction"] for s in splits] == [0.2, 0.4, 0.2, 0.4]
    assert set(splits[0]["train"]) < set(splits[1]["train"]) and splits[0]["test"] == splits[1]["test"]
    rc, out, _ = run(capsys, "splits", "kadid10k", "--data-root", str(tmp_path), "--json", "--n-splits", "3")
    intra = json.loads(out)
    assert len(intra) == 3 and "fraction" not in intra[0]
    rc, _, err = run(
        capsys, "splits", "kadid10k", "--data-root", str(tmp_path), "--fractions", "a,b", "--protocol", "efficiency"
    )
    assert rc == 2 and "--fractions" in err
    rc, _, err = run(capsys, "splits", "kadid10k", "--data-root", str(tmp_path), "--split-set", "liqee")
    assert rc == 2 and "Did you mean: liqe" in err


def test_dataset_dir_flag(tmp_path, capsys):
    write_fixture(tmp_path, "livec")
    rc, _, err = run(capsys, "describe", "livec", "--dataset-dir", "livec")
    assert rc == 2 and "NAME=PATH" in err
    rc, out, _ = run(
        capsys,
        "describe",
        "livec",
        "--data-root",
        str(tmp_path),
        "--dataset-dir",
        f"clive={tmp_path / 'LIVEC'}",
        "--json",
    )
    assert rc == 0 and json.loads(out)["n_images"] == 13


def test_fetch_fails_fast_offline(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    t = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "bench", "data", "fetch", "koniq10k", "--data-root", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 2 and "offline" in out.stderr and "Traceback" not in out.stderr
    assert time.monotonic() - t < 30
    assert not any(tmp_path.iterdir())


def test_fetch_refuses_unreachable_hub(monkeypatch, tmp_path):
    from bench.data.datasets import fetch as f

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(f, "HUB_HOST", "hub.invalid")  # RFC 2606: never resolves
    with pytest.raises(f.FetchError, match="unreachable"):
        f.fetch("live", tmp_path, timeout=2.0)
    with pytest.raises(f.FetchError, match="not in pyiqa's dataset hub"):
        f.fetch("bid", tmp_path)


def test_shared_data_flags(tmp_path):
    import argparse

    from bench.data.datasets import add_data_args, data_kwargs, load_dataset

    write_fixture(tmp_path, "live")
    p = argparse.ArgumentParser()
    add_data_args(p)
    args = p.parse_args(
        [
            "--data-root",
            str(tmp_path / "nowhere"),
            "--dataset-dir",
            f"live={tmp_path / 'LIVEIQA_release2'}",
            "--labels",
            str(tmp_path / "liqe"),
            "--skip-corrupt",
        ]
    )
    kw = data_kwargs(args)
    assert kw["skip_corrupt"] and kw["dataset_dirs"] == {"live": tmp_path / "LIVEIQA_release2"}
    # the meta CSV is not under the (wrong) data root but next to the dataset folder: still found
    ds = load_dataset("live", **kw)
    assert len(ds) == 24 and ds.dataset.has_scene_labels
    with pytest.raises(Exception, match="unknown dataset 'lve'"):
        data_kwargs(p.parse_args(["--dataset-dir", "lve=/x"]))
