"""HyperIQA (Su et al., CVPR 2020): ResNet-50 (ImageNet) + hyper network predicting a target network.

Recipe from the official code, SSL92/hyperIQA (train_test_IQA.py defaults, HyerIQASolver.py, data_loader.py,
folders.py): 25 random 224 crops per training image per epoch (each a sample), horizontal flip, batch 96,
16 epochs, Adam wd 5e-4, backbone lr 2e-5, hyper network lr x10, L1 on the raw MOS, 25 crops averaged at test;
KonIQ-10k resized to (h, w) = (512, 384) and BID to (512, 512) before cropping, train and test alike.
"""

from __future__ import annotations

from methods.pyiqa_zeroshot import TIMM
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch, split_params
from methods.retrained.recipe import Phase, fixed, recipe_dataclass, standard_phases

SRC = "SSL92/hyperIQA"
RESIZE = {"koniq10k": fixed(512, 384), "bid": fixed(512, 512)}  # data_loader.py: transforms.Resize((h, w))


def official_head_lr(lr: float, ratio: float, epoch: int) -> float:
    """HyerIQASolver.train: after epoch t (0-based) the hyper network's lr becomes lr / 10**(t // 6) * ratio,
    the ratio dropping to 1 once t > 8; the backbone stays at lr. Epoch ``epoch`` (0-based) uses t = epoch - 1."""
    if epoch == 0:
        return lr * ratio
    t = epoch - 1
    return lr / 10 ** (t // 6) * (1 if t > 8 else ratio)


HyperIQAParams = recipe_dataclass(
    "HyperIQAParams",
    epochs=16,
    batch_size=96,
    optimizer="adam",
    lr=2e-4,
    backbone_lr=2e-5,
    weight_decay=5e-4,
    scheduler="official",
    reset_optimizer=True,
    loss="l1",
    target="score",
    crop_size=224,
    hflip=True,
    train_crops=25,
    test_mode="crops",
    test_crops=25,
)
HyperIQAParams.__module__ = __name__


class HyperIQA(PyiqaRetrained):
    name = "hyperiqa"
    description = "HyperIQA (Su et al. 2020): ResNet-50 (ImageNet, timm) + hyper network, retrained per cell"
    # 6: the incomplete last batch is trained on, as the official loader; 5: KonIQ-10k trained on MOS_zscore as
    # folders.py (mapped back to the MOS); 4: a new Adam every epoch (moments restart), as HyerIQASolver.train;
    # 3: LDA modules in the backbone group (lr 2e-5), as the official res; 2: official recipe
    version = "6"
    Params = HyperIQAParams
    resize_by_dataset = RESIZE
    label_columns = {"koniq10k": ("MOS_zscore", f"{SRC} folders.py Koniq_10kFolder: mos = float(row['MOS_zscore'])")}
    presets = {"paper": {}, "demo": {**DEMO, "scheduler": "none"}, "ci": {**CI, "scheduler": "none"}}
    weights = [(TIMM, "timm/resnet50.a1_in1k")]
    sources = {
        "train crops per image": f"{SRC} train_test_IQA.py --train_patch_num 25; folders.py appends each image "
        "patch_num times (each a sample with its own RandomCrop)",
        "test crops": f"{SRC} train_test_IQA.py --test_patch_num 25; HyerIQASolver.test averages them",
        "crop": f"{SRC} --patch_size 224; data_loader.py RandomHorizontalFlip + RandomCrop",
        "resize": f"{SRC} data_loader.py: koniq-10k Resize((512, 384)), bid Resize((512, 512)), train and test",
        "optimizer": f"{SRC} HyerIQASolver.py: Adam([hyper network lr*lr_ratio, res lr], weight_decay)",
        "lr": f"{SRC} --lr 2e-5 (backbone), --lr_ratio 10 (hyper network), --weight_decay 5e-4",
        "schedule": f"{SRC} HyerIQASolver.train 'Update optimizer': hyper lr = lr/10**(t//6)*ratio, ratio=1 after "
        "t>8, backbone constant; self.solver = torch.optim.Adam(...) after every epoch (fresh moments)",
        "epochs, batch": f"{SRC} --epochs 16, --batch_size 96",
        "last batch": f"{SRC} data_loader.py get_data: torch.utils.data.DataLoader(self.data, "
        "batch_size=self.batch_size, shuffle=True) -- no drop_last: the incomplete last batch is a step",
        "loss": f"{SRC} HyerIQASolver: L1Loss(pred, label) on the dataset's MOS (KonIQ-10k: MOS_zscore, folders.py)",
        "backbone": "pyiqa HyperNet arch: timm resnet50.a1_in1k (the official code uses torchvision's ImageNet ResNet-50)",
        "param groups": f"{SRC} HyerIQASolver.py: 'res' (models.py ResNetBackbone: the ResNet-50 and the LDA "
        "modules lda1-4) at lr, everything else (the hyper network) at lr * lr_ratio",
    }
    source = f"{SRC}: 25 crops/image/epoch, batch 96, 16 epochs, Adam 2e-5 / 2e-4, official lr table, L1, 25 test crops"
    drop_last = False
    official_selection = "HyerIQASolver.train returns the best test SRCC over epochs: we keep the last epoch"
    simplifications = (
        "the ResNet-50 is timm's resnet50.a1_in1k (pyiqa's choice), not torchvision's",
        "official lr table as the code states it; the released script re-creates Adam from an exhausted "
        "filter() after epoch 1, so there only the ResNet kept training -- we train both groups as intended",
        "test crops are deterministic per image (the official test crops are random)",
    )

    @classmethod
    def phases_for(cls, params):
        if params.scheduler != "official":
            return standard_phases(params)
        bb = params.backbone_lr if params.backbone_lr is not None else params.lr
        ratio = params.lr / bb
        table = {
            "backbone": [bb] * params.epochs,
            "head": [official_head_lr(bb, ratio, e) for e in range(params.epochs)],
        }
        # reset_optimizer: HyerIQASolver.train builds a new Adam at the end of every epoch, lr changed or not
        return [
            Phase(
                "all",
                params.epochs,
                params.optimizer,
                params.batch_size,
                params.weight_decay,
                params.momentum,
                table,
                False,
                params.steps_per_epoch,
                reset_every_epoch=params.reset_optimizer,
            )
        ]

    def build(self):
        import torch

        from methods.retrained.engine import Trainable

        net = build_arch({"type": "HyperNet", "pretrained": False})
        # the official ResNetBackbone (models.py, ``model_hyper.res``, lr 2e-5) holds the local distortion
        # aware (LDA) convs / fcs too; pyiqa keeps them in ``lda_modules``: they belong to the backbone group
        bb, head = split_params(net, torch.nn.ModuleList([net.base_model, net.lda_modules]))
        return Trainable(net, bb, head, forward=lambda n, x: n.forward_patch(x).reshape(len(x), -1).mean(1))
