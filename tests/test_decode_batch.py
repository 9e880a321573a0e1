"""Building the decoded-image cache with torchvision's batched decode_jpeg (nvJPEG on CUDA), tested on the CPU
with the same code (``device="cpu"``: torchvision's libjpeg-turbo): entries equal PIL's, keys name the decoder,
everything that is not a plain JPEG falls back to PIL, and ``bench data cache --decoder`` chooses honestly."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from bench.core.errors import BenchError, DatasetError
from bench.data import cache_build, resize
from bench.data import image_cache as ic
from bench.data.decode import open_rgb
from bench.data.decode_batch import decode_batch, plain_jpeg_size


@pytest.fixture()
def images(tmp_path):
    """Four plain JPEGs (4:2:0, 4:4:4, greyscale, a KonIQ-sized one) and three that PIL must decode."""
    import skimage.data

    from bench.perf.pipeline import koniq_like_jpegs

    coffee = Image.fromarray(skimage.data.coffee()).resize((240, 160), Image.BICUBIC)
    plain = [tmp_path / "coffee420.jpg", tmp_path / "coffee444.jpg", tmp_path / "grey.jpg"]
    coffee.save(plain[0], "JPEG", quality=90)
    coffee.save(plain[1], "JPEG", quality=95, subsampling=0)
    Image.fromarray(skimage.data.camera()[::4, ::4]).save(plain[2], "JPEG")
    (tmp_path / "koniq").mkdir()
    plain += koniq_like_jpegs(tmp_path / "koniq", 1)
    other = [tmp_path / "progressive.jpg", tmp_path / "cmyk.jpg", tmp_path / "astro.png"]
    coffee.save(other[0], "JPEG", progressive=True)
    coffee.convert("CMYK").save(other[1], "JPEG")
    Image.fromarray(skimage.data.astronaut()[::4, ::4]).save(other[2])
    return plain, other


STEPS = (("min", 64), ("max", 300))  # the KonIQ-sized image shrinks (a resized entry), the others keep raw


def test_header_check_passes_only_plain_jpegs(images):
    plain, other = images
    assert [plain_jpeg_size(p.read_bytes()) for p in plain] == [Image.open(p).size for p in plain]
    assert [plain_jpeg_size(p.read_bytes()) for p in other] == [None, None, None]
    assert plain_jpeg_size(plain[0].read_bytes()[:20]) is None  # cut inside the header
    data = plain[0].read_bytes()
    adobe = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00"  # APP14, colour transform byte to follow
    assert plain_jpeg_size(data[:2] + adobe + b"\x01" + data[2:]) == (240, 160)  # transform 1: YCbCr
    assert plain_jpeg_size(data[:2] + adobe + b"\x00" + data[2:]) is None  # transform 0: RGB-coded, PIL's


def test_batched_cpu_decode_builds_entries_equal_to_pil_keyed_by_decoder(tmp_path, images):
    plain, other = images
    paths = plain + other
    cache = ic.ImageCache(tmp_path / "cache", decoder="torchvision")
    facts = cache_build.build(cache, paths, STEPS, device="cpu", batch=3)
    assert facts["decoded_by"] == {"torchvision": len(plain), "pil": len(other)}
    pil_cache = ic.ImageCache(tmp_path / "cache", decoder="pil")
    differing = 0
    for p in paths:
        want = np.asarray(resize.apply_resize(open_rgb(p), resize.normalise_resize(STEPS)))
        got = cache.pixels(p, STEPS)
        assert got.shape == want.shape
        differing += int((got != want).sum())
        # a run that reads PIL's keys (the default) never sees the torchvision entries
        assert pil_cache.contains(p, STEPS) == (p in other)
    # measured here: libjpeg-turbo through torchvision gives PIL's pixels exactly (0 of every pixel differs)
    assert differing == 0
    assert cache.stats["builds"] == len(paths)  # every read above was a hit
    digest = ic.file_digest(plain[-1])
    assert cache.entry_path(digest, resize.normalise_resize(STEPS), "torchvision").is_file()  # resized, named
    assert not cache.entry_path(digest, resize.normalise_resize(STEPS)).exists()
    assert pil_cache.entry_path(ic.file_digest(plain[0]), ()) != cache.entry_path(
        ic.file_digest(plain[0]), (), "torchvision"
    )
    again = cache_build.build(ic.ImageCache(tmp_path / "cache", decoder="torchvision"), paths, STEPS)
    assert again["built"] == 0 and again["already_cached"] == len(paths)


def test_a_broken_jpeg_falls_back_to_pil_and_its_error(tmp_path, images):
    plain, _ = images
    data = plain[0].read_bytes()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(data[: len(data) // 2])  # header intact, scan cut: the batch call fails
    out = decode_batch([data, broken.read_bytes()], "cpu")
    assert out[0].shape == (160, 240, 3) and out[1] is None
    cache = ic.ImageCache(tmp_path / "cache", decoder="torchvision")
    from bench.data.decode_batch import build_batched

    with pytest.raises(DatasetError, match="broken.jpg"):
        build_batched(cache, [plain[0], broken], (), "cpu")


def test_run_side_decoder_comes_from_the_environment(tmp_path, monkeypatch):
    assert ic.ImageCache(tmp_path).decoder == "pil"
    monkeypatch.setenv(ic.DECODER_ENV, "nvjpeg")
    cache = ic.ImageCache(tmp_path)
    assert cache.decoder == "nvjpeg"
    import pickle

    assert pickle.loads(pickle.dumps(cache)).decoder == "nvjpeg"  # DataLoader workers read the same keys
    monkeypatch.setenv(ic.DECODER_ENV, "libjpeg")
    with pytest.raises(BenchError, match=ic.DECODER_ENV):
        ic.ImageCache(tmp_path)


def test_data_cache_command_decoder_choice(tmp_path, images, capsys, monkeypatch):
    from bench.cli import main

    plain, other = images
    (tmp_path / "scores.csv").write_text(
        "file,mos\n" + "".join(f"{p.relative_to(tmp_path)},{i + 1}\n" for i, p in enumerate(plain + other))
    )
    spec = tmp_path / "datasets.toml"
    spec.write_text(
        '[datasets.mine]\nimages = "."\nscores = "scores.csv"\nimage_column = "file"\nscore_column = "mos"\n'
        'scale = [1, 7]\norientation = "mos"\n'
    )
    monkeypatch.setenv("BENCH_IMAGE_CACHE", str(tmp_path / "images"))
    args = ["data", "cache", "mine", "--dataset-spec", str(spec), "--crop-size", "64", "--json"]
    # no CUDA here: auto is PIL, and asking for nvjpeg is one clear error
    assert main([*args, "--decoder", "nvjpeg"]) == 2
    assert "--decoder pil" in capsys.readouterr().err
    assert main([*args, "--decoder", "torchvision", "--batch", "2"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["decoder"] == "torchvision" and facts["decoded_by"] == {"torchvision": len(plain), "pil": len(other)}
    assert main([*args, "--decoder", "torchvision", "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out)["missing"] == 0
    assert main(args) == 0  # auto -> pil: finds PIL's entries, not the torchvision ones
    auto = json.loads(capsys.readouterr().out)
    assert auto["decoder"] == "pil" and auto["already_cached"] == len(other) and auto["built"] == len(plain)


def test_torchvision_cpu_decode_is_pil_on_an_in_memory_jpeg():
    """The same check without files, on a 4:2:0 JPEG of a natural photo at quality 75 (PIL's default)."""
    import skimage.data

    buf = io.BytesIO()
    Image.fromarray(skimage.data.chelsea()).save(buf, "JPEG")
    (got,) = decode_batch([buf.getvalue()], "cpu")
    want = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    assert np.array_equal(got, want)


def test_a_non_pil_decoder_is_in_the_cell_key_and_the_worker_follows_the_cell(monkeypatch):
    """Cells that read nvJPEG/torchvision pixels may score differently: they are their own cells (key), and the
    worker uses the decoder the cell names, not whatever its environment says."""
    import os

    from bench.data.image_cache import DECODER_ENV, cell_decoder
    from bench.run.planning import plan
    from protocols import Options

    monkeypatch.delenv(DECODER_ENV, raising=False)
    (pil,) = plan("intra", ["nss-svr"], Options(data="demo", datasets=("demo-a",), n_splits=1))
    monkeypatch.setenv(DECODER_ENV, "torchvision")
    (tv,) = plan("intra", ["nss-svr"], Options(data="demo", datasets=("demo-a",), n_splits=1))
    assert (
        "image_decoder" not in pil.cell.training_options and tv.cell.training_options["image_decoder"] == "torchvision"
    )
    assert pil.cell.key != tv.cell.key
    with cell_decoder(pil.cell.training_options.get("image_decoder", "pil")):
        assert os.environ[DECODER_ENV] == "pil"
    assert os.environ[DECODER_ENV] == "torchvision"
