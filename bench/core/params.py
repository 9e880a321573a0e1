"""Method parameters checked against their declared types at plan time, and normalised.

``--param`` values arrive as JSON (or plain strings); the method's ``Params`` dataclass says what each
one must be. ``normalise_params`` turns them into exactly that type -- ``alpha=1`` becomes ``1.0``, so
``alpha=1`` and ``alpha=1.0`` give the same cell key -- and lists every value that does not fit, so a
typo fails once, before any cell runs, not once per cell inside the workers.

Rules: ``bool`` takes only true/false; ``int`` only whole numbers written without a point (``2.0``
for an integer knob is refused: it hides a misunderstanding of the knob); ``float`` any finite
number; ``str`` a string; ``X | None`` also null. Other annotations are passed through unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

_KIND = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _allowed(annotation) -> tuple[tuple[type, ...], bool] | None:
    """(plain types, None allowed) of an annotation, or None when it is not one we check."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        plain = tuple(a for a in args if a is not type(None))
        if all(a in _KIND for a in plain):
            return plain, type(None) in args
        return None
    return ((annotation,), False) if annotation in _KIND else None


def _convert(value: Any, plain: tuple[type, ...]) -> Any:
    """The value as the first fitting type, or raise ValueError with what was expected."""
    for kind in plain:
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        if kind is str and isinstance(value, str):
            return value
    raise ValueError(" or ".join(_KIND[k] for k in plain))


def normalise_params(params_cls, values: dict[str, Any], method: str) -> dict[str, Any]:
    """``values`` converted to ``params_cls``'s field types; a ValueError naming every misfit."""
    if not dataclasses.is_dataclass(params_cls):
        return dict(values)
    try:
        hints = typing.get_type_hints(params_cls)
    except Exception:  # noqa: BLE001 -- an annotation we cannot resolve: leave the values as given
        return dict(values)
    out, problems = dict(values), []
    for name, value in values.items():
        allowed = _allowed(hints.get(name))
        if allowed is None:
            continue
        plain, none_ok = allowed
        if value is None and none_ok:
            continue
        try:
            out[name] = _convert(value, plain)
        except ValueError as exc:
            expected = f"{exc}{' or null' if none_ok else ''}"
            problems.append(f"{name}={value!r} ({method} expects {expected})")
    if problems:
        raise ValueError(f"bad parameter value(s) for method {method!r}: {'; '.join(problems)}")
    return out
