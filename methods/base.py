"""The method API every BIQA method implements.

A method is a class with typed parameters (a dataclass with defaults), named presets
that override them, and ``fit``/``predict``. The runner builds one instance per cell:

    method = MethodClass(params, context)
    method.fit(train, val)            # skipped by the runner when ``trains`` is False
    scores = method.predict(test)     # np.ndarray, one float per record, HIGHER IS BETTER
                                      # (or a ScoreDistribution: a Gaussian per record, see predict)

This module is torch-free on purpose: ``bench methods`` lists everything without
loading torch.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bench.core.distribution import ScoreDistribution
from bench.core.records import ImageSet

KINDS = ("native", "pyiqa-zero-shot", "pyiqa-retrained", "native-zero-shot", "unavailable")


@dataclass(frozen=True)
class WeightSpec:
    """A weight file a method needs, and where it looks for it."""

    name: str  # e.g. 'CLIP ViT-B/16 (openai)'
    filename: str  # file name the loader looks for
    search_paths: tuple[Path, ...]  # candidate full paths, first existing wins
    hint: str = ""  # how to obtain it (URL, pyiqa command...)
    url: str = ""  # where `bench weights fetch` downloads it from ('' : not fetchable by URL)

    @property
    def found(self) -> Path | None:
        return next((p for p in self.search_paths if p.is_file()), None)


@dataclass
class RunContext:
    """What the runner tells a method about the cell it runs in."""

    seed: int = 0
    device: str = "cpu"  # 'cpu' or 'cuda:N'
    workdir: Path = Path(".")  # per-cell scratch folder (checkpoints, caches)
    cache_dir: Path | None = None  # shared cache across cells (e.g. zero-shot scores)
    weights_dir: Path | None = None  # --weights-dir
    progress: bool = False  # show tqdm bars
    num_workers: int = 0  # DataLoader workers (the runner resolves --num-workers auto per cell)
    image_cache: Path | None = None  # decoded-image cache folder of the run (bench.data.image_cache); None: off
    # retrained baselines: train from cached frozen-tower features where the recipe allows it
    # (methods/retrained/feature_cache.py); the numbers are the same either way, so it is no part of the cell key
    feature_cache: bool = True
    save_checkpoint: bool = False
    select_on: str = "last"  # 'last': keep the last epoch; 'val': the best val_srcc epoch (only when asked)
    notes: list[str] = field(default_factory=list)  # warnings the method wants recorded in the result
    history: list[dict] = field(default_factory=list)  # one dict per training epoch (see log_epoch)
    facts: dict[str, Any] = field(default_factory=dict)  # extra result fields (effective_losses, selected_epoch...)

    def note(self, msg: str) -> None:
        self.notes.append(msg)

    def log_epoch(self, epoch: int, **values: Any) -> None:
        """Record one finished training epoch: ``epoch`` (1-based), ``lr``, ``seconds``, ``loss`` and the
        method's own loss terms (``loss_<name>``), ``val_srcc`` with a validation part. Stored as the
        cell's ``history``."""
        row = {"epoch": int(epoch)}
        row.update(
            {
                k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) else v)
                for k, v in values.items()
            }
        )
        self.history.append(row)

    def record(self, name: str, value: Any) -> None:
        """A fact about this cell's training stored at the top level of its result (JSON-serialisable),
        e.g. ``record('effective_losses', {...})`` or ``record('selected_epoch', 7)``."""
        self.facts[name] = value


class MethodUnavailable(RuntimeError):
    """Raised when a method cannot run here (missing weights, no public implementation)."""


@dataclass
class NoParams:
    pass


