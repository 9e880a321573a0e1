"""Issue 24 item 8: messages that do not mislead -- a --data-root that is a file; a disk that fills during
`bench data cache`."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import numpy as np
import pytest
from PIL import Image

from bench.cli import main
from tests.test_data_custom import write_spec

SPEC = (
    '[datasets.mine]\nimages = "mine/img"\nscores = "mine/scores.csv"\nimage_column = "file"\n'
    'score_column = "mos"\nscale = [1, 5]\norientation = "mos"\n'
)


@pytest.mark.parametrize("argv", [["data", "list"], ["data", "check", "live"]])
def test_a_data_root_that_is_a_file_says_so(tmp_path, capsys, argv):
    root = tmp_path / "datasets.txt"
    root.write_text("not a folder")
    assert main(argv + ["--data-root", str(root)]) != 0
    err = capsys.readouterr().err
    assert f"--data-root '{root}' is a file, not a folder" in err and "not found" not in err


@pytest.fixture()
def small_disk(tmp_path):
    """A 4 MiB tmpfs (needs root: mount)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs to fill needs root; the disk-full path is then untested here")
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_data_cache_on_a_disk_that_fills_during_the_build_fails_saying_so(tmp_path, small_disk, capsys, monkeypatch):
    from bench.data import image_cache as ic

    rng = np.random.default_rng(0)
    folder = tmp_path / "mine" / "img"
    folder.mkdir(parents=True)
    for i in range(8):  # 8 x 300x300x3 = 2.1 MiB of pixels: fits the empty 4 MiB disk
        Image.fromarray(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (tmp_path / "mine" / "scores.csv").write_text("file,mos\n" + "".join(f"{i}.png,3\n" for i in range(8)))
    write_spec(tmp_path, SPEC)
    monkeypatch.setenv(ic.ENV, str(small_disk / "cache"))
    monkeypatch.setattr(ic.ImageCache.__init__, "__defaults__", (0, None))  # no 1 GiB reserve on a 4 MiB disk
    real_sweep = ic.ImageCache.sweep_temp

    def another_process_fills_the_disk(self, *a):  # after the check up front, before the first write
        (small_disk / "filler").write_bytes(b"\0" * (3 << 20))
        return real_sweep(self, *a)

    monkeypatch.setattr(ic.ImageCache, "sweep_temp", another_process_fills_the_disk)
    code = main(["data", "cache", "mine", "--data-root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0
    assert "filled up during the build" in err and "of 8 decoded images could not be stored" in err
