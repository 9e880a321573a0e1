"""MetaIQA (Zhu et al., CVPR 2020): ResNet-18 from the meta-learned distortion prior, fine-tuned per cell.

Recipe from the official code, zhuhancheng/MetaIQA MetaIQA_FineTune_WILDLIVE.py (``finetune_model``,
``exp_lr_scheduler``, ``load_data``): the whole model (prior = TID2013_IQA_Meta_resnet18.pt; pyiqa's
``Metaiqa_prior.pth``, loaded strictly) fine-tuned with one Adam(model.parameters(), lr 1e-4, wd 0), 100
epochs, batch 50; every epoch e the lr is multiplied by 0.8 ** (e // 10) (compounding, as the code runs);
images rescaled to 256x256, random 224 crop + hflip; MSE on MOS in [0, 1] (the LIVEC csv is MOS / 100; the
head ends in a sigmoid); test: the image rescaled to 224x224.
"""

from __future__ import annotations

from methods import weights as W
from methods.pyiqa_zeroshot import PYIQA
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch, split_params
from methods.retrained.recipe import ORDER_ONCE, Phase, fixed, recipe_dataclass, standard_phases

SRC = "zhuhancheng/MetaIQA MetaIQA_FineTune_WILDLIVE.py"
# constant buffers of pyiqa's MetaIQA (ImageNet mean / std), not learned: a prior may omit them
CONSTANT_BUFFERS = ("mean", "std")

MetaIQAParams = recipe_dataclass(
    "MetaIQAParams",
    epochs=100,
    batch_size=50,
    optimizer="adam",
    lr=1e-4,
    backbone_lr=None,
    weight_decay=0.0,
    scheduler="official",
    step_epochs=10,
    gamma=0.8,
    loss="mse",
    target="unit",
    crop_size=224,
    hflip=True,
    train_crops=1,
    test_mode="resize",
    test_crops=1,
)
MetaIQAParams.__module__ = __name__


