"""What a protocol is: declarative data (which datasets, which splits, which variants).

A protocol never runs anything. ``Protocol.units(options)`` turns it, with the CLI's
overrides, into *units*: (train dataset, test dataset, split kind, fractions). The
runner crosses units with splits, methods, variants and seeds to get cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.core.errors import BenchError, did_you_mean

DEMO_DATASETS = ("demo-a", "demo-b")


class ProtocolError(BenchError):
    """A protocol or one of its overrides is not valid."""


@dataclass(frozen=True)
class Variant:
    label: str
    overrides: dict[str, Any] = field(default_factory=dict, hash=False)
    description: str = ""


DEFAULT_VARIANT = Variant("default")


@dataclass(frozen=True)
class Unit:
    """One (train set, test set) pair of a protocol and how its splits are made."""

    train: str
    test: str
    split_kind: str  # 'intra' (train/test from one set) | 'cross' (train part of train's splits, all of test)
    #                                        | 'eval' (no training: every image of the set scored once)
    fractions: tuple[float, ...] | None  # efficiency: training shares of the whole dataset


@dataclass(frozen=True)
class Options:
    """The CLI's overrides of a protocol's defaults (None: keep the default)."""

    data: str | None = None  # 'demo' maps every protocol onto demo-a / demo-b
    datasets: tuple[str, ...] | None = None
    train: tuple[str, ...] | None = None  # cross: --train A[,A2] --test B[,B2] -> every A->B with A != B
    test: tuple[str, ...] | None = None
    n_splits: int | None = None
    fractions: tuple[float, ...] | None = None
    test_fraction: float | None = None
    seeds: tuple[int, ...] = (0,)
    split_set: str = "default"
    variants: tuple[str, ...] | None = None
    checkpoints: tuple[str, ...] | None = None  # eval: cells' saved weights (--checkpoint) instead of zero-shot
    # Training options the paper leaves open (docs/RUNNING.md, beside Tables 3 and 5):
    val_fraction: float = 0.0  # share of each dataset held out of training for validation
    select_on: str = "last"  # 'last' epoch, or 'val': the best validation-SRCC epoch
    cross_train: str = "split"  # cross: 'split' (train part of each of A's splits) | 'full' (all of A)
    fraction_of: str = "dataset"  # efficiency: fractions of the whole 'dataset' | of the split's 'train' part
    # Numerics (bench/core/numerics.py, docs/RUNNING.md "Reproducibility"): recorded and hashed like the above
    precision: str = "auto"  # 'auto' (each method's own) | 'float64' (every torch tensor of the cell)
    deterministic: bool = False  # torch deterministic algorithms, cuDNN deterministic, cuBLAS workspace

    def training_options(self) -> dict:
        """The options that differ from their defaults: recorded in each cell and hashed into its key."""
        out = {}
        for name, default in (
            ("val_fraction", 0.0),
            ("select_on", "last"),
            ("cross_train", "split"),
            ("fraction_of", "dataset"),
            ("precision", "auto"),
            ("deterministic", False),
        ):
            value = getattr(self, name)
            if value != default:
                out[name] = value
        return out


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    paper: str  # where its numbers are in the paper
    datasets: tuple[str, ...] = ()  # intra-like protocols
    pairs: tuple[tuple[str, str], ...] = ()  # cross
    n_splits: int = 10
    test_fraction: float = 0.2
    fractions: tuple[float, ...] | None = None  # efficiency
    variants: dict[str, tuple[Variant, ...]] = field(default_factory=dict, hash=False)  # method -> variants
    aggregate: str = "median"
    eval_only: bool = False  # eval: no splits, no training (protocols/evaluation.py)

    @property
    def is_cross(self) -> bool:
        return bool(self.pairs)

    # --- CLI overrides -> units -----------------------------------------------------
    def units(self, opts: Options) -> list[Unit]:
        if opts.checkpoints:
            raise ProtocolError(f"--checkpoint is for the eval protocol, not {self.name!r}.")
        if self.is_cross:
            if opts.datasets:
                raise ProtocolError(f"protocol {self.name!r} takes --train A --test B, not --datasets.")
            pairs = self.pairs
            if opts.data == "demo":
                pairs = ((DEMO_DATASETS[0], DEMO_DATASETS[1]), (DEMO_DATASETS[1], DEMO_DATASETS[0]))
            if opts.train or opts.test:
                if not (opts.train and opts.test):
                    raise ProtocolError("cross-dataset runs need both --train A and --test B.")
                pairs = tuple((a, b) for a in opts.train for b in opts.test if a != b)
                if not pairs:
                    raise ProtocolError("--train and --test name the same dataset: cross-dataset needs two.")
            return [Unit(a, b, "cross", None) for a, b in pairs]
        if opts.train or opts.test:
            raise ProtocolError(f"--train/--test are for the cross protocol; protocol {self.name!r} takes --datasets.")
        datasets = DEMO_DATASETS if opts.data == "demo" else self.datasets
        if opts.datasets:
            datasets = opts.datasets
        fractions = self.fractions
        if opts.fractions is not None:
            if self.fractions is None:
                raise ProtocolError(f"--fractions is for the efficiency protocol, not {self.name!r}.")
            bad = [f for f in opts.fractions if not 0 < f < 1]
            if bad:
                raise ProtocolError(f"--fractions must be shares in (0, 1), e.g. 0.2,0.4; got {bad}.")
            fractions = tuple(opts.fractions)
        return [Unit(d, d, "intra", fractions) for d in datasets]

    def check_training_options(self, opts: Options) -> None:
        """--val-fraction, --select-on, --cross-train, --fraction-of: valid values, and only where they mean something."""
        if opts.select_on not in ("last", "val"):
            raise ProtocolError(did_you_mean(opts.select_on, ("last", "val"), "--select-on"))
        if opts.cross_train not in ("split", "full"):
            raise ProtocolError(did_you_mean(opts.cross_train, ("split", "full"), "--cross-train"))
        if opts.fraction_of not in ("dataset", "train"):
            raise ProtocolError(did_you_mean(opts.fraction_of, ("dataset", "train"), "--fraction-of"))
        from bench.core.numerics import check_precision

        check_precision(opts.precision)
        if not 0.0 <= opts.val_fraction < 1.0:
            raise ProtocolError(f"--val-fraction must be in [0, 1), got {opts.val_fraction}.")
        if opts.select_on == "val" and opts.val_fraction <= 0:
            raise ProtocolError(
                "--select-on val picks an epoch on a validation part: add --val-fraction F "
                "(e.g. 0.1). The test part is never used for selection."
            )
        if opts.cross_train == "full":
            if not self.is_cross:
                raise ProtocolError(f"--cross-train is for the cross protocol, not {self.name!r}.")
            if opts.val_fraction > 0:
                raise ProtocolError(
                    "--cross-train full trains on every image of A, so there is no validation "
                    "part: drop --val-fraction or use --cross-train split."
                )
        if opts.fraction_of != "dataset" and self.fractions is None:
            raise ProtocolError(f"--fraction-of is for the efficiency protocol, not {self.name!r}.")

    def n_splits_for(self, opts: Options) -> int:
        n = opts.n_splits if opts.n_splits is not None else self.n_splits
        if n < 1:
            raise ProtocolError(f"--splits must be at least 1, got {n}.")
        return n

    def test_fraction_for(self, opts: Options) -> float:
        f = opts.test_fraction if opts.test_fraction is not None else self.test_fraction
        if not 0 < f < 1:
            raise ProtocolError(f"--test-fraction must be in (0, 1), got {f}.")
        return f

    def variants_for(self, method: str, opts: Options) -> tuple[Variant, ...]:
        """The variants a method runs under; protocols without variants run 'default' only."""
        if not self.variants:
            if opts.variants:
                raise ProtocolError(
                    f"protocol {self.name!r} has no variants; --variants is for ablation and sensitivity."
                )
            return (DEFAULT_VARIANT,)
        declared = self.variants.get(method)
        if declared is None:
            raise ProtocolError(
                f"protocol {self.name!r} declares no variants for method {method!r}; "
                f"it has variants for: {', '.join(sorted(self.variants))}."
            )
        if not opts.variants:
            return declared
        by_label = {v.label: v for v in declared}
        for label in opts.variants:
            if label not in by_label:
                raise ProtocolError(
                    did_you_mean(label, by_label, f"{self.name} variant of {method}")
                    + f" `python -m bench protocols {self.name}` describes them."
                )
        return tuple(by_label[label] for label in opts.variants)
