"""Methods from outside the package: ``pkg.module:Class``, ``path/to/file.py:Class``, and installed entry points.

    python -m bench run --protocol intra --method my_pkg.iqa:MyMethod --data demo
    python -m bench run --protocol intra --method ./my_method.py:MyMethod --data demo
    # pyproject.toml of an installed plug-in:  [project.entry-points."biqa_bench.methods"]
    #                                            my-method = "my_pkg.iqa:MyMethod"

A plug-in class is a ``methods.base.Method`` subclass with a ``name``; its cells are keyed like a built-in
method's (name, version, parameters). A file is imported once per process under a module name derived
from its absolute path, so the same file is the same module in the planner and in every worker.

The registry (``methods.registry``) is the only caller of the loaders and hands them the built-in names a
plug-in may not take (``builtins``: name -> "module:Class"); this module imports nothing of the registry.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from bench.core.errors import BenchError

BUILTIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
RESERVED_PREFIX = "pyiqa"  # names of pyiqa's metrics (methods.registry.PYIQA_PREFIX, 'pyiqa:<metric>')


class PluginError(BenchError):
    """A method from outside the package cannot be loaded or is not a Method."""


def _split(target: str) -> tuple[str, str]:
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr or not attr.isidentifier():
        raise PluginError(f"--method {target!r}: expected 'package.module:ClassName' or 'path/to/file.py:ClassName'.")
    return where, attr


def _is_path(where: str) -> bool:
    return where.endswith(".py") or "/" in where or "\\" in where


def canonical_target(target: str) -> str:
    """The target with an absolute file path (workers may run in another folder)."""
    where, attr = _split(target)
    if _is_path(where):
        return f"{Path(where).expanduser().resolve()}:{attr}"
    return target


def import_root(target: str) -> str | None:
    """The sys.path folder a ``pkg.module:Class`` target was imported from (None for files and
    installed packages, which every worker finds by itself)."""
    where, _ = _split(target)
    if _is_path(where):
        return None
    top = sys.modules.get(where.split(".")[0])
    origin = getattr(top, "__file__", None)
    if not origin:
        return None
    path = Path(origin).resolve()
    root = path.parent.parent if path.name == "__init__.py" else path.parent
    if "site-packages" in root.parts or "dist-packages" in root.parts:
        return None
    return str(root)


def load_target(target: str, builtins: Mapping[str, str]):
    where, attr = _split(target)
    module = _import_file(where) if _is_path(where) else _import_module(where, target)
    if not hasattr(module, attr):
        public = sorted(n for n, v in vars(module).items() if isinstance(v, type) and not n.startswith("_"))
        raise PluginError(
            f"--method {target!r}: {where} defines no {attr!r} (classes there: {', '.join(public) or 'none'})."
        )
    return check_method_class(getattr(module, attr), target, builtins)


def _import_module(module: str, target: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise PluginError(
                f"--method {target!r}: no module {exc.name!r} on the Python path. Install the package "
                "(pip install -e .), run from the folder holding it, or give the file: "
                "path/to/file.py:ClassName."
            ) from None
        raise


@cache
def _import_file(where: str):
    path = Path(where).expanduser().resolve()
    if not path.is_file():
        raise PluginError(f"--method {where}:...: file {path} does not exist.")
    # a stable module name per absolute path: one module per file, whoever imports it first
    name = f"biqa_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before exec: dataclasses and pickle look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def check_method_class(obj, target: str, builtins: Mapping[str, str]):
    from methods.base import Method

    if not (isinstance(obj, type) and issubclass(obj, Method)):
        raise PluginError(
            f"--method {target!r}: {obj!r} is not a subclass of methods.base.Method "
            "(docs/ADDING_A_METHOD.md shows the shape)."
        )
    if not obj.name or not BUILTIN_NAME.match(obj.name) or ":" in obj.name:
        raise PluginError(
            f'--method {target!r}: set the class attribute name = "my-method" (letters, digits, '
            f". _ + -): it names the cells and the results."
        )
    if obj.name in builtins and builtins[obj.name] != f"{obj.__module__}:{obj.__name__}":
        raise PluginError(f"--method {target!r}: its name {obj.name!r} is a built-in method's; choose another.")
    if obj.name.startswith(RESERVED_PREFIX):
        raise PluginError(f"--method {target!r}: names starting with 'pyiqa' are reserved; choose another.")
    return obj


def entry_points(group: str) -> dict:
    """name -> EntryPoint of the installed plug-ins (importlib.metadata; nothing is imported)."""
    from importlib.metadata import entry_points as eps

    return {ep.name: ep for ep in eps(group=group)}


def load_entry_point(ep, builtins: Mapping[str, str]):
    try:
        obj = ep.load()
    except Exception as exc:  # an installed plug-in that fails to import: say which one
        raise PluginError(
            f"method {ep.name!r} (entry point {ep.value!r} of group {ep.group!r}) failed to import: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return check_method_class(obj, ep.value, builtins)
