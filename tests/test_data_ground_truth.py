"""Ground truth as the real files give it (issue 28): one scale for scores and stds, scales checked on load,
LIVE's two ground truths named and chosen, and a method's own label column mapped back to the dataset's score.

Shapes from the real files: pyiqa's meta_info_KonIQ10kDataset.csv (img_name, mos = MOS_zscore 1-100, std = SD on
1-5, split, c1..c5 = fractions of c_total ratings; written by pyiqa's scripts/process_koniq10k.py); the release's
koniq10k_scores_and_distributions.csv (c1..c5 counts, c_total, MOS, SD, MOS_zscore); LIVE release 2's dmos.mat
('dmos', 'orgs') and dmos_realigned.mat ('dmos_new', 'orgs', 'dmos_std'); HyperIQA's and TReS's folders.py
(Koniq_10kFolder reads 'MOS_zscore').
"""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

from bench.core.errors import DatasetError
from bench.data.datasets import load_dataset
from bench.data.datasets.fixtures import write_csv, write_fixture


def read_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# --- KonIQ-10k: scores and stds on one scale -----------------------------------------------------------------


def pyiqa_koniq_from_release(root):
    """pyiqa's CSV written from the release's table as pyiqa's process_koniq10k.py does: mos = MOS_zscore,
    std = SD (1-5), c1..c5 as fractions of c_total."""
    rows = read_rows(root / "koniq10k" / "koniq10k_scores_and_distributions.csv")
    out = []
    for i, r in enumerate(rows):
        counts = [float(r[f"c{k}"]) for k in range(1, 6)]
        total = float(r["c_total"])
        out.append((r["image_name"], r["MOS_zscore"], r["SD"], i % 3, *[c / total for c in counts], int(total)))
    header = ("img_name", "mos", "std", "split", "c1", "c2", "c3", "c4", "c5", "c_total")
    write_csv(root / "meta_info" / "meta_info_KonIQ10kDataset.csv", header, out)


def test_koniq_pyiqa_scores_and_stds_are_the_authors_mos_and_sd_on_1_to_5(tmp_path):
    write_fixture(tmp_path, "koniq10k", "official")
    release = load_dataset("koniq10k", data_root=tmp_path, layout="official")
    pyiqa_koniq_from_release(tmp_path)
    ds = load_dataset("koniq10k", data_root=tmp_path, layout="pyiqa")
    assert ds.dataset.layout == "pyiqa" and ds.dataset.raw_scale == (1.0, 5.0)
    by_id = {r.id: r for r in release.records}
    for r in ds.records:
        twin = by_id[r.id]
        assert r.raw_score == pytest.approx(twin.raw_score, abs=1e-9)  # the authors' MOS, from c1..c5
        assert r.std == pytest.approx(twin.std, abs=1e-9)  # the authors' SD: the same scale as the score
        assert r.label_columns["MOS_zscore"] == pytest.approx(twin.label_columns["MOS_zscore"])
        assert 1 <= r.raw_score <= 5 and r.std < 2
    assert "c1..c5" in ds.dataset.ground_truth and "1-5" in ds.dataset.ground_truth


def test_unique_targets_are_thurstone_on_koniq_not_a_binary_order(tmp_path):
    """UNIQUE's g = Phi((m1 - m2) / sqrt(s1^2 + s2^2)): with the 1-100 mos beside the 1-5 std almost every pair was
    0 or 1; on one scale most pairs are graded (as the official data_koniq10k.m's MOS and SD on 1-5)."""
    from scipy.stats import norm

    write_fixture(tmp_path, "koniq10k")
    ds = load_dataset("koniq10k", data_root=tmp_path)
    m = np.asarray([r.score for r in ds.records])
    s = np.asarray([r.std for r in ds.records])
    i, j = np.triu_indices(len(m), 1)
    g = norm.cdf((m[i] - m[j]) / np.sqrt(s[i] ** 2 + s[j] ** 2))
    assert np.mean((g > 0.05) & (g < 0.95)) > 0.5


# --- scales checked on load ------------------------------------------------------------------------------------


