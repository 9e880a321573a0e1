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

import hashlib
import json
import sys
from pathlib import Path

from protocols.base import DEMO_DATASETS, Protocol, ProtocolError, Unit

SPLIT_SET = "all"            # the cells' split set: the whole dataset is the test set

EVAL = Protocol(
    name="eval",
    description="every image of each dataset scored once by a zero-shot method or a saved checkpoint "
                "(no splits, no training); default: every dataset found",
    paper="pyiqa-style NR benchmark (not in the paper)",
    n_splits=1,
    eval_only=True,
)


def eval_units(proto: Protocol, opts) -> list[Unit]:
    """--datasets, else the demo sets with --data demo, else every dataset known (missing ones are skipped)."""
    for flag, given in (("--train/--test", opts.train or opts.test), ("--fractions", opts.fractions),
                        ("--splits", opts.n_splits), ("--test-fraction", opts.test_fraction),
                        ("--variants", opts.variants), ("--split-set", opts.split_set != "default")):
        if given:
            raise ProtocolError(f"{flag} does not apply to the eval protocol: it scores every image of each dataset "
                                "once (--datasets A,B chooses the datasets).")
    if opts.datasets:
        names = opts.datasets
    elif opts.data == "demo":
        names = DEMO_DATASETS
    else:
        from bench.datasets.registry import dataset_names

        names = tuple(dataset_names(include_demo=False))
    return [Unit(d, d, "eval", None) for d in names]


def checkpoint_source(path_text: str) -> tuple[Path, dict]:
    """(checkpoint file, the finished cell record that saved it): runs/checkpoints/<k2>/<key> -> runs/cells/."""
    path = Path(path_text).expanduser().absolute()
    if not path.is_file():
        raise ProtocolError(f"--checkpoint {path_text}: no such file. Checkpoints are saved by "
                            "`bench run ... --save-checkpoints` under OUT/checkpoints/<key[:2]>/<key>.")
    key = path.name
    record_path = path.parent.parent.parent / "cells" / key[:2] / f"{key}.json"
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        raise ProtocolError(f"--checkpoint {path_text}: its cell record {record_path} is missing or unreadable; the "
                            "eval protocol takes the method, version and parameters from it. Keep the checkpoint "
                            "inside the --out folder that saved it.") from None
    if record.get("status") != "done" or record.get("key") != key:
        raise ProtocolError(f"--checkpoint {path_text}: {record_path} is not the finished cell {key}.")
    return path, record


def _ids_hash(ds) -> str:
    return hashlib.sha256(("eval:" + "\n".join(sorted(ds.ids))).encode()).hexdigest()[:16]


def eval_tasks(proto: Protocol, opts, units, resolved, dataset, metric_settings, targets) -> list:
    """The cells: (method or checkpoint) x found dataset x seed. ``resolved`` as bench.runner.plan makes it."""
    from bench import __version__
    from bench.cells import Cell, Task
    from bench.datasets.common import DatasetNotFound
    from bench.runner import RunError
    from methods.weights import file_sha256

    by_method = {mname: (cls, params, used) for mname, cls, _label, params, used in resolved}   # eval: no variants
    # what runs: (method, class, label, params, preset, checkpoint path)
    runs = []
    with_ckpt = set()
    for text in opts.checkpoints or ():
        path, record = checkpoint_source(text)
        mname = record.get("method")
        if mname not in by_method:
            raise RunError(f"--checkpoint {text} was saved by method {mname!r}; name it in --method "
                           f"(now {', '.join(by_method)}).")
        cls = by_method[mname][0]
        if str(record.get("method_version")) != str(cls.version):
            raise RunError(f"--checkpoint {text}: saved by {mname} version {record.get('method_version')}, this "
                           f"checkout has version {cls.version}; retrain it or check out the matching version.")
        label = f"ckpt-{record['key'][:10]}-{file_sha256(path)[:8]}"
        runs.append((mname, cls, label, record["params"], "checkpoint", str(path), record.get("train_dataset")))
        with_ckpt.add(mname)
    for mname, (cls, params, used) in by_method.items():
        if mname in with_ckpt:
            continue
        if cls.trains:
            raise RunError(f"method {mname!r} trains; the eval protocol scores with methods that need no training "
                           "(pyiqa:<metric>, clipiqa, niqe, ...) or with a trained cell's weights: "
                           f"--method {mname} --checkpoint OUT/checkpoints/<k2>/<key> (saved by --save-checkpoints).")
        runs.append((mname, cls, "default", params, used, None, None))

    skip_missing = not opts.datasets and opts.data != "demo"
    skipped, tasks, seen_in_training = [], [], []
    for unit in units:
        try:
            ds = dataset(unit.test)
        except DatasetNotFound:
            if not skip_missing:
                raise
            skipped.append(unit.test)
            continue
        for seed in opts.seeds:
            for mname, cls, label, params, used, ckpt, trained_on in runs:
                if trained_on == unit.test:      # its training images are in there: the source cell tested it
                    seen_in_training.append(f"{label} on {unit.test}")
                    continue
                cell = Cell(
                    protocol=proto.name, method=mname, method_version=str(cls.version), method_kind=cls.kind,
                    variant=label, params=params, preset=used, train_dataset=unit.test, test_dataset=unit.test,
                    train_revision=ds.dataset.revision, test_revision=ds.dataset.revision, split_set=SPLIT_SET,
                    split_index=0, split_hash=_ids_hash(ds), fraction=None, seed=seed,
                    metric_settings=metric_settings.as_dict(), harness_version=__version__)
                tasks.append(Task(cell, (), (), None, method_target=targets.get(mname), checkpoint=ckpt))
    if seen_in_training:
        print(f"eval: not scored, trained on that dataset (its own cell tested it on held-out images): "
              f"{', '.join(dict.fromkeys(seen_in_training))}.", file=sys.stderr)
    if not tasks and seen_in_training:
        raise RunError("eval: every dataset chosen is the one the checkpoint was trained on; evaluate it on others.")
    if skip_missing and not tasks:
        raise RunError("eval: no dataset found (looked for every known one). Point --data-root at your datasets, "
                       "name them with --datasets, or try --data demo.")
    if skipped:
        print(f"eval: skipped {len(skipped)} dataset(s) not found: {', '.join(skipped)} "
              "(`python -m bench data list` says where each is looked for).", file=sys.stderr)
    return tasks


__all__ = ["EVAL", "SPLIT_SET", "eval_units", "eval_tasks", "checkpoint_source"]
