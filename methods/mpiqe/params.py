"""MP-IQE's and VisualOnly's parameters (dataclasses), their presets (paper, demo, ci) and the configuration errors.
Torch-free: ``bench methods`` lists the methods without loading the network."""

from __future__ import annotations

from dataclasses import dataclass

from bench.core.errors import BenchError

VISUAL_PROMPT_MODES = ("deep", "shallow", "none")


class MPIQEConfigError(BenchError):
    """A parameter value MP-IQE cannot use."""


class MissingLabels(MPIQEConfigError):
    """The training set lacks the scene/distortion labels the configured losses need."""


def missing_labels_message(method: str, dataset: str, missing: list[str]) -> str:
    from bench.data.datasets.registry import get_spec

    try:
        spec = get_spec(dataset)
        where = (
            f"LIQE's label files IQA_Database/{spec.liqe_dir}/splits2/<k>/{spec.liqe_prefix}_{{train,val,test}}_clip.txt"
            if spec.liqe_dir
            else ""
        )
    except Exception:  # noqa: BLE001 -- a dataset outside the registry: no file names to give
        where = ""
    have = f"{where} (from the LIQE repository, github.com/zwx8981/LIQE)" if where else "LIQE-style label files"
    return (
        f"{method}: training set {dataset!r} has no {' or '.join(missing)} labels, which the "
        f"{' and '.join('L_scene' if m == 'scene' else 'L_dist' for m in missing)} loss(es) need. Put {have} "
        f"under <data-root>/liqe/ or pass --labels DIR; or run without them on purpose with "
        f"--param {method}.allow_missing_labels=true (the terms are switched off and the cell says so)."
    )


@dataclass
class TrainingParams:
    """What MP-IQE and VisualOnly share: backbone, decoder, schedule, losses, crops."""

    backbone: str = "ViT-B-16"
    pretrained: str = "openai"  # open_clip tag, a checkpoint path, or 'none' (random weights)
    projection: str = "clip"  # 768->512: CLIP's frozen ln_post+proj ('clip') or a trainable copy
    decoder_layers: int = 3
    decoder_heads: int = 8
    decoder_mlp_ratio: float = 4.0
    head_hidden: int = 256
    epochs: int = 30
    warmup_epochs: int = 5
    lr: float = 3e-5
    min_lr: float = 0.0
    weight_decay: float = 0.0
    batch_unit: str = "crop"  # what batch_size counts: crop (each crop a sample) | image (k crops, mean)
    batch_size: int | None = None  # samples per step; None -> 32 on live/csiq/bid, 64 elsewhere
    n_crops: int = 8
    crop_size: int = 224
    lambda2: float | None = None  # None -> 0.1 on live/csiq, 0.5 elsewhere
    smooth_l1_beta: float = 0.1
    score_scale: str = "unit"  # MOS scale the score loss sees: unit (train min..max -> 0..1) | raw | 0-100
    micro_batch: int | None = None  # crops per forward/backward chunk; None -> 128 (cuda) / 64 (cpu)
    predict_batch_size: int = 16  # images per inference batch
    amp: str = "auto"  # auto (bf16 on cuda) | bf16 | off
    cpu_threads: int | None = None  # torch CPU threads during fit/predict; None -> leave torch's setting


@dataclass
class MPIQEParams(TrainingParams):
    use_scene_prompts: bool = True
    use_distortion_prompts: bool = True
    visual_prompts: str = "deep"  # deep | shallow | none
    text_prompt_len: int = 8  # M
    visual_prompt_len: int = 4  # n
    text_ctx_init: str = ""  # '' -> random N(0, 0.02); else words of exactly M tokens
    visual_prompt_init: str = "xavier"
    window: int = 4  # w (w x w windows of the distortion alignment)
    window_pool: str = "before"  # pool windows before the 768->512 projection or after it
    temperature: float = 0.01  # T of Eqs. 8/11
    window_temperature: float = 0.01  # T-bar of Eq. 10
    lambda1: float = 1.0
    class_mean_ce: bool = False  # paper-literal 1/M, 1/N factors in Eqs. 9/11
    allow_missing_labels: bool = False  # True: train without scene/distortion labels (terms off, noted)


@dataclass
class VisualOnlyParams(TrainingParams):
    decoder_layers: int = 1


# Tiny backbone, offline: the demo protocols finish in minutes on 2 CPU cores.
# 4 epochs at lr 4e-3 match 6 at 2e-3 in SRCC on demo-a/demo-b (3 splits each way) in 2/3 of the time.
# Crop reading with 32 crops per step: the same steps and crops per step as the version-1 preset
# (8 images x 4 crops), so the two are comparable.
DEMO_PRESET = dict(
    backbone="biqa-tiny-vit",
    pretrained="none",
    crop_size=64,
    n_crops=4,
    epochs=4,
    warmup_epochs=1,
    lr=4e-3,
    batch_unit="crop",
    batch_size=32,
    decoder_layers=1,
    decoder_heads=4,
    head_hidden=32,
    micro_batch=64,
    predict_batch_size=32,
    cpu_threads=1,
    allow_missing_labels=True,
)
CI_PRESET = dict(DEMO_PRESET, n_crops=2, epochs=2, batch_size=8, lr=2e-3)
# batch_unit='crop': the authors' lineage (HyperIQA, DEIQT) counts crops; docs/MPIQE.md has the evidence.
PAPER_PRESET = dict(
    backbone="ViT-B-16",
    pretrained="openai",
    epochs=30,
    warmup_epochs=5,
    lr=3e-5,
    n_crops=8,
    crop_size=224,
    decoder_layers=3,
    batch_unit="crop",
    batch_size=None,
    lambda2=None,
    score_scale="unit",
    allow_missing_labels=False,
)
