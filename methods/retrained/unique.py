"""UNIQUE (Zhang et al., TIP 2021): ResNet-34 (ImageNet) + bilinear pooling, learned from image pairs.

Recipe from the official code, zwx8981/UNIQUE (Main.py defaults, TrainModel.py, BaseCNN.py, ImageDataset.py,
MNL_Loss.py, IQA_database/data_*.m): a list of image pairs is drawn once per split (data_all.m: 40,000 on LIVE
Challenge, 90,000 on KonIQ-10k, 50,000 on KADID-10k ...) and every epoch visits all of it in batches of pairs;
stage 1 trains only the fc layer, 3 epochs, batch 128 pairs; stage 2 all layers, up to epoch 12 (9 epochs), batch
32 pairs; Adam lr 1e-4 wd 5e-4 with StepLR(3, 0.1) counted from the start, so stage 2 runs at 1e-5, 1e-6, 1e-7
for 3 epochs each; AdaptiveResize(512) (short side to 512 unless smaller) + RandomCrop(384) + hflip per image;
test AdaptiveResize(768) on the whole image. The fc has two outputs, the mean and (softplus) the std: fidelity
loss against g = Phi((m_i - m_j) / sqrt(s_i^2 + s_j^2)) with p = Phi((q_i - q_j) / sqrt(v_i^2 + v_j^2)) (the
predicted std, detached), plus a margin-0.025 hinge ordering v_i, v_j as the ratings' std.
"""

from __future__ import annotations

import math

import numpy as np

from methods.base import ScoreDistribution
from methods.pyiqa_zeroshot import TORCHVISION
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, split_params
from methods.retrained.recipe import (
    Phase,
    recipe_dataclass,
    short_side,
    standard_phases,
)

SRC = "zwx8981/UNIQUE"
# IQA_database/data_all.m: num_selection = 10000 times a factor per dataset (pairs per split's training list)
OFFICIAL_PAIRS = {
    "kadid10k": 50_000,
    "live": 25_000,
    "csiq": 35_000,
    "tid2013": 30_000,
    "bid": 20_000,
    "livec": 40_000,
    "koniq10k": 90_000,
}
BASE_PAIRS = 10_000  # data_all.m's num_selection: datasets it does not list

UNIQUEParams = recipe_dataclass(
    "UNIQUEParams",
    epochs=9,
    batch_size=32,
    optimizer="adam",
    lr=1e-4,
    weight_decay=5e-4,
    scheduler="official",
    step_epochs=3,
    gamma=0.1,
    loss="fidelity-thurstone",
    target="score",
    crop_size=384,
    hflip=True,
    train_crops=1,
    test_mode="full",
    test_crops=1,
    head_epochs=3,
    head_optimizer="adam",
    head_lr=1e-4,
    head_batch_size=128,
    extra=[
        ("pairs_per_epoch", int, 0),  # 0: data_all.m's count for the dataset (10,000 if unlisted)
        ("std_margin", float, 0.025),
    ],
)  # Main.py --margin: the std hinge (MarginRankingLoss)
UNIQUEParams.__module__ = __name__


