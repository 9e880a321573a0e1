"""MANIQA (Yang et al., CVPRW 2022, NTIRE 2022 NR winner): ViT-B/8 features, transposed attention and scale Swin blocks.

Recipe from the official code, IIGROUP/MANIQA train_maniqa.py (its config dict) + data/*/ + utils/process.py:
Adam(net.parameters(), lr 1e-5, weight_decay 1e-5); CosineAnnealingLR(T_max 50, eta_min 0) stepped after every
optimiser step (``train_epoch``: ``scheduler.step()`` per batch), so the lr runs a cosine from 1e-5 to 0 and back
every 100 steps; 300 epochs, batch 8 (drop_last); MSE on the labels min-max normalised to [0, 1]; horizontal flip
with probability 0.7 (``RandHorizontalFlip(prob_aug=0.7)``); KonIQ-10k: every image resized to 224x224 (the
dataset class), so the 224 ``RandCrop`` is the whole image, train and test; KADID-10k / PIPAL: one random 224 crop of
the image as given; test one crop (``num_avg_val`` 1). Network: embed_dim 768, depths [2, 2], heads [4, 4], window 4,
dim_mlp 768, num_tab 2, scale 0.8, on timm's vit_base_patch8_224 (ImageNet-21k -> 1k).
"""

from __future__ import annotations

from methods.pyiqa_zeroshot import TIMM
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch, keep_exact_crops, split_params
from methods.retrained.recipe import Phase, fixed, recipe_dataclass, standard_phases

SRC = "IIGROUP/MANIQA"
CFG = f"{SRC} train_maniqa.py config"
INPUT = 224  # the ViT-B/8 and the Swin blocks are built for 224x224 inputs (28x28 tokens)

MANIQAParams = recipe_dataclass(
    "MANIQAParams",
    epochs=300,
    batch_size=8,
    optimizer="adam",
    lr=1e-5,
    backbone_lr=None,
    weight_decay=1e-5,
    scheduler="official",
    cosine_t_max=50,
    loss="mse",
    target="unit",
    crop_size=INPUT,
    hflip=True,
    train_crops=1,
    test_mode="crops",
    test_crops=1,
    extra=[
        ("hflip_prob", float, 0.7),  # utils/process.py RandHorizontalFlip(prob_aug=config.prob_aug = 0.7)
        ("scale", float, 0.8),  # train_maniqa.py config "scale": the Swin blocks' residual scale
    ],
)
MANIQAParams.__module__ = __name__


class MANIQA(PyiqaRetrained):
    name = "maniqa"
    description = (
        "MANIQA (Yang et al. 2022): ViT-B/8 (ImageNet-21k/1k, timm) + transposed attention and scale Swin "
        "blocks, patch-weighted score, retrained per cell"
    )
    version = "1"
    Params = MANIQAParams
    resize_by_dataset = {"koniq10k": fixed(INPUT, INPUT)}  # data/koniq10k/koniq10k.py: cv2.resize to 224x224
    presets = {
        "paper": {},
        "demo": {**DEMO, "test_crops": 1, "scheduler": "cosine"},
        "ci": {**CI, "train_crops": 1, "scheduler": "none"},
    }
    weights = [(TIMM, "timm/vit_base_patch8_224.augreg2_in21k_ft_in1k")]
    sources = {
        "last batch": "IIGROUP/MANIQA train_maniqa.py: DataLoader(train_dataset, ..., drop_last=True, shuffle=True)",
        "optimizer": f"{CFG}: torch.optim.Adam(net.parameters(), lr learning_rate 1e-5, weight_decay 1e-5)",
        "schedule": f"{CFG}: CosineAnnealingLR(T_max 50, eta_min 0); train_epoch calls scheduler.step() after every "
        "optimizer.step() (per iteration, periodic: 1e-5 -> 0 -> 1e-5 every 100 steps)",
        "epochs, batch": f"{CFG}: n_epoch 300, batch_size 8; DataLoader(drop_last=True, shuffle=True)",
        "loss, targets": f"{SRC} train_maniqa.py: MSELoss; data/*/*.py normalization(): (s - min) / (max - min) of "
        "the split's labels",
        "resize, crop": f"{SRC} data/koniq10k/koniq10k.py: cv2.resize(224, 224) INTER_CUBIC, so RandCrop(224) keeps "
        "the whole image (utils/process.py 'For koniq10k'); data/kadid10k, data/PIPAL22: no resize, RandCrop(224)",
        "flip": f"{SRC} utils/process.py RandHorizontalFlip(prob_aug 0.7): flips with probability 0.7",
        "normalisation": f"{SRC} utils/process.py Normalize(0.5, 0.5); pyiqa maniqa_arch: IMAGENET_INCEPTION mean/std "
        "(0.5, 0.5) inside forward",
        "test": f"{CFG} num_avg_val 1: one crop (KonIQ: the whole resized image); eval_epoch five_point_crop(0) of "
        "a 224 image is the image",
        "model": f"{CFG}: embed_dim 768, dim_mlp 768, num_heads [4, 4], window_size 4, depths [2, 2], num_tab 2, "
        "scale 0.8, patch_size 8, img_size 224; models/maniqa.py timm vit_base_patch8_224 pretrained",
        "other datasets": "ours: as the KADID-10k / PIPAL branch (one random 224 crop of the image as given)",
    }
    source = f"{CFG}: Adam 1e-5, cosine T_max 50 stepped per iteration, 300 epochs, batch 8, MSE on [0, 1] labels"
    official_selection = (
        "train_maniqa.py saves the epoch with the best SRCC + PLCC on its val split, which is the 20 % "
        "it reports as the test result: we keep the last epoch"
    )
    simplifications = (
        "KonIQ-10k resized to 224x224 bilinear (the official dataset class uses cv2 INTER_CUBIC)",
        "targets: the dataset's published scale mapped to [0, 1] (the official min-max of the split's labels)",
        "the ViT-B/8 is timm's vit_base_patch8_224 default (augreg2_in21k_ft_in1k, pyiqa's choice); the "
        "official bundled timm loads the augreg in21k_ft_in1k .npz",
        "test crops are deterministic per image (the official one is random)",
    )

    @classmethod
    def crop_for(cls, params, dataset: str) -> int:
        if int(params.crop_size) != INPUT:
            raise ValueError(f"maniqa: crop_size={params.crop_size}; its ViT-B/8 and Swin blocks take {INPUT} only")
        return INPUT

    @classmethod
    def phases_for(cls, params):
        if params.scheduler != "official":
            return standard_phases(params)
        bb = params.backbone_lr if params.backbone_lr is not None else params.lr
        return [
            Phase(
                "all",
                params.epochs,
                params.optimizer,
                params.batch_size,
                params.weight_decay,
                params.momentum,
                {"backbone": [bb] * params.epochs, "head": [params.lr] * params.epochs},
                False,
                params.steps_per_epoch,
                step_cosine_t_max=int(params.cosine_t_max),
            )
        ]

    def build(self):
        from pyiqa.archs import maniqa_arch

        from methods.retrained.engine import Trainable

        keep_exact_crops(maniqa_arch)
        net = build_arch({"type": "MANIQA", "pretrained": False, "scale": float(self.params.scale)})
        net.test_sample = 1  # we hand it our crops; its own 20 uniform crops of a 224 input would repeat ours
        bb, head = split_params(net, net.vit)
        return Trainable(net, bb, head)
