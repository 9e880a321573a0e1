"""TReS (Golestaneh et al., WACV 2022): ResNet-50 (ImageNet) + transformer encoder over multi-level features.

Recipe from the official code, isalirezag/TReS (args.py defaults, run.sh for ResNet-50, models.py class ``TReS``, the solver):
50 random 224 crops per training image per epoch, horizontal + vertical flips, batch 53, 3 epochs, Adam lr 2e-5
wd 5e-4 on all parameters, lr divided by 10 (``lrratio``) after every ``droplr`` = 1 epochs with a new Adam each
time, 50 crops averaged at test; KonIQ-10k resized to (512, 384) first. Loss as ``TReS.train`` (models.py) writes it:
L1 on the image and on its flipped copy, the self-consistency terms the network returns for both, and the
relative-ranking triplets (batch min / second min / max and max / second max / min) with their consistency.
"""

from __future__ import annotations

from methods.pyiqa_zeroshot import TORCHVISION
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, build_arch, keep_exact_crops, split_params
from methods.retrained.recipe import fixed, recipe_dataclass

SRC = "isalirezag/TReS"
RESIZE = {"koniq10k": fixed(512, 384), "bid": fixed(512, 512), "spaq": fixed(512, 512)}

TReSParams = recipe_dataclass(
    "TReSParams",
    epochs=3,
    batch_size=53,
    optimizer="adam",
    lr=2e-5,
    weight_decay=5e-4,
    scheduler="step",
    step_epochs=1,
    gamma=0.1,
    reset_optimizer=True,
    loss="tres",
    target="score",
    crop_size=224,
    hflip=True,
    vflip=True,
    train_crops=50,
    test_mode="crops",
    test_crops=50,
)
TReSParams.__module__ = __name__


def triplet(a, p, n, margin):
    """torch.nn.TripletMarginLoss(margin, p=1) on one-element embeddings: max(d(a,p) - d(a,n) + margin, 0),
    d(x, y) = |x - y + 1e-6| (pairwise_distance's eps)."""
    import torch

    return torch.clamp((a - p + 1e-6).abs() - (a - n + 1e-6).abs() + margin, min=0).mean()


def ranking_triplets(pred, y):
    """The two relative-ranking triplets of TReS models.py TReS.train, on predictions ``pred`` [B] for labels ``y`` [B]."""
    order = y.argsort()
    lo, lo2, hi2, hi = order[0], order[1], order[-2], order[-1]
    return triplet(pred[lo], pred[lo2], pred[hi], y[hi] - y[lo2]) + triplet(
        pred[hi], pred[hi2], pred[lo], y[hi2] - y[lo]
    )


class TReS(PyiqaRetrained):
    name = "tres"
    description = "TReS (Golestaneh et al. 2022): ResNet-50 (ImageNet) + transformer, retrained per cell"
    version = "5"  # 5: the incomplete last batch is trained on, as the official loader;
    # 4: KonIQ-10k trained on MOS_zscore as folders.py (mapped back to the MOS);
    # 3: 224 crops reach the network as cut (pyiqa upscaled them to 225 and re-cropped);
    # 2: official recipe (lr /10 per epoch, was /2; 50 crops/image/epoch; its own loss; raw MOS)
    Params = TReSParams
    resize_by_dataset = RESIZE
    label_columns = {"koniq10k": ("MOS_zscore", f"{SRC} folders.py Koniq_10kFolder: mos = float(row['MOS_zscore'])")}
    presets = {"paper": {}, "demo": DEMO, "ci": CI}
    weights = [(TORCHVISION, "resnet50")]
    sources = {
        "train crops per image": f"{SRC} args.py --train_patch_num 50 (folders.py: patch_num samples per image)",
        "test crops": f"{SRC} args.py --test_patch_num 50; models.py TReS.test averages them",
        "crop, flips": f"{SRC} data_loader.py: RandomHorizontalFlip, RandomVerticalFlip, RandomCrop(224); "
        "koniq Resize((512, 384)), fblive Resize((512, 512))",
        "epochs, batch, droplr": f"{SRC} run.sh (resnet50): --batch_size 53 --droplr 1 --epochs 3",
        "optimizer": f"{SRC} models.py class TReS (the solver): self.lr = 2e-5, Adam(net.parameters(), weight_decay 5e-4 (args.py))",
        "schedule": f"{SRC} models.py TReS.train: lr /= lrratio (= 10) when epoch+1 is droplr, 2*droplr or "
        "3*droplr, with a new Adam",
        "loss": f"{SRC} models.py TReS.train: loss_qa + closs + loss_qa2 + closs2 + 0.5*(|T - T'| + |T' - T|) "
        "+ 0.05*(T + T'), triplets with margins from the labels",
        "last batch": f"{SRC} data_loader.py get_data: torch.utils.data.DataLoader(self.data, "
        "batch_size=self.batch_size, shuffle=True) -- no drop_last: the incomplete last batch is a step",
        "bid, spaq resize": "our choice: as the official fblive branch (Resize((512, 512)))",
    }
    source = f"{SRC}: 50 crops/image/epoch, batch 53, 3 epochs, Adam 2e-5 /10 per epoch, L1 + consistency + ranking"
    drop_last = False
    official_selection = "models.py TReS.train keeps the best test SRCC epoch: we keep the last epoch"
    simplifications = (
        "test crops are deterministic per image (the official ones are random)",
        "the lr keeps dividing by 10 per droplr epochs beyond 3 drops (the official stops after "
        "3 * droplr; the paper preset has 3 epochs, so the same)",
    )
    loss_left_out = "nothing: all of TReS.train's terms"

    @classmethod
    def loss_spec(cls, params) -> dict:
        if params.loss != "tres":
            return super().loss_spec(params)
        return {
            "name": "tres",
            "terms": {
                "l1": 1.0,
                "l1_flip": 1.0,
                "consistency": 1.0,
                "consistency_flip": 1.0,
                "rank_consistency": 0.5,
                "rank": 0.05,
            },
            "left_out": cls.loss_left_out,
        }

    def loss_terms(self, net, x, y, y_std=None) -> dict:
        if self.params.loss != "tres":
            return super().loss_terms(net, x, y, y_std)
        return tres_loss_terms(net, x.flatten(0, 1), y)

    def build(self):
        from pyiqa.archs import tres_arch

        from methods.retrained.engine import Trainable

        keep_exact_crops(tres_arch)  # 224 crops reach the network as cut (pyiqa's forward would resample them)
        net = build_arch({"type": "TReS", "pretrained": False})
        net.test_sample = 1  # we give it crops already; its own multi-crop would repeat ours
        bb, head = split_params(net, net.model)
        return Trainable(net, bb, head)


def tres_loss_terms(net, x, y) -> dict:
    """TReS models.py TReS.train's loss on one batch (net in train mode returns (prediction, self-consistency))."""
    import torch.nn.functional as F

    pred, closs = net(x)
    pred2, closs2 = net(x.flip(3))
    pred, pred2 = pred.reshape(-1), pred2.reshape(-1)
    t, t2 = ranking_triplets(pred, y), ranking_triplets(pred2, y)
    return {
        "l1": F.l1_loss(pred, y),
        "l1_flip": F.l1_loss(pred2, y),
        "consistency": closs,
        "consistency_flip": closs2,
        "rank_consistency": 0.5 * ((t - t2.detach()).abs() + (t2 - t.detach()).abs()),
        "rank": 0.05 * (t + t2),
    }
