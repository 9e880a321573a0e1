"""The decoded-image cache: same pixels as a fresh decode, crash safety, sharing, disk checks, and
CropDataset / make_loader giving the same crops with or without it and with any number of workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.core.records import ImageRecord

ROOT = Path(__file__).resolve().parents[1]


def rec(path: Path, i: int = 0) -> ImageRecord:
    return ImageRecord(id=path.name, path=path, score=float(i), raw_score=float(i))


@pytest.fixture()
def photos(tmp_path):
    """A JPEG, a PNG, a small image (resized up for 64-pixel crops) and a greyscale one."""
    import skimage.data

    out = []
    coffee = skimage.data.coffee()  # 400x600
    p = tmp_path / "coffee.jpg"
    Image.fromarray(coffee).resize((240, 160), Image.BICUBIC).save(p, "JPEG", quality=90)
    out.append(p)
    p = tmp_path / "astro.png"
    Image.fromarray(skimage.data.astronaut()[::4, ::4]).save(p)  # 128x128
    out.append(p)
    p = tmp_path / "small.png"
    Image.fromarray(skimage.data.chelsea()[::8, ::8]).save(p)  # 38x57: smaller than the crop
    out.append(p)
    p = tmp_path / "grey.jpg"
    Image.fromarray(skimage.data.camera()[::4, ::4]).save(p, "JPEG")  # mode L
    out.append(p)
    return out


def test_hit_returns_the_pixels_of_a_fresh_decode(tmp_path, photos):
    from bench.data.image_cache import ImageCache
    from bench.data.images import decode_rgb

    cache = ImageCache(tmp_path / "cache")
    for p in photos:
        first = cache.pixels(p)
        again = cache.pixels(p)
        assert isinstance(again, np.memmap) and not again.flags.writeable  # memory-mapped, read-only
        assert np.array_equal(first, decode_rgb(p)) and np.array_equal(again, decode_rgb(p))
    assert cache.stats["builds"] == len(photos) and cache.stats["hits"] == len(photos)
    assert cache.size_bytes()[0] == len(photos)


def test_resize_entries_match_the_uncached_resize(tmp_path, photos):
    from bench.data.image_cache import ImageCache
    from bench.data.images import ensure_min_size, open_rgb
    from bench.data.resize import apply_resize

    cache = ImageCache(tmp_path / "cache")
    big, small = photos[0], photos[2]
    # a min-size step that changes nothing shares the raw entry
    assert np.array_equal(cache.pixels(big, ("min", 64)), np.asarray(open_rgb(big)))
    assert cache.size_bytes()[0] == 1
    up = cache.pixels(small, ("min", 64))
    assert up.shape[:2] != np.asarray(open_rgb(small)).shape[:2]
    assert np.array_equal(up, np.asarray(ensure_min_size(open_rgb(small), 64)))
    short = cache.pixels(big, ("short", 100))
    assert short.shape == (100, 150, 3)
    assert np.array_equal(short, np.asarray(apply_resize(open_rgb(big), (("short", 100),))))
    # the content, not the name, is the key: an edited file never hits its old entry
    Image.fromarray(np.zeros((50, 70, 3), np.uint8)).save(big, "JPEG")
    assert cache.pixels(big).shape == (50, 70, 3)


def test_bilinear_and_max_steps_are_pil_resizes_with_their_own_keys(tmp_path, photos):
    """The retrained baselines' resizes (torchvision's bilinear; 'max': only larger images shrink)."""
    from bench.data.image_cache import ImageCache, file_digest
    from bench.data.images import open_rgb
    from bench.data.resize import normalise_resize

    cache = ImageCache(tmp_path / "cache")
    big = photos[0]  # 240x160
    img = open_rgb(big)
    expected = np.asarray(img.resize((150, 100), Image.BILINEAR))
    assert np.array_equal(cache.pixels(big, ("max", 100, "bilinear")), expected)
    assert np.array_equal(cache.pixels(big, ("short", 100, "bilinear")), expected)
    assert not np.array_equal(expected, cache.pixels(big, ("short", 100)))  # bicubic differs
    assert cache.pixels(big, ("max", 200, "bilinear")).shape == (160, 240, 3)  # smaller: left alone
    assert np.array_equal(
        cache.pixels(big, ("fixed", 90, 70, "bilinear")), np.asarray(img.resize((90, 70), Image.BILINEAR))
    )
    # bicubic is the default and stays out of the key: entries stored before filters existed are still found
    assert normalise_resize(("min", 64, "bicubic")) == (("min", 64),)
    assert cache.entry_path(file_digest(big), normalise_resize(("short", 100, "bicubic"))) == cache.entry_path(
        file_digest(big), (("short", 100),)
    )
    for bad in (("max", 10, "lanczos"), ("fixed", 10, "bilinear"), ("max",), ("short", 0, "bilinear")):
        with pytest.raises(ValueError, match="resize step"):
            normalise_resize(bad)


def test_truncated_entry_is_never_read_and_is_rebuilt(tmp_path, photos):
    from bench.data.image_cache import ImageCache, file_digest
    from bench.data.images import decode_rgb

    cache = ImageCache(tmp_path / "cache")
    p = photos[0]
    cache.pixels(p)
    entry = cache.entry_path(file_digest(p), ())
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2])  # a half-written file under the final name
    assert np.array_equal(cache.pixels(p), decode_rgb(p))
    assert cache.stats["rebuilt_bad"] == 1 and entry.stat().st_size == len(data)
    entry.write_bytes(b"\x93NUMPY garbage")  # a damaged header
    assert np.array_equal(cache.pixels(p), decode_rgb(p))
    assert cache.stats["rebuilt_bad"] == 2


_KILLED_WRITER = """
import os, sys, time
sys.path.insert(0, {root!r})
from bench.data.image_cache import ImageCache
def stuck(fd):
    print("writing", flush=True)
    time.sleep(60)                     # killed here: data written, not yet fsync'ed nor renamed
