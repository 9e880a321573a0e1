"""Issue 24 item 2: every pixel format read at its real bit depth and scaled to 8 bits right (or refused)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from bench.data.image_cache import ImageCache
from bench.data.image_modes import ImageModeError
from bench.data.images import decode_rgb
from methods.classical import load_grey
from tests.test_data_custom import write_spec

GRADIENT16 = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)  # 0 .. 64491


def expected8(v16: np.ndarray) -> np.ndarray:
    return np.rint(v16.astype(np.float64) / 257.0).astype(np.uint8)


def png16_rgb(path, rgb16: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one), written by hand: IHDR, one IDAT, IEND."""
    h, w, _ = rgb16.shape
    raw = b"".join(b"\0" + rgb16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_16bit_grey_png_is_scaled_not_clipped(tmp_path):
    Image.fromarray(GRADIENT16).save(tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode == "I;16"
    rgb = decode_rgb(tmp_path / "g.png")
    assert rgb.dtype == np.uint8 and rgb.shape == (48, 64, 3)
    assert np.array_equal(rgb[..., 0], expected8(GRADIENT16)) and np.array_equal(rgb[..., 0], rgb[..., 2])
    assert len(np.unique(rgb)) > 200  # before: every pixel >= 255 -> one value (white)


def test_16bit_big_endian_and_32bit_integer_grey(tmp_path):
    from bench.data.image_modes import to_rgb8

    big = Image.frombytes("I;16B", (64, 48), GRADIENT16.astype(">u2").tobytes())
    assert np.array_equal(np.asarray(to_rgb8(big, "big"))[..., 1], expected8(GRADIENT16))
    Image.fromarray(GRADIENT16.astype(np.int32)).save(tmp_path / "i.tif")
    assert Image.open(tmp_path / "i.tif").mode == "I"
    assert np.array_equal(decode_rgb(tmp_path / "i.tif")[..., 0], expected8(GRADIENT16))
    Image.fromarray(GRADIENT16.astype(np.int32) * 4).save(tmp_path / "wide.tif")
    with pytest.raises(ImageModeError, match=r"wide\.tif holds 32-bit integer pixels .* outside the 16-bit range"):
        decode_rgb(tmp_path / "wide.tif")


def test_float_images_in_unit_range_are_read_others_refused(tmp_path):
    unit = GRADIENT16.astype(np.float32) / 65535.0
    Image.fromarray(unit).save(tmp_path / "unit.tif")
    assert np.array_equal(decode_rgb(tmp_path / "unit.tif")[..., 0], np.rint(unit * 255.0).astype(np.uint8))
    Image.fromarray(unit * 300).save(tmp_path / "hdr.tif")
    with pytest.raises(ImageModeError, match=r"hdr\.tif holds float pixels \(mode 'F'\) with values in \[0, 29"):
        decode_rgb(tmp_path / "hdr.tif")


def test_16bit_rgb_png_reads_its_high_byte(tmp_path):
    rng = np.random.default_rng(0)
    rgb16 = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    png16_rgb(tmp_path / "c.png", rgb16)
    assert np.array_equal(decode_rgb(tmp_path / "c.png"), (rgb16 >> 8).astype(np.uint8))
    from bench.data.image_modes import describe

    with Image.open(tmp_path / "c.png") as im:
        assert describe(im) == "RGB (16-bit RGB PNG, read as its high byte)"


@pytest.mark.parametrize("mode", ["P", "LA", "RGBA", "CMYK", "1", "L"])
def test_8bit_modes_read_as_pillow_converts_them(tmp_path, mode):
    """Alpha dropped (the colour underneath kept), palette expanded: exactly the official codes' convert('RGB')."""
    rng = np.random.default_rng(1)
    base = Image.fromarray(rng.integers(0, 256, (16, 16, 4), dtype=np.uint8), "RGBA").convert(mode)
    path = tmp_path / f"m.{'tif' if mode == 'CMYK' else 'png'}"
    base.save(path)
    with Image.open(path) as im:
        assert im.mode == mode
        want = np.asarray(im.convert("RGB"))
    assert np.array_equal(decode_rgb(path), want)


def test_image_cache_and_nss_grey_loader_read_16bit_right(tmp_path):
    Image.fromarray(GRADIENT16).save(tmp_path / "g.png")
    px = ImageCache(tmp_path / "cache").pixels(tmp_path / "g.png")
    assert np.array_equal(px[..., 0], expected8(GRADIENT16))
    grey = load_grey(tmp_path / "g.png")
    assert np.array_equal(grey, expected8(GRADIENT16).astype(np.float64))  # before: 255 everywhere


def test_data_check_deep_reports_modes_and_refuses_unreadable(tmp_path, capsys):
    folder = tmp_path / "mine" / "img"
    folder.mkdir(parents=True)
    Image.fromarray(GRADIENT16).save(folder / "a.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "b.png")
    (tmp_path / "mine" / "scores.csv").write_text("file,mos\na.png,2\nb.png,3\n")
    write_spec(
        tmp_path,
        '[datasets.mine]\nimages = "mine/img"\nscores = "mine/scores.csv"\nimage_column = "file"\n'
        'score_column = "mos"\nscale = [1, 5]\norientation = "mos"\n',
    )
    assert main(["data", "check", "mine", "--deep", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "I;16 (16-bit greyscale): 1" in out and "RGB (8-bit RGB): 1" in out
    Image.fromarray(GRADIENT16.astype(np.float32) * 2).save(folder / "c.tif")
    (tmp_path / "mine" / "scores.csv").write_text("file,mos\na.png,2\nb.png,3\nc.tif,4\n")
    assert main(["data", "check", "mine", "--deep", "--data-root", str(tmp_path)]) != 0
    assert "c.tif: pixel mode cannot be read" in capsys.readouterr().err
