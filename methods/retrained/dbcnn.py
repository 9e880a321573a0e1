"""DBCNN (Zhang et al., TCSVT 2020): VGG16 (ImageNet) + SCNN (synthetic-distortion pre-training), bilinear pooling.

Recipe from the official code, zwx8981/DBCNN-PyTorch DBCNN.py (`main` and `DBCNNManager`): a first stage that
trains only the last (fc) layer, SGD lr 1e-3 momentum 0.9 wd 5e-4, 50 epochs, batch 8; then all layers, Adam
lr 1e-5 wd 5e-4, 50 epochs, batch 8; MSE on the raw MOS; one random crop per image per epoch (448 on LIVEC, 432
on LIVE; CSIQ / TID2013 train on the whole image) + horizontal flip; the test is the whole image.
"""

from __future__ import annotations

from methods.pyiqa_zeroshot import PYIQA, TORCHVISION
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch, split_params
from methods.retrained.recipe import fixed, recipe_dataclass

SRC = "zwx8981/DBCNN-PyTorch DBCNN.py"
# crop per dataset: the official code covers LIVE, LIVEC (crops) and CSIQ, TID2013 (whole image)
OFFICIAL_CROP = {"live": 432, "livec": 448, "csiq": 0, "tid2013": 0}
# our choice where the official code has none (docs/BASELINES.md): KADID-10k is TID2013's 512x384 -> whole
# image; KonIQ-10k as pyiqa's train_DBCNN_koniq10k.yml (its 512x384 copy, random 384 crops)
CHOSEN_CROP = {"kadid10k": 0, "koniq10k": 384}

DBCNNParams = recipe_dataclass(
    "DBCNNParams",
    epochs=50,
    batch_size=8,
    optimizer="adam",
    lr=1e-5,
    weight_decay=5e-4,
    loss="mse",
    target="score",
    crop_size=448,
    hflip=True,
    train_crops=1,
    test_mode="full",
    test_crops=1,
    head_epochs=50,
    head_optimizer="sgd",
    head_lr=1e-3,
    head_batch_size=8,
)
DBCNNParams.__module__ = __name__


class DBCNN(PyiqaRetrained):
    name = "dbcnn"
    description = "DBCNN (Zhang et al. 2020): VGG16 (ImageNet) + SCNN bilinear pooling, retrained per cell"
    version = "4"  # 4: the incomplete last batch is trained on, as the official loader; 3: official recipe (raw-MOS targets, crop per dataset, whole-image test); 2: trains VGG16/SCNN
    Params = DBCNNParams
    presets = {
        "paper": {},
        "demo": {**DEMO, "head_epochs": 1, "epochs": 1, "crop_size": 224},
        "ci": {**CI, "crop_size": 64, "train_crops": 1, "test_mode": "crops"},
    }
    weights = [(TORCHVISION, "vgg16"), (PYIQA, "DBCNN_scnn-7ea73d75.pth")]
    sources = {
        "phases": f"{SRC} main(): options['fc']=True with base_lr 1e-3, then fc=False with base_lr 1e-5",
        "head phase": f"{SRC} DBCNNManager: SGD(fc, lr, momentum=0.9, weight_decay) ; --epochs 50, --batch_size 8, "
        "--weight_decay 5e-4",
        "all phase": f"{SRC} DBCNNManager: Adam(all parameters, lr 1e-5, weight_decay 5e-4), 50 epochs, batch 8",
        "schedule": f"{SRC}: constant learning rates (no scheduler)",
        "crop": f"{SRC}: RandomCrop 448 (livec) / 432 (live), none on csiq / tid2013; RandomHorizontalFlip",
        "crops per image": f"{SRC}: one crop per image per epoch (LIVEChallengeFolder: one sample per image)",
        "test": f"{SRC}: test_transforms = ToTensor + Normalize (whole image), batch 1",
        "loss": f"{SRC}: MSELoss on the dataset's MOS",
        "koniq10k, kadid10k": "not in the official code: pyiqa options/train/DBCNN/train_DBCNN_koniq10k.yml "
        "(512x384, random_crop 384) for KonIQ; KADID whole image as TID2013",
        "last batch": f"{SRC} DBCNNManager: torch.utils.data.DataLoader(train_data, batch_size, shuffle=True, "
        "num_workers=0, pin_memory=True) -- no drop_last: the incomplete last batch is a step",
        "backbones": "pyiqa DBCNN arch: VGG16 ImageNet + DBCNN_scnn-7ea73d75.pth (the official SCNN)",
    }
    source = "zwx8981/DBCNN-PyTorch DBCNN.py: fc-only SGD 1e-3 x50, then all Adam 1e-5 x50, batch 8, crop 448/432, MSE"
    official_selection = (
        "best test SRCC epoch of each stage (the fine-tuning starts from the best-test fc "
        "model): we keep the last epoch"
    )

    drop_last = False

    @classmethod
    def crop_for(cls, params, dataset: str) -> int:
        if params.crop_size != 448:  # an explicit override (presets, --param)
            return int(params.crop_size)
        return {**OFFICIAL_CROP, **CHOSEN_CROP}.get(dataset, params.crop_size)

    @classmethod
    def resize_for(cls, params, dataset: str):
        return fixed(384, 512) if dataset == "koniq10k" else None

    def build(self):
        import torch

        from methods.retrained.engine import Trainable

        net = build_arch({"type": "DBCNN", "pretrained": False})
        backbone = torch.nn.ModuleList([net.features1, net.features2])
        backbone.requires_grad_(True)  # pyiqa builds both streams frozen; the fine-tuning stage trains them
        bb, head = split_params(net, backbone)
        return Trainable(net, bb, head)