os.fsync = stuck
ImageCache({cache!r}).pixels({image!r})
"""


def test_writer_killed_mid_write_leaves_nothing_that_is_read(tmp_path, photos):
    from bench.data.image_cache import ImageCache, file_digest
    from bench.data.images import decode_rgb

    root, p = tmp_path / "cache", photos[0]
    code = _KILLED_WRITER.format(root=str(ROOT), cache=str(root), image=str(p))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    temps = list(root.glob("*/.tmp.*"))
    cache = ImageCache(root)
    entry = cache.entry_path(file_digest(p), ())
    assert len(temps) == 1 and temps[0].stat().st_size > 0 and not entry.exists()
    assert np.array_equal(cache.pixels(p), decode_rgb(p))  # a miss: decoded and stored again
    assert cache.stats["builds"] == 1 and entry.is_file()
    assert cache.sweep_temp(older_than_s=3600) == 0  # a young temp file may be a live writer's
    os.utime(temps[0], (time.time() - 7200,) * 2)
    assert cache.sweep_temp(older_than_s=3600) == 1 and not temps[0].exists()


_SHARED_BUILDER = """
import sys
sys.path.insert(0, {root!r})
from bench.data.image_cache import ImageCache
c = ImageCache({cache!r})
for _ in range(3):
    for p in {images!r}:
        c.pixels(p); c.pixels(p, ("min", 64))