class UNIQUE(PyiqaRetrained):
    name = "unique"
    description = "UNIQUE (Zhang et al. 2021): ResNet-34 (ImageNet) + bilinear pooling, retrained per cell"
    version = "5"  # 5: two forwards per batch of pairs (first images, then second), the last batch kept;
    # 4: image pairs as data_all.m (40k on LIVEC ...), batches of pairs, predicted-std fidelity + std hinge, kaiming fc; 3: torchvision-style short-side resize; 2: official two-stage recipe
    Params = UNIQUEParams
    presets = {
        "paper": {},
        "demo": {
            **DEMO,
            "train_crops": 1,
            "pairs_per_epoch": 64,
            "crop_size": 224,
            "scheduler": "step",
            "test_mode": "crops",
        },
        "ci": {**CI, "train_crops": 1, "crop_size": 64, "scheduler": "none", "test_mode": "crops"},
    }
    weights = [(TORCHVISION, "resnet34")]
    sources = {
        "pairs": f"{SRC} IQA_database/data_all.m: num_selection 10000 x (kadid 5, live 2.5, csiq 3.5, tid 3, bid 2, "
        "clive 4, koniq 9); data_<set>.m: rng(0), randperm over all pairs of the split's training images, "
        "the first num_selection kept, written once per split",
        "samples": f"{SRC} ImageDataset.py: one item = one pair (I1, I2, g, std1, std2, yb); TrainModel.py "
        "DataLoader(shuffle=True) over the pair list every epoch",
        "stages": f"{SRC} Main.py: stage1 (fc=True) then stage2 (fc=False, resume, max_epochs=max_epochs2)",
        "epochs, batch": f"{SRC} Main.py: --max_epochs 3, --batch_size 128; --max_epochs2 12, --batch_size2 32 "
        "(pairs per batch)",
        "optimizer": f"{SRC} TrainModel.py: Adam(model.parameters(), lr 1e-4, weight_decay=5e-4)",
        "schedule": f"{SRC} TrainModel.py: StepLR(step_size=decay_interval 3, gamma=decay_ratio 0.1, "
        "last_epoch=start_epoch-1): stage 2 resumes at epoch 3 -> 1e-5, 1e-6, 1e-7",
        "resize, crop, flip": f"{SRC} TrainModel.py train_transform: AdaptiveResize(512), RandomCrop(384), "
        "RandomHorizontalFlip (each image of a pair on its own); test_transform AdaptiveResize(768)",
        "loss": f"{SRC} TrainModel.py (std_modeling, fidelity, std_loss all True in Main.py): p = Phi((y1 - y2) / "
        "sqrt(v1^2 + v2^2 + 1e-8), detached), Fidelity_Loss(p, g), g from GT_Gaussian.m (MOS, std); "
        "+ MarginRankingLoss(margin 0.025)(v1, v2, sign(std1 - std2))",
        "std output": f"{SRC} BaseCNN.py: fc -> 2 outputs, mean = x[:, 0], std = softplus(x[:, 1]); pyiqa's "
        "UNIQUE fc has the same 2 outputs (its forward returns the mean)",
        "fc init": f"{SRC} BaseCNN.py (fc=True): kaiming_normal_ weight, zero bias",
        "forwards": f"{SRC} TrainModel.py _train_single_epoch: y1, y1_var = self.model(x1); y2, y2_var = "
        "self.model(x2) -- two forwards per batch (BatchNorm statistics over each side's B images)",
        "last batch": f"{SRC} TrainModel.py: DataLoader(self.train_data, batch_size, shuffle=True, pin_memory=True, "
        "num_workers=12) -- no drop_last: the incomplete last batch of pairs is a step",
        "backbone": f"{SRC} Main.py --backbone resnet34 (ImageNet)",
    }
    source = (
        f"{SRC}: pair lists as data_all.m, fc-only 3 epochs (128 pairs) then all 9 epochs (32 pairs), "
        "Adam 1e-4 StepLR(3, 0.1), 384 crops, predicted-std fidelity + std hinge"
    )
    official_selection = (
        "Main.py (get_scores) scores checkpoint DataParallel-00006.pt of every split (0-based epoch 6: "
        "3 fc + 4 fine-tuning epochs, not the 12th): we keep the last epoch"
    )
    loss_left_out = (
        "cross-dataset pairs: the official train.txt (combine_train.m) merges the pair lists of seven "
        "datasets; a cell trains on one, so its pairs are that dataset's alone. Without a published "
        "rating std the target is the binary order and the std hinge is left out"
    )
    simplifications = (
        "single-dataset training (pairs within the cell's training images)",
        "stage 2 starts a fresh Adam (the official resume also loads stage 1's Adam state, i.e. the "
        "fc layer's moments)",
    )
    drop_last = False

    @classmethod
    def pairs_for(cls, params, dataset: str) -> int:
        return int(params.pairs_per_epoch) or OFFICIAL_PAIRS.get(dataset, BASE_PAIRS)

    @classmethod
    def recipe_for(cls, params, dataset: str):
        if params.train_crops != 1 or params.pool_train_crops:
            raise ValueError(
                f"unique trains on image pairs, one crop per image: train_crops={params.train_crops} "
                "must be 1 (and pool_train_crops false)"
            )
        if params.loss != "fidelity-thurstone":
            raise ValueError(f"unique: loss={params.loss!r}; its pairs train with 'fidelity-thurstone' only")
        return super().recipe_for(params, dataset)

    @classmethod
    def resize_for(cls, params, dataset: str):
        return short_side(512, only_if_larger=True)

    @classmethod
    def test_resize_for(cls, params, dataset: str):
        return short_side(768, only_if_larger=True)

    @classmethod
    def loss_spec(cls, params) -> dict:
        return {"name": params.loss, "terms": {"fidelity": 1.0, "std_hinge": 1.0}, "left_out": cls.loss_left_out}

    @classmethod
    def phases_for(cls, params):
        if params.scheduler != "official":
            return standard_phases(params)
        start = params.head_epochs  # the StepLR counts the stage-1 epochs too (resumed, last_epoch=2)
        lrs = [params.lr * params.gamma ** ((start + e) // params.step_epochs) for e in range(params.epochs)]
        phases = [
            Phase(
                "all",
                params.epochs,
                params.optimizer,
                params.batch_size,
                params.weight_decay,
                params.momentum,
                {"backbone": lrs, "head": lrs},
                False,
                params.steps_per_epoch,
            )
        ]
        if params.head_epochs:
            head = [params.head_lr * params.gamma ** (e // params.step_epochs) for e in range(params.head_epochs)]
            phases.insert(
                0,
                Phase(
                    "head",
                    params.head_epochs,
                    params.head_optimizer,
                    params.head_batch_size or params.batch_size,
                    params.weight_decay,
                    params.momentum,
                    {"head": head},
                ),
            )
        return phases

    def training_data(self, train, recipe):
        images = super().training_data(train, recipe)
        pairs = sample_pairs(len(train), recipe.pairs_per_epoch, self.context.seed)
        return PairDataset(images, pairs)

    def loss_terms(self, net, x, y, y_std=None) -> dict:
        # x [B, 2, 3, s, s]: the first and the second images of the pairs, each through the network on its own
        # (TrainModel.py: self.model(x1), then self.model(x2)), so BatchNorm's batch statistics cover B images
        if x.dim() != 5 or x.shape[1] != 2:
            raise ValueError(f"unique trains on image pairs: a batch is [B, 2, 3, h, w], not {list(x.shape)}")
        first, second = mean_and_std(net, x[:, 0]), mean_and_std(net, x[:, 1])
        mean, std = torch_stack_pairs(first[0], second[0]), torch_stack_pairs(first[1], second[1])
        return pair_losses(mean, std, y, y_std, self.params.std_margin)

    def fit(self, train, val=None):
        if any(r.std is None or not r.std > 0 for r in train.records):
            self.context.note(
                "unique: the dataset publishes no rating std for some images: fidelity targets "
                "are the binary order (sign(y_i - y_j) + 1) / 2 and the std hinge is left out"
            )
        super().fit(train, val)

    def predict(self, images):
        """The means and the fc's second output through softplus (the official BaseCNN's std), per image: a
        ``ScoreDistribution`` on UNIQUE's own (Thurstone) scale, which has no fixed range (the distribution
        metrics map it onto the MOS by a fitted line). Scores only when several crops are pooled per image."""
        import torch.nn.functional as F

        net = self._ensure_model().net
        stds = []

        def keep_std(module, inputs, out):
            stds.append(F.softplus(out[:, 1]).detach().double().cpu().numpy())

        handle = net.fc.register_forward_hook(keep_std)
        try:
            mean = super().predict(images)
        finally:
            handle.remove()
        std = np.concatenate(stds) if stds else np.zeros(0)
        return ScoreDistribution(mean, std, None) if std.shape == mean.shape else mean

    def build(self):
        import pyiqa.archs.unique_arch as ua
        import torch

        from methods.retrained.engine import Trainable

        # pyiqa's UNIQUE always loads its released 'mix' checkpoint (trained on six IQA sets):
        # skip it -- a retrained baseline starts from ImageNet only.
        real = ua.load_pretrained_network
        ua.load_pretrained_network = lambda *a, **k: None
        try:
            net = ua.UNIQUE()
        finally:
            ua.load_pretrained_network = real
        torch.nn.init.kaiming_normal_(net.fc.weight)  # BaseCNN.py's fc init (stage 1)
        torch.nn.init.zeros_(net.fc.bias)
        bb, head = split_params(net, net.backbone)
        return Trainable(net, bb, head)


# --- pairs --------------------------------------------------------------------------------------------
def sample_pairs(n_images: int, n_pairs: int, seed: int) -> np.ndarray:
    """``n_pairs`` distinct unordered pairs (i < j) of ``n_images`` images, drawn without replacement with the
    cell's seed (data_<set>.m: randperm over all pairs, the first num_selection); all pairs when fewer exist."""
    total = n_images * (n_images - 1) // 2
    rng = np.random.default_rng([int(seed), 1902])
    picks = rng.permutation(total) if n_pairs >= total else rng.choice(total, size=n_pairs, replace=False)
    return pair_from_index(picks.astype(np.int64), n_images)


def pair_from_index(t: np.ndarray, n: int) -> np.ndarray:
    """Row-major index t of the strict upper triangle of an n x n matrix -> (i, j), i < j."""
    i = n - 2 - np.floor(np.sqrt(-8.0 * t + 4.0 * n * (n - 1) - 7) / 2.0 - 0.5).astype(np.int64)
    j = t + i + 1 - n * (n - 1) // 2 + (n - i) * (n - i - 1) // 2
    return np.stack([i, j], axis=1)


class PairDataset:
    """Item k = pair k: both images' crops stacked {"x": [2, 3, s, s], "score": [2], "std": [2], "index": [2]},
    each image with its own random crop (a fresh one per pair and epoch, as the official loader's transform)."""

    def __init__(self, images, pairs: np.ndarray):
        self.images, self.pairs, self.epoch = images, pairs, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k) -> dict:
        import torch

        epoch, k = k if isinstance(k, tuple) else (self.epoch, k)
        # the image dataset seeds a crop by (epoch, image): a key per (epoch, pair, side) gives each its own
        items = [
            self.images[(int(epoch) * 2 * len(self.pairs) + 2 * k + side, int(i))]
            for side, i in enumerate(self.pairs[k])
        ]
        return {
            "x": torch.cat([it["x"] for it in items]),
            "score": torch.tensor([it["score"] for it in items], dtype=torch.float64),
            "std": torch.tensor([it["std"] for it in items], dtype=torch.float64),
            "index": torch.tensor([it["index"] for it in items]),
        }

    __getitem__.epoch_in_index = True


# --- the model's two outputs and the loss ---------------------------------------------------------------
def mean_and_std(net, x):
    """(mean [N], std [N]) of pyiqa's UNIQUE (or any net with a 2-output ``fc`` whose forward returns the mean):
    the fc's second output through softplus, as the official BaseCNN's std."""
    import torch.nn.functional as F

    seen = []
    handle = net.fc.register_forward_hook(lambda mod, inp, out: seen.append(out))
    try:
        mean = net(x)
    finally:
        handle.remove()
    mean = mean.reshape(len(x), -1)[:, 0]
    return mean, F.softplus(seen[-1][:, 1])


def torch_stack_pairs(a, b):
    """[B] and [B] -> [B, 2]: the first and the second image of each pair."""
    import torch

    return torch.stack([a, b], dim=1)


def pair_losses(mean, std, y, y_std=None, margin: float = 0.025) -> dict:
    """UNIQUE's loss for pairs (mean, std [B, 2] predicted; y, y_std [B, 2] the ratings): fidelity of
    p = Phi((q1 - q2) / sqrt(v1^2 + v2^2 + 1e-8)) (variance detached, as TrainModel.py) against the Thurstone
    g = Phi((m1 - m2) / sqrt(s1^2 + s2^2)) (binary order without the ratings' std); + the std hinge."""
    import torch
    import torch.nn.functional as F

    from methods.retrained.losses import std_normal_cdf

    var = std[:, 0] ** 2 + std[:, 1] ** 2 + 1e-8
    p = std_normal_cdf((mean[:, 0] - mean[:, 1]) / torch.sqrt(var.detach()))
    if y_std is None:
        g = (y[:, 0] > y[:, 1]).to(p.dtype)
    else:
        g = std_normal_cdf((y[:, 0] - y[:, 1]) / (torch.sqrt(y_std[:, 0] ** 2 + y_std[:, 1] ** 2) + 1e-8))
    eps = 1e-8
    terms = {"fidelity": (1 - torch.sqrt(p * g + eps) - torch.sqrt((1 - p) * (1 - g) + eps)).mean()}
    if y_std is not None:
        terms["std_hinge"] = F.margin_ranking_loss(
            std[:, 0], std[:, 1], torch.sign(y_std[:, 0] - y_std[:, 1]), margin=margin
        )
    return terms


def official_pair_steps(
    n_pairs: int, head_batch: int = 128, batch: int = 32, head_epochs: int = 3, epochs: int = 9
) -> int:
    """Optimiser steps of the official two stages over a pair list (DataLoader without drop_last)."""
    return head_epochs * math.ceil(n_pairs / head_batch) + epochs * math.ceil(n_pairs / batch)
