"""Planning a run: protocols -> ``Task``s (one per cell), before anything runs.

Owns: resolving ``--method`` values and parameters (defaults <- preset <- --param <- variant), the plan-time
checks (presets, weights, each method's ``check_plan``), loading the datasets, making or reloading the splits
and crossing them with methods, variants and seeds (``plan``); the eval protocol's cells (``eval_tasks``); and
choosing what of a plan still has to run (``select``). Imports protocols and the method registry, never the
backends or the execution of a cell.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import __version__
from bench.core.errors import RunError, WeightsMissing, did_you_mean
from bench.core.metrics import DEFAULT_SETTINGS, MetricSettings
from bench.results.cells import Cell, Task
from bench.results.store import ResultStore

if TYPE_CHECKING:
    from protocols.base import Protocol

RERUN_CHOICES = ("missing", "failed", "all")
PRESETS = ("paper", "demo", "ci")


def load_run_dataset(name: str, data_kwargs: dict):
    """``load_dataset`` for a run (planner and workers alike): a data error points at `bench data check`."""
    from bench.core.errors import DatasetError
    from bench.data.datasets import load_dataset

    try:
        return load_dataset(name, **data_kwargs)
    except DatasetError as exc:
        if "bench data check" in str(exc):
            raise
        raise type(exc)(f"{exc} Check the data with `python -m bench data check`.") from None


def _canonical_dataset(name: str) -> str:
    """The registry name of a dataset (aliases such as 'koniq' resolve); unknown names get suggestions."""
    from bench.data.datasets import get_spec

    return get_spec(name).name


def check_preset(preset: str | None, classes) -> None:
    """A preset no method of the run knows is a typo, not 'use the defaults'."""
    known = set(PRESETS).union(*(cls.presets for cls in classes))
    if preset is not None and preset not in known:
        raise RunError(did_you_mean(preset, known, "--preset"))


def resolve_params(cls, preset: str | None, overrides: dict, variant_overrides: dict) -> tuple[Any, str]:
    """defaults <- preset (when the method has it) <- --param <- variant. Returns (params, preset used)."""
    from bench.core.params import normalise_params

    used = preset if preset in cls.presets else "default"
    try:
        params = cls.make_params(None if used == "default" else used, **{**overrides, **variant_overrides})
        # types checked and numbers normalised (alpha=1 -> 1.0: one cell key), then the method's own
        # range checks (its constructor is cheap): a bad value fails here, once, before any cell
        params = cls.Params(**normalise_params(cls.Params, cls.params_dict(params), cls.name))
        cls(params)
    except (TypeError, ValueError) as exc:
        raise RunError(
            f"{exc}. Fix --param (--param {cls.name}.NAME=VALUE sets it for this method only), "
            "or the protocol's variant."
        ) from None
    return params, used


def plan(
    protocol: str,
    methods: list[str],
    options=None,
    preset: str | None = None,
    param_overrides: dict[str, dict] | None = None,
    data_kwargs: dict | None = None,
    weights_dir: str | None = None,
    metric_settings: MetricSettings = DEFAULT_SETTINGS,
    check_weights: bool = True,
    notes: list[str] | None = None,
) -> list[Task]:
    """Every cell of ``protocol`` x ``methods`` with the CLI's ``options`` (protocols.Options).
    ``notes`` (a list) receives what the methods' ``check_plan`` said about the training sets."""
    import protocols as protocol_registry
    from bench.data.splits import make_splits
    from methods import registry

    proto = protocol_registry.get(protocol)
    opts = options or protocol_registry.Options()
    param_overrides = param_overrides or {}
    data_kwargs = dict(data_kwargs or {})
    from bench.data.datasets import register_custom  # custom datasets (spec files) before names resolve

    register_custom(data_kwargs.get("data_root"), data_kwargs.get("dataset_specs"))
    if not methods:
        raise RunError("no method given: --method NAME[,NAME2]; `python -m bench methods` lists them.")
    # cell name -> (class, --method value, import target of a plug-in given by location)
    found = {}
    for m in dict.fromkeys(methods):
        cname, cls, target = registry.resolve(m)
        if cname in found and found[cname][1] != m:
            raise RunError(f"--method {found[cname][1]} and {m} are both named {cname!r}: one cell name each.")
        found[cname] = (cls, m, target)
    classes = {name: cls for name, (cls, _, _) in found.items()}
    check_preset(preset, classes.values())
    units = list(
        dict.fromkeys(
            replace(u, train=_canonical_dataset(u.train), test=_canonical_dataset(u.test)) for u in proto.units(opts)
        )
    )
    if any(u.split_kind == "cross" and u.train == u.test for u in units):
        raise RunError("cross-dataset runs need two different datasets (an alias named the training set again).")
    n_splits, test_fraction = proto.n_splits_for(opts), proto.test_fraction_for(opts)
    proto.check_training_options(opts)
    training_options = opts.training_options()
    from bench.data.image_cache import env_decoder

    if env_decoder() != "pil":  # cached pixels of another JPEG decoder may differ from PIL's: its own cells (and keys)
        training_options["image_decoder"] = env_decoder()

    datasets: dict[str, Any] = {}

    def dataset(name):
        if name not in datasets:
            datasets[name] = load_run_dataset(name, data_kwargs)
        return datasets[name]

    # Methods x variants: resolved once (params do not depend on the data).
    resolved = []
    for mname, cls in classes.items():
        for variant in proto.variants_for(mname, opts):
            params, used = resolve_params(cls, preset, param_overrides.get(found[mname][1], {}), variant.overrides)
            if check_weights:
                ok, why = cls.availability(params, Path(weights_dir) if weights_dir else None)
                if not ok:
                    raise WeightsMissing(f"method {mname!r} cannot run here: {why}. Put the files under --weights-dir.")
            resolved.append((mname, cls, variant.label, cls.params_dict(params), used))

    targets = {name: target for name, (_, _, target) in found.items() if target}
    if getattr(proto, "eval_only", False):  # one cell per (method, dataset): every image scored once
        return _with_import_paths(eval_tasks(proto, opts, units, resolved, dataset, metric_settings, targets), targets)
    tasks: list[Task] = []
    for unit in units:
        train_ds = dataset(unit.train)
        test_ds = dataset(unit.test)
        check_training_sets(resolved, train_ds.dataset, notes)
        kwargs = dict(
            protocol="efficiency" if unit.fractions else "intra",
            split_set=opts.split_set,
            n_splits=n_splits,
            test_fraction=test_fraction,
            val_fraction=opts.val_fraction,
        )
        if unit.fractions:
            kwargs["fractions"] = tuple(unit.fractions)
            kwargs["fraction_of"] = opts.fraction_of
        cross = unit.split_kind == "cross"
        if cross and opts.cross_train == "full":  # one run per seed on every image of A
            splits = [full_split(train_ds, opts.split_set)]
        else:
            made = make_splits(train_ds, **kwargs)
            note_duplicate_splits(made, opts.split_set, unit.train, notes)
            splits = take_splits(made, opts.n_splits, opts.split_set, unit.train)
        for split in splits:
            test_ids = None if cross else tuple(split.test)
            split_hash = split.hash if not cross else derive_cross_hash(split)
            for seed in opts.seeds:
                for mname, cls, label, params, used in resolved:
                    cell = Cell(
                        protocol=proto.name,
                        method=mname,
                        method_version=str(cls.version),
                        method_kind=cls.kind,
                        variant=label,
                        params=params,
                        preset=used,
                        train_dataset=unit.train,
                        test_dataset=unit.test,
                        train_revision=train_ds.dataset.revision,
                        test_revision=test_ds.dataset.revision,
                        split_set=split.split_set,
                        split_index=split.index,
                        split_hash=split_hash,
                        fraction=split.fraction,
                        seed=seed,
                        metric_settings=metric_settings.as_dict(),
                        harness_version=__version__,
                        training_options=dict(training_options),
                    )
                    tasks.append(
                        Task(cell, tuple(split.train), tuple(split.val), test_ids, method_target=targets.get(mname))
                    )
    return _with_import_paths(tasks, targets)


