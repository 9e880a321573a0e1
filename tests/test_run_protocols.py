"""Protocols as data: the paper's defaults, the demo mapping, overrides and their errors."""

import dataclasses
import importlib

import pytest

import protocols
from protocols import Options, ProtocolError


def test_the_five_protocols_with_the_papers_defaults():
    assert protocols.names() == [
        "intra",
        "cross",
        "efficiency",
        "ablation",
        "sensitivity",
        "eval",
    ]  # eval: not the paper's
    intra = protocols.get("intra")
    assert intra.datasets == ("live", "csiq", "kadid10k", "livec", "bid", "koniq10k")
    assert (intra.n_splits, intra.test_fraction, intra.aggregate) == (10, 0.2, "median")
    assert protocols.get("cross").pairs == (
        ("livec", "koniq10k"),
        ("koniq10k", "livec"),
        ("live", "csiq"),
        ("csiq", "live"),
    )
    eff = protocols.get("efficiency")
    assert eff.datasets == ("live", "livec") and eff.fractions == (0.2, 0.4, 0.6) and eff.n_splits == 10
    assert protocols.get("ablation").datasets == ("csiq", "livec")
    assert protocols.get("sensitivity").datasets == ("live", "csiq")


def test_mpiqe_variants_are_the_papers():
    abl = {v.label: v.overrides for v in protocols.get("ablation").variants["mpiqe"]}
    assert abl == {
        "full": {},
        "no-scene-prompts": {"use_scene_prompts": False},
        "no-distortion-prompts": {"use_distortion_prompts": False},
        "no-deep-visual-prompts": {"visual_prompts": "none"},
        "shallow-visual-prompts": {"visual_prompts": "shallow"},
    }
    sens = [v.overrides for v in protocols.get("sensitivity").variants["mpiqe"]]
    assert sens == [{"text_prompt_len": n} for n in (2, 4, 8, 16)] + [{"visual_prompt_len": n} for n in (1, 2, 4, 8)]


@pytest.mark.parametrize("method", ["mpiqe", "nss-svr"])
def test_variant_overrides_name_real_parameters(method):
    from methods import registry

    try:
        cls = registry.get_method(method)
    except ModuleNotFoundError:
        pytest.skip(f"{method} is not in this checkout")
    names = {f.name for f in dataclasses.fields(cls.Params)}
    for proto in ("ablation", "sensitivity"):
        for v in protocols.get(proto).variants[method]:
            assert set(v.overrides) <= names, (proto, v.label)
            cls.make_params(**v.overrides)  # valid values too


def test_demo_maps_every_protocol_onto_the_demo_sets():
    demo = Options(data="demo")
    for name in ("intra", "efficiency", "ablation", "sensitivity"):
        assert [(u.train, u.test) for u in protocols.get(name).units(demo)] == [
            ("demo-a", "demo-a"),
            ("demo-b", "demo-b"),
        ]
    assert [(u.train, u.test, u.split_kind) for u in protocols.get("cross").units(demo)] == [
        ("demo-a", "demo-b", "cross"),
        ("demo-b", "demo-a", "cross"),
    ]
    assert protocols.get("efficiency").units(demo)[0].fractions == (0.2, 0.4, 0.6)


def test_overrides():
    cross = protocols.get("cross")
    units = cross.units(Options(train=("live", "csiq"), test=("csiq", "kadid10k")))
    assert [(u.train, u.test) for u in units] == [("live", "csiq"), ("live", "kadid10k"), ("csiq", "kadid10k")]
    intra = protocols.get("intra")
    assert [u.train for u in intra.units(Options(datasets=("bid",)))] == ["bid"]
    assert intra.n_splits_for(Options(n_splits=3)) == 3
    eff = protocols.get("efficiency")
    assert eff.units(Options(fractions=(0.5,)))[0].fractions == (0.5,)
    abl = protocols.get("ablation")
    assert [v.label for v in abl.variants_for("mpiqe", Options(variants=("full", "no-scene-prompts")))] == [
        "full",
        "no-scene-prompts",
    ]
    assert [v.label for v in intra.variants_for("anything", Options())] == ["default"]


@pytest.mark.parametrize(
    "proto,opts,match",
    [
        ("cross", Options(train=("live",)), "both --train"),
        ("cross", Options(datasets=("live",)), "--train A --test B"),
        ("cross", Options(train=("live",), test=("live",)), "same dataset"),
        ("intra", Options(train=("live",), test=("csiq",)), "cross protocol"),
        ("intra", Options(fractions=(0.2,)), "efficiency protocol"),
        ("efficiency", Options(fractions=(1.5,)), r"\(0, 1\)"),
    ],
)
def test_bad_overrides_are_clear(proto, opts, match):
    with pytest.raises(ProtocolError, match=match):
        protocols.get(proto).units(opts)


def test_variant_errors_suggest():
    abl = protocols.get("ablation")
    with pytest.raises(ProtocolError, match="Did you mean: no-scene-prompts"):
        abl.variants_for("mpiqe", Options(variants=("no-scene-prompt",)))
    with pytest.raises(ProtocolError, match="no variants for method 'noop'.*mpiqe, nss-svr"):
        abl.variants_for("noop", Options())
    with pytest.raises(ProtocolError, match="has no variants"):
        protocols.get("intra").variants_for("noop", Options(variants=("full",)))
    with pytest.raises(protocols.UnknownProtocol, match="Did you mean: intra"):
        protocols.get("intr")
    with pytest.raises(ProtocolError, match="--splits"):
        protocols.get("intra").n_splits_for(Options(n_splits=0))


def test_run_layer_modules_and_listings_import_nothing_heavy():
    """No torch/pandas anywhere; no scipy either (it costs every worker start and `--dry-run` about a second)."""
    import subprocess
    import sys

    code = (
        "import sys, protocols, bench.runner, bench.results.store, bench.results.cells, bench.core.metrics, methods.classical, "
        "methods.testing, bench.cli.commands.run; from bench.cli import main; main(['protocols']); "
        "print('HEAVY', sorted(m for m in ('torch', 'pandas', 'open_clip', 'pyiqa', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=importlib.import_module("bench").__path__[0] + "/..",
    )
    assert "HEAVY []" in out.stdout
