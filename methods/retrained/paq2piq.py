"""PaQ-2-PiQ (Ying et al., CVPR 2020) architecture as released: pyiqa 'paq2piq' (ResNet-18 + RoIPool).

The authors trained with fastai v1 (baidut/PaQ-2-PiQ, fastiqa): ``learn.fit(10)`` at batch 120 (the released
checkpoint RoIPoolModel-fit.10.bs.120, fastiqa/gui/qmap_browser.py ``fit(10,bs=120)``) of an ``IqaLearner``
split into [body], [head] (fastiqa/models/_body_head.py ``split_on``). fastai v1's ``fit`` defaults: lr
slice(3e-3) -> 3e-4 for the body, 3e-3 for the head, constant (``fit`` has no schedule); AdamW = Adam
betas (0.9, 0.99) with decoupled weight decay 1e-2 (``true_wd``) on every parameter (``bn_wd``); loss
MSELossFlat on the MOS (fastiqa Im2MOS); no augmentation. Image-level scores only (no patch labels).
Test: the whole image, as the released model scores it.
"""

from __future__ import annotations

from methods.pyiqa_zeroshot import TORCHVISION
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch, split_params
from methods.retrained.recipe import recipe_dataclass

SRC = "baidut/PaQ-2-PiQ"

PaQ2PiQParams = recipe_dataclass(
    "PaQ2PiQParams",
    epochs=10,
    batch_size=120,
    optimizer="adamw-fastai",
    lr=3e-3,
    backbone_lr=3e-4,
    weight_decay=1e-2,
    scheduler="none",
    loss="mse",
    target="score",
    crop_size=224,
    hflip=False,
    train_crops=1,
    test_mode="full",
    test_crops=1,
)
PaQ2PiQParams.__module__ = __name__


class PaQ2PiQ(PyiqaRetrained):
    name = "paq2piq"
    description = (
        "PaQ-2-PiQ (Ying et al. 2020) architecture as released (pyiqa 'paq2piq': ResNet-18 + RoIPool), "
        "retrained per cell; NOT exactly the paper's P2P-BM baseline"
    )
    version = "3"  # 3: fastai v1 fit(10) defaults (AdamW wd 1e-2, 3e-4 / 3e-3 constant, raw MOS, no flip)
    Params = PaQ2PiQParams
    presets = {"paper": {}, "demo": {**DEMO, "test_mode": "crops"}, "ci": {**CI, "crop_size": 64, "test_mode": "crops"}}
    weights = [(TORCHVISION, "resnet18")]
    sources = {
        "epochs, batch": f"{SRC}: released RoIPoolModel-fit.10.bs.120.pth; fastiqa/gui/qmap_browser.py "
        "'CVPR2020/fit(10,bs=120)'; README: learn.fit(10)",
        "param groups": f"{SRC} fastiqa/models/_body_head.py split_on: [[m.body], [m.head]]",
        "optimizer, lr, schedule": "fastai v1 Learner.fit defaults (fastiqa IqaLearner(Learner)): lr=slice(3e-3) -> "
        "[3e-4, 3e-3], opt_func AdamW (Adam, betas 0.9/0.99), wd 1e-2 true_wd, bn_wd; "
        "fit: constant lr",
        "loss, targets": f"{SRC} fastiqa/models/bunches/regression.py Im2MOS: loss_func MSELossFlat on the MOS",
        "augmentation": f"{SRC} Im2MOS.get_augment: only a resize when img_tfm_size is set (no flip, no crop)",
        "train crop": "ours: one random 224 crop per image per epoch (the official trains on whole FLIVE images "
        "padded to 640x640; our datasets have mixed sizes)",
        "test": "the whole image, as the released model is applied (pyiqa paq2piq)",
        "last batch": "fastai v1 basic_data.py DataBunch.create: DataLoader(train_ds, bs, shuffle=True, "
        "drop_last=True) (fastiqa Im2MOS: data.databunch(bs=...)): the incomplete last batch is dropped",
    }
    source = (
        f"{SRC} fastai v1 learn.fit(10), batch 120: AdamW wd 1e-2, body 3e-4 / head 3e-3 constant, MSE on "
        "the MOS; whole-image test"
    )
    official_selection = "fastiqa's SaveModelCallback keeps the best validation SRCC epoch: we keep the last"
    simplifications = (
        "the released RoIPool model, trained on image-level scores only (no patch labels)",
        "random 224 crops (the official trains whole images padded to 640x640)",
    )

    def build(self):
        from methods.retrained.engine import Trainable

        net = build_arch({"type": "PAQ2PIQ", "pretrained": False})
        bb, head = split_params(net, net.body)
        return Trainable(net, bb, head)
