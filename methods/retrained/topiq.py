"""TOPIQ (Chen et al., TIP 2024): top-down attention from semantics to distortions, ResNet-50 (ImageNet), NR.

TOPIQ's official code is pyiqa itself (chaofengc/IQA-PyTorch, by the paper's first author): the architecture is
pyiqa's ``CFANet`` and the recipe options/train/TOPIQ/train_TOPIQ_res50_koniq.yml, run by pyiqa/train.py:
CFANet(use_ref=False, num_crop=1, num_attn_layers=1, block_pool='weighted_avg') on a timm ResNet-50 whose
BatchNorm layers stay frozen; AdamW lr 3e-5 wd 1e-5 on every trainable parameter; CosineAnnealingLR(T_max 50,
eta_min 0) stepped once per epoch (``update_learning_rate(epoch + 2)``), periodic beyond T_max as torch computes
it; ``total_epoch`` 200 (it overrides ``total_iter`` 20000 in pyiqa/train.py); batch 16; a random 384 crop and
hflip of KonIQ's 512x384 copy; MSE + NiN (norm-in-norm) loss on MOS scaled to [0, 1] (``mos_normalize``); the
validation images whole (no crop).
"""

from __future__ import annotations

from methods.pyiqa_zeroshot import TIMM
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch, split_params
from methods.retrained.recipe import Phase, fixed, recipe_dataclass, standard_phases, torch_cosine_lrs

YML = "chaofengc/IQA-PyTorch options/train/TOPIQ/train_TOPIQ_res50_koniq.yml"
TRAIN = "chaofengc/IQA-PyTorch pyiqa/train.py"

TOPIQParams = recipe_dataclass(
    "TOPIQParams",
    epochs=200,
    batch_size=16,
    optimizer="adamw",
    lr=3e-5,
    backbone_lr=None,
    weight_decay=1e-5,
    scheduler="official",
    cosine_t_max=50,
    loss="mse+nin",
    target="unit",
    crop_size=384,
    hflip=True,
    train_crops=1,
    test_mode="full",
    test_crops=1,
)
TOPIQParams.__module__ = __name__


class TOPIQ(PyiqaRetrained):
    name = "topiq"
    description = (
        "TOPIQ (Chen et al. 2024): top-down semantic-to-distortion attention on ResNet-50 (ImageNet, timm), "
        "no-reference, retrained per cell"
    )
    version = "1"
    Params = TOPIQParams
    presets = {
        "paper": {},
        "demo": {**DEMO, "crop_size": 224, "test_mode": "crops", "scheduler": "cosine"},
        "ci": {**CI, "crop_size": 64, "test_mode": "crops", "scheduler": "none"},
    }
    weights = [(TIMM, "timm/resnet50.a1_in1k")]
    sources = {
        "last batch": "pyiqa pyiqa/data/__init__.py build_dataloader: the train loader has drop_last=True",
        "optimizer": f"{YML}: optim AdamW lr 3e-5 weight_decay 1e-5; pyiqa models/general_iqa_model.py "
        "setup_optimizers: one group of every parameter that requires grad (no lr_<module> key in the yml)",
        "schedule": f"{YML}: CosineAnnealingLR T_max 50 eta_min 0; {TRAIN}: model.update_learning_rate(epoch + 2) "
        "after every epoch -> scheduler.step() once per epoch (torch's closed form, periodic beyond T_max)",
        "epochs": f"{YML}: total_epoch 200 (total_iter 20000 is overridden: {TRAIN} sets total_iters = "
        "total_epoch x iterations per epoch)",
        "batch, crop, flip": f"{YML}: batch_size_per_gpu 16, augment random_crop 384 + hflip; pyiqa data/__init__.py: "
        "the train loader drops the last incomplete batch",
        "resize": f"{YML}: dataroot_target koniq10k/512x384 (KonIQ at half size); other datasets as given (ours)",
        "loss, targets": f"{YML}: MSELoss + NiNLoss (weights 1, 1), mos_normalize true over mos_range [0, 100]",
        "test": f"{YML}: the val set has no augment (whole image); network num_crop 1",
        "model": f"{YML} network: CFANet use_ref false, num_attn_layers 1, crop_size 384, semantic_model_name "
        "resnet50, block_pool weighted_avg; pyiqa topiq_arch.py: timm resnet50 (ImageNet) with BatchNorm frozen",
    }
    source = f"{YML}: AdamW 3e-5, cosine T_max 50 per epoch over 200 epochs, batch 16, 384 crops, MSE + NiN, whole test"
    official_selection = (
        "pyiqa's trainer keeps the best validation SRCC checkpoint (val_freq 800): we keep the last epoch"
    )
    simplifications = (
        "pyiqa/train.py runs total_epoch x ceil(n / batch) iterations over a drop_last loader (floor(n / batch) "
        "per epoch), i.e. up to 200 more steps in a 201st epoch: we run 200 whole epochs",
        "random crops and flips drawn by our seeded sampler (not pyiqa's transforms)",
    )

    @classmethod
    def resize_for(cls, params, dataset: str):
        return fixed(384, 512) if dataset == "koniq10k" else None

    @classmethod
    def phases_for(cls, params):
        if params.scheduler != "official":
            return standard_phases(params)
        t_max = params.cosine_t_max or params.epochs
        bb = params.backbone_lr if params.backbone_lr is not None else params.lr
        return [
            Phase(
                "all",
                params.epochs,
                params.optimizer,
                params.batch_size,
                params.weight_decay,
                params.momentum,
                {
                    "backbone": torch_cosine_lrs(bb, t_max, params.epochs),
                    "head": torch_cosine_lrs(params.lr, t_max, params.epochs),
                },
                False,
                params.steps_per_epoch,
            )
        ]

    def build(self):
        from methods.retrained.engine import Trainable

        net = build_arch(
            {
                "type": "CFANet",
                "use_ref": False,
                "pretrained": False,
                "num_crop": 1,
                "num_attn_layers": 1,
                "crop_size": [384, 384],
                "semantic_model_name": "resnet50",
                "block_pool": "weighted_avg",
            }
        )
        bb, head = split_params(net, net.semantic_model)
        return Trainable(net, bb, head)
