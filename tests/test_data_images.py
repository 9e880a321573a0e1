"""CropDataset: item format, one decode per item, determinism, small images, workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.core.errors import DatasetError
from bench.core.records import ImageRecord


def rec(path: Path, **kw) -> ImageRecord:
    return ImageRecord(id=path.name, path=path, score=kw.pop("score", 3.0), raw_score=3.0, **kw)


@pytest.fixture()
def images(tmp_path):
    rng = np.random.default_rng(0)
    out = []
    for i, (w, h) in enumerate([(96, 80), (40, 30), (64, 64)]):
        p = tmp_path / f"im{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        out.append(p)
    return out


def test_item_format(images):
    from bench.data.images import CropDataset

    recs = [rec(images[0], scenes=(1, 4), distortion_class=3), rec(images[1])]
    ds = CropDataset(recs, n_crops=4, crop_size=32, train=True, seed=0)
    item = ds[0]
    assert set(item) == {"crops", "score", "index", "scene", "distortion"}
    c = item["crops"]
    assert tuple(c.shape) == (4, 3, 32, 32) and str(c.dtype) == "torch.uint8"  # to the device as uint8
    assert item["score"] == 3.0 and item["index"] == 0 and item["distortion"] == 3
    assert item["scene"].tolist() == pytest.approx([0, 0.5, 0, 0, 0.5, 0, 0, 0, 0])
    empty = ds[1]
    assert empty["distortion"] == -1 and float(empty["scene"].sum()) == 0.0
    assert tuple(empty["crops"].shape) == (4, 3, 32, 32)


def test_array_and_pil_crops_agree(images):
    from bench.data.images import crops_chw_float, decode_rgb, open_rgb, random_crops

    a = random_crops(decode_rgb(images[0]), 4, 16, np.random.default_rng(2))
    b = random_crops(open_rgb(images[0]), 4, 16, np.random.default_rng(2))
    assert a.shape == (4, 16, 16, 3) and np.array_equal(a, b)
    f = crops_chw_float(open_rgb(images[0]), 4, 16, np.random.default_rng(2))
    assert f.dtype == np.float32 and np.allclose(f, a.transpose(0, 3, 1, 2) / 255.0)


def test_crops_are_pixels_of_the_image(images):
    from bench.data.images import CropDataset

    ds = CropDataset([rec(images[0])], n_crops=3, crop_size=16, train=False)
    img = np.asarray(Image.open(images[0]).convert("RGB"))
    for crop in ds[0]["crops"]:
        patch = crop.permute(1, 2, 0).numpy()
        hits = [
            (y, x)
            for y in range(img.shape[0] - 15)
            for x in range(img.shape[1] - 15)
            if np.array_equal(img[y : y + 16, x : x + 16], patch)
        ]
        assert hits


def test_eval_deterministic_train_varies_by_epoch(images):
    from bench.data.images import CropDataset

    recs = [rec(images[0])]
    ev = CropDataset(recs, n_crops=4, crop_size=32, train=False, seed=1)
    assert ev[0]["crops"].equal(ev[0]["crops"])
    assert ev[0]["crops"].equal(CropDataset(recs, 4, 32, train=False, seed=1)[0]["crops"])
    tr = CropDataset(recs, n_crops=4, crop_size=32, train=True, seed=1)
    a = tr[0]["crops"]
    assert a.equal(tr[0]["crops"])  # same epoch, same crops (reproducible)
    tr.set_epoch(1)
    assert not a.equal(tr[0]["crops"])  # next epoch, new crops


def test_small_image_is_resized_up(images):
    from bench.data.images import CropDataset

    item = CropDataset([rec(images[1])], n_crops=2, crop_size=64, train=False)[0]  # 40x30 image
    assert tuple(item["crops"].shape) == (2, 3, 64, 64)


def test_one_decode_per_item(images, monkeypatch):
    import bench.data.images as bi

    calls = []
    real = bi.open_rgb
    monkeypatch.setattr(bi, "open_rgb", lambda p: calls.append(p) or real(p))
    bi.CropDataset([rec(images[0])], n_crops=8, crop_size=16)[0]
    assert len(calls) == 1


def test_missing_and_corrupt_images_name_the_file(tmp_path):
    from bench.data.images import CropDataset

    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="bad.jpg"):
        CropDataset([rec(bad)])[0]
    with pytest.raises(DatasetError, match="missing"):
        CropDataset([rec(tmp_path / "gone.png")])[0]


def test_loader_with_workers_matches_single_process(images):
    from bench.data.images import CropDataset, make_loader

    recs = [rec(p) for p in images]
    ds = CropDataset(recs, n_crops=2, crop_size=24, train=True, seed=5)
    one = [b["crops"] for b in make_loader(ds, batch_size=3, num_workers=0)]
    two = [b["crops"] for b in make_loader(ds, batch_size=3, num_workers=2)]
    assert one[0].shape == (3, 2, 3, 24, 24) and str(one[0].dtype) == "torch.float32" and float(one[0].max()) <= 1.0
    assert all(a.equal(b) for a, b in zip(one, two))


def test_full_image_dataset(images):
    from bench.data.images import FullImageDataset

    ds = FullImageDataset([rec(images[0]), rec(images[1])], max_side=48)
    a, b = ds[0], ds[1]
    assert tuple(a["image"].shape) == (3, 40, 48) and tuple(b["image"].shape) == (3, 30, 40)  # 96x80 shrunk
    assert str(a["image"].dtype) == "torch.float32" and float(a["image"].max()) <= 1.0 and b["index"] == 1
