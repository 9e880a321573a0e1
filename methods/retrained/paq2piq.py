"""PaQ-2-PiQ (Ying et al., CVPR 2020) architecture as released: pyiqa 'paq2piq' (ResNet-18 + RoIPool).

The authors trained with fastai (baidut/PaQ-2-PiQ); the released checkpoint's name P2P_RoIPoolModel-fit.10.bs.120
says 10 epochs at batch 120. The optimiser (Adam, one-cycle-like cosine, lr 1e-3 head / 1e-4 body) and MSE are
assumed from fastai's defaults; image-level scores only (no patch labels). Test: the whole image, as the
released model scores it.
"""

from __future__ import annotations

from methods.pyiqa_zeroshot import _TV
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch, split_params
from methods.retrained.recipe import recipe_dataclass

PaQ2PiQParams = recipe_dataclass(
    "PaQ2PiQParams", epochs=10, batch_size=120, optimizer="adam", lr=1e-3, backbone_lr=1e-4,
    scheduler="cosine", loss="mse", target="z", crop_size=224, hflip=True, train_crops=1, test_mode="full",
    test_crops=1)
PaQ2PiQParams.__module__ = __name__


class PaQ2PiQ(PyiqaRetrained):
    name = "paq2piq"
    description = ("PaQ-2-PiQ (Ying et al. 2020) architecture as released (pyiqa 'paq2piq': ResNet-18 + RoIPool), "
                   "retrained per cell; NOT exactly the paper's P2P-BM baseline")
    version = "2"        # 2: whole-image test (was one 224 crop)
    Params = PaQ2PiQParams
    presets = {"paper": {}, "demo": {**DEMO, "test_mode": "crops"}, "ci": {**CI, "crop_size": 64, "test_mode": "crops"}}
    weights = [(_TV, "resnet18")]
    sources = {
        "epochs, batch": "released checkpoint name P2P_RoIPoolModel-fit.10.bs.120 (baidut/PaQ-2-PiQ)",
        "optimizer, lr, schedule, loss": "assumed: fastai fit_one_cycle defaults the authors' code uses",
        "crop": "assumed: 224 random crops, one per image per epoch",
        "test": "the whole image, as the released model is applied (pyiqa paq2piq)",
    }
    source = ("released checkpoint name P2P_RoIPoolModel-fit.10.bs.120 (10 epochs, batch 120); optimiser "
              "(Adam, cosine, lr 1e-3 head / 1e-4 body) and MSE assumed from fastai; whole-image test")
    simplifications = ("the released RoIPool model, trained on image-level scores only (no patch labels)",)

    def build(self):
        from methods.retrained.engine import Trainable

        net = build_arch({"type": "PAQ2PIQ", "pretrained": False})
        bb, head = split_params(net, net.body)
        return Trainable(net, bb, head)
