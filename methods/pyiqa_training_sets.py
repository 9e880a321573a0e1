"""What each pyiqa checkpoint used zero-shot here was trained on (data, torch-free).

A zero-shot metric scored on a dataset its checkpoint was trained on is not zero-shot: its test
images (or most of them: a random split of ours overlaps any official train split) were seen in
training. ``pyiqa_zeroshot`` looks the metric up here, notes the overlap in the cell and records
the cell fact ``trained_on_test_dataset`` (true / false / null when the metric is not listed).

Dataset names are the harness's (``bench data list``: live, csiq, kadid10k, livec, bid, koniq10k,
tid2013, spaq, flive = the PaQ-2-PiQ set, pipal, agiqa3k, aigiqa20k, aigciqa2023) where the harness has the
dataset; other training sets keep a plain name (ava, lsvq, tid2008, ...). An empty tuple: fitted on no rated IQA dataset
(NIQE / IL-NIQE model pristine images only; CLIP-IQA is CLIP with fixed prompts; PIQE and
entropy are formulas), so ``trained_on_test_dataset`` is false and no note is written.

Sources: pyiqa 0.1.16 ``default_model_configs.py`` (the option that picks the checkpoint) and
``pyiqa/archs/<arch>_arch.py`` (``default_model_urls``: the file it loads), pyiqa's README
("Performance Evaluation Protocol": the models pyiqa retrained itself were trained on the KonIQ-10k
official train split), and the method papers named per entry.
"""

from __future__ import annotations

from dataclasses import dataclass

HARNESS_DATASETS = (
    "live",
    "csiq",
    "kadid10k",
    "livec",
    "bid",
    "koniq10k",
    "tid2013",
    "spaq",
    "flive",
    "pipal",
    "agiqa3k",
    "aigiqa20k",
    "aigciqa2023",
)
LIQE_SIX = ("live", "csiq", "kadid10k", "livec", "bid", "koniq10k")


@dataclass(frozen=True)
class Checkpoint:
    datasets: tuple[str, ...]  # training sets (harness names where the harness has the dataset)
    checkpoint: str  # the file that carries that training ('' when none)
    source: str


