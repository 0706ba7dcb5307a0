"""The provider table: every provider muxi knows, by name.

Each built-in provider is one module in :mod:`muxi_cli.providers.builtin` that
defines ``SPEC = ProviderSpec(...)``; the table collects them the first time it
is asked (about a dozen tiny modules, none importing an SDK), so adding a
provider is adding one module. :func:`register` adds one at run time (a plugin,
a test). Everything that needs to know about providers asks here: config
validation, key lookup, ``muxi doctor``, first-run setup, pricing and the LLM
registry.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import threading

from muxi_cli.providers import builtin
from muxi_cli.providers.spec import ProviderSpec

_lock = threading.Lock()
_specs: dict[str, ProviderSpec] = {}
_loaded = False


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        for info in sorted(pkgutil.iter_modules(builtin.__path__), key=lambda i: i.name):
            module = importlib.import_module(f"{builtin.__name__}.{info.name}")
            spec = getattr(module, "SPEC", None)
            if not isinstance(spec, ProviderSpec):
                raise TypeError(f"{module.__name__} defines no SPEC = ProviderSpec(...)")
            _specs.setdefault(spec.name, spec)
        _loaded = True


def register(spec: ProviderSpec, *, replace: bool = False) -> ProviderSpec:
    """Add ``spec`` to the table (``replace``: over an entry of the same name)."""
    _load_builtins()
    with _lock:
        if spec.name in _specs and not replace:
            raise ValueError(f"provider {spec.name!r} is already in the table")
        _specs[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a provider added with :func:`register` (tests clean up with it)."""
    _load_builtins()
    with _lock:
        _specs.pop(name, None)


def specs() -> list[ProviderSpec]:
    """Every provider, in display order."""
    _load_builtins()
    return sorted(_specs.values(), key=lambda s: (s.order, s.name))


def names() -> list[str]:
    return [s.name for s in specs()]


def get(name: str) -> ProviderSpec | None:
    """The provider called ``name`` (exactly), or ``None``."""
    _load_builtins()
    return _specs.get(name)


def lookup(name: str) -> ProviderSpec | None:
    """The provider ``name`` means, aliases and case allowed (``llama.cpp``), or ``None``."""
    found = get(name)
    if found is not None:
        return found
    key = name.strip().lower()
    for spec in specs():
        if key == spec.name or key in spec.aliases:
            return spec
    return None


def closest(name: str) -> str | None:
    """The known name (or alias) nearest to a misspelt ``name``, for "did you mean"."""
    candidates = [n for s in specs() for n in (s.name, *s.aliases)]
    close = difflib.get_close_matches(name.strip().lower(), candidates, n=1, cutoff=0.5)
    if not close:
        return None
    spec = lookup(close[0])
    return spec.name if spec is not None else close[0]
