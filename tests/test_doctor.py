"""``bench doctor`` on this machine: JSON keys, exit codes, missing datasets and weights with their fixes."""

from __future__ import annotations

import json

from bench.cli import main
from bench.data.cache_build import entry_bytes

KEYS = {
    "python",
    "versions",
    "torch",
    "cuda",
    "cuda_available",
    "gpus",
    "disk",
    "data_root",
    "datasets",
    "methods",
    "problems",
    "warnings",
    "ok",
    "exit_code",
}


def doctor(capsys, *args) -> tuple[int, dict]:
    rc = main(["doctor", "--json", *args])
    return rc, json.loads(capsys.readouterr().out)


def test_missing_weight_file_is_a_problem_with_its_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc, r = doctor(
        capsys,
        "--method",
        "mpiqe",
        "--data-root",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "runs"),
        "--weights-dir",
        str(tmp_path / "weights"),
    )
    assert KEYS <= set(r) and rc == r["exit_code"] == 1 and r["ok"] is False
    (m,) = r["methods"]
    assert m["name"] == "mpiqe" and m["runs_here"] is False
    assert [w["file"] for w in m["weights"]] == ["ViT-B-16.pt"] and m["weights"][0]["found"] is None
    (problem,) = [p for p in r["problems"] if "mpiqe" in p["what"]]
    assert "ViT-B-16.pt" in problem["what"] and "ViT-B-16.pt" in problem["fix"]


def test_all_found_exits_0(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "ViT-B-16.pt").write_bytes(b"placeholder")  # availability looks at the file only
    rc, r = doctor(
        capsys,
        "--method",
        "mpiqe,nss-svr",
        "--weights-dir",
        str(weights),
        "--data-root",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "runs"),
    )
    assert rc == 0 and r["ok"] and r["problems"] == []
    assert {m["name"]: m["runs_here"] for m in r["methods"]} == {"mpiqe": True, "nss-svr": True}
    assert r["methods"][0]["weights"][0]["found"] == str(weights / "ViT-B-16.pt")
    assert main(["doctor", "--method", "nss-svr", "--data-root", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "OK: this machine can run what it found." in out and "nss-svr" in out


def test_missing_datasets_are_reported_with_where_to_put_them(tmp_path, capsys):
    rc, r = doctor(capsys, "--method", "nss-svr", "--data-root", str(tmp_path / "data"))
    rows = {d["name"]: d for d in r["datasets"]}
    assert rows["koniq10k"]["status"] == "missing" and "--dataset-dir koniq10k=PATH" in rows["koniq10k"]["fix"]
    assert rows["demo-a"]["layout"] == "demo"
    assert any("no real dataset found" in w["what"] for w in r["warnings"])
    assert rc == 0  # absent datasets are not problems: the demo data always works


def test_gpus_and_disk_on_this_machine(tmp_path, capsys, demo_cache):
    import torch

    from bench.data.datasets import load_dataset

    load_dataset("demo-a")  # generated on first use: found from now on

    _, r = doctor(capsys, "--method", "nss-svr", "--out", str(tmp_path / "runs"))
    assert r["torch"] == torch.__version__ and r["cuda_available"] == torch.cuda.is_available()
    assert len(r["gpus"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if not torch.cuda.is_available():
        assert any("no CUDA GPU" in w["what"] for w in r["warnings"])
    for g in r["gpus"]:
        assert {"name", "memory_gib", "bf16", "capability"} <= set(g)
    disk = {d["what"].split(" ")[0]: d for d in r["disk"]}
    assert {"cache", "results", "decoded-image"} <= set(disk)
    assert all(d["free_bytes"] > 0 and d["writable"] for d in r["disk"])
    # the found datasets here are the demo sets (256x256 images): the estimate is exact for them
    found = [d for d in r["datasets"] if d["status"] == "found"]
    assert "demo-a" in {d["name"] for d in found} and all(d["layout"] == "demo" for d in found)
    assert disk["decoded-image"]["need_bytes_estimate"] == sum(d["n_images"] for d in found) * entry_bytes(256, 256)


def test_full_disk_is_a_problem(tmp_path, capsys, monkeypatch):
    import bench.cli.commands.doctor as doc

    monkeypatch.setattr(doc, "MIN_FREE_BYTES", 1 << 62)  # more than any disk has
    rc, r = doctor(capsys, "--method", "nss-svr", "--out", str(tmp_path / "runs"))
    assert rc == 1 and any("free" in p["what"] and "bigger disk" in p["fix"] for p in r["problems"])


def test_unknown_method_is_named(capsys):
    assert main(["doctor", "--method", "mpiqee"]) == 2
    assert "mpiqe" in capsys.readouterr().err
