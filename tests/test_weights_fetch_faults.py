"""Issue 32 items 7 and 9 and minor items: `weights fetch` under a trickling mirror (overall deadline), SIGTERM
(no .part left), an HTML page served as an unpinned weight (format check), the umask, and every file-system
error of `--to` as a message naming the path -- never a traceback. A real HTTP server on 127.0.0.1, real
tmpfs mounts where a full or read-only disk is needed (root; skipped otherwise)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from bench.cli import main
from bench.core.download import DownloadError, fetch_file
from tests.test_weights_fetch import GOOD, Server, leftovers

ROOT = Path(__file__).resolve().parents[1]


def test_a_trickling_mirror_hits_the_overall_deadline_and_leaves_nothing(tmp_path):
    with Server({"w.pth": ("trickle", GOOD[:30])}) as srv:  # 3 s at a byte per 0.1 s
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match=r"not finished after 1 s \(\d+ bytes received of 30\).*--deadline"):
            fetch_file(f"{srv.url}/w.pth", tmp_path / "w.pth", deadline_s=1.0)
        assert time.monotonic() - t0 < 5
    assert leftovers(tmp_path) == []


def test_the_deadline_flag_reaches_the_download(tmp_path, capsys, monkeypatch):
    with Server({"brisque_svm_weights.pth": ("trickle", GOOD[:30])}) as srv:
        monkeypatch.setenv("BENCH_WEIGHTS_URL", srv.url)
        rc = main(["weights", "fetch", "brisque", "--to", str(tmp_path / "w"), "--deadline", "1"])
    out, err = capsys.readouterr()
    assert rc == 2 and "not finished after 1 s" in out and "Traceback" not in err
    assert not (tmp_path / "w" / "brisque_svm_weights.pth").exists() and not list((tmp_path / "w").glob("*.part"))
    with pytest.raises(SystemExit) as exit_:
        main(["weights", "fetch", "brisque", "--deadline", "0"])
    assert exit_.value.code == 2 and "expected a number of seconds > 0" in capsys.readouterr().err


def test_sigterm_during_a_download_removes_the_part_file(tmp_path):
    dest = tmp_path / "w.pth"
    with Server({"w.pth": ("trickle", GOOD[:600])}) as srv:
        code = f"from bench.core.download import fetch_file; fetch_file({srv.url + '/w.pth'!r}, {str(dest)!r})"
        proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("*.part")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(tmp_path.glob("*.part")), "the download never started"
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "name, body, why",
    [
        ("w.pth", b"<!DOCTYPE html><html><body>Sign in</body></html>", "HTML/XML page"),
        ("w.mat", b"<html>404</html>", "HTML/XML page"),
        ("w.pt", b'{"error": "rate limited"}', "JSON text"),
        ("w.safetensors", b"<html></html>" * 3, "HTML/XML page"),
    ],
)
def test_an_unpinned_file_that_is_not_its_format_is_refused(tmp_path, name, body, why):
    with Server({name: body}) as srv:
        with pytest.raises(DownloadError, match=f"{name} does not start like a .* file \\(it is (an? )?{why}"):
            fetch_file(f"{srv.url}/{name}", tmp_path / name)
    assert leftovers(tmp_path) == []


def test_files_of_their_format_pass_the_check(tmp_path):
    files = {"a.mat": b"MATLAB 5.0 MAT-file, Platform: GLNXA64" + bytes(100), "b.pth": b"\x80\x02}q\x00.", "c.pt": GOOD}
    with Server(files) as srv:
        for name in files:
            assert fetch_file(f"{srv.url}/{name}", tmp_path / name).status == "downloaded"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_fetched_file_gets_the_permissions_of_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        with Server({"w.pth": GOOD}) as srv:
            fetch_file(f"{srv.url}/w.pth", tmp_path / "w.pth")
    finally:
        os.umask(old)
    assert (tmp_path / "w.pth").stat().st_mode & 0o777 == mode


def test_to_a_file_is_a_clear_error(tmp_path, capsys, monkeypatch):
    target = tmp_path / "weights.txt"
    target.write_text("not a folder")
    with Server({"brisque_svm_weights.pth": GOOD}) as srv:
        monkeypatch.setenv("BENCH_WEIGHTS_URL", srv.url)
        assert main(["weights", "fetch", "brisque", "--to", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"--to '{target}' is a file, not a folder" in err and "Traceback" not in err


@pytest.fixture()
def tmpfs(tmp_path):
    """mount(size) -> a fresh tmpfs of that size; read_only(path) remounts it read-only (needs root)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a small or read-only tmpfs needs root (mount); the path is then untested here")
    mounted = []

    def mount(size: str) -> Path:
        mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
        mnt.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
        mounted.append(mnt)
        return mnt

    yield mount
    for mnt in mounted:
        subprocess.run(["umount", str(mnt)], check=False)


def test_to_a_read_only_folder_is_a_clear_error(tmpfs, capsys, monkeypatch):
    disk = tmpfs("1m")
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    with Server({"brisque_svm_weights.pth": GOOD}) as srv:
        monkeypatch.setenv("BENCH_WEIGHTS_URL", srv.url)
        assert main(["weights", "fetch", "brisque", "--to", str(disk / "w")]) == 2
    err = capsys.readouterr().err
    assert f"--to '{disk / 'w'}' is not writable (Read-only file system)" in err and "Traceback" not in err


def test_a_disk_with_room_for_the_weights_but_not_their_sums_is_a_clear_error(tmpfs, capsys, monkeypatch):
    disk = tmpfs("64k")  # 16 pages: the weight file takes them all
    body = b"PK\x03\x04" + bytes(64 * 1024 - 4)
    with Server({"brisque_svm_weights.pth": body}) as srv:
        monkeypatch.setenv("BENCH_WEIGHTS_URL", srv.url)
        rc = main(["weights", "fetch", "brisque", "--to", str(disk)])
    out, err = capsys.readouterr()
    assert rc == 2 and "Traceback" not in err, err
    assert "downloaded" in out and (disk / "brisque_svm_weights.pth").stat().st_size == len(body)
    assert f"{disk / 'SHA256SUMS'} could not be written (No space left on device)" in err
    assert not list(disk.glob(".SHA256SUMS*.tmp"))
