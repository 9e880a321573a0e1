"""`bench weights fetch` and bench/core/download.py against a real HTTP server on 127.0.0.1 (fake files)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from bench.cli import main
from bench.core.download import DownloadError, fetch_file

GOOD = b"PK\x03\x04" + b"weights " * 5000  # starts like torch.save's zip: passes the unpinned format check
SLOW_CHUNKS = 8


class Server:
    """Serves ``files``: name -> bytes (200), ('truncated', bytes), ('slow', bytes), ('trickle', bytes: a byte
    every 0.1 s); anything else 404."""

    def __init__(self, files: dict):
        self.files, self.hits = files, {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                outer.hits[name] = outer.hits.get(name, 0) + 1
                entry = outer.files.get(name)
                if entry is None:
                    self.send_error(404, "Not Found")
                    return
                mode, body = entry if isinstance(entry, tuple) else ("ok", entry)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "truncated":  # announce all, send half, hang up
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if mode == "trickle":  # one byte at a time, each well within the socket timeout
                    for i in range(len(body)):
                        try:
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                        except OSError:  # the client gave up
                            return
                        threading.Event().wait(0.1)
                    return
                if mode == "slow":  # keeps a second fetcher waiting on the lock
                    step = len(body) // SLOW_CHUNKS + 1
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i : i + step])
                        self.wfile.flush()
                        threading.Event().wait(0.05)
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_good_file_verified_and_atomic(tmp_path):
    with Server({"a.pth": GOOD}) as srv:
        got = fetch_file(f"{srv.url}/a.pth", tmp_path / "a.pth", sha256=sha(GOOD))
        assert got.status == "downloaded" and got.verified == "sha256"
        assert (tmp_path / "a.pth").read_bytes() == GOOD
        again = fetch_file(f"{srv.url}/a.pth", tmp_path / "a.pth", sha256=sha(GOOD))
        assert again.status == "present" and srv.hits["a.pth"] == 1  # checked, not downloaded again
    assert leftovers(tmp_path) == ["a.pth"]


def test_wrong_hash_leaves_nothing(tmp_path):
    with Server({"a.pth": GOOD}) as srv:
        with pytest.raises(DownloadError, match="SHA-256 is .* not the published"):
            fetch_file(f"{srv.url}/a.pth", tmp_path / "a.pth", sha256="0" * 64)
        with pytest.raises(DownloadError, match="not the published ffff"):
            fetch_file(f"{srv.url}/a.pth", tmp_path / "a.pth", sha256_prefix="ffff0000")
    assert leftovers(tmp_path) == []


def test_truncated_transfer_leaves_nothing(tmp_path):
    with Server({"a.pth": ("truncated", GOOD)}) as srv, pytest.raises(DownloadError, match="stopped|received"):
        fetch_file(f"{srv.url}/a.pth", tmp_path / "a.pth")
    assert leftovers(tmp_path) == []


def test_404(tmp_path):
    with Server({}) as srv, pytest.raises(DownloadError, match="HTTP 404"):
        fetch_file(f"{srv.url}/missing.pth", tmp_path / "missing.pth")
    assert leftovers(tmp_path) == []


def test_damaged_file_in_place_is_refused_not_overwritten(tmp_path):
    (tmp_path / "a.pth").write_bytes(b"damaged")
    with Server({"a.pth": GOOD}) as srv:
        with pytest.raises(DownloadError, match="exists but its SHA-256"):
            fetch_file(f"{srv.url}/a.pth", tmp_path / "a.pth", sha256=sha(GOOD))
        assert srv.hits == {}
    assert (tmp_path / "a.pth").read_bytes() == b"damaged"


def test_two_fetches_at_once_download_once(tmp_path):
    results, errors = [], []

    def run():
        try:
            results.append(fetch_file(url, tmp_path / "a.pth", sha256=sha(GOOD)))
        except Exception as exc:  # noqa: BLE001 -- reported below
            errors.append(exc)

    with Server({"a.pth": ("slow", GOOD)}) as srv:
        url = f"{srv.url}/a.pth"
        threads = [threading.Thread(target=run) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [] and srv.hits["a.pth"] == 1
    assert sorted(r.status for r in results) == ["downloaded", "present", "present"]
    assert (tmp_path / "a.pth").read_bytes() == GOOD


def test_cli_fetch_to_a_folder(tmp_path, capsys, monkeypatch):
    """brisque's pyiqa file (no published hash: recorded), dbcnn's torchvision VGG (its name's SHA-256 prefix
    refuses the fake), DBCNN's SCNN (404): one run, the good file lands, the others are named."""
    to = tmp_path / "wdir"
    files = {"brisque_svm_weights.pth": GOOD, "vgg16-397923af.pth": GOOD}
    with Server(files) as srv:
        monkeypatch.setenv("BENCH_WEIGHTS_URL", srv.url)
        rc = main(["weights", "fetch", "brisque", "dbcnn", "--to", str(to)])
        out, err = capsys.readouterr()
    assert rc == 2
    assert "brisque_svm_weights.pth" in out and "downloaded" in out and "no published hash" in out
    assert "vgg16-397923af.pth" in out and "not the published 397923af" in out
    assert "DBCNN_scnn-7ea73d75.pth" in out and "HTTP 404" in out
    assert "failed; nothing partial was left" in err
    assert leftovers(to) == ["SHA256SUMS", "brisque_svm_weights.pth"]
    assert (to / "SHA256SUMS").read_text() == f"{sha(GOOD)}  brisque_svm_weights.pth\n"
    # the folder works as --weights-dir
    from methods.pyiqa_zeroshot import BRISQUE

    ok, why = BRISQUE.availability(BRISQUE.make_params(), to)
    assert ok, why


def test_missing_weight_messages_point_at_fetch():
    from methods.retrained.dbcnn import DBCNN

    ok, why = DBCNN.availability(DBCNN.make_params(), None)
    assert not ok and "python -m bench weights fetch dbcnn" in why


def test_doctor_points_at_fetch(capsys):
    main(["doctor", "--method", "dbcnn", "--json"])
    import json

    report = json.loads(capsys.readouterr().out)
    assert any("python -m bench weights fetch dbcnn" in p["fix"] for p in report["problems"])


def test_new_retrained_baselines_declare_their_weight_files(tmp_path, monkeypatch):
    """TOPIQ / MANIQA: their timm ImageNet backbones (what pyiqa's archs load with pretrained backbones);
    QualiCLIP: OpenAI's RN50 (the architecture pyiqa builds first) and the self-supervised QualiCLIP.pth from
    pyiqa's weight repository. No digest is published for any of them: fetched unpinned (RN50.pt is pinned)."""
    from methods.weight_fetch import files_for, method_params

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    files = {f.rel: f for f in files_for(method_params(["topiq", "maniqa", "qualiclip"]))}
    assert (
        files["QualiCLIP.pth"].url == "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/QualiCLIP.pth"
    )
    assert files["timm/resnet50.a1_in1k/model.safetensors"].methods == ["topiq"]
    by_method = {m: sorted(f.rel for f in files_for(method_params([m]))) for m in ("topiq", "maniqa", "qualiclip")}
    assert by_method == {
        "topiq": ["timm/resnet50.a1_in1k/model.safetensors"],
        "maniqa": ["timm/vit_base_patch8_224.augreg2_in21k_ft_in1k/model.safetensors"],
        "qualiclip": ["QualiCLIP.pth", "RN50.pt"],
    }
    assert files["RN50.pt"].pin == "sha256" and files["QualiCLIP.pth"].pin == "unpinned"