def test_score_outside_the_declared_scale_is_refused(tmp_path):
    write_fixture(tmp_path, "kadid10k")
    meta = tmp_path / "meta_info" / "meta_info_KADID10kDataset.csv"
    lines = meta.read_text().splitlines()
    parts = lines[3].split(",")
    parts[2] = "5.7"  # 'dmos' holds MOS on 1-5
    lines[3] = ",".join(parts)
    meta.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"meta_info_KADID10kDataset\.csv:4: score 5\.7 .* outside .* scale 1-5"):
        load_dataset("kadid10k", data_root=tmp_path)


def test_std_on_another_scale_is_refused(tmp_path):
    write_fixture(tmp_path, "kadid10k")
    meta = tmp_path / "meta_info" / "meta_info_KADID10kDataset.csv"
    rows = read_rows(meta)
    write_csv(  # stds on a 0-100 scale beside MOS on 1-5
        meta,
        ("ref_name", "dist_name", "dmos", "std"),
        [(r["ref_name"], r["dist_name"], r["dmos"], float(r["std"]) * 25) for r in rows],
    )
    with pytest.raises(DatasetError, match=r"KADID10kDataset\.csv:\d+: std .* cannot be on the score's scale 1-5"):
        load_dataset("kadid10k", data_root=tmp_path)


def test_data_check_reports_score_and_std_ranges_against_the_scale(tmp_path, capsys):
    from bench.cli import main

    write_fixture(tmp_path, "livec")
    main(["data", "check", "livec", "--data-root", str(tmp_path), "--json"])  # 1: 13 images, not the published 1162
    out = json.loads(capsys.readouterr().out)
    assert len(out["problems"]) == 1 and "published size" in out["problems"][0]
    assert out["scales"]["declared_scale"] == [0.0, 100.0]
    lo, hi = out["scales"]["score_range"]
    assert 5 <= lo < hi <= 95 and 10 <= out["scales"]["std_range"][0] < out["scales"]["std_range"][1] <= 20
    main(["data", "check", "livec", "--data-root", str(tmp_path)])
    text = capsys.readouterr().out
    assert re.search(r"scores [\d.]+-[\d.]+ on the declared scale 0-100", text) and "stds " in text


def test_data_check_flags_stds_too_small_for_the_score_scale(tmp_path, capsys):
    """The old KonIQ case as a dataset of one's own: MOS on 1-100 with the SD of 1-5 ratings."""
    from bench.cli import main
    from bench.data.datasets.fixtures import write_image

    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        write_image(tmp_path / "mine" / f"{i}.png", rng)
        rows.append((f"{i}.png", 20 + 10 * i, 0.5 + 0.05 * i))
    write_csv(tmp_path / "mine" / "scores.csv", ("file", "mos", "sd"), rows)
    (tmp_path / "datasets.toml").write_text(
        '[datasets.mine]\nimages = "mine"\nscores = "mine/scores.csv"\nimage_column = "file"\n'
        'score_column = "mos"\nstd_column = "sd"\nscale = [1, 100]\norientation = "mos"\n'
    )
    assert main(["data", "check", "mine", "--data-root", str(tmp_path)]) == 1
    assert "PROBLEM: every std is below 2% of the score scale 1-100" in capsys.readouterr().out


# --- LIVE's two ground truths ------------------------------------------------------------------------------------


def live_release_with_both(root):
    """LIVE release 2 holds dmos.mat ('dmos', 'orgs') beside dmos_realigned.mat ('dmos_new', 'orgs', 'dmos_std');
    the realigned values run past 0-100 (-2.64 .. 111.77 in the real file)."""
    import scipy.io

    write_fixture(root, "live", "official")
    d = root / "databaserelease2"
    mat = scipy.io.loadmat(d / "dmos_realigned.mat")
    new = mat["dmos_new"].astype(float)
    scored = np.flatnonzero(mat["orgs"].ravel() == 0)
    new[0, scored[0]], new[0, scored[1]] = -2.5, 111.5
    scipy.io.savemat(
        d / "dmos_realigned.mat", {**{k: v for k, v in mat.items() if not k.startswith("__")}, "dmos_new": new}
    )
    original = np.where(mat["orgs"] == 0, np.clip(new * 0.8 + 7, 0, 100), 0.0)
    scipy.io.savemat(d / "dmos.mat", {"dmos": original, "orgs": mat["orgs"]})
    return new.ravel()[scored], original.ravel()[scored]


