"""Stand-ins for media functions of lanes not merged yet (tests/media_doubles.py),
for the test process and the processes it starts (this folder is on their
``PYTHONPATH``); a no-op once the docs and store lanes merged. Nothing of muxi
is imported until muxi imports the modules concerned, so import-time tests
see what they always saw."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

_STANDIN = ("muxi_cli.media.images", "muxi_cli.media.ingest")
_STORE = "muxi_cli.stores.media"


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in (*_STANDIN, _STORE):
            return None
        real = importlib.machinery.PathFinder.find_spec(name, path)
        if name == _STORE:
            if real is not None and real.loader is not None:
                real.loader = _Patching(real.loader)
            return real
        return real or importlib.util.spec_from_loader(name, _StandIn())


class _StandIn(importlib.abc.Loader):
    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        from tests.media_doubles import MODULES

        module.__dict__.update(MODULES[module.__name__])


class _Patching(importlib.abc.Loader):
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def create_module(self, spec: Any) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        self.inner.exec_module(module)
        from tests.media_doubles import patch_store

        patch_store(module.MediaStore)


def install() -> None:
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    if _STORE in sys.modules:
        from tests.media_doubles import patch_store

        patch_store(sys.modules[_STORE].MediaStore)


try:
    import tests  # noqa: F401  (the checkout is on the path)
except ImportError:
    pass
else:
    install()
