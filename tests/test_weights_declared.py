"""Issue 32 item 5: every weight file a shipped study can need is declared, so `study plan`, `--strict` and
`weights fetch --study` see it before a run, and an offline cluster does not learn it at run time.

The declarations are checked against pyiqa's own source in this environment (its ``default_model_urls`` name the
release files; ``timm.create_model(arch, pretrained=True)`` fetches the arch's default tag from the HF hub)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from urllib.parse import unquote

import pytest

from bench.cli import main
from bench.study.planner import study_method_params
from bench.study.spec import load_study, shipped_names
from methods import registry
from methods.pyiqa_zeroshot import HF_REPOS, METRIC_WEIGHTS, PYIQA, TIMM, PyiqaZeroShot

WEIGHTLESS: set[str] = set()  # methods of shipped studies that load no weight file (none today)


def shipped_methods() -> list[tuple[str, str, object]]:
    out = {}
    for study in shipped_names():
        for name, params in study_method_params(load_study(study)):
            out.setdefault((study, name, repr(params)), (study, name, params))
    return list(out.values())


def pyiqa_arch_source() -> str:
    spec = importlib.util.find_spec("pyiqa")
    root = Path(list(spec.submodule_search_locations)[0]) / "archs"
    return "\n".join(p.read_text() for p in sorted(root.glob("*.py")))


@pytest.mark.parametrize("study, name, params", shipped_methods(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_method_of_a_shipped_study_declares_its_weight_files(study, name, params):
    _, cls, _ = registry.resolve(name)
    files = cls.required_weights(params, None)
    if name in WEIGHTLESS:
        assert not files
        return
    assert files, f"{study}: {name} declares no weight file: `weights fetch --study {study}` would miss it"
    if issubclass(cls, PyiqaZeroShot):
        assert cls.metric in METRIC_WEIGHTS or cls.metric in HF_REPOS  # files, or a whole HF repository


def test_the_declared_pyiqa_files_are_the_ones_pyiqa_names():
    """Each declared release file is one pyiqa's architectures download (get_url_from_name('<file>'))."""
    source = pyiqa_arch_source()
    for metric, entries in METRIC_WEIGHTS.items():
        for kind, arg in entries:
            if kind == PYIQA:
                assert f"'{unquote(arg)}'" in source, f"{metric}: {arg} is not named in pyiqa's archs"


def test_the_declared_timm_backbones_are_the_default_tags():
    timm = pytest.importorskip("timm")
    for metric, entries in METRIC_WEIGHTS.items():
        for kind, repo in entries:
            if kind == TIMM:
                arch = repo.split("/", 1)[1].split(".", 1)[0]
                assert timm.models.get_pretrained_cfg(arch).hf_hub_id == repo, metric


def test_fetch_dry_run_lists_the_file_of_a_metric_undeclared_before(capsys):
    assert main(["weights", "fetch", "pyiqa:nrqm", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "NRQM_model.mat" in out and "1 of 1 file(s) would be fetched" in out  # before: 0 of 0


def test_fetching_a_metric_without_declared_files_says_so(capsys):
    assert main(["weights", "fetch", "pyiqa:arniqa-live", "--dry-run"]) == 0
    assert "pyiqa:arniqa-live: its weight files are not declared" in capsys.readouterr().err