def _with_import_paths(tasks: list[Task], targets: dict[str, str]) -> list[Task]:
    """A module plug-in's import folder travels with its cells: a worker that started before the user's
    sys.path was set (a reused loky pool, a Dask worker started elsewhere) can still import it."""
    from methods.plugins import import_root

    roots = {name: import_root(target) for name, target in targets.items()}
    return [replace(t, method_path=roots[t.cell.method]) if roots.get(t.cell.method) else t for t in tasks]


def take_splits(splits, asked: int | None, split_set: str, dataset: str):
    """An imported split set has its own count (LIQE's: 10): --splits N takes its first N, and more
    than it has is an error, not a silent 'all of them'."""
    if asked is None or split_set == "default":
        return splits
    have = sorted({s.index for s in splits})
    if asked > len(have):
        raise RunError(
            f"--splits {asked}: split set {split_set!r} has {len(have)} split(s) for {dataset!r}; "
            f"ask for at most {len(have)}, or use --split-set default for more."
        )
    keep = set(have[:asked])
    return [s for s in splits if s.index in keep]


def note_duplicate_splits(splits, split_set: str, dataset: str, notes: list[str] | None) -> None:
    """An imported split set that lists one split twice (KonIQ-10k's 'split' column and koniq10k_official.pkl)
    keeps it once: say how many were dropped, so the count of splits is no surprise."""
    from bench.data.datasets.split_sets import duplicate_note

    line = duplicate_note(splits, split_set, dataset)
    if line and notes is not None and line not in notes:
        notes.append(line)