_CFG = "pyiqa default_model_configs.py"
TRAINING_SETS: dict[str, Checkpoint] = {
    # training-free / fitted on pristine images only
    "niqe": Checkpoint(
        (),
        "niqe_modelparameters.mat",
        "Mittal et al. 2013 (NIQE), Sec. III: MVG fitted to 125 pristine images, no opinion scores",
    ),
    "niqe_matlab": Checkpoint((), "niqe_matlab_params.mat", "as niqe (the original MATLAB parameters)"),
    "ilniqe": Checkpoint(
        (),
        "ILNIQE_templateModel.mat",
        "Zhang, Zhang and Bovik 2015 (IL-NIQE), Sec. III: 90 pristine images, no opinion scores",
    ),
    "clipiqa": Checkpoint(
        (), "RN50.pt", "CLIP-IQA (Wang et al. 2023): OpenAI CLIP with fixed prompts, no IQA training"
    ),
    # training-free: a formula over the image, no file loaded (pyiqa archs/<name>_arch.py)
    "piqe": Checkpoint(
        (),
        "",
        "Venkatanath et al. 2015 (PIQE): block-wise distortion and activity measures, no "
        "training; pyiqa piqe_arch.py loads no file",
    ),
    "entropy": Checkpoint(
        (),
        "",
        "Shannon entropy of the luminance histogram (as MATLAB's entropy), no training; "
        "pyiqa entropy_arch.py loads no file",
    ),
    # classical with a trained regressor
    "brisque": Checkpoint(
        ("live",),
        "brisque_svm_weights.pth",
        "Mittal et al. 2012 (BRISQUE), released SVR trained on the LIVE IQA database; pyiqa "
        "brisque_arch.py takes it from piq's port of that release",
    ),
    "brisque_matlab": Checkpoint(("live",), "brisque_matlab.mat", "as brisque (the original MATLAB model)"),
    # deep checkpoints
    "dbcnn": Checkpoint(
        ("koniq10k",),
        "DBCNN_KonIQ10k-2de81c0a.pth",
        f"{_CFG} dbcnn: pretrained='koniq'; dbcnn_arch.py; pyiqa README: retrained by pyiqa on KonIQ",
    ),
    "hyperiqa": Checkpoint(
        ("koniq10k",),
        "HyperIQA-resnet50-koniq10k-c96c41b1.pth",
        "hypernet_arch.py default_model_urls['resnet50-koniq']; pyiqa README: retrained on KonIQ",
    ),
    "tres": Checkpoint(("koniq10k",), "tres_koniq-f0502926.pth", f"{_CFG} tres: train_dataset='koniq'"),
    "tres-flive": Checkpoint(("flive",), "tres_flive-09b0de5b.pth", f"{_CFG} tres-flive: train_dataset='flive'"),
    "musiq": Checkpoint(("koniq10k",), "musiq_koniq_ckpt-e95806b9.pth", f"{_CFG} musiq: pretrained='koniq10k'"),
    "musiq-ava": Checkpoint(("ava",), "musiq_ava_ckpt-e8d3f067.pth", f"{_CFG} musiq-ava: pretrained='ava'"),
    "musiq-spaq": Checkpoint(("spaq",), "musiq_spaq_ckpt-358bb6af.pth", f"{_CFG} musiq-spaq: pretrained='spaq'"),
    "musiq-paq2piq": Checkpoint(
        ("flive",),
        "musiq_paq2piq_ckpt-364c0c84.pth",
        f"{_CFG} musiq-paq2piq: pretrained='paq2piq' (the PaQ-2-PiQ set, FLIVE)",
    ),
    "liqe": Checkpoint(("koniq10k",), "liqe_koniq.pt", f"{_CFG} liqe: pretrained='koniq'; liqe_arch.py"),
    "liqe_mix": Checkpoint(
        LIQE_SIX,
        "liqe_mix.pt",
        f"{_CFG} liqe_mix: pretrained='mix'; LIQE paper (Zhang et al. CVPR 2023) Sec. 4.1: trained "
        "jointly on LIVE, CSIQ, KADID-10k, BID, LIVE Challenge and KonIQ-10k",
    ),
    "clipiqa+": Checkpoint(
        ("koniq10k",),
        "CLIP-IQA%2B_learned_prompts-603f3273.pth",
        "clipiqa_arch.py default_model_urls['clipiqa+']: the prompts of the official CLIP-IQA+ "
        "checkpoint, trained on KonIQ-10k (IceClear/CLIP-IQA configs/clipiqa/clipiqa_coop_koniq.py)",
    ),
    "clipiqa+_rn50_512": Checkpoint(
        ("koniq10k",),
        "CLIPIQA%2B_RN50_512-89f5d940.pth",
        "clipiqa_arch.py default_model_urls['clipiqa+_rn50_512']; pyiqa options/train/CLIPIQA/"
        "train_CLIPIQA_koniq10k.yml (003_CLIPIQA_RN50_KonIQ10k): retrained by pyiqa on KonIQ-10k",
    ),
    "clipiqa+_vitL14_512": Checkpoint(
        ("koniq10k",),
        "CLIPIQA%2B_ViTL14_512-e66488f2.pth",
        "clipiqa_arch.py default_model_urls['clipiqa+_vitL14_512']; pyiqa options/train/CLIPIQA/"
        "train_CLIPIQA_koniq10k.yml (002_CLIPIQA_ViT-L14_KonIQ10k): retrained by pyiqa on KonIQ-10k",
    ),
    # Ma et al. 2017 (NRQM, CVIU): regression forests fitted to the opinion scores of their super-resolved images
    "nrqm": Checkpoint(
        ("ma-sr",),
        "NRQM_model.mat",
        "nrqm_arch.py default_model_urls['url']; Ma et al. 2017 (NRQM): trained on their own rated set of "
        "super-resolved images (no dataset of the harness)",
    ),
    "pi": Checkpoint(
        ("ma-sr",),
        "NRQM_model.mat",
        "nrqm_arch.py PI = ((10 - NRQM) + NIQE) / 2: NRQM's training set; NIQE fits pristine images only",
    ),
    "metaiqa": Checkpoint(
        ("tid2013", "kadid10k", "livec"),
        "Metaiqa_livec.pth",
        "metaiqa_arch.py default_model_urls['meta-infer-ready']; MetaIQA paper (Zhu et al. CVPR "
        "2020) Sec. 4: prior meta-trained on TID2013 + KADID-10k distortions, fine-tuned on LIVE "
        "Challenge",
    ),
    "unique": Checkpoint(
        LIQE_SIX,
        "UNIQUE.pt",
        "unique_arch.py default_model_urls['mix']; UNIQUE paper (Zhang et al. TIP 2021) Sec. IV-A: "
        "trained on LIVE, CSIQ, KADID-10k, BID, LIVE Challenge and KonIQ-10k",
    ),
    "paq2piq": Checkpoint(
        ("flive",),
        "P2P_RoIPoolModel-fit.10.bs.120-ca69882e.pth",
        "paq2piq_arch.py (baidut/paq2piq release): trained on the PaQ-2-PiQ set (FLIVE)",
    ),
    "nima": Checkpoint(
        ("ava",),
        "NIMA_InceptionV2_ava-b0c77c00.pth",
        f"{_CFG} nima (inception_resnet_v2, train_dataset default 'ava'); pyiqa ModelCard: trained on AVA",
    ),
    "nima-vgg16-ava": Checkpoint(("ava",), "NIMA_VGG16_ava-dc4e8265.pth", f"{_CFG} nima-vgg16-ava"),
    "nima-koniq": Checkpoint(("koniq10k",), "NIMA_koniq-250367ae.pth", f"{_CFG} nima-koniq: train_dataset='koniq'"),
    "nima-spaq": Checkpoint(("spaq",), "NIMA-spaq-46a7fcb7.pth", f"{_CFG} nima-spaq: train_dataset='spaq'"),
    "cnniqa": Checkpoint(("koniq10k",), "", f"{_CFG} cnniqa: pretrained='koniq10k'"),
    "wadiqam_nr": Checkpoint(("koniq10k",), "", f"{_CFG} wadiqam_nr: model_name='wadiqam_nr_koniq'"),
    "topiq_nr": Checkpoint(("koniq10k",), "", f"{_CFG} topiq_nr: model_name='cfanet_nr_koniq_res50'"),
    "topiq_nr-flive": Checkpoint(("flive",), "", f"{_CFG} topiq_nr-flive: model_name='cfanet_nr_flive_res50'"),
    "topiq_nr-spaq": Checkpoint(("spaq",), "", f"{_CFG} topiq_nr-spaq: model_name='cfanet_nr_spaq_res50'"),
    "maniqa": Checkpoint(("koniq10k",), "", f"{_CFG} maniqa: train_dataset='koniq'"),
    "maniqa-kadid": Checkpoint(("kadid10k",), "", f"{_CFG} maniqa-kadid: train_dataset='kadid'"),
    "maniqa-pipal": Checkpoint(("pipal",), "", f"{_CFG} maniqa-pipal: train_dataset='pipal'"),
    # Q-Align's OneAlign (q-future/one-align, what pyiqa's qalign loads; the 8/4-bit variants quantise it)
    **{
        name: Checkpoint(
            ("koniq10k", "spaq", "kadid10k", "ava", "lsvq"),
            "",
            "qalign_arch.py: from_pretrained('q-future/one-align'); Q-Align model_zoo/README.md: OneAlign's "
            "training datasets KonIQ, SPAQ, KADID, AVA, LSVQ (playground/data/training_sft/train_all.json)",
        )
        for name in ("qalign", "qalign_8bit", "qalign_4bit")
    },
    # QualiCLIP: self-supervised (no opinion scores) on degraded copies of KADIS-700k's pristine images, none of
    # which is an image of a harness dataset
    "qualiclip": Checkpoint(
        (),
        "QualiCLIP.pth",
        "qualiclip_arch.py default_model_urls['qualiclip']; QualiCLIP paper (Agnolucci et al. 2024) Sec. 3: trained "
        "without opinion scores on synthetically degraded KADIS-700k pristine images",
    ),
    # ARNIQA: a regressor fitted on the named set over a self-supervised encoder (no opinion scores)
    **{
        name: Checkpoint((ds,), "", f"{_CFG} {name}: regressor_dataset='{key}'")
        for name, key, ds in [
            ("arniqa", "koniq", "koniq10k"),
            ("arniqa-live", "live", "live"),
            ("arniqa-csiq", "csiq", "csiq"),
            ("arniqa-tid", "tid", "tid2013"),
            ("arniqa-kadid", "kadid", "kadid10k"),
            ("arniqa-clive", "clive", "livec"),
            ("arniqa-flive", "flive", "flive"),
            ("arniqa-spaq", "spaq", "spaq"),
        ]
    },
}


def training_sets(metric: str) -> tuple[str, ...] | None:
    """The datasets ``metric``'s checkpoint was trained on; None when the table does not know the metric."""
    entry = TRAINING_SETS.get(metric)
    return entry.datasets if entry is not None else None


def trained_on(metric: str, dataset: str) -> bool | None:
    """True when ``metric``'s checkpoint was trained on ``dataset`` (a harness name); None: unknown metric."""
    sets = training_sets(metric)
    return None if sets is None else dataset in sets
