"""pyiqa architectures retrained on each cell's training set (the paper's Table 1 protocol).

Each class builds its architecture through pyiqa, starting from the initialisation its paper
uses (ImageNet backbone, DBCNN's SCNN, MetaIQA's meta-learned prior, OpenAI CLIP...) and never
from a checkpoint trained on an IQA dataset, then trains it with the method's published recipe
(the ``paper`` preset = the Params defaults; ``source`` says where each number comes from and
docs/BASELINES.md lists them). Loading goes through ``methods.weights.offline_weights``.

This module imports neither torch nor pyiqa at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from methods import weights as W
from methods.base import WeightSpec
from methods.pyiqa_zeroshot import _CLIP, _P, _TIMM, _TV, weight_specs
from methods.regression_trainer import TrainedRegressor, recipe_dataclass

CI = {"epochs": 1, "max_steps": 2, "batch_size": 2, "test_crops": 1, "head_epochs": 0}
DEMO = {"epochs": 2, "batch_size": 8, "test_crops": 2}


class PyiqaRetrained(TrainedRegressor):
    kind = "pyiqa-retrained"
    trains = True
    version = "1"
    weights: ClassVar[list[tuple[str, str]]] = []
    source: ClassVar[str] = ""

    @classmethod
    def required_weights(cls, params: Any, weights_dir: Path | None = None) -> list[WeightSpec]:
        return weight_specs(cls.weights, weights_dir)

    def _ensure_model(self):
        if self.model is None:
            import pyiqa  # noqa: F401  (registers the architectures)

            with W.offline_weights(self.context.weights_dir, self.context.notes):
                self.model = self.build()
        return self.model


def _split(net, backbone_module) -> tuple[list, list]:
    """Trainable parameters: those of ``backbone_module`` and the rest."""
    bb = {id(p) for p in backbone_module.parameters()}
    trainable = [p for p in net.parameters() if p.requires_grad]
    return [p for p in trainable if id(p) in bb], [p for p in trainable if id(p) not in bb]


def _build(opts: dict):
    from pyiqa.archs import build_network

    return build_network(dict(opts))


# --- DBCNN -------------------------------------------------------------------------------
DBCNNParams = recipe_dataclass(
    "DBCNNParams", epochs=50, batch_size=8, optimizer="adam", lr=1e-5, weight_decay=5e-4,
    loss="mse", crop_size=448, hflip=True, test_crops=1, head_epochs=50, head_optimizer="sgd", head_lr=1e-3)
DBCNNParams.__module__ = __name__


class DBCNN(PyiqaRetrained):
    name = "dbcnn"
    description = "DBCNN (Zhang et al. 2020): VGG16 (ImageNet) + SCNN bilinear pooling, retrained per cell"
    version = "2"        # 2: the fine-tuning stage trains VGG16 and SCNN too (v1 left them frozen)
    Params = DBCNNParams
    presets = {"paper": {}, "demo": {**DEMO, "head_epochs": 1, "epochs": 1, "crop_size": 224},
               "ci": {**CI, "crop_size": 64}}
    weights = [(_TV, "vgg16"), (_P, "DBCNN_scnn-7ea73d75.pth")]
    source = ("pyiqa options/train/DBCNN/train_DBCNN.yml: SGD lr 1e-3 mom 0.9 wd 5e-4 on the last layer, then "
              "Adam lr 1e-5 wd 5e-4 on all (12000 iters, fine-tune from 6000 ~ 50+50 epochs on LIVEC), batch 8, "
              "random 448 crops + hflip, MSE; SCNN pre-trained on synthetic distortions as in the paper")

    def build(self):
        import torch

        from methods.regression_trainer import Trainable

        net = _build({"type": "DBCNN", "pretrained": False})
        backbone = torch.nn.ModuleList([net.features1, net.features2])
        # pyiqa freezes both streams (its fc-only stage); our head phase does that, the fine-tuning trains all
        backbone.requires_grad_(True)
        bb, head = _split(net, backbone)
        return Trainable(net, bb, head)


# --- HyperIQA ----------------------------------------------------------------------------
HyperIQAParams = recipe_dataclass(
    "HyperIQAParams", epochs=16, batch_size=96, optimizer="adam", lr=2e-4, backbone_lr=2e-5,
    weight_decay=5e-4, scheduler="step", step_epochs=6, gamma=0.1, loss="l1", crop_size=224,
    hflip=True, test_crops=25)
HyperIQAParams.__module__ = __name__


class HyperIQA(PyiqaRetrained):
    name = "hyperiqa"
    description = "HyperIQA (Su et al. 2020): ResNet-50 (ImageNet, timm) + hyper network, retrained per cell"
    Params = HyperIQAParams
    presets = {"paper": {}, "demo": DEMO, "ci": CI}
    weights = [(_TIMM, "timm/resnet50.a1_in1k")]
    source = ("HyperIQA paper / official code (SSL92/hyperIQA): Adam, lr 2e-5 backbone, 2e-4 hyper network "
              "(x10), wd 5e-4, lr /10 every 6 epochs, 16 epochs, batch 96, random 224 crops + hflip, L1 loss, "
              "25 crops averaged at test; pyiqa options/train/HyperNet/train_HyperNet.yml uses the same lrs")
    simplifications = ("the ResNet-50 is timm's resnet50.a1_in1k (pyiqa's choice), not torchvision's",)

    def build(self):
        from methods.regression_trainer import Trainable

        net = _build({"type": "HyperNet", "pretrained": False})
        bb, head = _split(net, net.base_model)
        return Trainable(net, bb, head, forward=lambda n, x: n.forward_patch(x).reshape(len(x), -1).mean(1))


# --- TReS --------------------------------------------------------------------------------
TReSParams = recipe_dataclass(
    "TReSParams", epochs=3, batch_size=53, optimizer="adam", lr=2e-5, weight_decay=5e-4,
    scheduler="step", step_epochs=1, gamma=0.5, loss="l1", crop_size=224, hflip=True, test_crops=50)
TReSParams.__module__ = __name__


class TReS(PyiqaRetrained):
    name = "tres"
    description = "TReS (Golestaneh et al. 2022): ResNet-50 (ImageNet) + transformer, retrained per cell"
    Params = TReSParams
    presets = {"paper": {}, "demo": DEMO, "ci": CI}
    weights = [(_TV, "resnet50")]
    source = ("TReS paper (WACV 2022) / official code: Adam lr 2e-5, wd 5e-4, batch 53, random 224 crops + "
              "hflip, 50 crops averaged at test; epochs (3) and the halving per epoch from the official "
              "training script (assumed, not stated in the paper)")
    simplifications = ("loss is L1 only: TReS's relative-ranking and self-consistency terms are not implemented",)

    def build(self):
        from methods.regression_trainer import Trainable

        net = _build({"type": "TReS", "pretrained": False})
        net.test_sample = 1    # we give it crops already; its own multi-crop would repeat ours
        bb, head = _split(net, net.model)
        return Trainable(net, bb, head)


# --- MUSIQ -------------------------------------------------------------------------------
MUSIQParams = recipe_dataclass(
    "MUSIQParams", epochs=20, batch_size=16, optimizer="sgd", lr=1e-4, momentum=0.9, scheduler="cosine",
    loss="mse", crop_size=384, hflip=True, test_crops=1)
MUSIQParams.__module__ = __name__


class MUSIQ(PyiqaRetrained):
    name = "musiq"
    description = "MUSIQ (Ke et al. 2021): multi-scale transformer from its ImageNet pre-training, retrained per cell"
    Params = MUSIQParams
    presets = {"paper": {}, "demo": {**DEMO, "crop_size": 224}, "ci": {**CI, "crop_size": 64}}
    weights = [(_P, "musiq_imagenet_pretrain-51d9b0a5.pth")]
    source = ("MUSIQ paper (ICCV 2021): fine-tuned from ImageNet pre-training with SGD momentum 0.9, cosine "
              "decay, MSE (L2) loss for MOS regression; lr 1e-4, 20 epochs, batch 16 chosen here (the paper "
              "tunes them per dataset on TPUs with large batches); pyiqa's musiq_imagenet_pretrain weights")
    simplifications = ("inputs are random 384 crops (multi-scale pyramid built by pyiqa from each crop), "
                       "not the full-resolution image",)

    def build(self):
        import torch

        from methods.regression_trainer import Trainable
        from pyiqa.utils.download_util import load_file_from_url

        net = _build({"type": "MUSIQ", "pretrained": False, "num_class": 1})
        state = torch.load(load_file_from_url(W.pyiqa_url("musiq_imagenet_pretrain-51d9b0a5.pth")), map_location="cpu",
                           weights_only=False)
        state = state.get("params", state)
        own = net.state_dict()
        keep = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        dropped = sorted(set(own) - set(keep))
        net.load_state_dict(keep, strict=False)
        if dropped:
            self.context.note(f"musiq: {len(dropped)} tensor(s) not in the ImageNet checkpoint, newly "
                              f"initialised (e.g. {dropped[:3]})")
        backbone = torch.nn.ModuleList([m for n, m in net.named_children() if n != "head"])
        bb, head = _split(net, backbone)
        return Trainable(net, bb, head, forward=_musiq_forward)


def _musiq_forward(net, x):
    """In train mode pyiqa's MUSIQ expects its data pipeline's multi-scale patches; build them here."""
    if net.training:
        from pyiqa.archs.musiq_arch import get_multiscale_patches

        x = get_multiscale_patches((x - 0.5) * 2, **net.data_preprocess_opts)
    return net(x).reshape(len(x), -1).mean(1)


# --- LIQE --------------------------------------------------------------------------------
LIQEParams = recipe_dataclass(
    "LIQEParams", epochs=80, batch_size=16, optimizer="adamw", lr=5e-6, weight_decay=1e-3,
    scheduler="cosine", loss="fidelity", crop_size=224, hflip=True, test_crops=15)
LIQEParams.__module__ = __name__


class LIQE(PyiqaRetrained):
    name = "liqe"
    description = "LIQE (Zhang et al. 2023): CLIP ViT-B/32 (OpenAI) vision-language model, retrained per cell"
    Params = LIQEParams
    presets = {"paper": {}, "demo": DEMO, "ci": CI}
    weights = [(_CLIP, "ViT-B/32")]
    source = ("LIQE paper (CVPR 2023) / official code: OpenAI CLIP ViT-B/32, AdamW lr 5e-6 wd 1e-3, cosine "
              "schedule, 80 epochs, batch 16, 224 crops (15 averaged at test), fidelity loss on image pairs")
    simplifications = ("quality term only: LIQE's scene and distortion fidelity terms are not used",)

    def build(self):
        from methods.regression_trainer import Trainable

        net = _build({"type": "LIQE", "pretrained": False, "mtl": False})
        bb, head = _split(net, net.clip_model)
        return Trainable(net, bb, head, forward=_liqe_forward)


def _liqe_forward(net, x):
    """pyiqa's LIQE encodes its prompts once at build time; retraining tunes the text tower too,
    so the (five) quality prompts are re-encoded on every call. Its train-mode patch sampling
    indexes patches with batch indices (a pyiqa bug for batch > patches): we always take the
    eval-mode path, which differs only in that sampling (CLIP has no dropout); gradients still flow."""
    net.text_features = net.get_text_features(x)
    was_training = net.training
    net.train(False)
    try:
        return net(x).reshape(len(x), -1).mean(1)
    finally:
        net.train(was_training)


# --- CLIP-IQA+ (pyiqa) -----------------------------------------------------------------------
CLIPIQAPlusParams = recipe_dataclass(
    "CLIPIQAPlusParams", epochs=50, batch_size=8, optimizer="adam", lr=2e-3, scheduler="cosine",
    loss="mse+plcc", crop_size=384, hflip=True, test_crops=1)
CLIPIQAPlusParams.__module__ = __name__


class CLIPIQAPlusPyiqa(PyiqaRetrained):
    name = "clipiqa+-pyiqa"
    description = "CLIP-IQA+ (Wang et al. 2023) via pyiqa: CoOp prompts on frozen CLIP RN50, retrained per cell"
    Params = CLIPIQAPlusParams
    presets = {"paper": {}, "demo": {**DEMO, "crop_size": 224}, "ci": {**CI, "crop_size": 64}}
    weights = [(_CLIP, "RN50")]
    source = ("pyiqa options/train/CLIPIQA/train_CLIPIQA_koniq10k.yml: CLIP RN50, pos_embedding, 16 learned "
              "context tokens, Adam lr 2e-3, cosine T_max 50, 50 epochs, batch 8, random 384 crops + hflip, "
              "MSE + PLCC loss")

    def build(self):
        from methods.regression_trainer import Trainable

        net = _build({"type": "CLIPIQA", "model_type": "clipiqa+", "backbone": "RN50", "pretrained": False,
                      "pos_embedding": True})
        return Trainable(net, [], [p for p in net.prompt_learner.parameters()])


# --- MetaIQA -----------------------------------------------------------------------------
MetaIQAParams = recipe_dataclass(
    "MetaIQAParams", epochs=100, batch_size=50, optimizer="adam", lr=1e-2, backbone_lr=1e-4,
    weight_decay=0.0, scheduler="step", step_epochs=10, gamma=0.8, loss="mse", crop_size=224, hflip=True,
    test_crops=1)
MetaIQAParams.__module__ = __name__


class MetaIQA(PyiqaRetrained):
    name = "metaiqa"
    description = "MetaIQA (Zhu et al. 2020): ResNet-18 from the meta-learned distortion prior, fine-tuned per cell"
    Params = MetaIQAParams
    presets = {"paper": {}, "demo": DEMO, "ci": CI}
    weights = [(_P, "Metaiqa_prior.pth")]
    source = ("pyiqa options/train/METAIQA/train_MetaIQA_finetune.yml: from Metaiqa_prior.pth, Adam lr 1e-4 "
              "(ResNet) / 1e-2 (head), wd 0, x0.8 every 190 iters (~10 epochs on LIVEC at batch 50), "
              "1900 iters (~100 epochs), batch 50, random 224 crops + hflip, MSE")

    def build(self):
        from methods.regression_trainer import Trainable

        net = _build({"type": "MetaIQA", "pretrained": False, "pretrained_model_path": W.pyiqa_url("Metaiqa_prior.pth")})
        bb, head = _split(net, net.resnet_layer)
        return Trainable(net, bb, head)


# --- UNIQUE ------------------------------------------------------------------------------
UNIQUEParams = recipe_dataclass(
    "UNIQUEParams", epochs=12, batch_size=128, optimizer="adam", lr=1e-4, scheduler="step", step_epochs=3,
    gamma=0.1, loss="fidelity", crop_size=384, hflip=True, test_crops=1)
UNIQUEParams.__module__ = __name__


class UNIQUE(PyiqaRetrained):
    name = "unique"
    description = "UNIQUE (Zhang et al. 2021): ResNet-34 (ImageNet) + bilinear pooling, retrained per cell"
    Params = UNIQUEParams
    presets = {"paper": {}, "demo": {**DEMO, "crop_size": 224}, "ci": {**CI, "crop_size": 64}}
    weights = [(_TV, "resnet34")]
    source = ("UNIQUE paper (TIP 2021): ResNet-34 (ImageNet), Adam lr 1e-4 /10 every 3 epochs, 12 epochs, "
              "batch 128, 384 crops, fidelity loss on image pairs")
    simplifications = ("single-dataset training; UNIQUE's uncertainty (std) hinge term is not used",)

    def build(self):
        import pyiqa.archs.unique_arch as ua

        from methods.regression_trainer import Trainable

        # pyiqa's UNIQUE always loads its released 'mix' checkpoint (trained on six IQA sets):
        # skip it -- a retrained baseline starts from ImageNet only.
        real = ua.load_pretrained_network
        ua.load_pretrained_network = lambda *a, **k: None
        try:
            net = ua.UNIQUE()
        finally:
            ua.load_pretrained_network = real
        bb, head = _split(net, net.backbone)
        return Trainable(net, bb, head)


# --- PaQ-2-PiQ ---------------------------------------------------------------------------
PaQ2PiQParams = recipe_dataclass(
    "PaQ2PiQParams", epochs=10, batch_size=120, optimizer="adam", lr=1e-3, backbone_lr=1e-4,
    scheduler="cosine", loss="mse", crop_size=224, hflip=True, test_crops=1)
PaQ2PiQParams.__module__ = __name__


class PaQ2PiQ(PyiqaRetrained):
    name = "paq2piq"
    description = ("PaQ-2-PiQ (Ying et al. 2020) architecture as released (pyiqa 'paq2piq': ResNet-18 + RoIPool), "
                   "retrained per cell; NOT exactly the paper's P2P-BM baseline")
    Params = PaQ2PiQParams
    presets = {"paper": {}, "demo": DEMO, "ci": {**CI, "crop_size": 64}}
    weights = [(_TV, "resnet18")]
    source = ("released checkpoint name P2P_RoIPoolModel-fit.10.bs.120 (10 epochs, batch 120); optimiser "
              "(Adam, one-cycle-like cosine, lr 1e-3 head / 1e-4 body) and MSE loss assumed from the fastai "
              "code the authors used -- not stated in the paper")
    simplifications = ("the released RoIPool model, trained on image-level scores only (no patch labels)",)

    def build(self):
        from methods.regression_trainer import Trainable

        net = _build({"type": "PAQ2PIQ", "pretrained": False})
        bb, head = _split(net, net.body)
        return Trainable(net, bb, head)
