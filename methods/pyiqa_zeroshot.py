"""pyiqa no-reference metrics, zero-shot: ``pyiqa:<name>`` for any of them, plus ILNIQE/NIQE/BRISQUE.

Each image is scored as pyiqa scores it by default (the whole image at native resolution,
in [0, 1]), with the metric's published weights. Scores are flipped where pyiqa says
``lower_better`` so that every prediction is higher-is-better.

Per-image scores are cached on disk (SQLite, ``<cache_dir>/pyiqa-scores.sqlite``), keyed by
metric, pyiqa version, this adapter's version, input transform, the SHA-256 of the weight files
the metric loads and the SHA-256 of the image file: the ten splits of an intra run cost one pass
over the images, and other weights (a replaced file, another --weights-dir) are scored afresh.
A checkpoint trained on the dataset it is tested on is noted in the cell (see
``methods/pyiqa_training_sets.py``). This module imports neither torch nor pyiqa.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sqlite3
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.core.errors import BenchError, did_you_mean
from bench.core.records import ImageSet
from methods import weights as W
from methods.base import Method, WeightSpec
from methods.pyiqa_training_sets import TRAINING_SETS, trained_on

# Metrics that give no per-image quality score (distribution metrics, caption metrics).
NOT_PER_IMAGE = {
    "fid": "FID compares two image sets; it has no per-image score",
    "fid_dinov2": "FID compares two image sets; it has no per-image score",
    "sfid": "sFID compares two image sets; it has no per-image score",
    "inception_score": "the Inception Score is a property of an image set, not of one image",
    "clipscore": "CLIPScore needs a caption per image",
}

# Weight files each metric loads (pyiqa release files, torchvision / timm backbones, OpenAI CLIP).
# Metrics not listed here still run; their files are named by the error if one is missing.
PYIQA, TORCHVISION, OPENAI_CLIP, TIMM = "pyiqa", "torchvision", "clip", "timm"
METRIC_WEIGHTS: dict[str, list[tuple[str, str]]] = {
    "niqe": [(PYIQA, "niqe_modelparameters.mat")],
    "niqe_matlab": [(PYIQA, "niqe_matlab_params.mat")],
    "ilniqe": [(PYIQA, "ILNIQE_templateModel.mat")],
    "brisque": [(PYIQA, "brisque_svm_weights.pth")],
    "brisque_matlab": [(PYIQA, "brisque_matlab.mat")],
    "dbcnn": [(TORCHVISION, "vgg16"), (PYIQA, "DBCNN_scnn-7ea73d75.pth"), (PYIQA, "DBCNN_KonIQ10k-2de81c0a.pth")],
    "hyperiqa": [(TIMM, "timm/resnet50.a1_in1k"), (PYIQA, "HyperIQA-resnet50-koniq10k-c96c41b1.pth")],
    "tres": [(TORCHVISION, "resnet50"), (PYIQA, "tres_koniq-f0502926.pth")],
    "tres-flive": [(TORCHVISION, "resnet50"), (PYIQA, "tres_flive-09b0de5b.pth")],
    "musiq": [(PYIQA, "musiq_koniq_ckpt-e95806b9.pth")],
    "musiq-ava": [(PYIQA, "musiq_ava_ckpt-e8d3f067.pth")],
    "musiq-spaq": [(PYIQA, "musiq_spaq_ckpt-358bb6af.pth")],
    "musiq-paq2piq": [(PYIQA, "musiq_paq2piq_ckpt-364c0c84.pth")],
    "liqe": [(OPENAI_CLIP, "ViT-B/32"), (PYIQA, "liqe_koniq.pt")],
    "liqe_mix": [(OPENAI_CLIP, "ViT-B/32"), (PYIQA, "liqe_mix.pt")],
    "clipiqa": [(OPENAI_CLIP, "RN50")],
    "clipiqa+": [(OPENAI_CLIP, "RN50"), (PYIQA, "CLIP-IQA%2B_learned_prompts-603f3273.pth")],
    "metaiqa": [(PYIQA, "Metaiqa_livec.pth")],
    "unique": [(TORCHVISION, "resnet34"), (PYIQA, "UNIQUE.pt")],
    "paq2piq": [(TORCHVISION, "resnet18"), (PYIQA, "P2P_RoIPoolModel-fit.10.bs.120-ca69882e.pth")],
    # the zero-shot study's others, from pyiqa 0.1.16's archs (default_model_urls; the default config's checkpoint)
    # and their timm backbones (timm.create_model(<arch>, pretrained=True): the arch's default tag on the HF hub)
    "nrqm": [(PYIQA, "NRQM_model.mat")],  # nrqm_arch.py
    "pi": [(PYIQA, "NRQM_model.mat"), (PYIQA, "niqe_modelparameters.mat")],  # nrqm_arch.py PI = NRQM + NIQE
    "clipiqa+_rn50_512": [(OPENAI_CLIP, "RN50"), (PYIQA, "CLIPIQA%2B_RN50_512-89f5d940.pth")],  # clipiqa_arch.py
    "clipiqa+_vitL14_512": [(OPENAI_CLIP, "ViT-L/14"), (PYIQA, "CLIPIQA%2B_ViTL14_512-e66488f2.pth")],
    # nima_arch.py: inception_resnet_v2 trained on AVA (the default train_dataset)
    "nima": [(TIMM, "timm/inception_resnet_v2.tf_in1k"), (PYIQA, "NIMA_InceptionV2_ava-b0c77c00.pth")],
    "cnniqa": [(PYIQA, "CNNIQA_koniq10k-e6f14c91.pth")],  # cnniqa_arch.py, pretrained='koniq10k'
    "wadiqam_nr": [(PYIQA, "WaDIQaM-NR-koniq-aaffea29.pth")],  # wadiqam_arch.py, wadiqam_nr_koniq
    # topiq_arch.py: cfanet_nr_koniq_res50 on a timm resnet50 (backbone_pretrain=True)
    "topiq_nr": [(TIMM, "timm/resnet50.a1_in1k"), (PYIQA, "cfanet_nr_koniq_res50-9a73138b.pth")],
    # maniqa_arch.py: timm vit_base_patch8_224, train_dataset 'koniq'
    "maniqa": [(TIMM, "timm/vit_base_patch8_224.augreg2_in21k_ft_in1k"), (PYIQA, "ckpt_koniq10k.pt")],
    # the koniq-cross study's others: qualiclip_arch.py (OpenAI RN50 + the released self-supervised QualiCLIP.pth);
    # arniqa_arch.py (torchvision ResNet-50 IMAGENET1K_V1 encoder, ARNIQA.pth, regressor_dataset 'koniq')
    "qualiclip": [(OPENAI_CLIP, "RN50"), (PYIQA, "QualiCLIP.pth")],
    "arniqa": [(TORCHVISION, "resnet50"), (PYIQA, "ARNIQA.pth"), (PYIQA, "regressor_koniq10k.pth")],
}


# Metrics that load a whole Hugging Face repository with transformers (from the HF cache): not listed in
# METRIC_WEIGHTS, whose files also key the score cache (the repository's files are known once loaded).
HF_REPOS = {name: "q-future/one-align" for name in ("qalign", "qalign_8bit", "qalign_4bit")}  # qalign_arch.py


def weight_specs(entries: list[tuple[str, str]], weights_dir: Path | None) -> list[WeightSpec]:
    make = {
        PYIQA: W.pyiqa_weight,
        TORCHVISION: W.torchvision_weight,
        OPENAI_CLIP: W.pyiqa_clip_weight,
        TIMM: W.timm_weight,
    }
    return [make[kind](arg, weights_dir) for kind, arg in entries]


@lru_cache(maxsize=1)
def pyiqa_configs() -> dict[str, dict]:
    """pyiqa's DEFAULT_CONFIGS read from its source file, without importing pyiqa (and torch)."""
    spec = importlib.util.find_spec("pyiqa")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("pyiqa is not installed: `pip install pyiqa` to use the pyiqa baselines.")
    path = Path(list(spec.submodule_search_locations)[0]) / "default_model_configs.py"
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return dict(namespace["DEFAULT_CONFIGS"])


