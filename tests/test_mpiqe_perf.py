"""``python -m bench perf`` on the tiny backbone: all three measurements, ratios and estimate."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")

from bench.cli import main  # noqa: E402
from methods.mpiqe.perf import PAPER_INTRA_SIZES, intra_estimate  # noqa: E402


def test_perf_json_on_the_tiny_backbone(capsys):
    rc = main(
        [
            "perf",
            "--backbone",
            "biqa-tiny-vit",
            "--batch",
            "16",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--json",
        ]
    )
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["backbone"] == "biqa-tiny-vit" and r["batch"] == 16 and r["crop_size"] == 64
    assert r["n_crops"] == 8 and r["device"] == "cpu" and r["dtype"] == "fp32"
    assert set(r["crops_per_s"]) == {"clip_inference", "mpiqe_inference", "mpiqe_train_step"}
    assert all(v > 0 for v in r["crops_per_s"].values())
    assert r["ratios"]["inference/clip"] == pytest.approx(
        r["crops_per_s"]["mpiqe_inference"] / r["crops_per_s"]["clip_inference"]
    )
    assert r["ratios"]["train_step/clip"] == pytest.approx(
        r["crops_per_s"]["mpiqe_train_step"] / r["crops_per_s"]["clip_inference"]
    )
    assert set(r["intra_estimate_detail"]) == set(PAPER_INTRA_SIZES) and r["intra_estimate_h"] > 0
    assert r["trainable_params"] > 0


def test_perf_text_output_and_visual_only(capsys):
    assert (
        main(
            [
                "perf",
                "--method",
                "visual-only",
                "--backbone",
                "biqa-tiny-vit",
                "--batch",
                "8",
                "--repeats",
                "1",
                "--warmup",
                "0",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "(2)/(1)" in out and "(3)/(1)" in out and "crops/s" in out and "intra protocol" in out


def test_perf_refuses_bad_input(capsys):
    assert main(["perf", "--method", "niqe", "--backbone", "biqa-tiny-vit"]) == 2
    assert "mpiqe and visual-only" in capsys.readouterr().err
    assert main(["perf", "--backbone", "ViT-B-61"]) == 2
    assert "Did you mean" in capsys.readouterr().err
    assert main(["perf", "--backbone", "biqa-tiny-vit", "--param", "visual_prompt=deep"]) == 2
    assert "visual_prompt" in capsys.readouterr().err


def test_intra_estimate_arithmetic():
    # 1 crop/s everywhere, 1 epoch, 1 crop, 1 split: seconds = number of images (train + test)
    hours, detail = intra_estimate(1.0, 1.0, n_crops=1, epochs=1, splits=1)
    assert detail["live"] * 3600 == pytest.approx(779)
    assert hours * 3600 == pytest.approx(sum(PAPER_INTRA_SIZES.values()))
