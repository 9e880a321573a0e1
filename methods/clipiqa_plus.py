"""CLIP-IQA+ (Wang, Chan and Loy, AAAI 2023) natively on open_clip, as its authors trained it.

The authors' configuration, IceClear/CLIP-IQA configs/clipiqa/clipiqa_coop_koniq.py with
mmedit/models/backbones/sr_backbones/coopclipiqa.py (CLIPIQAPredictor -> CustomCLIP -> PromptLearner),
mmedit/models/restorers/clipiqa.py and mmedit/datasets/iqa_koniq_dataset.py: OpenAI CLIP RN50 frozen; one
generic context of 16 learned tokens shared by the classes 'Good photo.' / 'Bad photo.', the class in the middle:
the prompt text is ``'X ' * 16 + name + '.'``, whose last class token is '..' (one BPE token), so the sequence is
``SOS X*8 good photo .. X*8 EOS``; the whole image, no positional embedding in the attention pool (CustomCLIP.forward pos_embedding=False),
score = softmax(exp(logit_scale) cos(image, prompts))[good]; SGD lr 2e-3, batch 64 per GPU on 2 GPUs, random
horizontal flip, MSE against MOS / 100; CosineRestart per iteration (period 300,000, min_lr 1e-7) within
total_iters 500,000.

A cell runs the authors' budget (``schedule="authors"``): 300,000 SGD steps of 128 whole images, the lr set before
every step by the cosine to 1e-7 over 300,000 iterations. The config says ``total_iters = 500000``, but mmcv 1.x's
CosineRestart raises ValueError at the first iteration past its periods (``get_position_from_periods``), so the
authors' run cannot go past iteration 300,000 (their released checkpoint is iter_80000.pth). The image tower is
frozen and runs in eval mode (coopclipiqa.py CustomCLIP.forward calls ``image_encoder.eval()`` before every
forward, although mmedit's runner calls ``train()``), and the only augmentation is a horizontal flip: the engine
trains from its features computed once per (image, flip) (methods/retrained/feature_cache.py), so a step costs
the text tower on two prompts and a 128 x 1024 product. ``schedule="compressed"`` is the earlier variant:
``epochs`` passes (50) with the cosine stepped per epoch. ``clipiqa+-pyiqa`` is pyiqa's own recipe.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.core.errors import BenchError
from methods.base import WeightSpec
from methods.retrained.engine import Trainable, TrainedRegressor, recipe_dataclass
from methods.retrained.recipe import Phase, cosine_lr

SRC = "IceClear/CLIP-IQA"
CFG = f"{SRC} configs/clipiqa/clipiqa_coop_koniq.py"
COOP = f"{SRC} mmedit/models/backbones/sr_backbones/coopclipiqa.py"
CLASSNAMES = ("Good photo.", "Bad photo.")  # the config's classnames; the prompt adds '.' after each
AUTHOR_ITERS, AUTHOR_PERIOD, AUTHOR_BATCH = 500_000, 300_000, 128
AUTHOR_EVAL_INTERVAL = 10_000  # evaluation = dict(interval=10000): our epochs are blocks of this many steps
SCHEDULES = ("authors", "compressed")


class ClipIQAPlusConfigError(BenchError, ValueError):
    """A CLIP-IQA+ setting that cannot run on the cell's data."""


CLIPIQAPlusParams = recipe_dataclass(
    "CLIPIQAPlusParams",
    epochs=50,
    batch_size=128,
    optimizer="sgd",
    momentum=0.0,
    lr=2e-3,
    weight_decay=0.0,
    scheduler="official",
    loss="mse",
    target="unit",
    crop_size=0,
    hflip=True,
    train_crops=1,
    test_mode="full",
    test_crops=1,
    extra=[
        ("backbone", str, "RN50"),
        ("pretrained", str, "openai"),
        ("n_ctx", int, 16),
        ("class_position", str, "middle"),
        ("pos_embedding", str, "none"),
        ("min_lr", float, 1e-7),
        ("schedule", str, "authors"),  # authors: `iterations` steps, cosine per step | compressed: `epochs` passes
        ("iterations", int, AUTHOR_PERIOD),  # schedule=authors: steps in all (the cosine's period)
        ("steps_per_block", int, AUTHOR_EVAL_INTERVAL),  # schedule=authors: steps per logged epoch
        ("allow_half_size", bool, False),  # KonIQ-10k from its 512x384 copy (the authors train on 1024x768)
    ],
)
CLIPIQAPlusParams.__module__ = __name__


