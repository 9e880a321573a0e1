"""Methods by name, imported lazily.

The table maps a name to ``"module:Class"``; nothing is imported until a method is
asked for, so ``bench --help`` and ``bench data`` stay fast and torch-free. Names
with a ``pyiqa:`` prefix (``pyiqa:musiq``) resolve through the pyiqa zero-shot adapter
for any no-reference metric pyiqa knows.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING

from bench.core.errors import BenchError

if TYPE_CHECKING:
    from methods.base import Method

# the harness's own test and overhead method: runnable by name, but not one `bench doctor` offers a user
INTERNAL = frozenset({"noop"})

# name -> "module:attribute". One line per method; the module must import without torch.
_REGISTRY: dict[str, str] = {
    # native
    "mpiqe": "methods.mpiqe:MPIQE",
    "nss-svr": "methods.classical:NSSRegressor",
    "noop": "methods.testing:NoOp",
    "clipiqa": "methods.clipiqa:CLIPIQA",
    "clipiqa+": "methods.clipiqa_plus:CLIPIQAPlus",
    "vit-biqa": "methods.vit_biqa:ViTBIQA",
    "visual-only": "methods.mpiqe:VisualOnly",
    "dacnn": "methods.retrained.dacnn:DACNN",
    # pyiqa architectures retrained per cell (methods/retrained/: one file each, engine.py shared)
    "dbcnn": "methods.retrained.dbcnn:DBCNN",
    "hyperiqa": "methods.retrained.hyperiqa:HyperIQA",
    "tres": "methods.retrained.tres:TReS",
    "musiq": "methods.retrained.musiq:MUSIQ",
    "liqe": "methods.retrained.liqe:LIQE",
    "clipiqa+-pyiqa": "methods.retrained.clipiqa_plus_pyiqa:CLIPIQAPlusPyiqa",
    "metaiqa": "methods.retrained.metaiqa:MetaIQA",
    "unique": "methods.retrained.unique:UNIQUE",
    "paq2piq": "methods.retrained.paq2piq:PaQ2PiQ",
    # the 2026 comparison set (issue 31): official training code's recipes on pyiqa's architectures
    "topiq": "methods.retrained.topiq:TOPIQ",
    "maniqa": "methods.retrained.maniqa:MANIQA",
    "qualiclip": "methods.retrained.qualiclip:QualiCLIP",
    # training-free, evaluated per split
    "ilniqe": "methods.pyiqa_zeroshot:ILNIQE",
    "niqe": "methods.pyiqa_zeroshot:NIQE",
    "brisque": "methods.pyiqa_zeroshot:BRISQUE",
}

PYIQA_PREFIX = "pyiqa:"
_PYIQA_ZERO_SHOT = "methods.pyiqa_zeroshot:make_pyiqa_method"


class UnknownMethod(BenchError):
    pass


ENTRY_POINT_GROUP = "biqa_bench.methods"  # installed plug-ins: [project.entry-points."biqa_bench.methods"]


def names() -> list[str]:
    """Built-in names and the names of installed plug-ins (entry points)."""
    return sorted(set(_REGISTRY) | set(_entry_points()))


def register(name: str, target: str) -> None:
    """Add a method from outside the package (plug-ins): ``register('mine', 'mypkg.mod:Mine')``."""
    _REGISTRY[name] = target


def _load(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_method(name: str) -> type[Method]:
    if name.startswith(PYIQA_PREFIX):
        return _load(_PYIQA_ZERO_SHOT)(name[len(PYIQA_PREFIX) :])
    if ":" in name:  # a plug-in by location: pkg.module:Class or path/file.py:Class
        from methods.plugins import load_target

        return load_target(name, _REGISTRY)
    if name not in _REGISTRY and name in _entry_points():
        from methods.plugins import load_entry_point

        return load_entry_point(_entry_points()[name], _REGISTRY)
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownMethod(
            f"unknown method {name!r}.{hint} `python -m bench methods` lists them all; "
            f"any pyiqa no-reference metric works as '{PYIQA_PREFIX}<name>'; a method of your own as "
            "'my_pkg.module:MyMethod' or 'path/to/file.py:MyMethod' (docs/ADDING_A_METHOD.md)."
        )
    return _load(_REGISTRY[name])


def resolve(name: str) -> tuple[str, type[Method], str | None]:
    """(cell name, class, import target for the workers or None) of a --method value.

    Built-in and entry-point methods are named as given. A plug-in given by location is named by its
    class's ``name`` (so moving the file does not change its cells' keys) and travels to the workers as
    an absolute target (``/abs/path/file.py:Class`` or ``pkg.module:Class``)."""
    cls = get_method(name)
    if ":" not in name or name.startswith(PYIQA_PREFIX):
        return name, cls, None
    from methods.plugins import canonical_target

    return cls.name, cls, canonical_target(name)


def _entry_points() -> dict:
    from methods.plugins import entry_points

    return entry_points(ENTRY_POINT_GROUP)
