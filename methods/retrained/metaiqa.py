"""MetaIQA (Zhu et al., CVPR 2020): ResNet-18 from the meta-learned distortion prior, fine-tuned per cell.

Recipe from pyiqa options/train/METAIQA/train_MetaIQA_finetune.yml ("MetaIQA_Finetune_LIVEC_Official"): Adam,
lr 1e-4 for the ResNet and 1e-2 for the head, wd 0, x0.8 every 190 iterations, 1900 iterations, batch 50, random
224 crops + hflip, MSE on MOS normalised to [0, 1] (``mos_normalize``; the head ends in a sigmoid), the prior
``Metaiqa_prior.pth`` loaded strictly. Test: the whole image, which the architecture resizes to 224x224.
"""

from __future__ import annotations

from methods import weights as W
from methods.pyiqa_zeroshot import _P
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch, split_params
from methods.retrained.recipe import recipe_dataclass

YML = "pyiqa options/train/METAIQA/train_MetaIQA_finetune.yml"
# constant buffers of pyiqa's MetaIQA (ImageNet mean / std), not learned: a prior may omit them
CONSTANT_BUFFERS = ("mean", "std")

MetaIQAParams = recipe_dataclass(
    "MetaIQAParams", epochs=100, batch_size=50, optimizer="adam", lr=1e-2, backbone_lr=1e-4,
    weight_decay=0.0, scheduler="step", step_epochs=10, gamma=0.8, loss="mse", target="unit", crop_size=224,
    hflip=True, train_crops=1, test_mode="resize", test_crops=1)
MetaIQAParams.__module__ = __name__


class PriorMismatch(Exception):
    pass


class MetaIQA(PyiqaRetrained):
    name = "metaiqa"
    description = "MetaIQA (Zhu et al. 2020): ResNet-18 from the meta-learned distortion prior, fine-tuned per cell"
    version = "2"    # 2: [0, 1] targets for the sigmoid head (were standardised), strict prior, resized full test
    Params = MetaIQAParams
    presets = {"paper": {}, "demo": DEMO, "ci": CI}
    weights = [(_P, "Metaiqa_prior.pth")]
    sources = {
        "optimizer": f"{YML}: Adam, lr_resnet_layer 1e-4, lr_net 1e-2, weight_decay 0",
        "schedule": f"{YML}: MultiStepLR milestones every 190 iterations, gamma 0.8, total_iter 1900 -- at batch 50 "
                    "on LIVEC's 930 training images (18 iterations per epoch) ~10 and ~105 epochs: 10 and 100 here",
        "batch, crop": f"{YML}: batch_size_per_gpu 50, random_crop 224, hflip",
        "loss, targets": f"{YML}: MSELoss, mos_normalize true (MOS / its range -> [0, 1]); the head ends in a sigmoid",
        "test": "pyiqa metaiqa_arch.preprocess: the image is resized to 224x224 (the yml's val set has no crop)",
        "initialisation": "pyiqa Metaiqa_prior.pth (the meta-learned prior, not Metaiqa_livec.pth)",
    }
    source = f"{YML}: Adam 1e-4 / 1e-2, x0.8 every ~10 epochs, ~100 epochs, batch 50, 224 crops, MSE on [0, 1] MOS"

    @classmethod
    def test_resize_for(cls, params, dataset: str):
        return {"kind": "fixed", "hw": [224, 224]}

    def build(self):
        from methods.retrained.engine import Trainable

        net = build_arch({"type": "MetaIQA", "pretrained": False, "pretrained_model_path": None})
        load_prior_strictly(net, W.pyiqa_url("Metaiqa_prior.pth"))
        bb, head = split_params(net, net.resnet_layer)
        return Trainable(net, bb, head)


def load_prior_strictly(net, url: str) -> None:
    """Load the prior; any missing or unexpected tensor (beyond the constant normalisation buffers) is an error
    naming the keys -- pyiqa loads it with strict=False, which would silently start from random weights."""
    import torch

    from bench.errors import WeightsMissing
    from pyiqa.utils.download_util import load_file_from_url

    path = load_file_from_url(url)
    state = torch.load(path, map_location="cpu", weights_only=False)
    state = state.get("params", state.get("state_dict", state)) if isinstance(state, dict) else state
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = net.state_dict()
    missing = sorted(k for k in set(own) - set(state) if k not in CONSTANT_BUFFERS)
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        raise WeightsMissing(
            f"metaiqa: {path} does not match the MetaIQA architecture: missing {missing or 'none'}, unexpected "
            f"{unexpected or 'none'}, wrong shape {wrong or 'none'}. Replace it with pyiqa's Metaiqa_prior.pth.")
    net.load_state_dict({**{k: own[k] for k in CONSTANT_BUFFERS if k in own}, **state}, strict=True)