def nr_metric_names() -> list[str]:
    return sorted(n for n, c in pyiqa_configs().items() if c.get("metric_mode") == "NR")


def pyiqa_version() -> str:
    from importlib.metadata import version

    return version("pyiqa")


KEY_FIELDS = ("metric", "pyiqa_version", "adapter_version", "transform", "weights_sha256")


class ScoreCache:
    """Raw per-image metric scores in SQLite (safe with several worker processes).

    A row's key: ``KEY_FIELDS`` + the image file's SHA-256. (Table ``image_scores``; the table ``scores``
    of older versions, keyed without the weights, is never read.)"""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(str(path), timeout=60)
        self.db.execute("PRAGMA journal_mode=WAL")
        cols = ", ".join(f"{c} TEXT" for c in KEY_FIELDS)
        self.db.execute(
            f"CREATE TABLE IF NOT EXISTS image_scores ({cols}, image_sha256 TEXT, score REAL, "
            f"PRIMARY KEY ({', '.join(KEY_FIELDS)}, image_sha256))"
        )

    def get(self, key: tuple[str, ...], hashes: list[str]) -> dict[str, float]:
        where = " AND ".join(f"{c}=?" for c in KEY_FIELDS)
        out: dict[str, float] = {}
        for i in range(0, len(hashes), 500):
            chunk = hashes[i : i + 500]
            rows = self.db.execute(
                f"SELECT image_sha256, score FROM image_scores WHERE {where} "
                f"AND image_sha256 IN ({','.join('?' * len(chunk))})",
                (*key, *chunk),
            ).fetchall()
            out.update(rows)
        return out

    def put(self, key: tuple[str, ...], items: dict[str, float]) -> None:
        marks = ",".join("?" * (len(KEY_FIELDS) + 2))
        with self.db:
            self.db.executemany(
                f"INSERT OR REPLACE INTO image_scores VALUES ({marks})", [(*key, h, float(s)) for h, s in items.items()]
            )

    def close(self) -> None:
        self.db.close()