def test_live_release_reads_the_realigned_dmos_and_names_it(tmp_path):
    realigned, _ = live_release_with_both(tmp_path)
    ds = load_dataset("live", data_root=tmp_path)
    assert sorted(r.raw_score for r in ds.records) == pytest.approx(sorted(realigned))
    assert "dmos_realigned.mat dmos_new" in ds.dataset.ground_truth and not ds.dataset.paper_note
    lo, hi = ds.dataset.raw_scale
    assert lo <= -2.64 and hi >= 111.77  # the declared scale holds the real file's range


def test_live_original_dmos_is_a_choice_and_another_revision(tmp_path, capsys):
    from bench.cli import main

    _, original = live_release_with_both(tmp_path)
    realigned = load_dataset("live", data_root=tmp_path)
    ds = load_dataset("live", data_root=tmp_path, ground_truths={"live": "original"})
    assert sorted(r.raw_score for r in ds.records) == pytest.approx(sorted(original))
    assert "dmos.mat dmos" in ds.dataset.ground_truth and "original" in ds.dataset.ground_truth
    assert ds.dataset.paper_note and ds.dataset.revision != realigned.dataset.revision
    args = ["data", "describe", "live", "--data-root", str(tmp_path), "--json"]
    assert main([*args, "--ground-truth", "live=original"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["ground_truth"] == ds.dataset.ground_truth and "realigned" in shown["ground_truth_vs_paper"]
    main(["data", "check", "live", "--data-root", str(tmp_path), "--ground-truth", "live=original"])
    assert "ground truth differs from the paper's baselines" in capsys.readouterr().out


def test_live_release_without_the_realigned_file_is_refused_not_swapped(tmp_path):
    live_release_with_both(tmp_path)
    (tmp_path / "databaserelease2" / "dmos_realigned.mat").unlink()
    with pytest.raises(DatasetError, match=r"missing .*dmos_realigned\.mat .*--ground-truth live=original"):
        load_dataset("live", data_root=tmp_path)
    assert load_dataset("live", data_root=tmp_path, ground_truths={"live": "original"}).dataset.ground_truth


def test_live_pyiqa_layout_names_the_original_dmos_and_the_paper_difference(tmp_path):
    write_fixture(tmp_path, "live")
    ds = load_dataset("live", data_root=tmp_path)
    assert ds.dataset.layout == "pyiqa" and "original DMOS" in ds.dataset.ground_truth
    assert "realigned" in ds.dataset.paper_note
    with pytest.raises(DatasetError, match="holds the original DMOS only"):
        load_dataset("live", data_root=tmp_path, layout="pyiqa", ground_truths={"live": "realigned"})
    with pytest.raises(DatasetError, match="has one ground truth"):
        load_dataset("csiq", data_root=tmp_path, ground_truths={"csiq": "original"})


# --- reports: named, never mixed ---------------------------------------------------------------------------------


def result(key, gt, srcc=0.5):
    from reports.source import Result

    return Result(
        key=key,
        protocol="intra",
        method="noop",
        variant="default",
        train="live",
        test="live",
        fraction=None,
        split_set="default",
        split_index=int(key[-1]),
        split_hash=key,
        seed=0,
        metrics={"srcc": srcc},
        method_version="1",
        train_revision="a" if "realigned" in gt else "b",
        test_revision="a" if "realigned" in gt else "b",
        test_ground_truth=gt,
    )


def test_a_report_row_never_mixes_two_ground_truths():
    from reports.errors import ReportError
    from reports.guard import guard
    from reports.provenance import footer

    one = [result("k0", "LIVE's realigned DMOS"), result("k1", "LIVE's realigned DMOS")]
    assert "ground truth: LIVE: LIVE's realigned DMOS;" in footer(one)
    guard({("noop",): one}, lambda k: k[0], str)
    from dataclasses import replace

    original = [replace(r, test_ground_truth_vs_paper="not the realigned DMOS the paper's baselines used") for r in one]
    assert "LIVE's realigned DMOS (not the realigned DMOS the paper's baselines used)" in footer(original)
    mixed = [result("k0", "LIVE's realigned DMOS"), result("k1", "LIVE's original DMOS")]
    with pytest.raises(ReportError, match="row noop mixes 2 ground truths of live"):
        guard({("noop",): mixed}, lambda k: k[0], str)
    trained = [replace(r, train_ground_truth="LIVE's original DMOS") for r in one]  # cross: trained on the other
    with pytest.raises(ReportError, match="row noop mixes 2 ground truths of live"):
        guard({("noop",): trained}, lambda k: k[0], str)


def test_results_and_export_carry_the_ground_truth(tmp_path, capsys):
    from bench.cli import main
    from bench.data.datasets import load_dataset as load

    out = tmp_path / "runs"
    run = ["run", "--protocol", "intra", "--method", "noop", "--data", "demo", "--splits", "1", "--no-progress"]
    assert main([*run, "--out", str(out)]) == 0
    assert main(["results", "export", "--out", str(out), "--to", str(tmp_path / "t"), "--format", "csv"]) == 0
    rows = read_rows(tmp_path / "t.csv")
    truth = {d: load(d).dataset.ground_truth for d in ("demo-a", "demo-b")}
    assert rows and all(r["test_ground_truth"] == truth[r["test"]] and r["test_ground_truth"] for r in rows)


# --- a method's own label column ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hyperiqa", "tres"])
def test_recipe_names_the_official_label_column(name):
    from methods.registry import get_method

    cls = get_method(name)
    r = cls.recipe(cls.make_params("paper"), "koniq10k", 100)
    assert r["label_column"] == "MOS_zscore" and "folders.py" in cls.label_columns["koniq10k"][1]
    assert "label_column" not in cls.recipe(cls.make_params("paper"), "livec", 100)


def test_hyperiqa_trains_on_mos_zscore_and_predicts_on_the_dataset_scale(tmp_path, monkeypatch):
    from dataclasses import replace

    from methods.base import RunContext
    from methods.registry import get_method
    from methods.retrained.engine import predict_images
    from tests.test_engine_runs_recipe import tiny_network

    write_fixture(tmp_path, "koniq10k")
    ds = load_dataset("koniq10k", data_root=tmp_path)
    train, test = ds.subset(ds.ids[:6]), ds.subset(ds.ids[6:9])
    cls = get_method("hyperiqa")
    p = replace(cls.make_params("ci"), crop_size=32)
    m = cls(p, RunContext(seed=0, workdir=tmp_path, image_cache=tmp_path / "images"))
    monkeypatch.setattr(cls, "build", lambda self: tiny_network("hyperiqa"))
    targets = []
    real = m.loss_terms

    def loss_terms(net, x, y, y_std=None):
        targets.extend(y.tolist())
        return real(net, x, y, y_std)

    m.loss_terms = loss_terms
    m.fit(train)
    zscores = np.asarray([r.label_columns["MOS_zscore"] for r in train.records])
    assert targets and all(np.abs(zscores - t).min() < 1e-4 for t in targets)  # the official column, 1-100
    assert min(targets) > 5  # not the 1-5 MOS
    a, b = m.label_map
    fit = np.polyfit([r.label_columns["MOS_zscore"] for r in train.records], train.scores, 1)
    assert (a, b) == pytest.approx(tuple(fit))
    recipe = cls.recipe_for(p, "koniq10k")
    raw = predict_images(m.model, test, recipe.crop_size, recipe.test, m.context)
    assert m.predict(test) == pytest.approx(a * raw + b)  # mapped back before any metric
    assert any("MOS_zscore" in n and "mapped back" in n for n in m.context.notes)
    m.save(tmp_path / "ckpt")
    again = cls(p, RunContext(seed=0, workdir=tmp_path, image_cache=tmp_path / "images"))
    monkeypatch.setattr(cls, "build", lambda self: tiny_network("hyperiqa"))
    again.load(tmp_path / "ckpt")
    assert again.label_map == pytest.approx((a, b))


def test_asking_for_the_realigned_dmos_reads_the_release_beside_pyiqas_csv(tmp_path):
    write_fixture(tmp_path, "live", labels=False)  # pyiqa layout: detected first, original DMOS
    realigned, _ = live_release_with_both(tmp_path)  # the release files under the same data root
    assert load_dataset("live", data_root=tmp_path).dataset.layout == "pyiqa"
    ds = load_dataset("live", data_root=tmp_path, ground_truths={"live": "realigned"})
    assert ds.dataset.layout == "official" and "dmos_new" in ds.dataset.ground_truth
    assert sorted(r.raw_score for r in ds.records) == pytest.approx(sorted(realigned))
