"""Issue 24 item 7: a cell that fails on one image names the image (decompression bomb, too small for nss-svr)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.core.errors import DatasetError
from bench.results.store import ResultStore
from tests.test_data_custom import write_spec

SPEC = (
    '[datasets.mine]\nimages = "mine/img"\nscores = "mine/scores.csv"\nimage_column = "file"\n'
    'score_column = "mos"\nscale = [1, 5]\norientation = "mos"\n'
)


def test_a_decompression_bomb_is_named(tmp_path, monkeypatch):
    from bench.data.images import decode_rgb, image_size
    from methods.classical import NSSParams, image_features

    path = tmp_path / "bomb.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 // 4)  # 4x over the limit: Pillow refuses to open it
    for read in (decode_rgb, image_size, lambda p: image_features(p, NSSParams())):
        with pytest.raises(DatasetError, match=rf"{path}.*DecompressionBombError"):
            read(path)


def test_an_image_too_small_for_nss_svr_fails_its_cell_naming_the_image(tmp_path, capsys):
    rng = np.random.default_rng(0)
    img = tmp_path / "mine" / "img"
    img.mkdir(parents=True)
    lines = []
    for i in range(12):
        size = 10 if i == 5 else 48
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(img / f"{i}.png")
        lines.append(f"{i}.png,{1 + 4 * rng.random():.3f}")
    (tmp_path / "mine" / "scores.csv").write_text("file,mos\n" + "\n".join(lines) + "\n")
    write_spec(tmp_path, SPEC)
    out = tmp_path / "runs"
    code = main(
        [
            "run",
            "--protocol",
            "intra",
            "--method",
            "nss-svr",
            "--datasets",
            "mine",
            "--splits",
            "1",
            "--data-root",
            str(tmp_path),
            "--out",
            str(out),
            "--no-progress",
            "--preset",
            "paper",
        ]
    )
    assert code == 1
    (failed,) = [json.loads(ResultStore(out).failed_path(k).read_text()) for k in ResultStore(out).failed_keys()]
    assert f"{img / '5.png'} (10x10)" in failed["error"] and "too small" in failed["error"]
