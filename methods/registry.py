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

from bench.errors import BenchError

if TYPE_CHECKING:
    from methods.base import Method

# name -> "module:attribute". One line per method; the module must import without torch.
_REGISTRY: dict[str, str] = {
    # native
    "mpiqe": "methods.mpiqe:MPIQE",
    "nss-svr": "methods.classical:NSSRegressor",
    "noop": "methods.testing:NoOp",
    "clipiqa": "methods.clipiqa:CLIPIQA",
    "clipiqa+": "methods.clipiqa:CLIPIQAPlus",
    "vit-biqa": "methods.vit_biqa:ViTBIQA",
    "visual-only": "methods.mpiqe:VisualOnly",
    "dacnn": "methods.unavailable:DACNN",
    # pyiqa architectures retrained per cell
    "dbcnn": "methods.pyiqa_retrained:DBCNN",
    "hyperiqa": "methods.pyiqa_retrained:HyperIQA",
    "tres": "methods.pyiqa_retrained:TReS",
    "musiq": "methods.pyiqa_retrained:MUSIQ",
    "liqe": "methods.pyiqa_retrained:LIQE",
    "clipiqa+-pyiqa": "methods.pyiqa_retrained:CLIPIQAPlusPyiqa",
    "metaiqa": "methods.pyiqa_retrained:MetaIQA",
    "unique": "methods.pyiqa_retrained:UNIQUE",
    "paq2piq": "methods.pyiqa_retrained:PaQ2PiQ",
    # training-free, evaluated per split
    "ilniqe": "methods.pyiqa_zeroshot:ILNIQE",
    "niqe": "methods.pyiqa_zeroshot:NIQE",
    "brisque": "methods.pyiqa_zeroshot:BRISQUE",
}

PYIQA_PREFIX = "pyiqa:"
_PYIQA_ZERO_SHOT = "methods.pyiqa_zeroshot:make_pyiqa_method"


class UnknownMethod(BenchError):
    pass


def names() -> list[str]:
    return sorted(_REGISTRY)


def register(name: str, target: str) -> None:
    """Add a method from outside the package (plug-ins): ``register('mine', 'mypkg.mod:Mine')``."""
    _REGISTRY[name] = target


def _load(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def get_method(name: str) -> type["Method"]:
    if name.startswith(PYIQA_PREFIX):
        return _load(_PYIQA_ZERO_SHOT)(name[len(PYIQA_PREFIX):])
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownMethod(
            f"unknown method {name!r}.{hint} `python -m bench methods` lists them all; "
            f"any pyiqa no-reference metric works as '{PYIQA_PREFIX}<name>'."
        )
    return _load(_REGISTRY[name])