def check_training_sets(resolved, train_info, notes: list[str] | None) -> None:
    """Each method's plan-time check (``Method.check_plan``) on this training set: errors stop the
    plan (so ``--dry-run`` shows them); notes are collected once each."""
    for mname, cls, label, params, _ in resolved:
        check = getattr(cls, "check_plan", None)
        if check is None:
            continue
        for note in check(cls.Params(**params), train_info) or []:
            line = f"{mname}[{label}]: {note}" if label != "default" else f"{mname}: {note}"
            if notes is not None and line not in notes:
                notes.append(line)


def full_split(ds, split_set: str):
    """--cross-train full: a single 'split' whose training part is every image of the dataset."""
    from bench.data.splits import Split

    ids = tuple(r.id for r in ds.records)
    return Split(
        ds.dataset.name, ds.dataset.revision, split_set, 0, 0, train=ids, test=(), meta={"cross_train": "full"}
    )


def derive_cross_hash(split) -> str:
    """Cross cells train on a split's training part only: the hash says so."""
    import hashlib

    return hashlib.sha256(f"cross:{split.hash}".encode()).hexdigest()[:16]


def unique_keys(tasks) -> list[str]:
    return list(dict.fromkeys(t.key for t in tasks))


def damaged_message(store: ResultStore, damaged: dict[str, str]) -> str:
    """All damaged result files of a plan in one message (not one per invocation)."""
    files = "; ".join(f"{store.cell_path(k)} ({why})" for k, why in sorted(damaged.items()))
    return f"{len(damaged)} result file(s) damaged, not counted as done (a run recomputes them): {files}"


def select(tasks: list[Task], store: ResultStore, rerun: str = "missing") -> list[Task]:
    """missing: not done (never run, failed, or killed); failed: only those with a failure record; all: every cell."""
    if rerun not in RERUN_CHOICES:
        raise RunError(did_you_mean(rerun, RERUN_CHOICES, "--rerun policy"))
    unique = list({t.key: t for t in tasks}.values())
    if rerun == "all":
        return unique
    done = store.done_keys()
    done -= set(store.damaged_keys(done & set(unique_keys(unique))))  # a damaged file is not a result
    if rerun == "missing":
        return [t for t in unique if t.key not in done]
    failed = store.failed_keys() - done
    return [t for t in unique if t.key in failed]