def cosine_restart_lrs(lr: float, min_lr: float, epochs: int) -> list[float]:
    """mmcv CosineRestart with one period (restart weight 1) spanning the run, sampled at each epoch's start:
    min_lr + (lr - min_lr) (1 + cos(pi e / epochs)) / 2."""
    return [float(f"{min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * e / epochs)):.12g}") for e in range(epochs)]


def authors_phase(params) -> Phase:
    """``iterations`` SGD steps in blocks of ``steps_per_block`` (each logged as an epoch; the data cycles), the lr
    of every step from mmcv's CosineRestart (one period of ``iterations``, min_lr)."""
    iters, block = int(params.iterations), int(params.steps_per_block)
    if iters <= 0 or block <= 0 or iters % block:
        raise ClipIQAPlusConfigError(
            f"clipiqa+: iterations={iters} must be a positive multiple of steps_per_block={block} "
            "(e.g. --param clipiqa+.iterations=300000 --param clipiqa+.steps_per_block=10000)"
        )
    blocks = iters // block
    first = [float(f"{cosine_lr(params.lr, params.min_lr, b * block, iters):.12g}") for b in range(blocks)]
    return Phase(
        "all",
        blocks,
        params.optimizer,
        params.batch_size,
        params.weight_decay,
        params.momentum,
        {"head": first},
        False,
        block,
        step_cosine={"period": iters, "min_lr": float(params.min_lr)},
    )


