"""`bench figures gradcam|tsne` (paper Figures 3-4) on real ci-preset cells with checkpoints.

One store per module, made by the real runner: MP-IQE, visual-only, nss-svr (the generic features() hook)
and noop (no hook, no checkpoint) on demo-a, one split.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("pytorch_grad_cam")
pytest.importorskip("sklearn")

from bench.cli import main  # noqa: E402
from reports.figures.cells import FigureError, cell_test_images, load_method, select_cells  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures") / "runs"
    rc = main(
        [
            "run",
            "--protocol",
            "intra",
            "--method",
            "mpiqe,visual-only,nss-svr,noop",
            "--data",
            "demo",
            "--datasets",
            "demo-a",
            "--preset",
            "ci",
            "--splits",
            "1",
            "--save-checkpoints",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def loaded(runs):
    """{method: (loaded method, its cell, its test images)} for MP-IQE and visual-only."""
    out = {}
    for cell in select_cells(runs, ["mpiqe", "visual-only"]):
        images, _ = cell_test_images(cell)
        out[cell.method] = (load_method(cell), cell, images)
    return out


def _maps(loaded, method, n=3, **kw):
    from reports.figures.gradcam import compute_maps

    m, _, images = loaded[method]
    return compute_maps(m, images.records[:n], **kw), images.records[:n]


def _image_shape(rec):
    from PIL import Image

    with Image.open(rec.path) as img:
        return img.size[1], img.size[0]


def test_reloaded_checkpoint_reproduces_the_cells_predictions(loaded):
    """The figures explain the model the cell measured, not a rebuilt look-alike."""
    from reports.figures.cells import read_predictions

    for method, (m, cell, images) in loaded.items():
        stored = read_predictions(cell)
        again = m.predict(images)
        np.testing.assert_allclose(again, [stored[i] for i in images.ids], rtol=1e-4, atol=1e-5, err_msg=method)


def test_gradcam_maps_have_the_image_size_and_are_not_constant(loaded):
    for method in ("mpiqe", "visual-only"):
        res, recs = _maps(loaded, method)
        assert len(res.maps) == len(recs) == 3
        for cam, rec in zip(res.maps, recs):
            assert cam.shape == _image_shape(rec)
            assert cam.min() >= 0.0 and cam.max() <= 1.0
        spreads = [float(c.max() - c.min()) for c in res.maps]
        assert max(spreads) > 0.5, (method, spreads)  # min-max scaled: a non-constant map spans ~[0, 1]
        if method == "mpiqe":
            assert min(spreads) > 0.5, spreads
        assert all(np.isfinite(res.view_scores))


def test_changing_the_target_or_the_layer_changes_the_map_and_repeats_are_identical(loaded):
    base, _ = _maps(loaded, "mpiqe", n=2)
    again, _ = _maps(loaded, "mpiqe", n=2)
    first_block, _ = _maps(loaded, "mpiqe", n=2, layer=0)
    negative, _ = _maps(loaded, "mpiqe", n=2, target="neg-score")
    for a, b, c, d in zip(base.maps, again.maps, first_block.maps, negative.maps):
        np.testing.assert_array_equal(a, b)
        assert np.abs(a - c).mean() > 0.02
        assert np.abs(a - d).mean() > 0.02
    assert "block 1" in base.layer_name and "block 0" in first_block.layer_name


def test_gradcam_rejects_a_layer_outside_the_encoder_and_unknown_targets(loaded):
    from reports.figures.gradcam import compute_maps

    m, _, images = loaded["mpiqe"]
    with pytest.raises(FigureError, match="--layer 7.*2 blocks"):
        compute_maps(m, images.records[:1], layer=7)
    with pytest.raises(FigureError, match="--target"):
        compute_maps(m, images.records[:1], target="srcc")


def test_mpiqe_features_are_the_pooled_decoder_output_and_the_cls_embedding(loaded):
    import torch

    from bench.data.device_input import to_unit
    from bench.data.images import CropDataset
    from reports.figures.hooks import features

    m, _, images = loaded["mpiqe"]
    feats = features(m, images)
    dim = int(m.model.clip.visual.output_dim)
    assert set(feats) == {"decoder", "cls"}
    assert feats["decoder"].shape == feats["cls"].shape == (len(images), dim)
    assert not np.allclose(feats["cls"][0], feats["cls"][1])
    np.testing.assert_array_equal(features(m, images)["decoder"], feats["decoder"])
    # visual-only has no visual prompts: its CLS feature is exactly CLIP's image embedding of the cell's
    # test crops (mean over crops), so the hook reads the right tensor
    v, _, _ = loaded["visual-only"]
    few = images.subset(images.ids[:3])
    got = features(v, few)["cls"]
    p = v.settings()
    crops = CropDataset(few.records, n_crops=p["n_crops"], crop_size=p["crop_size"], train=False, seed=v.context.seed)
    with torch.no_grad():
        want = [
            v.model.clip.encode_image((to_unit(crops[i]["crops"]) - v.model.mean) / v.model.std).mean(0).numpy()
            for i in range(len(few))
        ]
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-4, atol=1e-5)
    assert not np.allclose(got, feats["cls"][:3])  # MP-IQE's prompts change its CLS feature


def test_tsne_is_deterministic_for_a_seed_and_records_its_settings(loaded):
    from reports.figures.hooks import features
    from reports.figures.tsne import embed

    m, _, images = loaded["visual-only"]
    x = features(m, images)["decoder"]
    a, fa = embed(x, perplexity=30, seed=0, init="random")
    b, _ = embed(x, perplexity=30, seed=0, init="random")
    c, _ = embed(x, perplexity=30, seed=1, init="random")
    assert a.shape == (len(images), 2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # PCA initialisation (the default): deterministic whatever the seed
    np.testing.assert_array_equal(embed(x, seed=0)[0], embed(x, seed=1)[0])
    assert fa["seed"] == 0 and fa["init"] == "random"
    assert fa["perplexity"] == pytest.approx((len(images) - 1) / 3)  # 30 capped for n = 40
    assert embed(x, perplexity=5, seed=0)[1]["perplexity"] == 5


def _png_text(path):
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        return dict(img.text), img.size


def test_gradcam_command_writes_png_pdf_and_sidecar(runs, tmp_path, capsys):
    out = tmp_path / "report"
    rc = main(["figures", "gradcam", "--runs", str(runs), "--out", str(out), "--max-images", "3"])
    assert rc == 0
    stem = out / "figures" / "gradcam-demo-a"
    text, size = _png_text(stem.with_suffix(".png"))
    assert size[0] > size[1] > 100
    meta = json.loads(text["Description"])
    assert meta["settings"]["target"] == "score" and len(meta["images"]) == 3
    assert [c["method"] for c in meta["cells"]] == ["visual-only", "mpiqe"]
    assert "score head" in meta["cells"][1]["gradient_of"]
    assert stem.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    assert json.loads(stem.with_suffix(".json").read_text()) == meta
    assert "per image" in capsys.readouterr().out


def test_tsne_command_records_perplexity_and_seed_in_png_and_pdf(runs, tmp_path):
    out = tmp_path / "report"
    assert main(["figures", "tsne", "--runs", str(runs), "--out", str(out), "--seed", "3", "--perplexity", "8"]) == 0
    stem = out / "figures" / "tsne-mpiqe-demo-a"
    text, _ = _png_text(stem.with_suffix(".png"))
    meta = json.loads(text["Description"])
    assert meta["settings"]["seed"] == 3 and meta["settings"]["perplexity"] == "8"
    assert set(meta["tsne"]) == {"decoder", "cls"} and meta["n_images"] == 40
    pdf = stem.with_suffix(".pdf").read_bytes()
    assert b"perplexity=8" in pdf and b"seed=3" in pdf


def test_generic_features_hook_serves_other_methods(runs, tmp_path):
    """nss-svr defines features(images) -> [N, D]: t-SNE works for it without MP-IQE code."""
    out = tmp_path / "report"
    assert main(["figures", "tsne", "--runs", str(runs), "--out", str(out), "--method", "nss-svr"]) == 0
    meta = json.loads((out / "figures" / "tsne-nss-svr-demo-a.json").read_text())
    assert list(meta["tsne"]) == ["features"] and meta["tsne"]["features"]["dim"] > 1


def test_report_links_the_figures(runs, tmp_path):
    out = tmp_path / "report"
    assert main(["figures", "gradcam", "--runs", str(runs), "--out", str(out), "--max-images", "2"]) == 0
    assert main(["report", "--runs", str(runs), "--out", str(out), "--format", "md"]) == 0
    md = (out / "report.md").read_text()
    assert "](figures/gradcam-demo-a.png)" in md and "Grad-CAM" in md


def test_a_method_without_features_or_gradcam_is_a_clear_error(runs, tmp_path, capsys):
    assert main(["figures", "tsne", "--runs", str(runs), "--out", str(tmp_path), "--method", "noop"]) == 2
    err = capsys.readouterr().err
    assert "noop" in err and "features()" in err and "--save-checkpoints" in err
    assert main(["figures", "gradcam", "--runs", str(runs), "--out", str(tmp_path), "--method", "nss-svr"]) == 2
    assert "gradcam_target()" in capsys.readouterr().err
    assert not (tmp_path / "figures").exists()


def test_missing_checkpoint_names_the_cell_and_the_rerun(runs, tmp_path):
    from reports.figures.make import gradcam_figure, tsne_figure

    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    (cell,) = select_cells(copy, ["mpiqe"])
    cell.checkpoint.unlink()
    with pytest.raises(FigureError, match=r"no checkpoint: .* is missing.*--save-checkpoints --rerun all"):
        tsne_figure(copy, tmp_path / "out", method="mpiqe")
    from bench.results.store import ResultStore

    store = ResultStore(copy)  # a record as a run without --save-checkpoints writes it (an edited one fails its hash)
    record = json.loads((copy / "cells" / cell.key[:2] / f"{cell.key}.json").read_text())
    record.pop("checkpoint")
    store.write_done(record, store.load_predictions(cell.key))
    with pytest.raises(FigureError, match="ran without --save-checkpoints"):
        gradcam_figure(copy, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_selection_errors(runs, tmp_path):
    from reports.figures.make import gradcam_figure

    with pytest.raises(FigureError, match="no finished intra cell of method 'clipiqa'"):
        select_cells(runs, ["clipiqa"])
    with pytest.raises(FigureError, match="--cell 'zzzz'"):
        select_cells(runs, [], keys=["zzzz"])
    with pytest.raises(FigureError, match="no intra cell tested on 'demo-b'|has no intra cell tested on 'demo-b'"):
        select_cells(runs, ["mpiqe"], dataset="demo-b")
    with pytest.raises(FigureError, match="not a test image"):
        gradcam_figure(runs, tmp_path / "out", image_ids=["dist/no-such-image.png"])
    with pytest.raises(FigureError, match="--format"):
        gradcam_figure(runs, tmp_path / "out", formats=["svg"])
