"""Built-in tools, each opt-in per agent (``tools: [calculator, read_file]``).

Every module defines ``NAME``, ``DESCRIPTION``, ``SCHEMA`` and
``async def run(arguments, ctx) -> ToolOutcome``. Modules are imported on
first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from muxi_cli.config.schema import Formation
    from muxi_cli.tools.base import ToolCaller, ToolOutcome

#: built-in name -> module under muxi_cli.tools.builtins
MODULES: dict[str, str] = {
    "calculator": "calculator",
    "datetime": "datetime_tool",
    "read_file": "files",
    "list_dir": "files",
    "fetch_url": "fetch",
}


@dataclass(frozen=True, slots=True)
class BuiltinContext:
    """What a built-in may look at: the formation, its folder and file, and who calls."""

    formation: Formation
    base_dir: Path
    config_file: Path | None = None
    caller: ToolCaller | None = None


@dataclass(frozen=True, slots=True)
class Builtin:
    name: str
    description: str
    schema: dict[str, Any]
    run: Callable[[dict[str, Any], BuiltinContext], Awaitable[ToolOutcome]]


def get_builtin(name: str) -> Builtin:
    """The built-in tool ``name`` (KeyError if there is none)."""
    module: ModuleType = importlib.import_module(f"{__name__}.{MODULES[name]}")
    spec = module.TOOLS[name]
    return Builtin(name=name, description=spec[0], schema=spec[1], run=spec[2])