def build_coop_net(model, info, n_ctx: int, position: str, pos_embedding: str):
    """An nn.Module: images in [0, 1] at any size -> P(good), with CoOp prompts on the frozen ``model``."""
    import open_clip
    from torch import nn

    from methods.clip_backbone import encode_image_any_size
    from methods.clip_prompts import DualTextPrompts

    tokenizer = open_clip.get_tokenizer(info.backbone)

    class ClipIQAPlusNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.clip = [model]  # a list: frozen, not part of state_dict / parameters
            for p in model.parameters():
                p.requires_grad_(False)
            self.prompts = DualTextPrompts(model, tokenizer, {"quality": CLASSNAMES}, n_ctx=n_ctx, position=position)

        def text_features(self):
            return self.prompts()["quality"]

        def image_features(self, x):
            """The frozen tower's part: images in [0, 1] -> CLIP image features (no gradient reaches CLIP)."""
            import torch

            from bench.data.device_input import normalise

            m = self.clip[0].to(x.device)
            mean = torch.tensor(info.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            std = torch.tensor(info.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            return encode_image_any_size(m, normalise(x, mean, std), pos_embedding)

        def score(self, img):
            """The trained part: image features -> P('Good photo.') against the prompts' text features."""
            txt = self.text_features()
            img = img / img.norm(dim=-1, keepdim=True)
            txt = txt / txt.norm(dim=-1, keepdim=True)
            return (self.clip[0].logit_scale.exp() * img @ txt.t().to(img.dtype)).softmax(dim=-1)[:, 0]

        def forward(self, x):
            return self.score(self.image_features(x))

    return ClipIQAPlusNet()


class CLIPIQAPlus(TrainedRegressor):
    name = "clipiqa+"
    kind = "native"
    trains = True
    version = "5"  # 5: the authors' budget (300,000 steps, cosine per step), KonIQ at half size refused;
    # 4: the authors' configuration (RN50 whole image, middle class token, SGD 2e-3, batch 128, MSE, cosine to 1e-7); 3: [0, 1] targets
    has_backbone = False  # CLIP frozen: the context vectors are the one trained group
    description = (
        "CLIP-IQA+ as its authors trained it (IceClear/CLIP-IQA): CoOp context around 'Good photo.' / "
        "'Bad photo.' on frozen CLIP RN50, whole images, trained per cell"
    )
    Params = CLIPIQAPlusParams
    presets = {
        "paper": {},
        "demo": {"schedule": "compressed", "epochs": 2, "batch_size": 8},
        "ci": {
            "schedule": "compressed",
            "epochs": 1,
            "max_steps": 2,
            "batch_size": 2,
            "n_ctx": 4,
            "backbone": "biqa-tiny-rn",
            "pretrained": "none",
            "crop_size": 64,
            "test_mode": "crops",
            "test_crops": 1,
        },
    }
    source = (
        f"{CFG} + coopclipiqa.py: RN50, 16 context tokens around the class (middle), SGD 2e-3, batch 128 "
        "whole images + hflip, MSE on MOS/100, 300,000 steps with the cosine to 1e-7 per step, trained from "
        "cached RN50 features (--param clipiqa+.schedule=compressed: the earlier 50 passes)"
    )
    sources = {
        "backbone, classnames": f"{CFG}: CLIPIQAPredictor(backbone_name='RN50', classnames=[['Good photo.', "
        "'Bad photo.']]); CLIP frozen except prompt_learner (coopclipiqa.py)",
        "prompt": f"{COOP} PromptLearner defaults: n_ctx=16, ctx_init='', class_specify=False (one generic context), "
        "class_token_position='middle'; prompts = prefix + ' ' + name + '.' ('..' is one token and moves with the "
        "class); ctx ~ N(0, 0.02)",
        "image": f"{COOP} CustomCLIP.forward(pos_embedding=False); {CFG} train/test pipelines: the whole image "
        "(koniq10k/1024x768), no crop, no resize",
        "score": f"{COOP} CustomCLIP: softmax(logit_scale.exp() * cos)[:, 0] (P('Good photo.'))",
        "optimizer": f"{CFG}: optimizers generator SGD lr 0.002 (mmcv defaults: momentum 0, weight_decay 0)",
        "batch": f"{CFG}: train_dataloader samples_per_gpu=64, drop_last, '# 2 gpus' -> 128 per step",
        "flip": f"{CFG}: Flip(flip_ratio=0.5, direction='horizontal')",
        "loss, targets": f"{CFG}: pixel_loss MSELoss; mmedit/datasets/iqa_koniq_dataset.py: gt = MOS / 100 "
        "(here: the dataset's score scale -> [0, 1])",
        "schedule": f"{CFG}: CosineRestart by_epoch=False periods [300000] restart_weights [1] min_lr 1e-7: the lr "
        "of every iteration t is 1e-7 + (2e-3 - 1e-7)(1 + cos(pi t / 300000)) / 2",
        "iterations": f"{CFG}: total_iters 500000, but mmcv 1.x (README: mmcv-full 1.5.0) lr_updater.py "
        "get_position_from_periods raises ValueError at iteration 300000, past the one period: the run stops "
        "there (configs/clipiqa/clipiqa_attribute_test.py sets total_iters 300000); we run 300,000",
        "epochs": f"ours: the 300,000 steps are logged in blocks of 10,000 ({CFG} evaluation interval 10000), the "
        "data cycled and reshuffled per pass as mmcv's IterLoader",
        "last batch": f"{CFG}: train_dataloader drop_last=True",
        "image tower mode": f"{COOP} CustomCLIP.forward: `if self.image_encoder.training: "
        "self.image_encoder.eval()` (and PromptLearner.forward for clip_model) before every forward: the RN50's "
        "BatchNorm uses its running statistics although mmedit's runner calls model.train(); ours stays in eval "
        "mode, so its features are cached",
        "precision": f"{SRC} mmedit/models/components/clip/model.py build_model -> convert_weights: the authors' "
        "CLIP and context vectors are fp16 (a side effect of OpenAI's loader, not a config choice); ours run in "
        "the cell's precision (float32): SGD on fp16 context vectors (|ctx| ~ 0.02, where half an fp16 ulp is "
        "~8e-6) rounds away every update smaller than that, an effect of the storage type that float32 does not have",
        "image size": f"{CFG}: img_folder koniq10k/1024x768; a KonIQ copy with only the 512x384 images is refused "
        "unless --param clipiqa+.allow_half_size=true",
        "test": f"{CFG}: test_pipeline = the whole image, batch 1",
    }
    official_selection = (
        f"{CFG} evaluates every 10,000 iterations and checkpoints every 50,000; the released checkpoint is "
        "iter_80000.pth (README): we keep the last step"
    )
    simplifications = (
        "each block of 10,000 steps starts a new pass over the data (mmcv's IterLoader carries on mid-pass)",
        "float32, not the authors' fp16 CLIP and context vectors",
        "targets are the dataset's score scale mapped to [0, 1] (the authors' KonIQ loader divides the 0-100 MOS "
        "by 100)",
        "whole-image batches need equal image sizes: a dataset with mixed sizes needs crop_size > 0",
    )

    @property
    def n_ctx(self) -> int:
        return int(self.params.n_ctx)

    @classmethod
    def required_weights(cls, params: Any, weights_dir: Path | None = None) -> list[WeightSpec]:
        from methods.clipiqa import clip_weight_specs

        return clip_weight_specs(params.backbone, params.pretrained, weights_dir)

    frozen_tower = (
        "the CLIP image tower is frozen and runs in eval mode (BatchNorm running statistics), as in the authors' "
        "CustomCLIP.forward"
    )

    @classmethod
    def check_plan(cls, params: Any, train_dataset: Any) -> list[str]:
        if train_dataset.name == "koniq10k" and not params.crop_size and not params.allow_half_size:
            root = Path(train_dataset.root)
            if not (root / "1024x768").is_dir() and (root / "512x384").is_dir():
                raise half_size_error(root / "512x384")
        return []

    @classmethod
    def phases_for(cls, params):
        if params.schedule not in SCHEDULES:
            raise ClipIQAPlusConfigError(f"clipiqa+: schedule={params.schedule!r}; choose {' or '.join(SCHEDULES)}")
        if params.scheduler != "official":
            return super().phases_for(params)
        if params.schedule == "authors":
            return [authors_phase(params)]
        lrs = cosine_restart_lrs(params.lr, params.min_lr, params.epochs)
        return [
            Phase(
                "all",
                params.epochs,
                params.optimizer,
                params.batch_size,
                params.weight_decay,
                params.momentum,
                {"head": lrs},
                False,
                params.steps_per_epoch,
            )
        ]

    def fit(self, train, val=None):
        recipe = self.recipe_for(self.params, train.dataset.name)
        if not recipe.crop_size and min(recipe.phases[0].batch_size, len(train)) > 1:
            check_equal_sizes(train, recipe.resize)
        if train.dataset.name == "koniq10k" and not recipe.crop_size and not self.params.allow_half_size:
            check_full_size_koniq(train)
        super().fit(train, val)

    def build(self) -> Trainable:
        from methods.clip_backbone import create_clip

        clip, info = create_clip(
            self.params.backbone, self.params.pretrained, self.context.device, weights_dir=self.context.weights_dir
        )
        net = build_coop_net(clip, info, self.n_ctx, self.params.class_position, self.params.pos_embedding)
        return Trainable(
            net,
            [],
            [p for p in net.parameters() if p.requires_grad],
            tower=clip,
            features=lambda n, x: n.image_features(x),
            from_features=lambda n, f: n.score(f),
        )


def half_size_error(where) -> ClipIQAPlusConfigError:
    return ClipIQAPlusConfigError(
        f"clipiqa+ trains on KonIQ-10k's 1024x768 images, as its authors ({CFG}: img_folder koniq10k/1024x768), "
        f"but this copy has the 512x384 ones ({where}): put the 1024x768 folder beside it, or add "
        "--param clipiqa+.allow_half_size=true to train on the half-size images (a different cell)"
    )


def check_full_size_koniq(train) -> None:
    """KonIQ-10k at half size (the 512x384 release) is refused: the authors trained on 1024x768."""
    from PIL import Image

    with Image.open(train.records[0].path) as im:
        w, h = im.size
    if max(w, h) < 1024:
        raise half_size_error(Path(train.records[0].path).parent)


def check_equal_sizes(train, resize) -> None:
    from PIL import Image

    from methods.retrained.data import resized_size

    sizes = {}
    for rec in train.records:
        with Image.open(rec.path) as im:
            sizes.setdefault(resized_size(im.size, resize), rec.id)
    if len(sizes) > 1:
        shown = ", ".join(f"{w}x{h} ({i})" for (w, h), i in list(sizes.items())[:3])
        raise ClipIQAPlusConfigError(
            f"clipiqa+ trains on whole images in batches, as its authors on KonIQ's 1024x768 copy, but the training "
            f"images of {train.dataset.name} differ in size ({shown}, ...): add --param clipiqa+.crop_size=384 "
            "(random crops, as pyiqa's recipe) or --param clipiqa+.batch_size=1"
        )
