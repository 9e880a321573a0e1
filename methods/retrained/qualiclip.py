"""QualiCLIP (Agnolucci, Galteri and Bertini, 2024): CLIP RN50 made quality-aware without human opinions, then
prompts learned on each cell's MOS (pyiqa's QualiCLIP+).

QualiCLIP's authors train CLIP's image encoder self-supervised (synthetic degradations of pristine images ranked
against antonym prompts) and never on opinion scores; miccunifi/QualiCLIP releases the weights and inference
code only (hubconf.py; README: training code not released). How it enters a protocol that trains on MOS:

* its self-supervised pre-training enters as weights: pyiqa's ``QualiCLIP.pth`` (the release's CLIP RN50 and
  the 14 antonym prompts' text features), loaded by pyiqa's ``QualiCLIP`` class and kept frozen;
* on top, the only public recipe that trains QualiCLIP on opinion scores, pyiqa's
  options/train/QualiCLIP/train_QualiCLIP_koniq10k.yml (model_type qualiclip+): 16 learned context tokens per
  prompt (CoOp, ``prompt_specific_ctx``) around the 14 prompts, CLIP frozen; Adam lr 2e-3,
  CosineAnnealingLR(T_max 50, eta_min 0) per epoch, 50 epochs, batch 8, a random 384 crop + hflip of KonIQ at
  1024x768 (no resize), MSE + PLCC on MOS scaled to [0, 1], the whole image at test.

The opinion-unaware model itself needs no training: ``pyiqa:qualiclip`` scores it zero-shot in the eval protocol.
"""

from __future__ import annotations

from methods.pyiqa_zeroshot import OPENAI_CLIP, PYIQA
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch
from methods.retrained.recipe import Phase, recipe_dataclass, standard_phases, torch_cosine_lrs

YML = "chaofengc/IQA-PyTorch options/train/QualiCLIP/train_QualiCLIP_koniq10k.yml"
WEIGHTS = "QualiCLIP.pth"

QualiCLIPParams = recipe_dataclass(
    "QualiCLIPParams",
    epochs=50,
    batch_size=8,
    optimizer="adam",
    lr=2e-3,
    scheduler="official",
    cosine_t_max=50,
    loss="mse+plcc",
    target="unit",
    crop_size=384,
    hflip=True,
    train_crops=1,
    test_mode="full",
    test_crops=1,
)
QualiCLIPParams.__module__ = __name__


class QualiCLIP(PyiqaRetrained):
    name = "qualiclip"
    description = (
        "QualiCLIP (Agnolucci et al. 2024): its self-supervised, opinion-unaware CLIP RN50 (frozen) + prompts "
        "learned per cell with pyiqa's QualiCLIP+ recipe"
    )
    version = "1"
    Params = QualiCLIPParams
    presets = {
        "paper": {},
        "demo": {**DEMO, "crop_size": 224, "test_mode": "crops", "scheduler": "cosine"},
        "ci": {**CI, "crop_size": 64, "test_mode": "crops", "scheduler": "none"},
    }
    weights = [(OPENAI_CLIP, "RN50"), (PYIQA, WEIGHTS)]
    sources = {
        "last batch": "pyiqa pyiqa/data/__init__.py build_dataloader: the train loader has drop_last=True",
        "starting weights": "miccunifi/QualiCLIP hubconf.py (qualiclip.pth: clip_model.* + prompts_features); "
        f"pyiqa qualiclip_arch.py loads the same release as {WEIGHTS} into CLIP RN50 and freezes it",
        "trained parameters": f"{YML} network: model_type qualiclip+, n_ctx 16, ctx_init '', prompt_specific_ctx "
        "true, pos_embedding false; pyiqa qualiclip_arch.py PromptLearner (CLIP's parameters requires_grad False)",
        "optimizer, schedule": f"{YML}: Adam lr 2e-3, CosineAnnealingLR T_max 50 eta_min 0, total_epoch 50; pyiqa "
        "train.py steps the scheduler once per epoch",
        "batch, crop, flip": f"{YML}: batch_size_per_gpu 8, augment random_crop 384 + hflip; the train loader drops "
        "the last incomplete batch (pyiqa data/__init__.py)",
        "resize": f"{YML}: dataroot_target koniq10k/1024x768 (the full-size release: no resize)",
        "loss, targets": f"{YML}: MSELoss + PLCCLoss, mos_normalize true (mos_range [1, 100] -> [0, 1])",
        "test": f"{YML}: the val set has no augment (the whole image)",
        "opinion-aware recipe": "miccunifi/QualiCLIP releases no training code (README 'To be released: Training "
        "code'): pyiqa's yml is the only public recipe that trains QualiCLIP on MOS",
    }
    source = (
        f"QualiCLIP.pth (self-supervised, frozen) + {YML}: prompts, Adam 2e-3, cosine 50, batch 8, 384 crops, "
        "MSE + PLCC on [0, 1] MOS, whole-image test"
    )
    has_backbone = False
    official_selection = "pyiqa's trainer saves the best validation checkpoint: we keep the last epoch"
    simplifications = (
        "the score is pyiqa's QualiCLIP forward (CLIP's logit scale / temperature 2); the official hubconf "
        "scores with a fixed logit scale of 100 and no temperature",
        "QualiCLIP's own self-supervised training is not rerun: its released weights are the starting point",
        "pyiqa/train.py runs total_epoch x ceil(n / batch) iterations over a drop_last loader, i.e. up to 50 "
        "more steps in a 51st epoch: we run 50 whole epochs",
    )

    @classmethod
    def phases_for(cls, params):
        if params.scheduler != "official":
            return standard_phases(params, has_backbone=False)
        lrs = torch_cosine_lrs(params.lr, params.cosine_t_max or params.epochs, params.epochs)
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

    def build(self):
        from methods.retrained.engine import Trainable

        net = build_arch(
            {
                "type": "QualiCLIP",
                "model_type": "qualiclip+",
                "backbone": "RN50",
                "n_ctx": 16,
                "ctx_init": "",
                "prompt_specific_ctx": True,
                "pretrained": False,  # QualiCLIP.pth is always loaded; False: not the released KonIQ prompts
                "pos_embedding": False,
            }
        )
        return Trainable(net, [], list(net.prompt_learner.parameters()))