def official_lrs(lr: float, gamma: float, every: int, epochs: int) -> list[float]:
    """exp_lr_scheduler(optimizer, epoch) runs at the start of every epoch and multiplies the current lr by
    gamma ** (epoch // every): the factors compound (1e-4 for epochs 1-10, then x0.8 per epoch, x0.64 ...)."""
    out, value = [], lr
    for e in range(epochs):
        value *= gamma ** (e // every)
        out.append(float(f"{value:.12g}"))  # no float noise in the shown table
    return out


class PriorMismatch(Exception):
    pass


class MetaIQA(PyiqaRetrained):
    name = "metaiqa"
    description = "MetaIQA (Zhu et al. 2020): ResNet-18 from the meta-learned distortion prior, fine-tuned per cell"
    version = "5"  # 5: one random order per cell (train_test_split's), the last batch kept;
    # 4: training batches in the official (unshuffled) order;
    # 3: the official fine-tuning script (one lr 1e-4, compounding x0.8 decay, 256x256 rescale);
    # 2: [0, 1] targets for the sigmoid head (were standardised), strict prior, resized full test
    Params = MetaIQAParams
    presets = {"paper": {}, "demo": DEMO, "ci": CI}
    weights = [(PYIQA, "Metaiqa_prior.pth")]
    sources = {
        "optimizer": f"{SRC}: optim.Adam(model.parameters(), lr=1e-4, weight_decay=0) -- one group, ResNet and head",
        "schedule": f"{SRC} exp_lr_scheduler(lr_decay_epoch=10): every epoch lr *= 0.8 ** (epoch // 10) (compounds)",
        "epochs, batch": f"{SRC}: epochs = 100; load_data: batch 50 (meta_num)",
        "order": f"{SRC} finetune_model: train_test_split(images, train_size=0.8) (shuffled, random_state None) "
        "writes train_image.csv in a random order; load_data('train'): DataLoader(transformed_dataset_train, "
        "batch_size=50, shuffle=False) reads it in that order every epoch -- here one permutation drawn from the "
        "cell's seed",
        "last batch": f"{SRC} load_data('train'): DataLoader(..., batch_size=bsize, shuffle=False, num_workers=0, "
        "collate_fn=my_collate) -- no drop_last: LIVEC's 930 training images give 18 batches of 50 and one of 30",
        "resize, crop, flip": f"{SRC} load_data: Rescale((256, 256)), RandomHorizontalFlip(0.5), RandomCrop(224)",
        "test": f"{SRC} load_data('test'): Rescale((224, 224)), the whole image",
        "loss, targets": f"{SRC}: nn.MSELoss on LIVE_WILD/image_labeled_by_score.csv (MOS / 100, in [0, 1]); "
        "the head ends in a sigmoid",
        "initialisation": f"{SRC}: torch.load('model_IQA/TID2013_IQA_Meta_resnet18.pt') (the meta-learned prior); "
        "here pyiqa's Metaiqa_prior.pth",
    }
    source = f"{SRC}: Adam 1e-4 (all), x0.8**(e//10) per epoch compounding, 100 epochs, batch 50, 256 -> 224 crops, MSE"
    official_selection = (
        "finetune_model keeps the best test SROCC over epochs (and the untrained prior): we keep the last"
    )
    training_order = ORDER_ONCE  # train_test_split's random order, then DataLoader(..., shuffle=False)
    drop_last = False
    simplifications = (
        "pyiqa's options/train/METAIQA yml (lr 1e-2 head, x0.8 per 190 iterations) is not used: the official script is",
    )

    @classmethod
    def resize_for(cls, params, dataset: str):
        return fixed(256, 256)

    @classmethod
    def test_resize_for(cls, params, dataset: str):
        return fixed(224, 224)

    @classmethod
    def phases_for(cls, params):
        if params.scheduler != "official":
            return standard_phases(params)
        table = lambda lr: official_lrs(lr, params.gamma, params.step_epochs, params.epochs)  # noqa: E731
        head = table(params.lr)
        bb = head if params.backbone_lr is None else table(params.backbone_lr)
        return [
            Phase(
                "all",
                params.epochs,
                params.optimizer,
                params.batch_size,
                params.weight_decay,
                params.momentum,
                {"backbone": bb, "head": head},
                False,
                params.steps_per_epoch,
            )
        ]

    def build(self):
        from methods.retrained.engine import Trainable

        net = build_arch({"type": "MetaIQA", "pretrained": False, "pretrained_model_path": None})
        load_prior_strictly(net, W.pyiqa_url("Metaiqa_prior.pth"))
        bb, head = split_params(net, net.resnet_layer)
        return Trainable(net, bb, head)


def load_prior_strictly(net, url: str) -> None:
    """Load the prior; any missing or unexpected tensor (beyond the constant normalisation buffers) is an error
    naming the keys -- pyiqa loads it with strict=False, which would silently start from random weights."""
    from pyiqa.utils.download_util import load_file_from_url

    from bench.core.errors import WeightsMissing
    from methods.checkpoints import load_tensors

    path = load_file_from_url(url)
    state = load_tensors(path)  # tensors only: a replaced file cannot run code (methods/checkpoints.py)
    state = state.get("params", state.get("state_dict", state)) if isinstance(state, dict) else state
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = net.state_dict()
    missing = sorted(k for k in set(own) - set(state) if k not in CONSTANT_BUFFERS)
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        raise WeightsMissing(
            f"metaiqa: {path} does not match the MetaIQA architecture: missing {missing or 'none'}, unexpected "
            f"{unexpected or 'none'}, wrong shape {wrong or 'none'}. Replace it with pyiqa's Metaiqa_prior.pth."
        )
    net.load_state_dict({**{k: own[k] for k in CONSTANT_BUFFERS if k in own}, **state}, strict=True)
