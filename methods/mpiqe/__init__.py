"""MP-IQE (Pan et al., "Multi-Modal Prompt Learning on Blind Image Quality Assessment"), natively.

Two methods share one network (``methods/mpiqe/model.py``) and one training loop (``train.py``):

* ``mpiqe``       -- deep visual prompts + dual (scene, distortion) CoOp text prompts + multimodal
                     decoder; the ablation/sensitivity knobs are parameters.
* ``visual-only`` -- paper Figure 3: CLIP image encoder + ONE decoder layer with a learnable query,
                     no text branch, same training schedule.

This module imports no torch: ``bench methods`` lists both without loading it.
Design choices the paper leaves open are documented in docs/MPIQE.md.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.core.records import ImageSet
from methods.base import Method, RunContext, WeightSpec
from methods.mpiqe.params import (
    CI_PRESET,
    DEMO_PRESET,
    PAPER_PRESET,
    VISUAL_PROMPT_MODES,
    MissingLabels,
    MPIQEConfigError,
    MPIQEParams,
    VisualOnlyParams,
    missing_labels_message,
)


def _srcc(mos: np.ndarray, pred: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(mos) < 2 or np.ptp(pred) == 0:
        return float("nan")
    return float(spearmanr(mos, pred)[0])


class MPIQE(Method):
    name: ClassVar[str] = "mpiqe"
    # 2: batch_unit (paper preset: crops), score_scale, window_pool, fp32 alignment under bf16,
    #    fp32 text pass, predictions on the score's own scale, labels required under the paper preset
    version: ClassVar[str] = "2"
    kind: ClassVar[str] = "native"
    trains: ClassVar[bool] = True
    description: ClassVar[str] = "MP-IQE: deep visual + dual scene/distortion text prompts on frozen CLIP"
    Params: ClassVar[type] = MPIQEParams
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": dict(PAPER_PRESET, lambda1=1.0),
        "demo": dict(DEMO_PRESET, window=2),
        "ci": dict(CI_PRESET, window=2),
    }
    # fixed model settings of this method (VisualOnly overrides)
    _fixed: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: Any = None, context: RunContext | None = None):
        super().__init__(params, context)
        self.model = None
        self.score_map: tuple[float, float] | None = None  # (lo, span) of the score loss's target
        self.history = None
        self._validate()

    # --- parameters ---------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """Parameters plus this method's fixed model settings (what the network is built from)."""
        return {**dataclasses.asdict(self.params), **self._fixed}

    def _validate(self) -> None:
        p = self.settings()
        if p.get("visual_prompts", "none") not in VISUAL_PROMPT_MODES:
            raise MPIQEConfigError(
                f"visual_prompts={p['visual_prompts']!r}: choose one of {', '.join(VISUAL_PROMPT_MODES)}"
            )
        for key in (
            "text_prompt_len",
            "visual_prompt_len",
            "decoder_layers",
            "decoder_heads",
            "n_crops",
            "crop_size",
            "epochs",
            "window",
        ):
            if key in p and (not isinstance(p[key], int) or p[key] < (0 if key == "epochs" else 1)):
                raise MPIQEConfigError(f"{key}={p[key]!r} must be a positive integer")
        if p["warmup_epochs"] < 0 or p["warmup_epochs"] > max(p["epochs"], 0):
            raise MPIQEConfigError(f"warmup_epochs={p['warmup_epochs']} must lie in [0, epochs={p['epochs']}]")
        if p["amp"] not in ("auto", "bf16", "off"):
            raise MPIQEConfigError(f"amp={p['amp']!r}: choose auto, bf16 or off")
        if p["projection"] not in ("clip", "learnable"):
            raise MPIQEConfigError(f"projection={p['projection']!r}: choose clip or learnable")
        for key, choices in (
            ("batch_unit", ("crop", "image")),
            ("score_scale", ("unit", "raw", "0-100")),
            ("window_pool", ("before", "after")),
        ):
            if key in p and p[key] not in choices:
                raise MPIQEConfigError(f"{key}={p[key]!r}: choose one of {', '.join(choices)}")
        if p["batch_size"] is not None and (not isinstance(p["batch_size"], int) or p["batch_size"] < 1):
            raise MPIQEConfigError(f"batch_size={p['batch_size']!r} must be a positive integer or null")
        for key in ("temperature", "window_temperature", "lr"):
            if key in p and not p[key] > 0:
                raise MPIQEConfigError(f"{key}={p[key]!r} must be > 0")
        for key in ("lambda1", "lambda2", "smooth_l1_beta"):  # 0 switches a term off (beta 0: plain L1)
            if p.get(key) is not None and not p[key] >= 0:
                raise MPIQEConfigError(f"{key}={p[key]!r} must be >= 0" + (" or null" if key == "lambda2" else ""))

    @classmethod
    def required_weights(cls, params: Any, weights_dir: Path | None = None) -> list[WeightSpec]:
        from methods.clipiqa import clip_weight_specs

        return clip_weight_specs(params.backbone, params.pretrained, weights_dir)

    @classmethod
    def availability(cls, params: Any = None, weights_dir: Path | None = None) -> tuple[bool, str]:
        """Online, open_clip downloads missing weights itself; offline they must be on disk."""
        from methods.clip_backbone import hf_offline

        ok, why = super().availability(params, weights_dir)
        if not ok and why.startswith("missing weights") and not hf_offline():
            return True, why + " (open_clip will download them on first use)"
        return ok, why

    # --- the work -----------------------------------------------------------------------
    def _device(self):
        import torch

        dev = torch.device(self.context.device or "cpu")
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise MPIQEConfigError(
                f"device {self.context.device!r} requested but CUDA is not available; use --device cpu"
            )
        return dev

    def build(self):
        """Create the frozen CLIP and the network (no training)."""
        import open_clip

        from methods.clip_backbone import create_clip
        from methods.mpiqe.model import MPIQEModel
        from methods.mpiqe.train import model_config

        p = self.settings()
        device = self._device()
        clip, info = create_clip(p["backbone"], p["pretrained"], device="cpu", weights_dir=self.context.weights_dir)
        if p["crop_size"] != info.image_size:
            raise MPIQEConfigError(
                f"crop_size={p['crop_size']} but backbone {p['backbone']} takes {info.image_size}x{info.image_size} "
                f"input; set crop_size={info.image_size}"
            )
        cfg = model_config(p)
        try:
            self.model = MPIQEModel(clip, open_clip.get_tokenizer(p["backbone"]), cfg, info.mean, info.std).to(device)
        except ValueError as exc:
            raise MPIQEConfigError(f"{self.name}: {exc}") from exc
        return self.model

    def _loss_weights(self, train: ImageSet):
        from methods.mpiqe.train import LossWeights, lambda2_for

        p = self.settings()
        name = train.dataset.name
        w = LossWeights(
            scene=1.0,
            dist=float(p.get("lambda1", 0.0)),
            score=lambda2_for(name, p["lambda2"]),
            beta=p["smooth_l1_beta"],
            class_mean=bool(p.get("class_mean_ce", False)),
        )
        text = self.model.text
        missing = []
        if text is None or "scene" not in text.branches:
            w.scene = 0.0
        elif not train.dataset.has_scene_labels or not any(r.scenes for r in train.records):
            w.scene = 0.0
            missing.append("scene")
            self.context.note(f"{name}: no scene labels, scene alignment loss (L_scene) off")
        if text is None or "distortion" not in text.branches or w.dist == 0:  # lambda1 = 0: off by choice
            w.dist = 0.0
        elif not train.dataset.has_distortion_labels or all(r.distortion_class is None for r in train.records):
            w.dist = 0.0
            missing.append("distortion")
            self.context.note(f"{name}: no distortion labels, distortion alignment loss (L_dist) off")
        else:
            unknown = sum(r.distortion_class is None for r in train.records)
            if unknown:
                self.context.note(f"{name}: {unknown} training image(s) without distortion class left out of L_dist")
        if missing and not p.get("allow_missing_labels", True):  # the plan-time check was bypassed
            raise MissingLabels(missing_labels_message(self.name, name, missing))
        self.context.record(
            "effective_losses",
            {
                "scene": w.scene,
                "dist": w.dist,
                "score": w.score,
                "smooth_l1_beta": w.beta,
                "score_scale": p["score_scale"],
                "batch_unit": p["batch_unit"],
                "class_mean_ce": w.class_mean,
            },
        )
        return w

    @classmethod
    def check_plan(cls, params: Any, train_dataset) -> list[str]:
        """Before any cell runs: the alignment terms this configuration needs must have labels in the
        training set, unless ``allow_missing_labels``. Returns notes; raises MissingLabels."""
        p = {**dataclasses.asdict(params), **cls._fixed}
        if p.get("learnable_query"):
            return []
        missing = []
        if p.get("use_scene_prompts") and not train_dataset.has_scene_labels:
            missing.append("scene")
        if p.get("use_distortion_prompts") and p.get("lambda1", 0) > 0 and not train_dataset.has_distortion_labels:
            missing.append("distortion")
        if not missing:
            return []
        if not p.get("allow_missing_labels", True):
            raise MissingLabels(missing_labels_message(cls.name, train_dataset.name, missing))
        return [
            f"{train_dataset.name}: no {' or '.join(missing)} labels: "
            f"{' and '.join('L_' + ('dist' if m == 'distortion' else m) for m in missing)} off (allow_missing_labels)"
        ]

    @classmethod
    def recipe(cls, params: Any, dataset: str, n_train_images: int) -> dict[str, Any]:
        """The training recipe on ``dataset`` with ``n_train_images`` images, under both batch readings
        (``readings``); the top-level numbers are those of ``params.batch_unit``."""
        from methods.mpiqe.recipe import describe

        return describe(cls.name, {**dataclasses.asdict(params), **cls._fixed}, dataset, n_train_images)

    def fit(self, train: ImageSet, val: ImageSet | None = None) -> None:
        import torch

        from methods.mpiqe import train as T
        from methods.mpiqe.data import training_samples

        if len(train) == 0:
            raise MPIQEConfigError(f"{self.name}: the training set of {train.dataset.name!r} is empty")
        torch.manual_seed(self.context.seed)
        np.random.seed(self.context.seed % (2**32))
        p = self.settings()
        select_on = getattr(self.context, "select_on", "last") or "last"
        if select_on == "val" and (val is None or len(val) == 0):
            raise MPIQEConfigError(f"{self.name}: --select-on val needs a validation part: add --val-fraction F")
        self.build()
        self.score_map = T.score_map(p["score_scale"], train.scores, train.dataset.raw_scale)
        weights = self._loss_weights(train)
        data = training_samples(train.records, p["batch_unit"], p["n_crops"], p["crop_size"], self.context.seed)
        validate = None
        if val is not None and len(val):

            def validate():
                return _srcc(val.scores, self._predict_raw(val))

        with T.cpu_threads(p["cpu_threads"]):
            self.history = T.fit(
                self.model,
                data,
                epochs=p["epochs"],
                warmup_epochs=p["warmup_epochs"],
                lr=p["lr"],
                min_lr=p["min_lr"],
                weight_decay=p["weight_decay"],
                batch_size=T.batch_size_for(train.dataset.name, p["batch_size"]),
                weights=weights,
                score_map=self.score_map,
                device=self._device(),
                amp=p["amp"],
                micro_batch=p["micro_batch"],
                seed=self.context.seed,
                num_workers=self.context.num_workers,
                progress=self.context.progress,
                validate=validate,
                select_on=select_on,
                on_epoch=lambda epoch, row: self.context.log_epoch(epoch, **row),
            )
        self.context.record("optimizer_steps", self.history.steps)
        self.context.record("selected_epoch", self.history.selected_epoch)

    def predict(self, images: ImageSet) -> np.ndarray:
        """Mean over each image's test crops, on the scale of ``ImageRecord.score``."""
        if self.model is None:
            raise MPIQEConfigError(f"{self.name}: predict() before fit() or load()")
        if len(images) == 0:
            return np.zeros(0)
        lo, span = self.score_map or (0.0, 1.0)
        return self._predict_raw(images) * span + lo

    def _predict_raw(self, images: ImageSet) -> np.ndarray:
        from bench.data.images import CropDataset
        from methods.mpiqe import train as T

        p = self.settings()
        data = CropDataset(
            images.records, n_crops=p["n_crops"], crop_size=p["crop_size"], train=False, seed=self.context.seed
        )
        with T.cpu_threads(p["cpu_threads"]):
            return T.predict(
                self.model,
                data,
                batch_size=p["predict_batch_size"],
                device=self._device(),
                amp=p["amp"],
                micro_batch=p["micro_batch"],
                num_workers=self.context.num_workers,
                progress=self.context.progress,
            )

    # --- checkpoints: trainable parameters + config only --------------------------------
    def save(self, path: Path) -> None:
        import torch

        if self.model is None:
            raise MPIQEConfigError(f"{self.name}: nothing to save before fit()")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu() for k, v in self.model.trainable_state().items()}
        blob = {
            "method": self.name,
            "version": self.version,
            "params": dataclasses.asdict(self.params),
            "score_map": self.score_map,
            "state": state,
        }
        tmp = path.with_name(path.name + ".tmp")
        torch.save(blob, tmp)
        tmp.replace(path)

    def load(self, path: Path) -> None:
        from methods.checkpoints import load_tensors

        path = Path(path)
        if not path.is_file():
            raise MPIQEConfigError(f"checkpoint {path} does not exist")
        blob = load_tensors(path)
        if blob.get("method") != self.name:
            raise MPIQEConfigError(f"checkpoint {path} is for method {blob.get('method')!r}, not {self.name!r}")
        self.params = self.Params(**blob["params"])
        self._validate()
        self.build()
        expected = set(self.model.trainable_state())
        missing, extra = expected - set(blob["state"]), set(blob["state"]) - expected
        if missing or extra:
            raise MPIQEConfigError(
                f"checkpoint {path} does not match the model: missing {sorted(missing)[:5]}, "
                f"unexpected {sorted(extra)[:5]}"
            )
        self.model.load_state_dict(blob["state"], strict=False)
        self.model.eval()
        self.score_map = tuple(blob["score_map"]) if blob.get("score_map") else None


class VisualOnly(MPIQE):
    """Paper Figure 3: the CLIP image encoder + one decoder layer with a learnable query; no text."""

    name: ClassVar[str] = "visual-only"
    description: ClassVar[str] = "CLIP image encoder + one transformer decoder layer (learnable query), no text"
    Params: ClassVar[type] = VisualOnlyParams
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {k: v for k, v in dict(PAPER_PRESET, decoder_layers=1).items() if k != "allow_missing_labels"},
        "demo": {k: v for k, v in DEMO_PRESET.items() if k != "allow_missing_labels"},
        "ci": {k: v for k, v in CI_PRESET.items() if k != "allow_missing_labels"},
    }
    _fixed: ClassVar[dict[str, Any]] = dict(
        use_scene_prompts=False, use_distortion_prompts=False, visual_prompts="none", learnable_query=True
    )


__all__ = ["MPIQE", "VisualOnly", "MPIQEParams", "VisualOnlyParams", "MPIQEConfigError"]