print(c.stats["builds"])
"""


def test_two_processes_share_one_cache_without_corruption(tmp_path, photos):
    from bench.data.image_cache import ImageCache
    from bench.data.images import decode_rgb, ensure_min_size, open_rgb

    root = tmp_path / "cache"
    code = _SHARED_BUILDER.format(root=str(ROOT), cache=str(root), images=[str(p) for p in photos])
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    cache = ImageCache(root)
    for p in photos:
        assert np.array_equal(cache.pixels(p), decode_rgb(p))
        assert np.array_equal(cache.pixels(p, ("min", 64)), np.asarray(ensure_min_size(open_rgb(p), 64)))
    assert cache.stats["builds"] == 0 and cache.stats["rebuilt_bad"] == 0
    assert not list(root.glob("*/.tmp.*"))
    assert cache.size_bytes()[0] == len(photos) + 1  # + the resized small image


def test_free_disk_check_says_how_much_is_needed(tmp_path, photos):
    from bench.core.errors import BenchError
    from bench.data.cache_build import build, check_free_space
    from bench.data.image_cache import CacheDiskFull, ImageCache
    from bench.data.images import decode_rgb

    with pytest.raises(CacheDiskFull) as err:
        check_free_space(tmp_path / "not" / "yet", 10**18, "koniq10k (10073 images)")
    msg = str(err.value)
    assert isinstance(err.value, BenchError)
    assert (
        "needs" in msg
        and "free" in msg
        and "koniq10k" in msg
        and "--no-image-cache" in msg
        and "BENCH_IMAGE_CACHE" in msg
    )
    with pytest.raises(CacheDiskFull):  # the up-front build stops before writing anything
        build(ImageCache(tmp_path / "c1", reserve_bytes=10**18), photos)
    assert not (tmp_path / "c1").exists() or not list((tmp_path / "c1").glob("*/*.npy"))
    lazy = ImageCache(tmp_path / "c2", reserve_bytes=10**18)  # a lazy build serves pixels, stores none
    assert np.array_equal(lazy.pixels(photos[0]), decode_rgb(photos[0]))
    assert lazy.stats["not_written_disk_full"] == 1 and lazy.size_bytes()[0] == 0


def _epoch_crops(ds, workers, epochs=2, shuffle=True):
    from bench.data.images import make_loader

    loader = make_loader(ds, batch_size=2, shuffle=shuffle, num_workers=workers, seed=3)
    out = []
    for e in range(epochs):
        ds.set_epoch(e)
        order, crops = [], {}
        for batch in loader:
            for k, i in enumerate(batch["index"].tolist()):
                order.append(i)
                crops[i] = batch["crops"][k].numpy().copy()
        out.append((order, crops))
    return out


def test_crops_identical_with_or_without_cache_and_for_any_worker_count(tmp_path, photos):
    from bench.data.image_cache import ImageCache
    from bench.data.images import CropDataset

    recs = [rec(p, i) for i, p in enumerate(photos)]
    kw = {"n_crops": 3, "crop_size": 64, "train": True, "seed": 5}
    plain = _epoch_crops(CropDataset(recs, cache=None, **kw), workers=0)
    cached_ds = CropDataset(recs, cache=ImageCache(tmp_path / "cache"), **kw)
    cached = _epoch_crops(cached_ds, workers=0)
    cached2 = _epoch_crops(CropDataset(recs, cache=ImageCache(tmp_path / "cache"), **kw), workers=2)
    plain2 = _epoch_crops(CropDataset(recs, cache=None, **kw), workers=2)
    for run in (cached, cached2, plain2):
        for (order, crops), (order0, crops0) in zip(run, plain):
            assert order == order0  # same shuffle order
            assert all(np.array_equal(crops[i], crops0[i]) for i in crops0)  # bit-identical crops
    # new crops each epoch, also in persistent workers (the epoch travels with the index)
    assert not np.array_equal(cached2[0][1][0], cached2[1][1][0])
    from bench.data.device_input import to_unit

    assert np.array_equal(cached2[1][1][0], to_unit(cached_ds[(1, 0)]["crops"]).numpy())
    # eval crops too
    ev = dict(kw, train=False)
    assert all(
        np.array_equal(
            CropDataset(recs, cache=None, **ev)[i]["crops"],
            CropDataset(recs, cache=ImageCache(tmp_path / "cache"), **ev)[i]["crops"],
        )
        for i in range(len(recs))
    )


def test_shuffle_order_is_what_dataloader_shuffle_gave(photos):
    """Results made before this loader keep their batches: the same draws as DataLoader(shuffle=True)."""
    import torch
    from torch.utils.data import DataLoader

    from bench.data.images import CropDataset, make_loader

    ds = CropDataset([rec(p, i) for i, p in enumerate(photos * 3)], n_crops=1, crop_size=32, cache=None)
    g = torch.Generator()
    g.manual_seed(7)
    old = DataLoader(ds, batch_size=4, shuffle=True, generator=g)
    new = make_loader(ds, batch_size=4, shuffle=True, seed=7)
    for _ in range(3):
        assert [b["index"].tolist() for b in old] == [b["index"].tolist() for b in new]


def test_the_run_cache_is_the_active_one(tmp_path, photos, monkeypatch):
    from bench.data import image_cache, pipeline
    from bench.data.images import CropDataset

    monkeypatch.delenv(image_cache.ENV, raising=False)
    assert CropDataset([rec(photos[0])], crop_size=32).cache is None  # plain library use: off
    pipeline.enter_cell(device="cpu", image_cache=tmp_path / "run-cache")
    try:
        ds = CropDataset([rec(photos[0])], crop_size=32)
        assert ds.cache is not None and ds.cache.root == (tmp_path / "run-cache").absolute()
    finally:
        pipeline.exit_cell()
    monkeypatch.setenv(image_cache.ENV, "off")
    assert image_cache.default_root() is None
    monkeypatch.setenv(image_cache.ENV, str(tmp_path / "env-cache"))
    assert CropDataset([rec(photos[0])], crop_size=32).cache.root == tmp_path / "env-cache"


def test_num_workers_auto_resolves_as_documented():
    from bench.data.pipeline import MAX_AUTO_WORKERS, available_cores, resolve_num_workers

    assert resolve_num_workers("auto", "cpu", 1, cores=16) == 0  # CPU cells: the model has the cores
    assert resolve_num_workers("auto", "cuda:0", 1, cores=16) == MAX_AUTO_WORKERS == 8
    assert resolve_num_workers("auto", "cuda:1", 4, cores=16) == 4
    assert resolve_num_workers("auto", "cuda", 4, cores=2) == 1
    assert resolve_num_workers(3, "cpu", 8) == 3 and resolve_num_workers(0, "cuda:0") == 0
    assert 1 <= available_cores() <= (os.cpu_count() or 1)
    with pytest.raises(ValueError):
        resolve_num_workers(-1)


def test_data_cache_command_builds_then_finds_everything(tmp_path, demo_cache, capsys, monkeypatch):
    from bench.cli import main

    monkeypatch.setenv("BENCH_IMAGE_CACHE", str(tmp_path / "images"))
    assert main(["data", "cache", "demo-b", "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["missing"] == dry["images"] > 0 and dry["need_bytes"] > 0 and dry["fits"]
    assert main(["data", "cache", "demo-b", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["built"] == dry["images"] and first["bytes"] == dry["total_bytes"]
    assert main(["data", "cache", "demo-b", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["built"] == 0 and again["already_cached"] == dry["images"]
    assert main(["data", "cache", "demo-b", "--resize", "bogus"]) == 2
    assert "--resize" in capsys.readouterr().err


@pytest.mark.slow  # ~1 min: two MP-IQE ci cells; the crop-level test above is the fast guarantee
def test_run_with_and_without_cache_gives_the_same_predictions(tmp_path, demo_cache, monkeypatch):
    from bench.cli import main

    monkeypatch.setenv("BENCH_IMAGE_CACHE", str(tmp_path / "images"))
    base = [
        "run",
        "--protocol",
        "cross",
        "--method",
        "mpiqe",
        "--data",
        "demo",
        "--preset",
        "ci",
        "--splits",
        "1",
        "--train",
        "demo-a",
        "--test",
        "demo-b",
        "--no-progress",
    ]
    assert main(base + ["--out", str(tmp_path / "on")]) == 0
    assert len(list((tmp_path / "images").glob("*/*.npy"))) > 0
    n_entries = len(list((tmp_path / "images").glob("*/*.npy")))
    assert main(base + ["--out", str(tmp_path / "off"), "--no-image-cache"]) == 0
    assert len(list((tmp_path / "images").glob("*/*.npy"))) == n_entries
    on, off = (sorted((tmp_path / d / "cells").glob("*/*.preds.csv")) for d in ("on", "off"))
    assert len(on) == len(off) == 1 and on[0].name == off[0].name
    assert on[0].read_text() == off[0].read_text()


def test_loader_workers_start_inside_a_runner_worker(tmp_path, photos):
    """A loky worker (every `bench run` cell) changes multiprocessing's default context; loader workers
    must still start there (they failed with "'Process' object has no attribute 'env'")."""
    from joblib import Parallel, delayed

    paths = [str(p) for p in photos]
    # n_jobs=2: joblib runs n_jobs=1 in this process, which would not be a loky worker
    outs = Parallel(n_jobs=2, backend="loky")(delayed(_crops_in_worker)(paths) for _ in range(2))
    assert all(np.array_equal(out, _crops_in_worker(paths, workers=0)) for out in outs)


def _crops_in_worker(paths, workers=2):
    from bench.data.images import CropDataset, make_loader

    ds = CropDataset([rec(Path(p), i) for i, p in enumerate(paths)], n_crops=2, crop_size=32, cache=None)
    return np.concatenate(
        [b["crops"].numpy() for b in make_loader(ds, batch_size=2, shuffle=True, num_workers=workers, seed=1)]
    )


def test_short_side_resize_follows_torchvision():
    """UNIQUE's and LIQE's official loaders resize with torchvision's Resize(n): the long side is truncated."""
    import torch
    from torchvision.transforms import functional as TF

    from bench.data.resize import target_size

    for w, h in [(1024, 768), (768, 1024), (500, 333), (1920, 1080), (641, 480), (513, 512)]:
        for kind in ("short", "max"):
            if kind == "max" and min(w, h) <= 512:
                assert target_size(w, h, ((kind, 512),)) == (w, h)
                continue
            th, tw = TF.resize(torch.zeros(1, h, w), 512, antialias=False).shape[-2:]
            assert target_size(w, h, ((kind, 512),)) == (tw, th), (w, h, kind)
