"""Importing the provider SDKs without their hundreds of unused type modules.

``import openai`` costs about 0.3 s, two thirds of it in ``openai.types``: its
``__init__`` (and those of its subpackages: ``responses``, ``chat``, ``beta`` ...)
re-exports every request and response model of the whole API, ~470 modules of
pydantic classes, and ``openai/__init__`` imports it. A chat completion needs
about 70 of them. ``anthropic.types`` is built the same way.

Those ``__init__`` files are generated and hold nothing but relative re-exports
(``from .batch import Batch as Batch``). :func:`lazy_sdk_types` puts a finder in
front of ``sys.meta_path`` that, for such a package under ``openai.types`` or
``anthropic.types`` (and only when its ``__init__`` is nothing else, checked on
its syntax tree), makes a module that imports each name's own submodule when the
name is first read. A name that is not a re-export but a submodule is imported
as the import system would; anything else (``__all__``, ``dir()``, a name the
package does not re-export) runs the real ``__init__`` in that same module
object, which then is the real module. Nothing of the SDKs is patched.

``tests/llm/test_sdk_import.py`` fails when an SDK upgrade breaks this (a
package no longer deferred, a re-exported name resolving to another object, a
streamed chat completion failing under it).
"""

from __future__ import annotations

import ast
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

#: The SDK packages whose generated ``types`` trees are deferred.
DEFERRED = ("openai.types", "anthropic.types")

_lock = threading.RLock()
_installed = False


def reexports(source: str) -> dict[str, tuple[str, str]] | None:
    """``{name: (relative module, attribute)}`` for an ``__init__`` made only of
    relative re-exports (and a docstring, ``from __future__``); None otherwise."""
    names: dict[str, tuple[str, str]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if not (isinstance(node, ast.ImportFrom) and node.level == 1 and node.module):
            return None
        for alias in node.names:
            if alias.name == "*":
                return None
            names[alias.asname or alias.name] = ("." + node.module, alias.name)
    return names


class LazyPackage(types.ModuleType):
    """A re-exporting package that imports what a name needs when it is read."""

    _muxi_names: dict[str, tuple[str, str]]
    _muxi_loader: importlib.abc.Loader

    def __getattr__(self, name: str) -> Any:
        # Only called for names not in the module's dict yet.
        if type(self) is LazyPackage and not (name.startswith("__") and name != "__all__"):
            where = self.__dict__["_muxi_names"].get(name)
            if where is not None:
                value = getattr(importlib.import_module(where[0], self.__name__), where[1])
                setattr(self, name, value)
                return value
            if not name.startswith("_") and _is_submodule(self, name):
                return importlib.import_module(f"{self.__name__}.{name}")
            self._muxi_run_init()
        elif type(self) is LazyPackage:
            # The import system probes dunders (``__path__`` before it is set ...).
            raise AttributeError(name)
        return getattr(self, name)  # an ordinary module now: a missing name raises

    def __dir__(self) -> list[str]:
        self._muxi_run_init()
        return sorted(self.__dict__)

    def _muxi_run_init(self) -> None:
        """Run the real ``__init__`` here, once: the module becomes the real one."""
        with _lock:
            if type(self) is not LazyPackage:
                return
            loader = self.__dict__.pop("_muxi_loader")
            del self.__dict__["_muxi_names"]
            self.__class__ = types.ModuleType  # type: ignore[assignment]
            loader.exec_module(self)


def _is_submodule(package: types.ModuleType, name: str) -> bool:
    path = getattr(package, "__path__", None)
    return (
        path is not None
        and importlib.machinery.PathFinder.find_spec(f"{package.__name__}.{name}", path) is not None
    )


class _LazyLoader(importlib.abc.Loader):
    def __init__(self, real: importlib.abc.Loader, names: dict[str, tuple[str, str]]) -> None:
        self.real = real
        self.names = names

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = LazyPackage(spec.name)
        module.__dict__["_muxi_names"] = self.names
        module.__dict__["_muxi_loader"] = self.real
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing runs now: each name is imported when first read."""


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if not any(fullname == p or fullname.startswith(p + ".") for p in DEFERRED):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.submodule_search_locations is None or spec.loader is None:
            return spec  # a plain module (or nothing): the normal way
        get_source = getattr(spec.loader, "get_source", None)
        try:
            source = get_source(fullname) if get_source is not None else None
            names = reexports(source) if source else None
        except (ImportError, SyntaxError, UnicodeDecodeError):
            names = None
        if names is None:
            return spec
        spec.loader = _LazyLoader(spec.loader, names)
        return spec


def lazy_sdk_types() -> bool:
    """Install the finder (once); False when an SDK's types are already imported
    the ordinary way (then that SDK is not deferred in this process)."""
    global _installed
    with _lock:
        if not _installed:
            sys.meta_path.insert(0, _Finder())
            _installed = True
    return not any(
        name in sys.modules and not isinstance(sys.modules[name], LazyPackage) for name in DEFERRED
    )


def deferred(package: str) -> bool:
    """Whether ``package`` (``openai.types`` ...) is a lazy package in this process."""
    return isinstance(sys.modules.get(package), LazyPackage)
