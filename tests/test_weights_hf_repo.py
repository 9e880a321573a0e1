"""Q-Align's weights: a whole Hugging Face repository (q-future/one-align) that pyiqa's qalign loads with
transformers from the HF cache; `bench weights fetch` downloads it with huggingface_hub's snapshot_download."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from methods import registry


def fake_snapshot(calls: list):
    def snapshot_download(repo_id, cache_dir):
        calls.append((repo_id, Path(cache_dir)))
        snap = Path(cache_dir) / ("models--" + repo_id.replace("/", "--")) / "snapshots" / "0123abcd"
        snap.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "preprocessor_config.json", "tokenizer.model"):
            (snap / name).write_text("{}")
        return str(snap)

    return snapshot_download


@pytest.fixture
def hf_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    return tmp_path / "hf-home" / "hub"


@pytest.mark.parametrize("metric", ["qalign", "qalign_8bit"])
def test_qalign_needs_its_repository(metric, hf_home):
    cls = registry.get_method(f"pyiqa:{metric}")
    (spec,) = [w for w in cls.required_weights(cls.make_params()) if w.url.startswith("hf-snapshot://")]
    assert spec.url == "hf-snapshot://q-future/one-align" and spec.found is None
    ok, why = cls.availability(cls.make_params())
    assert not ok and "weights fetch" in why and "q-future/one-align" in why


def test_fetch_into_the_hf_cache_then_found(hf_home, capsys, monkeypatch):
    import huggingface_hub

    calls = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot(calls))
    assert main(["weights", "fetch", "pyiqa:qalign", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert calls == [("q-future/one-align", hf_home)] and row["status"] == "fetched (snapshot 0123abcd)"
    cls = registry.get_method("pyiqa:qalign")
    assert cls.availability(cls.make_params()) == (True, "ok")
    assert main(["weights", "fetch", "pyiqa:qalign", "--json"]) == 0  # present: not fetched again
    assert json.loads(capsys.readouterr().out)[0]["status"].startswith("present at ") and len(calls) == 1


def test_fetch_to_a_folder_makes_an_hf_cache_there(hf_home, tmp_path, capsys, monkeypatch):
    import huggingface_hub

    calls = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot(calls))
    assert main(["weights", "fetch", "pyiqa:qalign", "--to", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out
    assert calls == [("q-future/one-align", tmp_path / "w" / "hf")]
    assert f"HF_HUB_CACHE={tmp_path / 'w' / 'hf'}" in out


def test_a_failed_snapshot_is_an_error(hf_home, capsys, monkeypatch):
    import huggingface_hub

    def refuse(repo_id, cache_dir):
        raise OSError("no route to host")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    assert main(["weights", "fetch", "pyiqa:qalign"]) == 2
    out = capsys.readouterr()
    assert "FAILED: OSError: no route to host" in out.out and "1 weight file(s) failed" in out.err
