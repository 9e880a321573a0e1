"""DACNN (Pan et al., "DACNN: Blind image quality assessment via a distortion-aware convolutional neural
network", TCSVT 2022), implemented natively (network: ``methods/retrained/dacnn_model.py``).

Recipe from the official code, NUIST-Videocoding/DACNN (train_test.py defaults, IQASolver.py,
dataloader/dataLoder.py, dataloader/dataset_folders.py, network.py): both EfficientNet-B0 streams frozen, the
fusion module and regressor trained; 25 random 224 crops per training image per epoch (each a sample),
horizontal flip, batch 16, 30 epochs, Adam (weight decay 0) on every trainable parameter at lr 2e-5 x lr_ratio
10, then after epoch t (0-based) a new Adam at lr 9 * 2e-5 / 10**(t // 10); L1 on the dataset's scores; 25
crops averaged at test; KonIQ-10k and SPAQ resized to (h, w) = (512, 384) before cropping, train and test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.core.errors import BenchError
from methods import weights as W
from methods.base import WeightSpec
from methods.pyiqa_zeroshot import TORCHVISION, weight_specs
from methods.retrained.engine import TrainedRegressor
from methods.retrained.pyiqa_common import CI, DEMO
from methods.retrained.recipe import Phase, fixed, recipe_dataclass, standard_phases

SRC = "NUIST-Videocoding/DACNN"
SDANET_FILE = "EffnetPretraining.pth"
SDANET_URL = f"https://github.com/{SRC}/raw/main/pretrain_model/model/{SDANET_FILE}"
# dataLoder.py: koniq-10k and SPAQ Resize((512, 384)) = (h, w); BID is not in the official code: our choice is
# HyperIQA's official BID resize (512, 512), the code DACNN's data loader is derived from
RESIZE = {"koniq10k": fixed(512, 384), "spaq": fixed(512, 384), "bid": fixed(512, 512)}
SDANET_INITS = ("official", "imagenet")


def official_lr(lr: float, ratio: float, epoch: int) -> float:
    """IQASolver: epoch 0 trains at lr * lr_ratio; after epoch t (0-based) a new Adam gets (lr * 9) / 10**(t // 10)
    (the 9 is written as such in the code, the ratio is not used again). Epoch ``epoch`` (0-based) uses t = epoch - 1."""
    if epoch == 0:
        return lr * ratio
    return lr * 9 / 10 ** ((epoch - 1) // 10)


DACNNParams = recipe_dataclass(
    "DACNNParams",
    epochs=30,
    batch_size=16,
    optimizer="adam",
    lr=2e-5,
    weight_decay=0.0,
    scheduler="official",
    reset_optimizer=True,
    loss="l1",
    target="score",
    crop_size=224,
    hflip=True,
    train_crops=25,
    test_mode="crops",
    test_crops=25,
    extra=[
        ("lr_ratio", float, 10.0),  # official --lr_ratio
        ("sdanet", str, "official"),  # official: the released SDANet file; imagenet: ImageNet weights too
        ("frozen_bn", bool, False),  # True: the frozen streams' BatchNorm in eval mode while training
        ("dropout", float, 0.5),
    ],
)  # F.dropout's default p in network.py
DACNNParams.__module__ = __name__


class DACNNConfigError(BenchError, ValueError):
    """A DACNN parameter value that cannot be used."""


class DACNN(TrainedRegressor):
    name = "dacnn"
    kind = "native"
    trains = True
    version = "3"  # 3: the incomplete last batch is trained on, as the official loader; 2: implemented (1 was the unavailable placeholder)
    description = (
        "DACNN (Pan et al. 2022): frozen EfficientNet-B0 streams for authentic (ImageNet) and synthetic "
        "distortions, multi-scale fusion with weight generation blocks, trained per cell"
    )
    Params = DACNNParams
    resize_by_dataset = RESIZE
    has_backbone = False  # both streams are frozen: one trained group (fusion module + regressor)
    presets = {"paper": {}, "demo": {**DEMO, "crop_size": 224}, "ci": {**CI, "crop_size": 64, "train_crops": 2}}
    sources = {
        "train crops per image": f"{SRC} train_test.py --train_patch_num 25; dataset_folders.py appends each image "
        "patch_num times (each a sample with its own RandomCrop)",
        "test crops": f"{SRC} train_test.py --test_patch_num 25; IQASolver.test averages them",
        "crop, flip": f"{SRC} dataLoder.py: RandomHorizontalFlip + RandomCrop(224) (--patch_size 224); test: "
        "RandomCrop only",
        "resize": f"{SRC} dataLoder.py: koniq-10k, SPAQ Resize((512, 384)) train and test; LIVE, CSIQ, TID2013, "
        "LIVEC, KADID-10k none",
        "bid resize": "our choice (BID is not in the official loader): (512, 512) as SSL92/hyperIQA data_loader.py",
        "optimizer": f"{SRC} IQASolver.py: Adam([{{'params': model.parameters(), 'lr': lr * lr_ratio}}], "
        "weight_decay); train_test.py --lr 2e-5 --lr_ratio 10 --weight_decay 0",
        "schedule": f"{SRC} IQASolver.train: after every epoch t, lr = (lr * 9) / 10**(t // 10) and a new Adam",
        "epochs, batch": f"{SRC} train_test.py --epochs 30 --batch_size 16",
        "last batch": f"{SRC} dataloader/dataLoder.py get_data: torch.utils.data.DataLoader(self.data, "
        "batch_size=self.batch_size, shuffle=True) -- no drop_last: the incomplete last batch is a step",
        "loss": f"{SRC} IQASolver.py: L1Loss(pred, label) on the dataset's scores",
        "frozen streams": f"{SRC} network.py: requires_grad False on ADANet and SDANet; IQASolver calls "
        "model.train(True), so their BatchNorm runs in training mode",
        "ADANet": f"{SRC} network.py: EfficientNet.from_pretrained('efficientnet-b0') (ImageNet); here torchvision's "
        "efficientnet_b0 IMAGENET1K_V1",
        "SDANet": f"{SRC} network.py: effNet() from pretrain_model/model/{SDANET_FILE} (EfficientNet-B0 pre-trained "
        "on synthetic distortions, pretrain_model/train.py)",
        "head": f"{SRC} network.py: MSFB / WGB fusion at 4 levels, fc 288-512-512-1 with PReLU, kaiming_normal_",
    }
    source = (
        f"{SRC}: 25 crops/image/epoch, batch 16, 30 epochs, Adam 2e-4 then 1.8e-4 / 10 every 10 epochs "
        "(new Adam each epoch), L1, 25 test crops"
    )
    drop_last = False
    official_selection = "IQASolver.train reports the best test SRCC over epochs: we keep the last epoch"
    simplifications = (
        (
            "ADANet is torchvision's ImageNet EfficientNet-B0 (symmetric padding), the official efficientnet_pytorch "
            "one (TF 'same' padding) is not in the harness' weight caches; SDANet keeps TF 'same' padding, as trained"
        ),
        "dropout before fc2 is off at test (the official F.dropout(q) is active at test too)",
        "test crops are deterministic per image (the official test crops are random)",
    )

    def __init__(self, params: Any = None, context=None):
        super().__init__(params, context)
        if self.params.sdanet not in SDANET_INITS:
            raise DACNNConfigError(f"dacnn: sdanet={self.params.sdanet!r}: choose one of {', '.join(SDANET_INITS)}")
        if not 0.0 <= float(self.params.dropout) < 1.0:
            raise DACNNConfigError(f"dacnn: dropout={self.params.dropout!r} must lie in [0, 1)")
        if self.params.scheduler not in ("official", "none", "step", "cosine"):
            raise DACNNConfigError(f"dacnn: scheduler={self.params.scheduler!r}: choose official, none, step or cosine")

    # --- weights ---
    @classmethod
    def sdanet_weight(cls, weights_dir: Path | None) -> WeightSpec:
        return WeightSpec(
            name="DACNN SDANet (EfficientNet-B0 pre-trained on synthetic distortions)",
            filename=SDANET_FILE,
            search_paths=W._candidates(SDANET_FILE, "dacnn", weights_dir),
            hint=f"{SDANET_URL} -> {W.torch_hub_dir() / 'dacnn'}/ or --weights-dir",
            url=SDANET_URL,
        )

    @classmethod
    def required_weights(cls, params: Any, weights_dir: Path | None = None) -> list[WeightSpec]:
        specs = weight_specs([(TORCHVISION, "efficientnet_b0")], weights_dir)
        return specs + ([cls.sdanet_weight(weights_dir)] if params.sdanet == "official" else [])

    # --- recipe ---
    @classmethod
    def phases_for(cls, params):
        if params.scheduler != "official":
            return standard_phases(params, has_backbone=False)
        # one phase per epoch: the official solver builds a new Adam after every epoch (its moments restart)
        return [
            Phase(
                f"epoch {e + 1}",
                1,
                params.optimizer,
                params.batch_size,
                params.weight_decay,
                params.momentum,
                {"head": [official_lr(params.lr, params.lr_ratio, e)]},
                True,
                params.steps_per_epoch,
            )
            for e in range(params.epochs)
        ]

    # --- model ---
    def build(self):
        from bench.core.errors import WeightsMissing
        from methods.checkpoints import load_tensors
        from methods.retrained import dacnn_model as M
        from methods.retrained.engine import Trainable

        with W.offline_weights(self.context.weights_dir, self.context.notes):
            adanet = M.efficientnet_b0(weights="IMAGENET1K_V1")
        M.set_batchnorm(adanet, eps=1e-5, momentum=0.01)  # eps as trained; momentum as efficientnet_pytorch's
        if self.params.sdanet == "official":
            spec = self.sdanet_weight(self.context.weights_dir)
            path = spec.found
            if path is None:
                raise WeightsMissing(
                    f"DACNN's SDANet weights {SDANET_FILE} are not on disk: put the file at "
                    f"{spec.search_paths[-1]} or into --weights-dir (get it from {SDANET_URL}); "
                    "or --param dacnn.sdanet=imagenet to start it from ImageNet (not the paper)"
                )
            sdanet = M.efficientnet_b0(weights=None)
            try:
                M.load_sdanet(sdanet, load_tensors(path), str(path))
            except M.CheckpointMismatch as exc:
                raise BenchError(f"dacnn: {exc}. The file should be {SRC}'s {SDANET_FILE} ({SDANET_URL}).") from None
            M.use_tf_same_padding(sdanet)
            M.set_batchnorm(sdanet, eps=1e-3, momentum=0.01)  # efficientnet_pytorch B0: eps 1e-3, momentum 1 - 0.99
        else:
            import copy

            self.context.note(
                "dacnn: SDANet starts from ImageNet weights (sdanet=imagenet): no synthetic-distortion "
                "pre-training, not the paper's model"
            )
            sdanet = copy.deepcopy(adanet)
        net = M.DACNNNet(adanet, sdanet, dropout=float(self.params.dropout), frozen_bn=bool(self.params.frozen_bn))
        return Trainable(net, [], net.head_parameters())
