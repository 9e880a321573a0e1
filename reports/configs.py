"""A row's configuration: every resolved method parameter, the preset and the protocol options a cell
records. Cells of different configurations are never aggregated together.

A configuration is a sorted tuple of ``(field, canonical JSON)`` pairs, so it hashes and compares;
numbers are normalised first (``1`` and ``1.0`` are one value) because the same setting
typed two ways is one configuration. ``--where METHOD.FIELD=VALUE`` and ``--preset P`` select among
them (``filter_results``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from bench.core.errors import did_you_mean
from reports.errors import ReportError

# Cell fields (besides ``params``) that change what a row means: the preset, and the run options a cell
# records in ``training_options`` when they differ from their defaults (absent: the defaults).
OPTION_FIELDS = ("preset", "cross_train", "fraction_of", "select_on", "val_fraction")
MAX_SHOWN = 4  # fields in a row label before it is cut short


def canonical(value: Any) -> Any:
    """Numbers normalised (integral float -> int, so 1.0 and 1 are one value; -0.0 -> 0), containers
    recursively. Booleans stay booleans: parameters are type-checked at plan time, so a bool parameter is
    stored as true/false and an int 1 is another (older, unchecked) setting, labelled as such."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return int(value)
        return value
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def encode(value: Any) -> str:
    return json.dumps(canonical(value), sort_keys=True, separators=(",", ":"))


def config_of(cell: dict) -> tuple[tuple[str, str], ...]:
    fields = {f"params.{k}": encode(v) for k, v in (cell.get("params") or {}).items()}
    options = {**(cell.get("training_options") or {}), **{n: cell[n] for n in OPTION_FIELDS if cell.get(n) is not None}}
    for name in OPTION_FIELDS:
        if options.get(name) is not None:
            fields[name] = encode(options[name])
    return tuple(sorted(fields.items()))


def shown_field(name: str) -> str:
    return name.removeprefix("params.")


def shown_value(encoded: str) -> str:
    value = json.loads(encoded)
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value)


def config_labels(configs: Iterable[tuple]) -> dict[tuple, str]:
    """{config: 'a=1, b=2'} naming only what differs between the given configurations ('' when one).

    Where the preset differs, a label names the preset and only the parameters that differ among the
    configurations of that same preset (a preset sets many parameters at once)."""
    configs = sorted(set(configs))
    if len(configs) <= 1:
        return {c: "" for c in configs}
    dicts = {c: dict(c) for c in configs}
    names = sorted({k for d in dicts.values() for k in d}, key=lambda k: (k != "preset", k in OPTION_FIELDS, k))

    def differing(members: list[tuple]) -> list[str]:
        return [k for k in names if len({dicts[c].get(k) for c in members}) > 1]

    varying = differing(configs)
    by_preset: dict[Any, list[tuple]] = defaultdict(list)
    for c in configs:
        by_preset[dicts[c].get("preset")].append(c)
    labels = {}
    for c in configs:
        if "preset" in varying:
            shown = ["preset"] + [k for k in differing(by_preset[dicts[c].get("preset")]) if k != "preset"]
        else:
            shown = varying
        parts = [f"{shown_field(k)}={shown_value(dicts[c][k]) if k in dicts[c] else '–'}" for k in shown]
        text = ", ".join(parts[:MAX_SHOWN]) + (f", +{len(parts) - MAX_SHOWN} more" if len(parts) > MAX_SHOWN else "")
        labels[c] = text
    seen: dict[str, int] = defaultdict(int)
    for text in labels.values():
        seen[text] += 1
    for c, text in labels.items():  # a cut-short label can repeat: make it unique
        if seen[text] > 1:
            labels[c] = f"{text}, config {hashlib.sha256(repr(c).encode()).hexdigest()[:6]}"
    return labels


def parse_where(items: Iterable[str]) -> list[tuple[str, str, str]]:
    """'mpiqe.lr=1e-4' -> ('mpiqe', 'params.lr', encoded); 'preset' and protocol options keep their name;
    no method part applies to every method whose cells have that field."""
    out = []
    for item in items or ():
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ReportError(
                f"--where {item!r}: expected METHOD.PARAM=VALUE (e.g. nss-svr.paired_products=0) "
                "or PARAM=VALUE for every method that has PARAM."
            )
        method, dot, field = name.rpartition(".")
        field = field if field in OPTION_FIELDS else f"params.{field}"
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value.strip()
        out.append((method if dot else "", field, encode(parsed)))
    return out


def filter_results(results: list, where: Iterable[str] = (), presets: Iterable[str] | None = None) -> list:
    """Only the cells that match every ``--where`` clause of their method and one of ``--preset``."""
    clauses = parse_where(where)
    kept = list(results)
    for method, field, value in clauses:
        hits = [r for r in kept if (not method or r.method == method) and field in dict(r.config)]
        if not hits:
            known_methods = sorted({r.method for r in kept})
            if method and method not in known_methods:
                raise ReportError(f"--where: {did_you_mean(method, known_methods, 'method')}")
            fields = sorted({shown_field(k) for r in kept if not method or r.method == method for k, _ in r.config})
            raise ReportError(
                f"--where: {did_you_mean(shown_field(field), fields, 'parameter')}"
                + (f" (of {method})" if method else "")
            )
        if not any(dict(r.config)[field] == value for r in hits):
            found = sorted({shown_value(dict(r.config)[field]) for r in hits}, key=str)
            raise ReportError(
                f"--where {method + '.' if method else ''}{shown_field(field)}={shown_value(value)} "
                f"matches no cell; the store holds {', '.join(map(str, found))}."
            )
        # the clause binds METHOD's cells (no METHOD: every method with FIELD); others are untouched
        bound = {method} if method else {r.method for r in hits}
        kept = [r for r in kept if r.method not in bound or dict(r.config).get(field) == value]
    if presets:
        wanted = set(presets)
        known = sorted({r.preset for r in kept if r.preset})
        for p in wanted - set(known):
            raise ReportError(f"--preset: {did_you_mean(p, known, 'preset')}")
        kept = [r for r in kept if r.preset in wanted]
    return kept
