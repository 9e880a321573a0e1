"""What each page of the site shows, as template contexts: a method (recipe, deviations, versions, numbers and
cells), a dataset (ground truth, split sets, per-distortion results) and a cell (scatter, curves, predictions)."""

from __future__ import annotations

import json
from collections import defaultdict
from statistics import median

from reports import names, provenance
from reports.errors import ReportError
from reports.site import figures, links
from reports.source import Result, read_predictions

# recipe fields that say where a run departs from the authors' code (methods' recipe dicts)
DEVIATION_KEYS = ("official_selection",)


def _split_text(key) -> str:
    split_set, index, _, seed = key
    return f"{split_set} #{index}" + (f" (seed {seed})" if seed not in (None, 0) else "")


def _metric_text(r: Result, name: str) -> tuple[str, str]:
    v = r.metric(name)
    return ("–", "") if v is None else (f"{v:.3f}", repr(round(v, 6)))


def compact(value):
    """A recipe for reading: lists of plain values as one line ('0.001, 0.001, ...'), containers recursively."""
    if isinstance(value, dict):
        return {str(k): compact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            return ", ".join(str(v) for v in value) or "–"
        return [compact(v) for v in value]
    return value


def _deviations(recipe: dict) -> list[str]:
    out = [f"model selection: {recipe[k]}" for k in DEVIATION_KEYS if recipe.get(k)]
    loss = recipe.get("loss")
    if isinstance(loss, dict) and loss.get("left_out"):
        out.append(f"loss terms left out: {loss['left_out']}")
    sources = recipe.get("sources")
    if isinstance(sources, dict):
        out += [f"{k}: {v}" for k, v in sources.items() if "not in the official code" in str(v)]
    out += [str(n) for n in recipe.get("notes") or ()]
    return out


def _method_class(method: str):
    from methods import registry

    try:
        return registry.get_method(method)
    except Exception:  # noqa: BLE001 -- an unknown or broken name is shown as such, never a failed site
        return None


def recipes_of(method: str, cells: list[Result]) -> tuple[list[dict], str]:
    """One recipe per (configuration, training set) the method ran, from the method's own ``recipe()``."""
    cls = _method_class(method)
    if cls is None:
        return [], "Not a method registered in this harness: its recipe cannot be derived here."
    if not cls.trains:
        return [], "This method does not train (zero-shot): it has no training recipe."
    seen: dict[tuple, list[Result]] = defaultdict(list)
    for r in cells:
        seen[(r.config, r.train, r.preset)].append(r)
    out = []
    for (_, train, preset), rs in sorted(seen.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        n_train = [r.n_train for r in rs if r.n_train]
        try:
            params = cls.Params(**rs[0].params)
            recipe = cls.recipe(params, train, int(median(n_train)) if n_train else 0)
        except Exception as exc:  # noqa: BLE001 -- a stored parameter set this version cannot rebuild
            out.append(
                {
                    "heading": f"{names.dataset_title(train)}, preset {preset or '–'}",
                    "deviations": [],
                    "recipe": {"unavailable": f"the stored parameters do not rebuild here ({exc})"},
                }
            )
            continue
        if recipe is None:
            continue
        out.append(
            {
                "heading": f"{names.dataset_title(train)}, preset {preset or '–'} ({len(rs)} cell(s), "
                f"{int(median(n_train)) if n_train else '?'} training images)",
                "deviations": _deviations(recipe),
                "recipe": compact(json.loads(json.dumps(recipe, default=str))),
            }
        )
    return out, ("" if out else "The method states no recipe (Method.recipe returns None).")


def method_context(method: str, cells: list[Result], numbers: list[dict]) -> dict:
    cls = _method_class(method)
    packages: dict[str, set] = defaultdict(set)
    for r in cells:
        for k, v in (r.versions or {}).items():
            packages[k].add(str(v))
    recipes, note = recipes_of(method, cells)
    number_views = []
    for n in numbers:
        stat = n["stat"]
        rows = []
        for key, cell_key in sorted(stat.cells.items(), key=lambda kv: repr(kv[0])):
            value = stat.values.get(key)
            p = (stat.image_p or {}).get(key)
            rows.append(
                {
                    "split": _split_text(key) if isinstance(key, tuple) and len(key) == 4 else str(key),
                    "value": "–" if value is None else f"{value:.4f}",
                    "key": cell_key,
                    "href": links.cell_page(cell_key),
                    "image_p": "–" if p is None else f"p = {p:.3g}" + (" (significant)" if p < 0.05 else ""),
                }
            )
        number_views.append({**n, "cells": rows})
    cell_rows = []
    for r in sorted(cells, key=lambda r: (r.protocol, r.train, r.test, r.split_index or 0, r.key)):
        srcc, srcc_sort = _metric_text(r, "srcc")
        plcc, plcc_sort = _metric_text(r, "plcc")
        cell_rows.append(
            {
                "key": r.key,
                "href": links.cell_page(r.key),
                "protocol": r.protocol + (f" [{r.variant}]" if r.variant != "default" else ""),
                "where": r.test if r.train == r.test else f"{r.train} → {r.test}",
                "split": _split_text(r.pair_key),
                "split_sort": "" if r.split_index is None else str(r.split_index),
                "srcc": srcc,
                "srcc_sort": srcc_sort,
                "plcc": plcc,
                "plcc_sort": plcc_sort,
            }
        )
    return {
        "title": names.method_title(method),
        "name": method,
        "description": getattr(cls, "description", "") if cls else "",
        "versions": {
            "method": sorted({r.method_version or "?" for r in cells}),
            "registered": getattr(cls, "version", "") if cls else "",
            "kind": getattr(cls, "kind", "") if cls else "",
            "presets": sorted({r.preset for r in cells if r.preset}),
            "harness": sorted({f"{r.harness_version} (commit {r.git_commit[:7] or '?'})" for r in cells}),
            "packages": {k: ", ".join(sorted(v)) for k, v in sorted(packages.items())},
        },
        "recipes": recipes,
        "recipe_note": note,
        "numbers": number_views,
        "cells": cell_rows,
    }


def dataset_facts(dataset: str, results: list[Result] = ()) -> dict:
    """What a reader needs to trust a dataset's numbers: its spec, and the ground truth its cells were scored
    against, as the cells record it (file, column, scale; one per table row, never mixed: reports.guard)."""
    from bench.data.datasets.registry import SPECS

    spec = SPECS.get(dataset)
    facts = {"name": dataset}
    if spec is None:
        facts["source"] = "not a built-in dataset (a custom dataset from a spec file, or another harness's name)"
    else:
        facts.update(
            {
                "title": spec.title,
                "published size": spec.n_images or "–",
                "score scale (as the files give it)": f"{spec.raw_scale[0]:g} to {spec.raw_scale[1]:g}, "
                + ("higher is better" if spec.raw_higher_is_better else "lower is better (DMOS)"),
                "distortions": "synthetic distortions of reference images" if spec.synthetic else "authentic",
                "notes": spec.notes or "–",
            }
        )
    truths = sorted(
        {
            r.test_ground_truth + (f" ({r.test_ground_truth_vs_paper})" if r.test_ground_truth_vs_paper else "")
            for r in results
            if r.test == dataset and r.test_ground_truth
        }
    )
    if truths:
        facts["ground truth (as the cells record it)"] = "; ".join(truths)
    if provenance.not_human_rated(dataset):
        facts["ground truth"] = provenance.SYNTHETIC_NOTE[0].upper() + provenance.SYNTHETIC_NOTE[1:] + "."
    return facts


def split_rows(dataset: str, results: list[Result]) -> list[dict]:
    groups: dict[tuple, list[Result]] = defaultdict(list)
    for r in results:
        if dataset in (r.train, r.test):
            groups[(r.protocol, r.train, r.test, r.split_set, r.fraction)].append(r)
    rows = []
    for (protocol, train, test, split_set, fraction), rs in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        indices = sorted({r.split_index for r in rs if r.split_index is not None})
        n_test = sorted({r.n_test for r in rs if r.n_test})
        n_train = sorted({r.n_train for r in rs if r.n_train})
        rows.append(
            {
                "protocol": protocol,
                "where": test if train == test else f"{train} → {test}",
                "split_set": split_set,
                "fraction": "–" if fraction is None else f"{fraction:g}",
                "cells": len(rs),
                "indices": f"{indices[0]}–{indices[-1]} ({len(indices)})" if indices else "–",
                "distinct": len({(r.split_hash, r.seed) for r in rs}),
                "n_test": ", ".join(map(str, n_test)) or "–",
                "n_train": ", ".join(map(str, n_train)) or "–",
            }
        )
    return rows


def cell_context(r: Result) -> dict:
    """The cell's page; the scatter needs its predictions (a truncated file is said, not drawn)."""
    scatter, preds_note = None, ""
    if r.preds_path is not None and r.preds_path.is_file():
        try:
            ids, mos, pred = read_predictions(r.preds_path, r.n_test, with_ids=True)
            scatter = figures.scatter(
                ids, mos, pred, f"{names.method_title(r.method)} on {r.test}, split {r.split_index}"
            )
        except ReportError as exc:
            preds_note = str(exc)
    else:
        preds_note = "No predictions file is stored for this cell."
    identity = {
        "key": r.key,
        "protocol": r.protocol,
        "variant": r.variant,
        "method version": r.method_version,
        "preset": r.preset or "–",
        "parameters": r.params or "–",
        "split": _split_text(r.pair_key) + (f", hash {r.split_hash}" if r.split_hash else ""),
        "fraction": "–" if r.fraction is None else f"{r.fraction:g}",
        "training / test images": f"{r.n_train or '–'} / {r.n_test or '–'}",
        "dataset revisions": f"{r.train_revision or '–'} / {r.test_revision or '–'}",
        "device": r.device or "–",
        "fit / predict seconds": f"{r.fit_s if r.fit_s is not None else '–'} / {r.predict_s if r.predict_s is not None else '–'}",
        "harness": f"{r.harness_version} (commit {r.git_commit or '?'}{', uncommitted changes' if r.git_dirty else ''})",
        "versions": r.versions or "–",
        "finished": r.finished_at or "–",
        "integrity": r.integrity,
    }
    return {
        "title": f"Cell {r.key}",
        "method": names.method_title(r.method),
        "method_href": links.method_page(r.method),
        "train": names.dataset_title(r.train),
        "train_href": links.dataset_page(r.train),
        "test": names.dataset_title(r.test),
        "test_href": links.dataset_page(r.test),
        "protocol": r.protocol,
        "split": _split_text(r.pair_key),
        "preds_href": links.preds_file(r.key) if scatter is not None else None,
        "preds_note": preds_note,
        "scatter": scatter,
        "curves": figures.curves(list(r.history), r.selected_epoch, "Training curves") if r.history else None,
        "metrics": {k: v for k, v in r.metrics.items()},
        "identity": identity,
        "notes": list(r.notes),
    }
