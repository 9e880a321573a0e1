"""``bench perf --pipeline`` on the tiny config: JSON keys, the cache it builds, the verdict."""

from __future__ import annotations

import json

from bench.cli import main
from bench.data.cache_build import entry_bytes


def test_pipeline_json_on_the_tiny_config(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_IMAGE_CACHE", str(tmp_path / "unused"))  # perf builds its own temporary cache
    rc = main(
        [
            "perf",
            "--pipeline",
            "--backbone",
            "biqa-tiny-vit",
            "--batch",
            "16",
            "--n-images",
            "4",
            "--num-workers",
            "0,1",
            "--repeats",
            "1",
            "--passes",
            "1",
            "--json",
        ]
    )
    r = json.loads(capsys.readouterr().out)
    assert rc == 0
    for key in (
        "loader_uncached_crops_per_s",
        "loader_cached_crops_per_s",
        "model_train_crops_per_s",
        "workers",
        "verdict",
        "cache_build_s",
        "cache_bytes",
        "by_workers",
        "intra_estimate_with_loading_h",
    ):
        assert key in r, key
    assert r["workers"] == 0 and [row["workers"] for row in r["by_workers"]] == [0, 1]
    assert all(
        row["loader_uncached_crops_per_s"] > 0 and row["loader_cached_crops_per_s"] > 0 for row in r["by_workers"]
    )
    assert r["by_workers"][0]["cached_crops_per_cpu_s"] > 0 and "cached_crops_per_cpu_s" not in r["by_workers"][1]
    assert r["model_train_crops_per_s"] > 0 and r["images"] == 4 and r["image_source"].startswith("1024x768")
    assert r["cache_entries"] == 4 and r["cache_bytes"] == 4 * entry_bytes(1024, 768)
    assert r["intra_estimate_with_loading_h"] >= r["intra_estimate_compute_only_h"] > 0
    assert r["verdict"] and not (tmp_path / "unused").exists()


def test_verdict_says_who_waits():
    from bench.perf.pipeline import verdict

    assert verdict(100, 500, 900, 2, "cpu").startswith("keeps up: even fresh decodes")
    assert verdict(1000, 500, 2000, 4, "cuda:0").startswith("keeps up with the image cache only")
    slow = verdict(5000, 500, 2000, 8, "cuda:0")
    assert slow.startswith("WOULD WAIT ON DATA") and "--num-workers" in slow


def test_bad_worker_list_is_an_error(capsys):
    assert main(["perf", "--pipeline", "--num-workers", "two"]) == 2
    assert "--num-workers" in capsys.readouterr().err