class Method:
    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"  # bump when a change alters scores: it is part of every cell key
    kind: ClassVar[str] = "native"
    trains: ClassVar[bool] = True
    description: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    presets: ClassVar[dict[str, dict[str, Any]]] = {}  # 'paper', 'demo', 'ci' -> overrides
    unavailable_reason: ClassVar[str | None] = None  # set for rows kept in tables but not runnable

    def __init__(self, params: Any = None, context: RunContext | None = None):
        self.params = params if params is not None else self.Params()
        self.context = context or RunContext()

    # --- parameters -------------------------------------------------------------------
    @classmethod
    def make_params(cls, preset: str | None = None, **overrides: Any) -> Any:
        """Defaults, then the preset, then explicit overrides; unknown names are errors."""
        values: dict[str, Any] = {}
        if preset is not None:
            if preset not in cls.presets and preset != "default":
                raise ValueError(
                    f"method {cls.name!r} has no preset {preset!r}; choose from {sorted(cls.presets) or ['default']}"
                )
            values.update(cls.presets.get(preset, {}))
        values.update(overrides)
        names = {f.name for f in dataclasses.fields(cls.Params)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"method {cls.name!r} has no parameter(s) {unknown}; its parameters are {sorted(names)}")
        return cls.Params(**values)

    @staticmethod
    def params_dict(params: Any) -> dict[str, Any]:
        return dataclasses.asdict(params) if dataclasses.is_dataclass(params) else {}

    # --- weights ----------------------------------------------------------------------
    @classmethod
    def required_weights(cls, params: Any, weights_dir: Path | None = None) -> list[WeightSpec]:
        return []

    @classmethod
    def availability(cls, params: Any = None, weights_dir: Path | None = None) -> tuple[bool, str]:
        """(runnable here, reason). Cheap: looks at files, imports nothing heavy."""
        if cls.unavailable_reason:
            return False, cls.unavailable_reason
        params = params if params is not None else cls.make_params()
        missing = [w for w in cls.required_weights(params, weights_dir) if w.found is None]
        if missing:
            return False, (
                "missing weights: "
                + ", ".join(f"{w.filename} ({w.hint})" if w.hint else w.filename for w in missing)
                + f"; `python -m bench weights fetch {cls.name}` downloads them, verified (on a machine "
                "with internet; --to DIR for an offline one)"
            )
        return True, "ok"

    # --- what a cell will do, before it runs ---------------------------------------------------
    @classmethod
    def recipe(cls, params: Any, dataset: str, n_train_images: int) -> dict[str, Any] | None:
        """The training recipe as it will run on ``dataset`` with ``n_train_images`` training images
        (``bench methods NAME --recipe``): a JSON-able dict with at least the keys of
        ``methods.recipes.RECIPE_KEYS``. None: the method does not train."""
        return None

    @classmethod
    def check_plan(cls, params: Any, train_dataset: Any) -> list[str]:
        """Called while a run is planned (so ``--dry-run`` shows it) for each resolved ``params`` and
        training set (``bench.core.records.DatasetInfo``): raise a ``BenchError`` naming the fix for a cell
        that cannot run as asked (e.g. labels the configured losses need); return notes otherwise.
        Torch-free and cheap: it looks at parameters and dataset facts only."""
        return []

    # --- the work ---------------------------------------------------------------------
    def fit(self, train: ImageSet, val: ImageSet | None = None) -> None:
        """Train on ``train``. Never look at test data; ``val`` may be used for early stopping."""

    def predict(self, images: ImageSet) -> np.ndarray | ScoreDistribution:
        """One score per image, higher is better. A method that predicts a score distribution returns a
        ``ScoreDistribution(mean, std, scale)`` instead (a Gaussian per image, on the range ``scale`` or, None,
        on a scale of its own): its means are the scores, and the cell adds the distance to the human
        distribution (KL, JS, W1; bench/core/distribution.py) where the dataset publishes a per-image std."""
        raise NotImplementedError

    def save(self, path: Path) -> None:  # optional: trainable state only
        raise NotImplementedError(f"{self.name} cannot save checkpoints")

    def load(self, path: Path) -> None:
        raise NotImplementedError(f"{self.name} cannot load checkpoints")


def torch_hub_dir() -> Path:
    """torch.hub's cache folder, computed without importing torch (same rules as torch.hub.get_dir)."""
    if os.environ.get("TORCH_HOME"):
        return Path(os.environ["TORCH_HOME"]) / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return Path(xdg) / "torch" / "hub"