# --- the eval protocol: every image of each dataset scored once (protocols/evaluation.py describes it) ---
def _eval_ids_hash(ds) -> str:
    return hashlib.sha256(("eval:" + "\n".join(sorted(ds.ids))).encode()).hexdigest()[:16]


def eval_tasks(proto: Protocol, opts, units, resolved, dataset, metric_settings, targets) -> list:
    """The cells: (method or checkpoint) x found dataset x seed. ``resolved`` as ``plan`` makes it."""
    from bench.data.datasets.common import DatasetNotFound
    from methods.weights import file_sha256
    from protocols.evaluation import SPLIT_SET, checkpoint_source

    by_method = {mname: (cls, params, used) for mname, cls, _label, params, used in resolved}  # eval: no variants
    # what runs: (method, class, label, params, preset, checkpoint path)
    runs = []
    with_ckpt = set()
    for text in opts.checkpoints or ():
        path, record = checkpoint_source(text)
        mname = record.get("method")
        if mname not in by_method:
            raise RunError(
                f"--checkpoint {text} was saved by method {mname!r}; name it in --method (now {', '.join(by_method)})."
            )
        cls = by_method[mname][0]
        if str(record.get("method_version")) != str(cls.version):
            raise RunError(
                f"--checkpoint {text}: saved by {mname} version {record.get('method_version')}, this "
                f"checkout has version {cls.version}; retrain it or check out the matching version."
            )
        label = f"ckpt-{record['key'][:10]}-{file_sha256(path)[:8]}"
        runs.append((mname, cls, label, record["params"], "checkpoint", str(path), record.get("train_dataset")))
        with_ckpt.add(mname)
    for mname, (cls, params, used) in by_method.items():
        if mname in with_ckpt:
            continue
        if cls.trains:
            raise RunError(
                f"method {mname!r} trains; the eval protocol scores with methods that need no training "
                "(pyiqa:<metric>, clipiqa, niqe, ...) or with a trained cell's weights: "
                f"--method {mname} --checkpoint OUT/checkpoints/<k2>/<key> (saved by --save-checkpoints)."
            )
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
                if trained_on == unit.test:  # its training images are in there: the source cell tested it
                    seen_in_training.append(f"{label} on {unit.test}")
                    continue
                cell = Cell(
                    protocol=proto.name,
                    method=mname,
                    method_version=str(cls.version),
                    method_kind=cls.kind,
                    variant=label,
                    params=params,
                    preset=used,
                    train_dataset=unit.test,
                    test_dataset=unit.test,
                    train_revision=ds.dataset.revision,
                    test_revision=ds.dataset.revision,
                    split_set=SPLIT_SET,
                    split_index=0,
                    split_hash=_eval_ids_hash(ds),
                    fraction=None,
                    seed=seed,
                    metric_settings=metric_settings.as_dict(),
                    harness_version=__version__,
                )
                tasks.append(Task(cell, (), (), None, method_target=targets.get(mname), checkpoint=ckpt))
    if seen_in_training:
        print(
            f"eval: not scored, trained on that dataset (its own cell tested it on held-out images): "
            f"{', '.join(dict.fromkeys(seen_in_training))}.",
            file=sys.stderr,
        )
    if not tasks and seen_in_training:
        raise RunError("eval: every dataset chosen is the one the checkpoint was trained on; evaluate it on others.")
    if skip_missing and not tasks:
        raise RunError(
            "eval: no dataset found (looked for every known one). Point --data-root at your datasets, "
            "name them with --datasets, or try --data demo."
        )
    if skipped:
        print(
            f"eval: skipped {len(skipped)} dataset(s) not found: {', '.join(skipped)} "
            "(`python -m bench data list` says where each is looked for).",
            file=sys.stderr,
        )
    return tasks
