"""Stand-ins for media functions of the docs lane, not merged yet
(tests/media_doubles.py), for the test process and the processes it starts
(this folder is on their ``PYTHONPATH``); a no-op once the docs lane merged
(delete this folder then). Nothing of muxi is imported until muxi imports the
modules concerned, so import-time tests see what they always saw."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

_STANDIN = ("muxi_cli.media.images", "muxi_cli.media.ingest")


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in _STANDIN:
            return None
        real = importlib.machinery.PathFinder.find_spec(name, path)
        return real or importlib.util.spec_from_loader(name, _StandIn())


class _StandIn(importlib.abc.Loader):
    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        from tests.media_doubles import MODULES

        module.__dict__.update(MODULES[module.__name__])


def install() -> None:
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


try:
    import tests  # noqa: F401  (the checkout is on the path)
except ImportError:
    pass
else:
    install()
