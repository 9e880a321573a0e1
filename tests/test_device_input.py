"""uint8 to the device (issue 23): the crop datasets hand out uint8, make_loader converts on the loader's
device (bench.data.device_input), and what a method receives -- and so what it predicts -- is bit-equal to the
float32 crops the datasets used to build in numpy (CPU). float64 default dtype: float64 input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


def old_crops_chw_float(img_u8_crops: np.ndarray) -> np.ndarray:
    """The datasets' float path before issue 23, written out: float32 products with float32(1/255)."""
    out = np.empty(img_u8_crops.shape, dtype=np.float32)
    scale = np.float32(1.0 / 255.0)
    for k, crop in enumerate(img_u8_crops):
        np.multiply(crop, scale, out=out[k])
    return out


def test_to_unit_is_the_old_float_path_bit_for_bit_for_every_pixel_value():
    from bench.data.device_input import to_unit

    v = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    got = to_unit(v)
    assert got.dtype == torch.float32
    assert got.numpy().tobytes() == old_crops_chw_float(v.numpy()).tobytes()
    exact = to_unit(v, exact=True)  # PatchDataset's whole image divided by 255
    assert exact.numpy().tobytes() == (v.numpy().astype(np.float32) / np.float32(255)).tobytes()
    assert not torch.equal(got, exact)  # the two roundings differ (126 of 256 values): both kept
    from bench.data.device_input import _unit_torch  # the CUDA path's arithmetic, run on the CPU here

    for exact in (False, True):
        assert torch.equal(_unit_torch(v, exact), to_unit(v, exact=exact))
    floats = torch.rand(2, 3)
    assert to_unit(floats) is floats  # floats are taken as [0, 1] already
    with pytest.raises(TypeError, match="uint8"):
        to_unit(torch.zeros(2, dtype=torch.int32))


def test_default_dtype_float64_gives_float64_tensors_of_the_float32_values():
    """--precision float64 (issue 19) cast the float32 crops to float64: the same values now, in float64."""
    from bench.data.device_input import to_unit

    v = torch.arange(256, dtype=torch.uint8)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        got = to_unit(v)
    finally:
        torch.set_default_dtype(before)
    assert got.dtype == torch.float64
    assert got.numpy().tobytes() == to_unit(v).double().numpy().tobytes()
    np.testing.assert_allclose(got.numpy(), np.arange(256) / 255.0, rtol=1e-7, atol=0)  # float32 rounding


def test_loader_batches_are_the_old_float_crops(demo_small):
    from bench.data.images import CropDataset, make_loader

    ds = CropDataset(demo_small.records[:5], n_crops=3, crop_size=48, train=True, seed=2)
    items = {i: ds[(0, i)] for i in range(5)}
    assert all(it["crops"].dtype == torch.uint8 for it in items.values())
    for batch in make_loader(ds, batch_size=2, shuffle=True, seed=1):
        assert batch["crops"].dtype == torch.float32
        for k, i in enumerate(batch["index"].tolist()):
            want = old_crops_chw_float(items[i]["crops"].numpy())
            assert batch["crops"][k].numpy().tobytes() == want.tobytes()


def test_mpiqe_predictions_equal_the_old_float_crops_predictions(demo_small):
    """MP-IQE's predict (uint8 items, converted by the loader) against the model run on float32 crops
    built the old way: bit-equal on the CPU."""
    from bench.data.images import CropDataset
    from methods.base import RunContext
    from methods.mpiqe import MPIQE
    from methods.mpiqe import train as T

    images = demo_small.subset(demo_small.ids[:4])
    m = MPIQE(MPIQE.make_params("ci"), RunContext(seed=0))
    m.build()
    p = m.settings()
    data = CropDataset(images.records, n_crops=p["n_crops"], crop_size=p["crop_size"], train=False, seed=0)
    got = T.predict(m.model, data, batch_size=2, device=torch.device("cpu"), amp="off", micro_batch=64)
    m.model.eval()
    with torch.no_grad():
        text = m.model.text_features(use_cache=True)
        want = []
        for pair in ((0, 1), (2, 3)):  # predict's batches: 2 images x k crops, one pass
            x = torch.from_numpy(np.stack([old_crops_chw_float(data[i]["crops"].numpy()) for i in pair]))
            s = m.model(x.flatten(0, 1), text, need_alignment=False)["score"]
            want += s.float().view(2, -1).mean(1).double().tolist()
    np.testing.assert_array_equal(got, np.array(want))


def test_retrained_whole_image_predictions_equal_the_old_division(demo_small):
    """The retrained engine's full-image test path (PatchDataset crop 0: divided by 255 before) and its crop
    path give the predictions of the old float items exactly."""
    from methods.base import RunContext
    from methods.retrained.data import PatchDataset
    from methods.retrained.engine import predict_images
    from tests.tiny_models import tiny_conv_trainable

    images = demo_small.subset(demo_small.ids[:3])
    model = tiny_conv_trainable()
    ctx = RunContext(seed=0)
    full = predict_images(model, images, 0, {"mode": "full", "resize": None}, ctx)
    crops = predict_images(model, images, 32, {"mode": "crops", "n_crops": 2}, ctx)
    net = model.net.eval()
    whole = PatchDataset(images.records, 0, 1, None, train=False, seed=0)
    cut = PatchDataset(images.records, 32, 2, None, train=False, seed=0)
    with torch.no_grad():
        want_full = [
            model.pool(net, torch.from_numpy(whole[i]["x"].numpy().astype(np.float32) / np.float32(255))[None])
            .double()
            .item()
            for i in range(3)
        ]  # one image per batch, as predict_images does
        batch = np.stack([old_crops_chw_float(cut[i]["x"].numpy()) for i in range(3)])  # the 3 images in one batch
        want_crops = model.pool(net, torch.from_numpy(batch)).double().numpy()
    np.testing.assert_array_equal(full, want_full)
    np.testing.assert_array_equal(crops, want_crops)
