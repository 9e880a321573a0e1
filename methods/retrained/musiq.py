"""MUSIQ (Ke et al., ICCV 2021): multi-scale image quality transformer, from its ImageNet pre-training.

The official code (google-research/musiq) is JAX and releases only inference; the paper (Sec. 4.1) fine-tunes
with SGD momentum 0.9 and cosine decay on the native-resolution multi-scale input with horizontal flips, MSE
for MOS regression. Learning rate, epochs and batch are tuned per dataset on TPUs and not stated per dataset:
ours (lr 1e-4, 20 epochs, batch 16) are assumed. pyiqa's MUSIQ builds the multi-scale patches from whatever
image it gets: we train on one random 384 crop per image per epoch (a batch needs one size) and test on the
whole image, as the paper and pyiqa's evaluation do.
"""

from __future__ import annotations

from methods import weights as W
from methods.pyiqa_zeroshot import PYIQA
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch, split_params
from methods.retrained.recipe import recipe_dataclass

MUSIQParams = recipe_dataclass(
    "MUSIQParams",
    epochs=20,
    batch_size=16,
    optimizer="sgd",
    lr=1e-4,
    momentum=0.9,
    scheduler="cosine",
    loss="mse",
    target="z",
    crop_size=384,
    hflip=True,
    train_crops=1,
    test_mode="full",
    test_crops=1,
)
MUSIQParams.__module__ = __name__


class MUSIQ(PyiqaRetrained):
    name = "musiq"
    description = "MUSIQ (Ke et al. 2021): multi-scale transformer from its ImageNet pre-training, retrained per cell"
    version = "2"  # 2: whole-image test (was one 384 crop)
    Params = MUSIQParams
    presets = {
        "paper": {},
        "demo": {**DEMO, "crop_size": 224, "test_mode": "crops"},
        "ci": {**CI, "crop_size": 64, "test_mode": "crops"},
    }
    weights = [(PYIQA, "musiq_imagenet_pretrain-51d9b0a5.pth")]
    sources = {
        "optimizer, schedule, loss": "MUSIQ paper Sec. 4.1: SGD momentum 0.9, cosine learning-rate decay, L2 loss",
        "flip": "MUSIQ paper Sec. 4.1: random horizontal flipping",
        "lr, epochs, batch": "assumed (the paper tunes them per dataset on TPUs)",
        "test": "MUSIQ paper / pyiqa musiq_arch: the whole image, multi-scale pyramid built by the model",
        "train crop": "ours: one 384 crop per image per epoch (the paper trains at native resolution)",
        "initialisation": "pyiqa musiq_imagenet_pretrain-51d9b0a5.pth",
        "last batch": "ours (no official training code): the incomplete last batch is dropped, as pyiqa's "
        "training loader (pyiqa/data/__init__.py build_dataloader: drop_last=True)",
    }
    source = "MUSIQ paper: SGD mom 0.9, cosine, MSE; lr 1e-4 / 20 epochs / batch 16 assumed; whole-image test"
    simplifications = (
        "training inputs are random 384 crops (multi-scale pyramid built by pyiqa from each crop), "
        "not the native-resolution image; lr / epochs / batch assumed",
    )

    def build(self):
        import torch
        from pyiqa.utils.download_util import load_file_from_url

        from methods.checkpoints import load_tensors
        from methods.retrained.engine import Trainable

        net = build_arch({"type": "MUSIQ", "pretrained": False, "num_class": 1})
        state = load_tensors(load_file_from_url(W.pyiqa_url("musiq_imagenet_pretrain-51d9b0a5.pth")))
        state = state.get("params", state)
        own = net.state_dict()
        keep = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        dropped = sorted(set(own) - set(keep))
        net.load_state_dict(keep, strict=False)
        if dropped:
            self.context.note(
                f"musiq: {len(dropped)} tensor(s) not in the ImageNet checkpoint, newly "
                f"initialised (e.g. {dropped[:3]})"
            )
        backbone = torch.nn.ModuleList([m for n, m in net.named_children() if n != "head"])
        bb, head = split_params(net, backbone)
        return Trainable(net, bb, head, forward=musiq_forward)


def musiq_forward(net, x):
    """In train mode pyiqa's MUSIQ expects its data pipeline's multi-scale patches; build them here."""
    if net.training:
        from pyiqa.archs.musiq_arch import get_multiscale_patches

        x = get_multiscale_patches((x - 0.5) * 2, **net.data_preprocess_opts)
    return net(x).reshape(len(x), -1).mean(1)
