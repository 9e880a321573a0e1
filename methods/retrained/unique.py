"""UNIQUE (Zhang et al., TIP 2021): ResNet-34 (ImageNet) + bilinear pooling, learned from image pairs.

Recipe from the official code, zwx8981/UNIQUE (Main.py defaults, TrainModel.py, Transformers.py): stage 1 trains
only the fc layer, 3 epochs, batch 128; stage 2 all layers, up to epoch 12 (9 epochs), batch 32; Adam lr 1e-4
wd 5e-4 with StepLR(3, 0.1) counted from the start, so stage 2 runs at 1e-5, 1e-6, 1e-7 for 3 epochs each;
AdaptiveResize(512) (short side to 512 unless smaller) + RandomCrop(384) + hflip; test AdaptiveResize(768) on
the whole image; fidelity loss with the Thurstone target P(i > j) = Phi((m_i - m_j) / sqrt(s_i^2 + s_j^2)).
"""

from __future__ import annotations

from methods.pyiqa_zeroshot import _TV
from methods.retrained.pyiqa_common import CI, DEMO, PyiqaRetrained, split_params
from methods.retrained.recipe import Phase, recipe_dataclass, short_side, standard_phases

SRC = "zwx8981/UNIQUE"

UNIQUEParams = recipe_dataclass(
    "UNIQUEParams", epochs=9, batch_size=32, optimizer="adam", lr=1e-4, weight_decay=5e-4, scheduler="official",
    step_epochs=3, gamma=0.1, loss="fidelity-thurstone", target="score", crop_size=384, hflip=True, train_crops=1,
    test_mode="full", test_crops=1, head_epochs=3, head_optimizer="adam", head_lr=1e-4, head_batch_size=128)
UNIQUEParams.__module__ = __name__


class UNIQUE(PyiqaRetrained):
    name = "unique"
    description = "UNIQUE (Zhang et al. 2021): ResNet-34 (ImageNet) + bilinear pooling, retrained per cell"
    version = "3"        # 3: short-side resize truncates the long side as torchvision's Resize(n); 2: official two-stage recipe, resize, whole-image test, Thurstone targets from the MOS std
    Params = UNIQUEParams
    presets = {"paper": {}, "demo": {**DEMO, "crop_size": 224, "scheduler": "step", "test_mode": "crops"},
               "ci": {**CI, "crop_size": 64, "scheduler": "none", "test_mode": "crops"}}
    weights = [(_TV, "resnet34")]
    sources = {
        "stages": f"{SRC} Main.py: stage1 (fc=True) then stage2 (fc=False, resume, max_epochs=max_epochs2)",
        "epochs, batch": f"{SRC} Main.py: --max_epochs 3, --batch_size 128; --max_epochs2 12, --batch_size2 32",
        "optimizer": f"{SRC} TrainModel.py: Adam(model.parameters(), lr 1e-4, weight_decay=5e-4)",
        "schedule": f"{SRC} TrainModel.py: StepLR(step_size=decay_interval 3, gamma=decay_ratio 0.1, "
                    "last_epoch=start_epoch-1): stage 2 resumes at epoch 3 -> 1e-5, 1e-6, 1e-7",
        "resize, crop, flip": f"{SRC} TrainModel.py train_transform: AdaptiveResize(512), RandomCrop(384), "
                              "RandomHorizontalFlip; test_transform AdaptiveResize(768)",
        "loss": f"{SRC} TrainModel.py: Fidelity_Loss(p, g) with g from the MOS and its std (Thurstone, std_modeling)",
        "backbone": f"{SRC} Main.py --backbone resnet34 (ImageNet)",
    }
    source = f"{SRC}: fc-only 3 epochs (batch 128) then all 9 epochs (batch 32), Adam 1e-4 StepLR(3, 0.1), 384 crops"
    official_selection = ("Main.py (get_scores) scores checkpoint DataParallel-00006.pt of every split (0-based epoch 6: "
                          "3 fc + 4 fine-tuning epochs, not the 12th): we keep the last epoch")
    loss_left_out = ("the predicted-uncertainty (std) modelling and its hinge loss (pyiqa's UNIQUE has no std "
                     "output), and cross-dataset pair sampling: pairs are all pairs of a batch of one dataset; "
                     "without a published rating std the target is the binary order")
    simplifications = ("single-dataset training, pairs within a batch; no uncertainty (std) head / hinge term",
                       "stage 2 starts a fresh Adam (the official resume also loads stage 1's Adam state, i.e. the "
                       "fc layer's moments)")

    @classmethod
    def resize_for(cls, params, dataset: str):
        return short_side(512, only_if_larger=True)

    @classmethod
    def test_resize_for(cls, params, dataset: str):
        return short_side(768, only_if_larger=True)

    @classmethod
    def loss_spec(cls, params) -> dict:
        return {"name": params.loss, "terms": {"fidelity": 1.0}, "left_out": cls.loss_left_out}

    @classmethod
    def phases_for(cls, params):
        if params.scheduler != "official":
            return standard_phases(params)
        start = params.head_epochs       # the StepLR counts the stage-1 epochs too (resumed, last_epoch=2)
        lrs = [params.lr * params.gamma ** ((start + e) // params.step_epochs) for e in range(params.epochs)]
        phases = [Phase("all", params.epochs, params.optimizer, params.batch_size, params.weight_decay,
                        params.momentum, {"backbone": lrs, "head": lrs}, False, params.steps_per_epoch)]
        if params.head_epochs:
            head = [params.head_lr * params.gamma ** (e // params.step_epochs) for e in range(params.head_epochs)]
            phases.insert(0, Phase("head", params.head_epochs, params.head_optimizer,
                                   params.head_batch_size or params.batch_size, params.weight_decay,
                                   params.momentum, {"head": head}))
        return phases

    def loss_terms(self, net, x, y, y_std=None) -> dict:
        if self.params.loss != "fidelity-thurstone":
            return super().loss_terms(net, x, y, y_std)
        return {"fidelity": thurstone_fidelity(self.model.pool(net, x).to(y.dtype), y, y_std)}

    def fit(self, train, val=None):
        if any(r.std is None or not r.std > 0 for r in train.records):
            self.context.note("unique: the dataset publishes no rating std for some images: fidelity targets "
                              "are the binary order (sign(y_i - y_j) + 1) / 2")
        super().fit(train, val)

    def build(self):
        import pyiqa.archs.unique_arch as ua

        from methods.retrained.engine import Trainable

        # pyiqa's UNIQUE always loads its released 'mix' checkpoint (trained on six IQA sets):
        # skip it -- a retrained baseline starts from ImageNet only.
        real = ua.load_pretrained_network
        ua.load_pretrained_network = lambda *a, **k: None
        try:
            net = ua.UNIQUE()
        finally:
            ua.load_pretrained_network = real
        bb, head = split_params(net, net.backbone)
        return Trainable(net, bb, head)


def thurstone_fidelity(pred, y, std=None):
    """UNIQUE's fidelity loss over all pairs of a batch: p = Phi((s_i - s_j) / sqrt(2)) (unit-variance
    predictions), g = Phi((y_i - y_j) / sqrt(std_i^2 + std_j^2)) with the ratings' std, else (sign + 1) / 2."""
    import torch

    from methods.retrained.engine import _phi, fidelity_loss

    i, j = torch.triu_indices(len(pred), len(pred), offset=1)
    if std is None:
        g = 0.5 * (torch.sign(y[i] - y[j]) + 1)
    else:
        g = _phi((y[i] - y[j]) / torch.sqrt(std[i] ** 2 + std[j] ** 2 + 1e-8))
    return fidelity_loss(pred, y, g)
