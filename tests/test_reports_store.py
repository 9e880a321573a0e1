"""Reports on stores written by the real ``bench.results.store.ResultStore``: split identity, repeated splits,
published rows only beside measured ones, and the name normalisation of protocol variants."""

from __future__ import annotations

import hashlib

import pytest

from bench.results.store import ResultStore
from reports import names
from reports.build import build_report


def _write(
    store: ResultStore,
    method: str,
    dataset: str,
    index: int,
    srcc: float,
    split_hash: str,
    protocol: str = "intra",
    variant: str = "default",
) -> None:
    key = hashlib.sha256(f"{method}|{dataset}|{protocol}|{variant}|{index}|{split_hash}".encode()).hexdigest()[:20]
    store.write_done(
        {
            "key": key,
            "status": "done",
            "schema": 1,
            "protocol": protocol,
            "method": method,
            "method_version": "1",
            "variant": variant,
            "train_dataset": dataset,
            "test_dataset": dataset,
            "train_revision": "r",
            "test_revision": "r",
            "split_set": "default",
            "split_index": index,
            "split_hash": split_hash,
            "fraction": None,
            "seed": 0,
            "harness_version": "0.1.0",
            "finished_at": "2026-11-26T00:00:00",
            "metrics": {"srcc": srcc, "plcc": srcc, "plcc_logistic": srcc, "flags": []},
        },
        [("a.png", 1.0, 0.5), ("b.png", 2.0, 0.7), ("c.png", 3.0, float("nan"))],
    )


@pytest.fixture()
def store(tmp_path):
    s = ResultStore(tmp_path / "runs", create=True)
    hashes = ["h0", "h0", "h2", "h3", "h4", "h5"]  # splits 0 and 1 drew the same images
    for i, h in enumerate(hashes):
        _write(s, "nss-svr", "demo-a", i, 0.60 + 0.01 * i, h)
        _write(s, "noop", "demo-a", i, 0.01 * i, h)
    return s


def test_splits_count_by_index_and_repeats_are_noted(store):
    report = build_report(store.root, views=[])
    (table,) = [t for t in report.tables if not t.derived_from]  # rank stability tables aside
    nss = next(r for r in table.rows if r.method == "nss-svr")
    stat = nss.cells[("demo-a", "demo-a", "srcc")]
    assert stat.n == 6 and stat.value == pytest.approx(0.625)
    noop = next(r for r in table.rows if r.method == "noop").cells[("demo-a", "demo-a", "srcc")]
    # splits 0 and 1 hold the same images: one observation, so 5 distinct pairs (not 6), as scipy on those
    from scipy.stats import wilcoxon

    distinct = [0, 2, 3, 4, 5]
    expected = wilcoxon([0.60 + 0.01 * i for i in distinct], [0.01 * i for i in distinct]).pvalue
    assert noop.n_paired == 5 and noop.p_value == pytest.approx(expected) == pytest.approx(0.0625)
    assert noop.mark == "≈"  # 5 pairs can never reach p < 0.05
    assert any("distinct splits per column: demo-a 5 of 6" in n for n in table.notes)
    assert any("1 split(s) hold exactly the same images" in n for n in table.notes)  # index 1 repeats 0


def test_remade_split_under_the_same_index_is_noted(store):
    (table,) = [t for t in build_report(store.root, views=[]).tables if not t.derived_from]
    assert not any("split index(es) hold results on different splits" in n for n in table.notes)
    _write(store, "nss-svr", "demo-a", 2, 0.9, "h2-remade")  # split 2 was remade (e.g. new split drawing)
    (table,) = [t for t in build_report(store.root, views=[]).tables if not t.derived_from]
    nss = next(r for r in table.rows if r.method == "nss-svr").cells[("demo-a", "demo-a", "srcc")]
    assert nss.n == 7
    assert any(n.startswith("1 split index(es) hold results on different splits") for n in table.notes)


def test_published_rows_only_beside_measured_tables(store):
    report = build_report(store.root, with_published=True, views=[])
    assert [t.id for t in report.tables if not t.derived_from] == ["table1"]  # no Table 2..6 of published numbers alone
    assert not any(r.published for r in report.tables[0].rows)  # the paper has no demo-a column


def test_scatter_skips_missing_predictions(store, tmp_path):
    from reports.plots import pick_cell, plot_scatter

    report = build_report(store.root, views=[])
    cell = pick_cell(report.results, None)
    assert cell.method == "nss-svr" and cell.split_index == 0
    (path,) = plot_scatter(cell, tmp_path / "scatter", ["png"])  # the NaN prediction is left out
    assert path.stat().st_size > 2000


@pytest.mark.parametrize(
    "variant, expected",
    [
        ("full", "full"),
        ("no-scene-prompts", "no-scene"),
        ("no-distortion-prompts", "no-distortion"),
        ("no-deep-visual-prompts", "no-visual"),
        ("shallow-visual-prompts", "shallow-visual"),
        ("W/O Scene prompts", "no-scene"),
        ("without distortion prompts", "no-distortion"),
        ("no_vpt", "no-visual"),
        ("single-scale", "single-scale"),
    ],
)
def test_ablation_names(variant, expected):
    assert names.canonical_ablation(variant) == expected


@pytest.mark.parametrize(
    "variant, expected",
    [
        ("text-len-16", "text_prompt_len=16"),
        ("visual-len-4", "visual_prompt_len=4"),
        ("text_prompt_len = 2", "text_prompt_len=2"),
        ("scales-3", "scales=3"),
        ("plain", "plain"),
    ],
)
def test_sensitivity_names(variant, expected):
    assert names.canonical_sensitivity(variant) == expected


def test_mixed_split_sets_are_footnoted(store):
    import json

    path = next(store.root.glob("cells/*/*.json"))
    cell = json.loads(path.read_text())
    cell["split_set"] = "liqe"  # written as a run writes it (an edited record fails its integrity hash)
    store.write_done(cell, store.load_predictions(cell["key"]))
    (table,) = [t for t in build_report(store.root, views=[]).tables if not t.derived_from]
    assert any(n.startswith("Rows come from different split sets: default (") and "liqe (" in n for n in table.notes)