# metrics whose pyiqa architecture asserts a minimum input size: the max_side of the demo / ci presets never
# shrinks an image's short side below it (pyiqa liqe_arch: 'Short side is less than 224')
MIN_SHORT_SIDE = {"liqe": 224, "liqe_mix": 224}


@dataclass
class ZeroShotParams:
    batch_size: int = 8  # images of the same size scored together
    max_side: int = 0  # 0: native resolution (pyiqa's default); else resize so the long side <= this
    use_cache: bool = True


class PyiqaZeroShot(Method):
    """A pyiqa no-reference metric with its published weights; nothing is trained."""

    metric: ClassVar[str] = ""
    kind = "pyiqa-zero-shot"
    trains = False
    version = "1"
    Params = ZeroShotParams
    presets = {"paper": {}, "demo": {"max_side": 256}, "ci": {"max_side": 96, "batch_size": 4}}

    def __init__(self, params: Any = None, context=None):
        super().__init__(params, context)
        self.inferences = 0  # images actually run through the metric (cache misses)
        self._model = None
        self.loaded_weights: list[Path] = []  # the files the metric's loaders were handed (after load_model)

    @classmethod
    def lower_better(cls) -> bool:
        return bool(pyiqa_configs()[cls.metric].get("lower_better", False))

    @classmethod
    def required_weights(cls, params: Any, weights_dir: Path | None = None) -> list[WeightSpec]:
        repo = [W.hf_repo_weight(HF_REPOS[cls.metric], weights_dir)] if cls.metric in HF_REPOS else []
        return weight_specs(METRIC_WEIGHTS.get(cls.metric, []), weights_dir) + repo

    # --- scoring ----------------------------------------------------------------------
    def _cache(self) -> ScoreCache | None:
        if not self.params.use_cache:
            return None
        root = self.context.cache_dir or (Path(os.environ["BENCH_CACHE"]) if os.environ.get("BENCH_CACHE") else None)
        return ScoreCache(Path(root) / "pyiqa-scores.sqlite") if root else None

    def _transform(self) -> str:
        if not self.params.max_side:
            return "native"
        floor = MIN_SHORT_SIDE.get(self.metric, 0)
        return f"max_side={self.params.max_side}" + (f",min_short_side={floor}" if floor else "")

    def load_model(self):
        if self._model is None:
            import pyiqa

            with W.offline_weights(self.context.weights_dir, self.context.notes) as resolver:
                self._model = pyiqa.create_metric(self.metric, device=self.context.device)
            self._model.eval()
            self.loaded_weights = list(resolver.loaded)
        return self._model

    def declared_weight_files(self) -> list[Path] | None:
        """The files the metric will load, found without loading it (so a cache hit loads nothing);
        None when that cannot be known here: the metric is not in METRIC_WEIGHTS, or a file is missing
        (loading then names it)."""
        if self.metric not in METRIC_WEIGHTS:
            return None
        found = [w.found for w in self.required_weights(self.params, self.context.weights_dir)]
        return None if any(f is None for f in found) else found

    @staticmethod
    def weight_digests(files: list[Path]) -> list[dict[str, str]]:
        """[{file, sha256}] of ``files``, by content (a file reached by two paths counts once), sorted."""
        rows = {(Path(f).name, W.weight_file_sha256(Path(f))) for f in files}
        return [{"file": n, "sha256": h} for n, h in sorted(rows)]

    def cache_key(self, files: list[Path]) -> tuple[str, ...]:
        """``KEY_FIELDS`` for scores computed with the weight files ``files``."""
        weights = hashlib.sha256(json.dumps(self.weight_digests(files)).encode()).hexdigest()
        return (self.metric, pyiqa_version(), str(self.version), self._transform(), weights)

    def _note_training_overlap(self, images: ImageSet) -> None:
        """Record whether the checkpoint was trained on the dataset scored here (cell fact + note)."""
        dataset = images.dataset.name
        hit = trained_on(self.metric, dataset)
        self.context.record("trained_on_test_dataset", hit)
        if hit:
            entry = TRAINING_SETS[self.metric]
            self.context.note(
                f"pyiqa:{self.metric}: its checkpoint{f' ({entry.checkpoint})' if entry.checkpoint else ''} "
                f"was trained on {dataset} ({entry.source}): these scores are not zero-shot"
            )
        elif hit is None:
            self.context.note(
                f"pyiqa:{self.metric}: the training sets of its checkpoint are not listed in "
                f"methods/pyiqa_training_sets.py; check that it was not trained on {dataset}"
            )

    def predict(self, images: ImageSet) -> np.ndarray:
        self._note_training_overlap(images)
        hashes = [W.file_sha256(r.path) for r in images.records]
        unique = sorted(set(hashes))
        files = self.declared_weight_files()
        if files is None:  # only loading tells which files the metric uses
            self.load_model()
            files = self.loaded_weights
        key = self.cache_key(files)
        cache = self._cache()
        try:
            known = cache.get(key, unique) if cache else {}
            if any(h not in known for h in unique):
                self.load_model()
                loaded_key = self.cache_key(self.loaded_weights)
                if loaded_key != key:  # METRIC_WEIGHTS did not name what was loaded: key by what was
                    self.context.note(
                        f"pyiqa:{self.metric}: loaded weight files "
                        f"{[d['file'] for d in self.weight_digests(self.loaded_weights)]} differ from "
                        f"the declared {[d['file'] for d in self.weight_digests(files)]}"
                    )
                    key, files = loaded_key, self.loaded_weights
                    known = cache.get(key, unique) if cache else {}
                todo = {h: r for h, r in zip(hashes, images.records) if h not in known}
                if todo:
                    fresh = self._score(list(todo.items()))
                    known.update(fresh)
                    if cache:
                        cache.put(key, fresh)
        finally:
            if cache:
                cache.close()
        self.context.record("weights_sha256", self.weight_digests(files))
        raw = np.asarray([known[h] for h in hashes], dtype=np.float64)
        if not np.all(np.isfinite(raw)):
            self.context.note(f"{self.metric}: {int((~np.isfinite(raw)).sum())} non-finite score(s)")
        return -raw if self.lower_better() else raw

    def _score(self, items: list[tuple[str, Any]]) -> dict[str, float]:
        """Raw metric scores; images of equal size go through together."""
        import torch
        from tqdm import tqdm

        from bench.data.images import decode_rgb, image_size

        model = self.load_model()

        def size(rec):
            w, h = image_size(rec.path)  # names the file when it cannot be read (e.g. a bomb)
            return self._target_size(h, w)

        items = sorted(items, key=lambda it: size(it[1]))
        out: dict[str, float] = {}
        bar = tqdm(total=len(items), desc=f"pyiqa:{self.metric}", disable=not self.context.progress, leave=False)
        batch: list[tuple[str, np.ndarray]] = []

        def flush():
            x = torch.from_numpy(np.stack([a for _, a in batch])).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
            with torch.no_grad():
                y = model(x.to(self.context.device))
            y = y.detach().float().cpu().reshape(len(batch), -1).mean(dim=1).numpy()
            out.update({h: float(v) for (h, _), v in zip(batch, y)})
            self.inferences += len(batch)
            bar.update(len(batch))
            batch.clear()

        for h, rec in items:
            img = self._resize(decode_rgb(rec.path))
            if batch and (batch[0][1].shape != img.shape or len(batch) >= self.params.batch_size):
                flush()
            batch.append((h, img))
        if batch:
            flush()
        bar.close()
        return out

    def _target_size(self, h: int, w: int) -> tuple[int, int]:
        m = self.params.max_side
        if not m or max(h, w) <= m:
            return h, w
        s = m / max(h, w)
        floor = MIN_SHORT_SIDE.get(self.metric, 0)  # e.g. pyiqa's LIQE asserts a short side >= 224
        if floor and min(h, w) * s < floor:
            s = min(1.0, floor / min(h, w))
        return max(1, round(h * s)), max(1, round(w * s))

    def _resize(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        th, tw = self._target_size(h, w)
        if (th, tw) == (h, w):
            return img
        from PIL import Image

        return np.asarray(Image.fromarray(img).resize((tw, th), Image.BICUBIC))


class UnsupportedPyiqaMetric(BenchError):
    pass


@cache
def make_pyiqa_method(metric_name: str) -> type[PyiqaZeroShot]:
    """The Method class for ``pyiqa:<metric_name>`` (registry hook)."""
    names = nr_metric_names()
    if metric_name not in names:
        all_configs = pyiqa_configs()
        if metric_name in all_configs:
            raise UnsupportedPyiqaMetric(
                f"pyiqa metric {metric_name!r} is full-reference (needs a reference image); "
                "only no-reference metrics can be benchmarked here. See `pyiqa.list_models(metric_mode='NR')`."
            )
        raise UnsupportedPyiqaMetric(did_you_mean(metric_name, names, "pyiqa no-reference metric"))
    if metric_name in NOT_PER_IMAGE:
        raise UnsupportedPyiqaMetric(
            f"pyiqa metric {metric_name!r} cannot be benchmarked per image: {NOT_PER_IMAGE[metric_name]}."
        )
    cfg = pyiqa_configs()[metric_name]
    return type(
        f"{_CLASS_PREFIX}{metric_name}",
        (PyiqaZeroShot,),
        {
            "metric": metric_name,
            "name": f"pyiqa:{metric_name}",
            "__module__": __name__,
            "description": f"pyiqa {metric_name} with its released weights, zero-shot"
            + (" (lower_better: negated)" if cfg.get("lower_better") else ""),
        },
    )


_CLASS_PREFIX = "Pyiqa_"


def __getattr__(attr: str):
    """Generated classes resolve by name, so pickle (loky / dask workers) can find them."""
    if attr.startswith(_CLASS_PREFIX):
        return make_pyiqa_method(attr[len(_CLASS_PREFIX) :])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


class ILNIQE(PyiqaZeroShot):
    metric = "ilniqe"
    name = "ilniqe"
    description = "IL-NIQE (Zhang et al. 2015), training-free; pyiqa implementation, evaluated per split"


class NIQE(PyiqaZeroShot):
    metric = "niqe"
    name = "niqe"
    description = "NIQE (Mittal et al. 2013), training-free; pyiqa implementation, evaluated per split"


class BRISQUE(PyiqaZeroShot):
    metric = "brisque"
    name = "brisque"
    description = "BRISQUE (Mittal et al. 2012) with its released SVR; pyiqa implementation, evaluated per split"
