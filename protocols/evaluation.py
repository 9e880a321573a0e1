"""The ``eval`` protocol: every image of each dataset scored once by a method that needs no training on it.

    python -m bench run --protocol eval --method pyiqa:piqe,pyiqa:entropy       # every dataset found
    python -m bench run --protocol eval --method clipiqa --datasets livec,koniq10k
    python -m bench run --protocol eval --method mpiqe --checkpoint runs/checkpoints/ab/ab12...   # a trained cell

One cell per (method, dataset, seed): no splits, no fitting; SRCC/PLCC/KRCC over the whole dataset (pyiqa's
NR benchmark). Methods that train are refused unless ``--checkpoint`` names weights a cell saved
(``bench run ... --save-checkpoints``); such a cell's parameters are the trained cell's, and its variant label
``ckpt-<cell key>-<file hash>`` names the row; the dataset it was trained on is not scored (its training images
are in it). Per-image scores of pyiqa metrics come from their score cache
(``<out>/cache/pyiqa-scores.sqlite``), so rerunning scores nothing again.
"""

from __future__ import annotations

import json
from pathlib import Path

from protocols.base import DEMO_DATASETS, Protocol, ProtocolError, Unit

SPLIT_SET = "all"  # the cells' split set: the whole dataset is the test set


class EvalProtocol(Protocol):
    """A protocol whose units are the datasets themselves (no splits): ``eval_units``."""

    def units(self, opts) -> list[Unit]:
        return eval_units(self, opts)


EVAL = EvalProtocol(
    name="eval",
    description="every image of each dataset scored once by a zero-shot method or a saved checkpoint "
    "(no splits, no training); default: every dataset found",
    paper="pyiqa-style NR benchmark (not in the paper)",
    n_splits=1,
    eval_only=True,
)


def eval_units(proto: Protocol, opts) -> list[Unit]:
    """--datasets, else the demo sets with --data demo, else every dataset known (missing ones are skipped)."""
    for flag, given in (
        ("--train/--test", opts.train or opts.test),
        ("--fractions", opts.fractions),
        ("--splits", opts.n_splits),
        ("--test-fraction", opts.test_fraction),
        ("--variants", opts.variants),
        ("--split-set", opts.split_set != "default"),
    ):
        if given:
            raise ProtocolError(
                f"{flag} does not apply to the eval protocol: it scores every image of each dataset "
                "once (--datasets A,B chooses the datasets)."
            )
    if opts.datasets:
        names = opts.datasets
    elif opts.data == "demo":
        names = DEMO_DATASETS
    else:
        from bench.data.datasets.registry import dataset_names

        names = tuple(dataset_names(include_demo=False))
    return [Unit(d, d, "eval", None) for d in names]


def checkpoint_source(path_text: str) -> tuple[Path, dict]:
    """(checkpoint file, the finished cell record that saved it): runs/checkpoints/<k2>/<key> -> runs/cells/."""
    path = Path(path_text).expanduser().absolute()
    if not path.is_file():
        raise ProtocolError(
            f"--checkpoint {path_text}: no such file. Checkpoints are saved by "
            "`bench run ... --save-checkpoints` under OUT/checkpoints/<key[:2]>/<key>."
        )
    key = path.name
    record_path = path.parent.parent.parent / "cells" / key[:2] / f"{key}.json"
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        raise ProtocolError(
            f"--checkpoint {path_text}: its cell record {record_path} is missing or unreadable; the "
            "eval protocol takes the method, version and parameters from it. Keep the checkpoint "
            "inside the --out folder that saved it."
        ) from None
    if record.get("status") != "done" or record.get("key") != key:
        raise ProtocolError(f"--checkpoint {path_text}: {record_path} is not the finished cell {key}.")
    from bench.core.integrity import check_record

    problem = check_record(record, record_path.with_name(f"{key}.preds.csv"), key)
    if problem:  # its method and parameters decide what the eval cells run: an edited record is not used
        raise ProtocolError(
            f"--checkpoint {path_text}: its cell record {record_path} fails its integrity check: {problem}. "
            "Rerun that cell with --save-checkpoints."
        )
    return path, record


__all__ = ["EVAL", "SPLIT_SET", "eval_units", "checkpoint_source"]
