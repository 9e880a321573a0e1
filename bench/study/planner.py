"""A study's plan: per experiment the cells (estimated without data, planned for real where the data and
weights are here), what is missing, what the methods refuse at plan time, and the cost.

Only public names of the run floor (``bench.run``) are used (``plan``, ``resolve_params``, ``check_preset``, ``RunError``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from bench.core.errors import BenchError
from bench.study.estimate import (
    CellCost,
    Estimate,
    cell_cost,
    throughput,
    train_test_sizes,
)
from bench.study.spec import Experiment, Study, StudyError, check_dataset_names

FETCH_HINT = "python -m bench weights fetch --study {study} (on a machine with internet; --to DIR for an offline one)"


@dataclass
class ExperimentPlan:
    exp: Experiment
    preset: str
    estimate: Estimate = field(default_factory=Estimate)
    datasets: list[str] = field(default_factory=list)  # every dataset the experiment names
    missing_datasets: dict[str, str] = field(default_factory=dict)
    weights: list[dict] = field(default_factory=list)  # {file, methods, found}
    skipped: list[str] = field(default_factory=list)  # why cells are left out (data, weights, refusals)
    notes: list[str] = field(default_factory=list)  # the methods' plan-time notes
    repeated: str = ""  # methods or seeds the study file lists more than once (each cell counts once)
    tasks: list = field(default_factory=list)  # the runnable cells (bench.results.cells.Task)
    done: int = 0

    @property
    def missing_weights(self) -> list[dict]:
        return [w for w in self.weights if not w["found"]]


@dataclass
class StudyPlan:
    study: Study
    experiments: list[ExperimentPlan]
    rate: dict
    done_keys: set = field(default_factory=set)

    def totals(self) -> dict:
        seen: set = set()
        total = {"cells": 0, "optimizer_steps": 0, "samples": 0, "device_hours": 0.0, "cells_without_estimate": 0}
        for ep in self.experiments:
            for k, v in ep.estimate.totals(seen).items():
                total[k] += v
        total["device_hours"] = round(total["device_hours"], 3)
        keys = {t.key for ep in self.experiments for t in ep.tasks}
        total.update(planned=len(keys), done=len(keys & self.done_keys), throughput_source=self.rate["source"])
        return total


def param_overrides(exp: Experiment, study: Study) -> dict[str, dict]:
    """``params = { "mpiqe.epochs" = 3, "seed_offset" = 1 }`` -> {method value: {name: value}}."""
    out: dict[str, dict] = {m: {} for m in exp.methods}
    for key, value in exp.params.items():
        method, dot, name = key.rpartition(".")
        targets = [method] if dot else list(exp.methods)
        for m in targets:
            if m not in out:
                raise StudyError(
                    f"{study.path}: experiment {exp.name!r}: key 'params': {key!r} names method {m!r}, "
                    f"which is not in its methods ({', '.join(exp.methods)})."
                )
            out[m][name] = value
    return out


def options_for(exp: Experiment, data: str | None, splits: int | None = None) -> list:
    """protocols.Options per plan call: one per cross pair (the paper's pairs are not all A x B)."""
    import protocols

    base = protocols.Options(
        data=data,
        n_splits=splits if splits is not None else exp.splits,
        fractions=exp.fractions,
        test_fraction=exp.test_fraction,
        seeds=exp.seeds,
        split_set=exp.split_set,
        variants=exp.variants,
        val_fraction=exp.val_fraction,
        select_on=exp.select_on,
        cross_train=exp.cross_train,
        fraction_of=exp.fraction_of,
        precision=exp.precision,
        deterministic=exp.deterministic,
    )
    if data == "demo":  # every protocol maps onto demo-a / demo-b
        return [base]
    if exp.pairs:
        return [replace(base, train=(a,), test=(b,)) for a, b in exp.pairs]
    return [replace(base, datasets=exp.datasets)]


def _resolve(exp: Experiment, study: Study, preset: str, opts) -> list[tuple[str, str, Any, str, Any]]:
    """(--method value, cell name, class, variant label, params) for every method x variant, checked."""
    import protocols
    from bench.run.planning import check_preset, resolve_params
    from methods import registry

    proto = protocols.get(exp.protocol)
    overrides = param_overrides(exp, study)
    out, classes = [], []
    for m in exp.methods:
        try:
            cname, cls, _ = registry.resolve(m)
        except BenchError as exc:
            raise StudyError(f"{study.path}: experiment {exp.name!r}: key 'methods': {exc}") from None
        classes.append(cls)
        try:
            variants = proto.variants_for(cname, opts)
        except BenchError as exc:
            raise StudyError(f"{study.path}: experiment {exp.name!r}: key 'variants': {exc}") from None
        for variant in variants:
            try:
                params, _ = resolve_params(cls, preset, overrides.get(m, {}), variant.overrides)
            except BenchError as exc:
                raise StudyError(f"{study.path}: experiment {exp.name!r}: key 'params': {exc}") from None
            out.append((m, cname, cls, variant.label, params))
    try:
        check_preset(preset, classes)
    except BenchError as exc:
        raise StudyError(f"{study.path}: experiment {exp.name!r}: key 'preset': {exc}") from None
    return out


class _Data:
    """Datasets loaded once per study (availability and image counts)."""

    def __init__(self, data_kwargs: dict):
        self.kwargs = data_kwargs
        self.sizes: dict[str, int | None] = {}
        self.missing: dict[str, str] = {}

    def probe(self, name: str) -> None:
        if name in self.sizes or name in self.missing:
            return
        from bench.data.datasets import get_spec, load_dataset

        spec = get_spec(name)
        try:
            self.sizes[name] = len(load_dataset(name, **self.kwargs).records)
        except BenchError as exc:
            self.missing[name] = str(exc).split(". ")[0].strip() + "."
            self.sizes[name] = spec.n_images


def plan_experiment(
    exp: Experiment,
    study: Study,
    data: _Data,
    rate: dict,
    *,
    data_flag: str | None,
    preset: str | None,
    splits: int | None,
    weights_dir: str | None,
    store,
    runnable: bool,
) -> ExperimentPlan:
    from pathlib import Path

    import protocols

    preset = preset or exp.preset or ("demo" if data_flag == "demo" else "paper")
    check_dataset_names(exp, study.path)
    ep = ExperimentPlan(exp, preset)
    proto = protocols.get(exp.protocol)
    all_opts = options_for(exp, data_flag, splits)
    resolved = _resolve(exp, study, preset, all_opts[0])
    units = []
    for opts in all_opts:
        try:
            proto.check_training_options(opts)
            units += [(opts, u) for u in proto.units(opts)]
            n_splits = 1 if proto.eval_only else proto.n_splits_for(opts)
            test_fraction = 0.0 if proto.eval_only else proto.test_fraction_for(opts)
        except BenchError as exc:
            raise StudyError(f"{study.path}: experiment {exp.name!r}: {exc}") from None
    for _, u in units:
        for name in (u.train, u.test):
            data.probe(name)
    ep.datasets = list(dict.fromkeys(n for _, u in units for n in (u.train, u.test)))
    ep.missing_datasets = {n: data.missing[n] for n in ep.datasets if n in data.missing}
    # --- cost, without data (a method or seed listed twice is one cell, counted once)
    ep.repeated = _repeated(exp)
    costed: set = set()
    for opts, u in units:
        full = u.split_kind == "cross" and opts.cross_train == "full"
        for index in range(1 if full else n_splits):
            for fraction in u.fractions or (None,):
                n_train, n_test = train_test_sizes(
                    u,
                    data.sizes.get(u.train),
                    data.sizes.get(u.test),
                    test_fraction,
                    opts.val_fraction,
                    fraction,
                    opts.fraction_of,
                    full,
                )
                for _m, cname, cls, label, params in resolved:
                    steps, samples, secs = cell_cost(cls, params, u.train, n_train, n_test, rate)
                    for seed in opts.seeds:
                        key = (
                            proto.name,
                            cname,
                            label,
                            json.dumps(cls.params_dict(params), sort_keys=True, default=str),
                            u.train,
                            u.test,
                            opts.split_set,
                            index,
                            fraction,
                            seed,
                            json.dumps(opts.training_options(), sort_keys=True),
                        )
                        if key not in costed:
                            costed.add(key)
                            ep.estimate.cells.append(CellCost(key, steps, samples, secs))
    # --- weights
    from methods.weight_fetch import weight_label

    wdir = Path(weights_dir) if weights_dir else None
    blocked_methods: dict[str, str] = {}
    seen_files: dict[str, dict] = {}
    for m, cname, cls, label, params in resolved:
        if cls.unavailable_reason:
            blocked_methods[m] = cls.unavailable_reason
        for w in cls.required_weights(params, wdir):
            label = weight_label(w)
            entry = seen_files.setdefault(label, {"file": label, "methods": [], "found": str(w.found or "")})
            if cname not in entry["methods"]:
                entry["methods"].append(cname)
            if not w.found:
                blocked_methods.setdefault(
                    m, f"weight file {label} missing; fetch it with " + FETCH_HINT.format(study=study.name)
                )
    ep.weights = list(seen_files.values())
    for m, why in blocked_methods.items():
        ep.skipped.append(f"method {m}: {why}")
    for name, why in ep.missing_datasets.items():
        ep.skipped.append(f"dataset {name}: {why}")
    if runnable:
        _plan_cells(ep, study, all_opts, proto, resolved, blocked_methods, data, weights_dir, store)
    return ep


def _repeated(exp: Experiment) -> str:
    """'methods list noop 2 times; seeds list 0 2 times' for entries given more than once, else ''."""
    from collections import Counter

    parts = []
    for what, values in (("methods", exp.methods), ("seeds", exp.seeds)):
        twice = {v: n for v, n in Counter(values).items() if n > 1}
        if twice:
            parts.append(f"{what} list " + ", ".join(f"{v} {n} times" for v, n in twice.items()))
    return "; ".join(parts)


def _plan_cells(
    ep: ExperimentPlan, study: Study, all_opts, proto, resolved, blocked: dict, data: _Data, weights_dir, store
) -> None:
    """The real cells (bench.run.planning.plan) of what is here: missing datasets and methods left out."""
    from bench.run.planning import plan

    exp = ep.exp
    methods = [m for m in dict.fromkeys(r[0] for r in resolved) if m not in blocked]
    if not methods:
        return
    overrides = {m: v for m, v in param_overrides(exp, study).items() if m in methods}
    for opts in all_opts:
        units = proto.units(opts)
        here = [u for u in units if u.train not in data.missing and u.test not in data.missing]
        if not here:
            continue
        if len(here) < len(units) and not opts.train:
            opts = replace(opts, datasets=tuple(dict.fromkeys(u.train for u in here)))
        notes: list[str] = []
        try:
            ep.tasks += plan(
                exp.protocol,
                methods,
                opts,
                preset=ep.preset,
                param_overrides=overrides,
                data_kwargs=data.kwargs,
                weights_dir=weights_dir,
                notes=notes,
            )
        except BenchError as exc:  # e.g. MP-IQE's paper preset refusing a set without its labels
            ep.skipped.append(f"refused at plan time: {exc}")
        ep.notes += notes
    if ep.tasks:
        ep.done = len({t.key for t in ep.tasks} & store.done_keys())


def plan_study(
    study: Study,
    *,
    data_kwargs: dict | None = None,
    data_flag: str | None = None,
    preset: str | None = None,
    splits: int | None = None,
    weights_dir: str | None = None,
    out: str = "runs",
    runnable: bool = True,
    only: list[str] | None = None,
) -> StudyPlan:
    """``runnable``: also plan the real cells where the data is here (needs the datasets loaded)."""
    from bench.results.store import ResultStore

    if only:
        unknown = [n for n in only if n not in {e.name for e in study.experiments}]
        if unknown:
            raise StudyError(
                f"{study.path}: no experiment {unknown[0]!r}; it has "
                + ", ".join(e.name for e in study.experiments)
                + "."
            )
    rate = throughput()
    data = _Data(dict(data_kwargs or {}))
    from bench.data.datasets import register_custom

    register_custom(data.kwargs.get("data_root"), data.kwargs.get("dataset_specs"))
    store = ResultStore(out)
    plans = [
        plan_experiment(
            exp,
            study,
            data,
            rate,
            data_flag=data_flag,
            preset=preset,
            splits=splits,
            weights_dir=weights_dir,
            store=store,
            runnable=runnable,
        )
        for exp in study.experiments
        if not only or exp.name in only
    ]
    return StudyPlan(study, plans, rate, store.done_keys() if store.root.exists() else set())


def study_method_params(study: Study, preset: str | None = None) -> list[tuple[str, Any]]:
    """(method, params) of every method x variant of the study (``bench weights fetch --study``)."""
    out = []
    for exp in study.experiments:
        p = preset or exp.preset or "paper"
        out += [(m, params) for m, _, _, _, params in _resolve(exp, study, p, options_for(exp, None)[0])]
    return out
